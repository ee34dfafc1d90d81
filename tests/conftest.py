"""Shared fixtures: build decks from notes written in a test, import them into real Anki."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

from build_deck.cli import main

REPO = Path(__file__).resolve().parent.parent
"""The repository root."""


@dataclass
class Project:
    """A throwaway notes project: notes/, cards/ and dist/ under one folder."""

    root: Path

    @property
    def notes(self) -> Path:
        """The notes folder."""
        return self.root / "notes"

    @property
    def cards(self) -> Path:
        """The ledger folder."""
        return self.root / "cards"

    @property
    def apkg(self) -> Path:
        """Where ``build`` writes the package."""
        return self.root / "dist" / "ai-study-notes.apkg"

    def write(self, name: str, text: str) -> Path:
        """Write a notes file (dedented)."""
        path = self.notes / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def run(self, *args: str) -> int:
        """Run the CLI against this project; returns the exit code."""
        return main(
            [
                *args,
                "--notes",
                str(self.notes),
                "--cards",
                str(self.cards),
                "--out",
                str(self.root / "dist"),
            ]
        )


@pytest.fixture(autouse=True)
def user_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user cache folder of the test's own (``$XDG_CACHE_HOME``), with its own key:
    the build cache of a test starts empty and never touches the real one."""
    import build_deck.cache

    folder = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    build_deck.cache.secret_key.cache_clear()
    return folder / "build-deck"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """An empty notes project in a temporary folder, which is also the working directory,
    so that paths print as ``notes/<file>.md``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    (tmp_path / "notes").mkdir()
    return Project(tmp_path)


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A copy of the shipped notes and ledger."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "notes", tmp_path / "notes")
    if (REPO / "cards").is_dir():
        shutil.copytree(REPO / "cards", tmp_path / "cards")
    return Project(tmp_path)


Importer = Callable[[Path], Collection]


def ledger_snapshot(cards: Path) -> dict[str, bytes]:
    """Every file of a card ledger folder and its bytes."""
    return {
        p.relative_to(cards).as_posix(): p.read_bytes()
        for p in sorted(cards.rglob("*"))
        if p.is_file()
    }


def import_package(col: Collection, apkg: Path) -> object:
    """Import ``apkg`` into ``col`` the way Anki desktop does by default."""
    request = ImportAnkiPackageRequest(
        package_path=str(apkg), options=ImportAnkiPackageOptions(with_scheduling=False)
    )
    return col.import_anki_package(request)


@pytest.fixture
def collection(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collection]:
    """A fresh, empty Anki collection (the real Rust backend)."""
    folder = tmp_path_factory.mktemp("anki")
    col = Collection(str(folder / "collection.anki2"))
    yield col
    col.close()


def review_deck(col: Collection, deck_name: str) -> int:
    """Answer every due card of ``deck_name`` "Easy" through Anki's scheduler; returns how
    many were answered."""
    deck = col.decks.id_for_name(deck_name)
    assert deck is not None
    col.decks.set_current(deck)
    answered = 0
    while (card := col.sched.getCard()) is not None:
        card.start_timer()
        col.sched.answerCard(card, 4)
        answered += 1
    return answered


@pytest.fixture
def col_path(tmp_path: Path) -> Path:
    """An empty Anki collection in a profile-like folder, closed."""
    from anki.collection import Collection

    folder = tmp_path / "profile"
    folder.mkdir()
    path = folder / "collection.anki2"
    Collection(str(path)).close()
    return path
