"""Golden cases of verification: formula checks, displayed arithmetic, and the mark.

Each case of ``tests/verify/fixtures/*.md`` is a notes file (``notes/f.md``); its
expected output lists every diagnostic and every verified card with what was verified.
All cases run in one batch of checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from build_deck.model import Diagnostic, SourceLoc
from build_deck.parse.extract import extract_cards
from build_deck.parse.markdown import make_parser
from build_deck.verify.checks import read_card, verify_cards
from build_deck.verify.coverage import CardReading, judge_coverage
from tests.parse.test_golden import read_fixture_file

FIXTURES = Path(__file__).parent / "fixtures"
CASES = [case for path in sorted(FIXTURES.glob("*.md")) for case in read_fixture_file(path)]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What verification reports for each case, as the fixtures write it."""
    folder = tmp_path_factory.mktemp("verify")
    cards, diagnostics = [], []
    for number, (_, _, source, _) in enumerate(CASES):
        found, problems = extract_cards(
            make_parser(), source, f"notes/case{number}.md", folder, "Deck"
        )
        cards += found
        diagnostics += problems
    assert diagnostics == []
    verified, problems = verify_cards(cards)
    return {
        f"notes/case{number}.md": describe(f"notes/case{number}.md", verified, problems)
        for number in range(len(CASES))
    }


def describe(path: str, verified: dict[SourceLoc, str], problems: list[Diagnostic]) -> str:
    """One case's diagnostics, then its verified cards, with the path ``notes/f.md``."""
    lines = [str(d) for d in problems if d.loc.path == path]
    lines += [f"{loc}: verified: {what}" for loc, what in sorted(verified.items())]
    lines = [line for line in lines if path in line]
    return "\n".join(line.replace(path, "notes/f.md") for line in lines)


@pytest.mark.parametrize(("line", "title", "source", "expected"), CASES, ids=[c[1] for c in CASES])
def test_verification(
    line: int, title: str, source: str, expected: str, results: dict[str, str]
) -> None:
    number = next(i for i, case in enumerate(CASES) if case[0] == line and case[1] == title)
    assert results[f"notes/case{number}.md"] == expected, f"fixture at line {line}: {title}"


def test_fixtures_were_found() -> None:
    assert len(CASES) >= 20


def test_a_card_without_checks_is_judged_where_it_is_read(tmp_path: Path) -> None:
    # A parse worker judges a card without checks and does not carry its reading back
    # to the build: the verdict must be the one the build would give, strict or not.
    cards = []
    for number, (_, _, source, _) in enumerate(CASES):
        found, _ = extract_cards(make_parser(), source, f"notes/case{number}.md", tmp_path, "D")
        cards += [card for card in found if not card.checks]
    dropped = kept = marked = 0
    for card in cards:
        read = read_card(card)
        verdicts = {
            strict: judge_coverage(CardReading.read(card, set()), earned=False, strict=strict)
            for strict in (False, True)
        }
        if read.reading is None:
            dropped += 1
            marked += read.arithmetic
            assert verdicts == {strict: (read.arithmetic, []) for strict in (False, True)}
        else:
            kept += 1
            assert verdicts[False][1] and verdicts[True][1], card.loc
    assert dropped >= 5 and marked >= 2 and kept >= 3, (dropped, marked, kept)
