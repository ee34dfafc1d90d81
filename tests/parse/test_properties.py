"""Property tests: any text parses into cards and diagnostics, never a traceback."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from build_deck.parse.cloze import find_clozes
from build_deck.parse.extract import extract_cards
from build_deck.parse.markdown import make_parser

MD = make_parser()
PIECES = st.sampled_from(
    [
        "Q: ",
        "A: ",
        "Extra: ",
        "{{",
        "}}",
        "{{c1::",
        "{{c2::",
        "::",
        "$",
        "$$",
        "\\(",
        "\\)",
        "\\[",
        "\\]",
        "`",
        "```",
        "```check\n",
        "```python\n",
        "# ",
        "## ",
        " #tag",
        "---\n",
        "- ",
        "1. ",
        "> ",
        "*",
        "_",
        "x",
        "1.5",
        "\\frac{a}{b}",
        "{",
        "}",
        "\n",
        "\n\n",
        " ",
        "![i](nope.png)",
        "[^1]",
        "[^1]: n\n",
        "<b>",
        "&",
        "é",
        "\t",
    ]
)


@settings(derandomize=True, max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=40).map("".join))
def test_any_text_gives_cards_and_diagnostics_only(text: str) -> None:
    cards, diagnostics = extract_cards(MD, text, "notes/p.md", Path("/nonexistent"), "Root")
    lines = text.count("\n") + 1
    for diagnostic in diagnostics:
        assert diagnostic.loc.path == "notes/p.md"
        assert 1 <= diagnostic.loc.line <= lines + 1, (diagnostic, text)
    for card in cards:
        assert 1 <= card.loc.line <= lines


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.text(alphabet="{}:c12ab\\`$ ", max_size=40))
def test_cloze_scanner_spans_are_well_formed(text: str) -> None:
    spans, problems = find_clozes(text, shorthand=True, code_spans=True)
    previous_end = 0
    for span in spans:
        assert previous_end <= span.start < span.body_start <= span.body_end < span.end
        assert text[span.start : span.start + 2] == "{{" and text[span.end - 2 : span.end] == "}}"
        assert text[span.body_start : span.body_end].strip()
        previous_end = span.end
    for problem in problems:
        assert text.startswith("{{", problem.offset)
