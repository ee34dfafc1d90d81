"""Helpers of the tests that sync notes into real collections and review through Anki."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from anki.collection import Collection
from anki.notes import NoteId

from tests.conftest import Project, review_deck

NOTES = """
# Machine Learning

## Training #pytorch

Q: What does `optimizer.step()` do?
A: It updates the parameters from their gradients.

Q: What does `loss.backward()` compute?
A: The gradient of the loss with respect to every parameter.

Q: Which rate scales each step?
A: The learning rate.
"""

ROOT = "AI Study Notes"


@contextmanager
def opened(path: Path) -> Iterator[Collection]:
    """The collection, open for as long as the block runs (sync needs it closed)."""
    col = Collection(str(path))
    try:
        yield col
    finally:
        col.close()


def sync(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    """Run `build-deck sync` on the collection; returns the exit code and all output."""
    capsys.readouterr()
    code = project.run("sync", "--collection", str(col_path), *args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def sync_ok(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> str:
    """Run `build-deck sync`, which must succeed; returns all its output."""
    code, out = sync(project, col_path, capsys, *args)
    assert code == 0, out
    return out


def review_all(col: Collection) -> int:
    """Answer every due card of the synced deck "Easy"; returns how many."""
    return review_deck(col, ROOT)


def history(col: Collection, note_id: int) -> list[tuple[int, int, int]]:
    """(card ord, review count, interval) of each card of a note."""
    db = col.db
    assert db is not None
    return [
        (ord_, db.scalar("SELECT count() FROM revlog WHERE cid = ?", cid), ivl)
        for cid, ord_, ivl in db.all(
            "SELECT id, ord, ivl FROM cards WHERE nid = ? ORDER BY ord", note_id
        )
    ]


def note_by_front(col: Collection, words: str) -> int:
    """The id of the one note whose Front holds ``words``."""
    (note_id,) = col.find_notes(f'"Front:*{words}*"')
    return int(note_id)


def edit_in_anki(col: Collection, words: str, field: str, value: str) -> None:
    """Set ``field`` of the one note whose Front holds ``words``, as the student does in
    Anki's editor."""
    note = col.get_note(NoteId(note_by_front(col, words)))
    note[field] = value
    col.update_note(note)


def pull(project: Project, col_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run `build-deck pull`; returns its output (it must succeed)."""
    capsys.readouterr()
    assert project.run("pull", "--collection", str(col_path), *args) == 0
    captured = capsys.readouterr()
    return captured.out + captured.err
