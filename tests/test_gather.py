"""Which notes files a build reads, and what it says of those it leaves out."""

from __future__ import annotations

import re

import pytest

from build_deck.watch import snapshot
from tests.conftest import REPO, Project

CARD = "Q: What is {word}?\nA: A word.\n"


def test_a_link_leading_outside_is_not_followed_and_named(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = project.root / "elsewhere"
    outside.mkdir()
    (outside / "private.md").write_text(CARD.format(word="private"), encoding="utf-8")
    (project.notes / "shared").symlink_to(outside)
    (project.notes / "one.md").symlink_to(outside / "private.md")
    project.write("own.md", CARD.format(word="own"))
    assert project.run("build") == 0
    captured = capsys.readouterr()
    for name in ("notes/one.md", "notes/shared"):
        assert (
            f"{name}:0: warning: symbolic link to {outside}"
            + ("/private.md" if name.endswith(".md") else "")
            + ", outside the notes folder: not followed, so nothing in it is read; move or "
            "copy those notes into the notes folder"
        ) in captured.err
    assert "1 card (1 Q/A" in captured.out


def test_a_link_inside_is_read_once(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write("term/week.md", CARD.format(word="weekly"))
    project.write(".archive/old.md", CARD.format(word="archived"))
    (project.notes / "current").symlink_to(project.notes / "term")  # read already
    (project.notes / "archive").symlink_to(project.notes / ".archive")  # read through it
    (project.notes / "loop").symlink_to(project.notes)  # a link back up
    assert project.run("build", "-v") == 0
    out = capsys.readouterr().out
    assert "new: notes/term/week.md:1: What is weekly?" in out
    assert "new: notes/archive/old.md:1: What is archived?" in out
    assert "2 cards (2 Q/A" in out


def test_hidden_folders_are_not_notes(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write("a.md", CARD.format(word="kept"))
    project.write(".trash/deleted.md", CARD.format(word="deleted"))
    project.write(".obsidian/snippets.md", "{{c1::not notes}}\n")
    assert project.run("build") == 0
    assert "1 card (1 Q/A" in capsys.readouterr().out


def test_a_file_without_cards_gets_one_line(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("cards.md", CARD.format(word="one"))
    project.write("prose.md", "# Reading list\n\n- a book\n\n%% {{c1::in a comment}} %%\n")
    project.write("README.md", "These are my notes.\n")
    project.write("broken.md", "Q: No answer\n")
    assert project.run("build") == 1
    err = capsys.readouterr().err.splitlines()
    assert "notes/prose.md: no cards (write Q:/A: or a {{cloze}})" in err
    assert not any("README" in line or "broken.md: no cards" in line for line in err)
    project.write("broken.md", CARD.format(word="mended"))
    assert project.run("build") == 0  # from the cache this time: still said
    assert "notes/prose.md: no cards (write Q:/A: or a {{cloze}})" in capsys.readouterr().err


def _after_blocks(text: str) -> list[str]:
    """The Markdown of each 'After:' example of docs/migrating.md."""
    return [m.group(1) for m in re.finditer(r"After:\n\n```markdown\n(.*?)\n```\n", text, re.S)]


def test_the_migration_examples_build(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    """Each 'After:' of the migration note builds, to the cards its 'Before:' held."""
    examples = _after_blocks((REPO / "docs" / "migrating.md").read_text(encoding="utf-8"))
    assert len(examples) == 3
    counts = []
    for example in examples:
        project.write("example.md", example + "\n")
        assert project.run("check") == 0
        captured = capsys.readouterr()
        assert "error" not in captured.err and "no cards" not in captured.err
        counts.append(captured.out.split(" (")[0])
    assert counts == ["4 cards", "2 cards", "2 cards"]


def test_watch_ignores_hidden_folders(project: Project) -> None:
    project.write("a.md", CARD.format(word="watched"))
    project.write(".obsidian/workspace.json", "{}")
    before = snapshot(project.notes)
    (project.notes / ".obsidian" / "workspace.json").write_text('{"active": "a.md"}')
    assert snapshot(project.notes) == before
    project.write("a.md", CARD.format(word="changed"))
    assert snapshot(project.notes) != before
