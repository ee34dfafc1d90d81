"""The lint against cards written for it: give-aways of each shape, overlong, two-question
and run-on cards, and clean controls (tests/lint/fixtures/held-out.md).

Each card's first line names what a reviewer found (``<!-- expect: KIND -->``); the
lint strips comments before it reads a card, so it never sees these. The rates are
the issue's: at least 80% of the give-aways, every overlong, two-question and run-on
card, and at most 2 clean cards flagged.
"""

from __future__ import annotations

import io
import re
import shutil
from collections import Counter, defaultdict
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tests.conftest import Project

FIXTURES = Path(__file__).parent / "fixtures"
WARNING = re.compile(r"^notes/held-out\.md:(\d+): warning: ([a-z-]+): (.+)$")


def _expected(text: str) -> dict[int, str]:
    """Each card's line and what it should get, from its ``expect`` comment."""
    return {
        number: match.group(1)
        for number, line in enumerate(text.split("\n"), 1)
        if (match := re.search(r"<!-- expect: ([\w-]+) -->", line))
    }


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[int, str], str, int]:
    """``build-deck check`` run on the held-out notes: expectations, stderr, exit code."""
    root = tmp_path_factory.mktemp("held-out")
    shutil.copytree(FIXTURES, root / "notes")
    project = Project(root)
    err = io.StringIO()
    with (
        pytest.MonkeyPatch.context() as patch,
        redirect_stderr(err),
        redirect_stdout(io.StringIO()),
    ):
        patch.chdir(root)
        code = project.run("check", "--no-cache")
    return _expected((FIXTURES / "held-out.md").read_text(encoding="utf-8")), err.getvalue(), code


def _found(stderr: str) -> dict[int, set[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    for line in stderr.splitlines():
        match = WARNING.match(line)
        if match:
            found[int(match.group(1))].add(match.group(2))
    return found


def test_the_held_out_set_has_every_kind_and_about_30_clean_cards(
    checked: tuple[dict[int, str], str, int],
) -> None:
    expected, _, _ = checked
    counts = Counter(expected.values())
    assert counts["clean"] >= 30
    assert counts["give-away"] >= 15
    assert min(counts["too-long"], counts["two-questions"], counts["run-on"]) >= 3


def test_warnings_do_not_fail_the_check(checked: tuple[dict[int, str], str, int]) -> None:
    _, stderr, code = checked
    assert code == 0, stderr
    assert " error: " not in stderr


def test_the_lint_finds_the_give_aways_and_every_long_or_run_on_card(
    checked: tuple[dict[int, str], str, int],
) -> None:
    expected, stderr, _ = checked
    found = _found(stderr)
    give_aways = [line for line, kind in expected.items() if kind == "give-away"]
    caught = [line for line in give_aways if "give-away" in found.get(line, set())]
    assert len(caught) >= 0.8 * len(give_aways), sorted(set(give_aways) - set(caught))
    for kind in ("too-long", "two-questions", "run-on"):
        cards = [line for line, want in expected.items() if want == kind]
        missed = [line for line in cards if kind not in found.get(line, set())]
        assert missed == [], f"{kind} not flagged at lines {missed}"


def test_at_most_two_clean_cards_are_flagged(checked: tuple[dict[int, str], str, int]) -> None:
    expected, stderr, _ = checked
    found = _found(stderr)
    flagged = [line for line, kind in expected.items() if kind == "clean" and found.get(line)]
    assert len(flagged) <= 2, {line: found[line] for line in flagged}


def test_every_warning_is_one_line_at_a_cards_line_with_a_known_kind(
    checked: tuple[dict[int, str], str, int],
) -> None:
    expected, stderr, _ = checked
    warnings = [line for line in stderr.splitlines() if ": warning: " in line]
    assert warnings
    for line in warnings:
        match = WARNING.match(line)
        assert match, line
        assert int(match.group(1)) in expected, line
        assert match.group(2) in ("give-away", "too-long", "two-questions", "run-on")
