"""What a build says about the cards it changed, and the ledger commands."""

from __future__ import annotations

import pytest

from build_deck.cli import main
from build_deck.identity.ledger import load_ledger
from build_deck.pipeline import run
from build_deck.report import BuildOptions
from tests.conftest import Project


def cards(count: int, word: str = "mean") -> str:
    return "\n".join(f"Q: What does symbol {i} {word} here?\nA: Item {i}.\n" for i in range(count))


def test_at_most_20_changes_are_listed_more_with_v(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("a.md", cards(25))
    assert project.run("build") == 0
    out = capsys.readouterr().out
    assert "25 cards new, changed, moved or removed: 'build -v' lists them" in out
    assert "new: notes/a.md:1:" not in out
    project.write("a.md", cards(25, "denote"))
    assert project.run("build", "-v") == 0
    out = capsys.readouterr().out
    assert out.count("changed: notes/a.md:") == 25
    assert "changed: notes/a.md:4: What does symbol 1 denote here?" in out


def test_a_deck_change_is_counted_with_what_to_do(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("a.md", "# Old deck\n\nQ: One?\nA: Yes.\n")
    assert project.run("build") == 0
    project.write("a.md", "---\ndeck: New deck\n---\n# Old deck\n\nQ: One?\nA: Yes.\n")
    capsys.readouterr()
    assert project.run("build") == 0
    out = capsys.readouterr().out
    assert "1 card changed deck: Anki's import does not move cards that already exist" in out
    assert "Change Deck" in out


def test_prune_forgets_removed_cards(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write("a.md", cards(4))
    assert project.run("build") == 0
    project.write("a.md", cards(3))
    assert project.run("build") == 0
    assert len(load_ledger(project.cards, "cards")[0].entries) == 4
    from build_deck.cli import main

    capsys.readouterr()
    assert main(["ledger", "prune", "--older-than", "3650", "--cards", str(project.cards)]) == 0
    assert "forgot 0 removed cards" in capsys.readouterr().out
    assert main(["ledger", "prune", "--older-than", "0", "--cards", str(project.cards)]) == 0
    assert "forgot 1 removed cards; 3 entries left" in capsys.readouterr().out
    assert project.run("build", "--locked") == 0


def test_the_report_carries_the_final_note_records(project: Project) -> None:
    project.write("a.md", "# T\n\nThe {{first}} and {{second}}.\n\nQ: One?\nA: Yes.\n")
    options = BuildOptions(notes_dir=project.notes, cards_dir=project.cards, out_dir=project.root)
    report = run(options, write=True)
    assert report.errors == []
    ledger = load_ledger(project.cards, "cards")[0].entries
    assert len(report.records) == 2
    for record in report.records:
        assert ledger[record.guid].mtime == record.mtime
        assert record.deck == "AI Study Notes::T"
        assert record.fields[0] == record.card.content
        assert "T" in record.tags
    assert report.records[0].fields[2] == "notes/a.md › T"


def test_an_unclosed_fence_that_swallows_cards_is_a_warning_at_the_fence(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("a.md", "Q: One?\nA: Yes.\n\n```python\nx = 1\n\nQ: Two?\nA: Swallowed.\n")
    assert project.run("check") == 0
    assert (
        "notes/a.md:4: warning: code fence '```' is never closed: it swallows the rest of "
        "the file (2 lines that look like cards)" in capsys.readouterr().err
    )


def test_nesting_beyond_the_parser_limit_is_an_error_at_its_line(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = "".join("  " * i + "- level\n" for i in range(60))
    project.write("a.md", "Q: One?\nA: Yes.\n\n" + deep + "\nQ: Two?\nA: Lost.\n")
    assert project.run("check") == 1
    err = capsys.readouterr().err
    assert "notes/a.md:51: error: nested more than 96 levels deep" in err


def test_one_of_a_kind_is_singular(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write("a.md", "Q: What is one?\nA:\n")
    assert project.run("check") == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == "1 card (1 Q/A, 0 cloze, 0 verified) from 1 file; 1 error, nothing written"


def test_help_names_the_ledger_folder(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "cards/ledger/" in out and "ledger.jsonl" not in out
