"""``build-deck init``: a new notes project builds at once; a folder of notes is adopted,
never overwritten; ``--start-over`` empties a committed deck in one command."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from build_deck.cli import main
from build_deck.config import load_config
from build_deck.project import EXAMPLE_NOTES
from tests.conftest import REPO


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    return tmp_path


def git(folder: Path, *args: str) -> str:
    """Run git in ``folder``; its output."""
    done = subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=T", "-c", "user.email=t@example.org", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_init_makes_a_project_that_builds(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "mydeck", "--deck", "ML Notes"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "ready: cd mydeck && build-deck build"
    root = here / "mydeck"
    assert load_config(root / "build-deck.toml").deck == "ML Notes"
    assert (root / "notes" / "example.md").read_text(encoding="utf-8") == EXAMPLE_NOTES
    assert (root / "cards").is_dir()
    attributes = (root / ".gitattributes").read_text(encoding="utf-8")
    assert "cards/ledger/*.jsonl merge=build-deck-ledger" in attributes
    assert "dist/" in (root / ".gitignore").read_text(encoding="utf-8").split()
    assert "`build-deck build`" in (root / "README.md").read_text(encoding="utf-8")
    driver = git(root, "config", "--get", "merge.build-deck-ledger.driver")
    assert driver.strip().endswith("-m build_deck ledger merge %O %A %B")
    assert (
        git(root, "check-attr", "merge", "cards/ledger/00.jsonl")
        .strip()
        .endswith("merge: build-deck-ledger")
    )

    monkeypatch.chdir(root)
    assert main(["build"]) == 0
    out = capsys.readouterr().out
    assert "3 cards (2 Q/A, 1 cloze, 1 verified" in out
    assert "-> dist/ml-notes.apkg" in out
    assert (root / "cards" / "ledger").is_dir()


def test_init_adopts_a_folder_of_notes_and_overwrites_nothing(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = here / "notes"
    notes.mkdir()
    own = "# Biology\n\nQ: Which organelle makes ATP?\nA: The mitochondrion.\n"
    (notes / "bio.md").write_text(own, encoding="utf-8")
    (here / "README.md").write_text("# My notes\n\nMine.\n", encoding="utf-8")
    (here / ".gitignore").write_text("*.pdf\ndist/\n", encoding="utf-8")
    assert main(["init", "--deck", "Biology", "--no-git"]) == 0
    out = capsys.readouterr().out
    assert "adopted notes/ (1 notes files, left as they are)" in out
    assert (notes / "bio.md").read_text(encoding="utf-8") == own
    assert not (notes / "example.md").exists()
    readme = (here / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# My notes\n\nMine.\n\n## The Anki deck\n")
    ignored = (here / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert ignored[:2] == ["*.pdf", "dist/"] and ignored.count("dist/") == 1
    assert ".cache/" in ignored
    assert not (here / ".git").exists()
    first = {p: p.read_bytes() for p in here.rglob("*") if p.is_file()}

    assert main(["init", "--deck", "Other", "--no-git"]) == 0  # again: all is kept
    out = capsys.readouterr().out
    assert "kept build-deck.toml (its deck is 'Biology': edit it to rename)" in out
    assert {p: p.read_bytes() for p in here.rglob("*") if p.is_file()} == first
    assert main(["build"]) == 0
    assert (here / "dist" / "biology.apkg").is_file()


def test_init_needs_a_deck_name(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "new"]) == 1
    assert capsys.readouterr().err == (
        "new:0: error: pass --deck NAME: the root deck's name, as Anki will show it\n"
    )
    assert not (here / "new" / "build-deck.toml").exists()


def test_start_over_empties_this_repositorys_deck_in_one_command(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("notes", "cards"):
        shutil.copytree(REPO / name, here / name)
    for name in ("build-deck.toml", "README.md", ".gitattributes", ".gitignore"):
        shutil.copy(REPO / name, here / name)
    git(here, "init", "-q")
    git(here, "add", "-A")
    git(here, "commit", "-q", "-m", "the shipped deck")

    (here / "notes" / "nlp.md").write_text("changed\n", encoding="utf-8")
    assert main(["init", "--start-over", "--deck", "ML Notes"]) == 1
    assert "error: --start-over: notes/ or cards/ has changes git does not keep yet" in (
        capsys.readouterr().err
    )
    assert (here / "cards" / "ledger").is_dir()
    git(here, "checkout", "--", "notes")

    assert main(["init", "--start-over", "--deck", "ML Notes"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("started over: deleted notes/ (7 notes files) and cards/;")
    assert [p.name for p in (here / "notes").iterdir()] == ["example.md"]
    assert load_config(here / "build-deck.toml").deck == "ML Notes"
    assert main(["build"]) == 0
    assert "+3 new" in capsys.readouterr().out
    assert (here / "dist" / "ml-notes.apkg").is_file()
    assert "notes/nlp.md" in git(here, "log", "--name-only", "--format=")  # git keeps them


def test_a_build_that_would_empty_the_deck_names_start_over(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--deck", "ML Notes", "--no-git"]) == 0
    assert main(["build"]) == 0
    (here / "notes" / "example.md").write_text("# Nothing yet\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("notes:0: ")]
    assert line.startswith("notes:0: error: this build would remove 3 of the deck's 3 cards")
    assert line.endswith(
        "to start a deck of your own instead, run 'build-deck init --start-over --deck NAME'"
    )
