"""build-deck.toml: every command reads the project's settings; the command line wins;
a bad setting, or a root deck other than the ledger's, is a one-line error."""

from __future__ import annotations

import json
import re
import sqlite3
import zipfile
from pathlib import Path

import pytest
from anki.collection import Collection

from build_deck.cache import default_cache_dir
from build_deck.cli import main
from build_deck.config import config_text, load_config
from tests.conftest import REPO, Project, import_package, ledger_snapshot

NOTES = """
# Topic

Q: What does a learning rate scale?
A: Each step of gradient descent.
"""


def _decks(apkg: Path) -> set[str]:
    """The deck names a package holds (but Anki's Default)."""
    with zipfile.ZipFile(apkg) as package, sqlite3.connect(":memory:") as db:
        data = package.read("collection.anki2")
        db.deserialize(data)
        (decks,) = db.execute("SELECT decks FROM col").fetchone()
    return {d["name"] for d in json.loads(decks).values()} - {"Default"}


def _settings(project: Project, text: str) -> None:
    (project.root / "build-deck.toml").write_text(text, encoding="utf-8")


def test_build_takes_the_deck_and_folders_from_the_settings(
    project: Project, collection: Collection
) -> None:
    project.write("ml.md", NOTES)
    _settings(project, config_text("ML Notes").replace('out = "dist"', 'out = "packages"'))
    assert main(["build"]) == 0
    apkg = project.root / "packages" / "ml-notes.apkg"
    assert not (project.root / "dist").exists()
    assert _decks(apkg) == {"ML Notes::Topic"}
    import_package(collection, apkg)
    assert collection.note_count() == 1


def test_the_command_line_overrides_the_settings(project: Project) -> None:
    project.write("ml.md", NOTES)
    _settings(project, config_text("ML Notes"))
    assert main(["build", "--deck", "Other", "--out", "elsewhere"]) == 0
    assert _decks(project.root / "elsewhere" / "other.apkg") == {"Other::Topic"}


def test_the_settings_are_found_from_a_folder_below(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write("ml.md", NOTES)
    _settings(project, config_text("ML Notes"))
    monkeypatch.chdir(project.notes)
    assert main(["build"]) == 0
    assert (project.root / "dist" / "ml-notes.apkg").is_file()
    # The build cache lives in the user's cache folder (safety round 3), one per notes
    # folder: the one build-deck.toml names, found from below; none inside the project.
    assert default_cache_dir(project.root / "notes").is_dir()
    assert not (project.root / ".cache" / "build-deck").exists()
    assert not (project.notes / "dist").exists()


def test_tags_of_the_settings_go_on_every_card(project: Project) -> None:
    project.write("ml.md", NOTES)
    _settings(project, config_text("ML Notes").replace("tags = []", 'tags = ["exam-2026", "ml"]'))
    assert main(["build"]) == 0
    assert main(["stats"]) == 0  # the cache holds the tags too
    apkg = project.root / "dist" / "ml-notes.apkg"
    with zipfile.ZipFile(apkg) as package, sqlite3.connect(":memory:") as db:
        db.deserialize(package.read("collection.anki2"))
        (tags,) = db.execute("SELECT tags FROM notes").fetchone()
    assert {"exam-2026", "ml", "Topic"} <= set(tags.split())


def test_strict_from_the_settings_and_no_strict_on_the_command_line(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES.replace("descent.", "descent, $x^2$."))
    _settings(project, config_text("ML Notes").replace("strict = false", "strict = true"))
    monkeypatch.setenv("BUILD_DECK_MATHJAX", str(project.root / "no-mathjax"))
    assert main(["check"]) == 1
    assert "error: TeX not validated (--strict)" in capsys.readouterr().err
    assert main(["check", "--no-strict"]) == 0
    assert "warning: TeX not validated" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('dek = "ML"', "build-deck.toml:3: error: unknown setting 'dek': the settings are deck, "),
        ('tags = "ml"', "build-deck.toml:3: error: tags must be a list of words without spaces"),
        ('tags = ["two words"]', "build-deck.toml:3: error: tags must be a list of words"),
        ('strict = "yes"', "build-deck.toml:3: error: strict must be true or false"),
        ('deck = "A::B"', "build-deck.toml:3: error: deck must be the root deck's name in"),
        ("notes = 3", "build-deck.toml:3: error: notes must be a folder name in quotes"),
        ('deck = "unclosed', "build-deck.toml:3: error: not valid TOML: "),
    ],
)
def test_a_bad_setting_is_one_line_at_its_line(
    project: Project, capsys: pytest.CaptureFixture[str], line: str, expected: str
) -> None:
    project.write("ml.md", NOTES)
    _settings(project, f"# settings\n\n{line}\n")
    assert main(["build"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(expected), captured.err
    assert captured.err.count("\n") == 1
    assert not (project.root / "dist").exists()


def test_another_root_deck_than_the_ledgers_is_one_line(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    _settings(project, config_text("ML Notes"))
    assert main(["build"]) == 0
    before = ledger_snapshot(project.cards)
    capsys.readouterr()
    assert main(["build", "--deck", "AI Study Notes"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "cards:0: error: this build's root deck is 'AI Study Notes', but the card ledger's "
        "cards are in 'ML Notes': set deck = \"ML Notes\" in build-deck.toml (or pass --deck); "
        "a deck of another name starts from an empty ledger ('build-deck init')\n"
    )
    assert ledger_snapshot(project.cards) == before
    assert sorted(p.name for p in (project.root / "dist").glob("*.apkg")) == ["ml-notes.apkg"]
    assert main(["check", "--deck", "AI Study Notes"]) == 1  # a check says the same


def test_make_build_and_build_deck_build_read_the_same_settings() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^build:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe is not None
    assert recipe.group(1).split("\n")[:-1] == ["\t$(BIN)/build-deck build"]  # no option
    shipped = load_config(REPO / "build-deck.toml")
    assert shipped.deck == "AI Study Notes"
    assert (shipped.notes, shipped.cards, shipped.out) == (
        REPO / "notes",
        REPO / "cards",
        REPO / "dist",
    )
    assert (REPO / "build-deck.toml").read_text(encoding="utf-8") == config_text("AI Study Notes")
