"""Every file build-deck reads, fed random and adversarial bytes: only one-line
diagnostics come out, never an exception.

The readers: a notes file (decoded, parsed into cards, and each card's value, chains,
mark and math read), a ledger file (version 2 JSON lines, a version 1 YAML file, the
note types of both), a build cache entry (its bytes, and an authentic entry holding any
JSON), and a collection field as ``pull`` reads it. Hypothesis runs derandomized, so
that CI never flakes; the inputs mix random bytes with the pieces attacks are made of.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from build_deck import cache
from build_deck.anki.html_to_markdown import html_to_markdown
from build_deck.anki.note_text import first_words, source_place
from build_deck.identity.ledger_format import (
    bucket_name,
    dump_ledger,
    entry_json,
    parse_ledger,
    read_text_limited,
)
from build_deck.identity.ledger_v1 import load_v1
from build_deck.model import Check, Diagnostic
from build_deck.parse.cards import imitates_mark
from build_deck.parse.extract import extract_cards
from build_deck.parse.markdown import make_parser
from build_deck.reading import read_notes_file
from build_deck.typeset.texcheck import math_in_html
from build_deck.verify.coverage import CardReading, judge_coverage
from build_deck.verify.values import card_value

PIECES = [
    "Q: ",
    "A: ",
    "\n",
    "\n\n",
    "# H",
    " #tag",
    " #verified",
    "**",
    "__",
    "~~",
    "*",
    "_",
    "$",
    "$$",
    "\\(",
    "\\)",
    "\\[",
    "\\]",
    "{{",
    "}}",
    "{{c1::",
    "{{c99999999999999999999::",
    "{{c" + "9" * 60 + "::",
    "::",
    "{",
    "}",
    "[",
    "]",
    "![",
    "](",
    "(",
    ")",
    "[^1]",
    "[^1]: ",
    "<!--",
    "-->",
    '<span style="display:none">',
    "</span>",
    "<pre>",
    "</pre>",
    '<div class="verified">',
    "✓ verified",
    "```check\n",
    "```\n",
    "answer = 1\n",
    "# formula\n",
    "---\n",
    "deck: [[[[[[",
    "tags: [a, b]\n",
    "Extra: ",
    "- ",
    "> ",
    "1. ",
    "0.5",
    "-1e308",
    "1e999",
    "10^{23}",
    "\\cdot",
    "\\frac12",
    "=",
    "\\approx",
    "5 2",
    "\x00",
    "\x1b[2J",
    "\u202e",
    "\ufeff",
    "\u200b",
    "\r",
    "\t",
    "\\",
    "`",
    "&#10003;",
    '{"guid": "',
    '"\\ud800"',
    "1e20",
    "100000000000000000000",
    "-1",
    "null",
    "true",
    '{"build-deck ledger": 2}',
    '{"end": "build-deck ledger"}',
    "<<<<<<< ours",
    "=======",
    "- guid: ",
    "version: 1\ncards:\n",
    "  mtime: ",
    "  kind: qa\n",
    "&a",
    "&anchor ",
    "*anchor",
    "!!python/object:os.system",
    "[" * 40,
    "{" * 40,
    "deck: " + "[" * 600,
    "{{c" + "9" * 5000 + "::",
    "<a class=verified>",
]

adversarial_text = st.lists(
    st.one_of(st.sampled_from(PIECES), st.sampled_from(PIECES), st.text(max_size=8)),
    min_size=8,
    max_size=80,
).map("".join)
adversarial_bytes = st.one_of(
    st.binary(min_size=1, max_size=600),
    adversarial_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
)
FUZZ = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def one_line(diagnostics: list[Diagnostic]) -> None:
    """Every diagnostic prints as one line, with no control character."""
    for diagnostic in diagnostics:
        text = str(diagnostic)
        assert "\n" not in text and "\r" not in text and "\x1b" not in text
        text.encode("utf-8")  # printable: no lone surrogate


@functools.cache
def parser() -> MarkdownIt:
    return make_parser()


@FUZZ
@given(data=adversarial_bytes)
def test_a_notes_file(tmp_path_factory: Any, data: bytes) -> None:
    folder = tmp_path_factory.getbasetemp() / "fuzz-notes"
    folder.mkdir(exist_ok=True)
    text, problem = read_notes_file(data, "notes/a.md")
    if text is None:
        assert problem is not None
        one_line([problem])
        return
    cards, diagnostics = extract_cards(
        parser(), text, "notes/a.md", folder, "Root", notes_root=folder
    )
    one_line(diagnostics)
    for card in cards:
        check = Check(card.loc, "answer = 1", None)
        assert isinstance(card_value(card, check), object)
        _, problems = judge_coverage(CardReading.read(card, set()), earned=False, strict=False)
        one_line(problems)
        imitates_mark(card.back)
        math_in_html(card.content + card.back)


@FUZZ
@given(data=adversarial_bytes)
def test_a_ledger_file(tmp_path_factory: Any, data: bytes) -> None:
    folder = tmp_path_factory.getbasetemp() / "fuzz-ledger"
    (folder / "ledger").mkdir(parents=True, exist_ok=True)
    for name in ("ledger/00.jsonl", "notetypes.jsonl"):
        path = folder / name
        path.write_bytes(data)
        text, problems = read_text_limited(path, f"cards/{name}", folder)
        one_line(problems)
        if text is not None:
            _, problems = parse_ledger(text, f"cards/{name}")
            one_line(problems)
            ledger, problems = parse_ledger('{"build-deck ledger": 2}\n' + text, f"cards/{name}")
            one_line(problems)
            for guid, entry in ledger.entries.items():  # what a build then does with them
                bucket_name(guid)
                entry_json(entry).encode("utf-8")
                assert 0 <= entry.mtime < 1 << 63 and 0 <= entry.removed < 1 << 63
            dump_ledger(ledger).encode("utf-8")


@FUZZ
@given(data=adversarial_bytes)
def test_a_version_1_ledger_file(tmp_path_factory: Any, data: bytes) -> None:
    folder = tmp_path_factory.getbasetemp() / "fuzz-v1"
    folder.mkdir(exist_ok=True)
    for name in ("a.yaml", "_notetypes.yaml"):
        path = folder / name
        path.write_bytes(data)
        _, problems, _ = load_v1(path, f"cards/{name}", "a.md", folder)
        one_line(problems)


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(max_size=20),
        st.sampled_from(["notes/a.md", "/etc/passwd", "../../x.pth", "qa", "value recomputed"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(
            st.sampled_from(["cards", "verified", "warnings", "kind", "loc", "media", "tags"]),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=30,
)


@FUZZ
@given(data=adversarial_bytes, payload=json_values)
def test_a_build_cache_entry(tmp_path_factory: Any, data: bytes, payload: Any) -> None:
    folder = tmp_path_factory.getbasetemp() / "fuzz-cache"
    notes = tmp_path_factory.getbasetemp() / "fuzz-cache-notes"
    notes.mkdir(exist_ok=True)
    path = cache.entry_path(folder, "notes/a.md")
    folder.mkdir(exist_ok=True)
    path.write_bytes(data)
    hit, warning = cache.load(folder, "notes/a.md", "key", notes)
    assert hit is None
    assert warning is None or "\n" not in warning
    cache.store_json(folder, "notes/a.md", "key", payload)  # authentic, but any JSON
    hit, warning = cache.load(folder, "notes/a.md", "key", notes)
    assert warning is None or "\n" not in warning


@FUZZ
@given(text=adversarial_text)
def test_a_collection_field_for_pull_and_sync(text: str) -> None:
    converted = html_to_markdown(text)
    assert isinstance(converted.markdown, str)
    first_words({"Front": text, "Back": text})
    source_place(text)


def test_the_fuzzed_readers_see_a_real_attack(tmp_path: Path) -> None:
    """The pieces reach the readers: a surrogate GUID is refused at its line."""
    text = '{"build-deck ledger": 2}\n{"guid": "\\ud800"}\n{"end": "build-deck ledger"}\n'
    _, problems = parse_ledger(text, "cards/ledger/00.jsonl")
    assert [str(p) for p in problems] == [
        "cards/ledger/00.jsonl:2: error: malformed card entry: missing file, section, deck, "
        "kind, hash, note, mtime, text, answer, clozes, cloze_max, removed; restore the line "
        "from git"
    ]
