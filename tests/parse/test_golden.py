"""Golden tests: Markdown in, note fields out, for every construct of the notes format.

The fixtures in ``tests/parse/fixtures/*.md`` follow markdown-it-py's format: a title line,
then the input and the expected output, each closed by a line holding only ``.``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from build_deck.model import Card, Diagnostic
from build_deck.parse.extract import extract_cards
from build_deck.parse.markdown import make_parser

FIXTURES = Path(__file__).parent / "fixtures"


def read_fixture_file(path: Path) -> list[tuple[int, str, str, str]]:
    """(line, title, input, expected) for each case of a fixture file."""
    cases = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() and i + 1 < len(lines) and lines[i + 1] == ".":
            title, start = lines[i], i + 1
            i += 2
            source: list[str] = []
            while lines[i] != ".":
                source.append(lines[i])
                i += 1
            i += 1
            expected: list[str] = []
            while lines[i] != ".":
                expected.append(lines[i])
                i += 1
            cases.append((start, title, "\n".join(source) + "\n", "\n".join(expected)))
        i += 1
    return cases


def describe(cards: list[Card], diagnostics: list[Diagnostic]) -> str:
    """Cards and problems as the line-oriented text the fixtures hold."""
    out = [f"error: {d}" for d in diagnostics]
    for card in cards:
        head = f"{card.kind.value} line={card.loc.line} deck={card.deck}"
        if card.tags:
            head += " tags=" + " ".join(card.tags)
        if card.cloze_numbers:
            head += " numbers=" + ",".join(map(str, card.cloze_numbers))
        out.append(head)
        for name in ("context", "content", "back", "extra"):
            value = getattr(card, name)
            out += [f"{name}: {line}" for line in value.splitlines()] if value else []
    return "\n".join(out)


CASES = [case for path in sorted(FIXTURES.glob("*.md")) for case in read_fixture_file(path)]


@pytest.mark.parametrize(("line", "title", "source", "expected"), CASES, ids=[c[1] for c in CASES])
def test_fields(line: int, title: str, source: str, expected: str, tmp_path: Path) -> None:
    cards, diagnostics = extract_cards(
        make_parser(), source, "notes/golden.md", tmp_path, "AI Study Notes"
    )
    assert describe(cards, diagnostics) == expected, f"fixture at line {line}: {title}"


def test_fixtures_were_found() -> None:
    assert len(CASES) >= 20
