"""A sync with nothing changed in the notes since the last sync takes the notes of that
sync's build from the build cache, and builds nothing (build_deck/anki/kept_records.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_deck import pipeline
from tests.anki.syncing import NOTES, edit_in_anki, note_by_front, opened, sync_ok
from tests.conftest import Project


def _no_build(*args: object, **kwargs: object) -> None:
    raise AssertionError("the sync built the notes")


def test_a_sync_with_the_notes_unchanged_builds_nothing_and_still_sees_anki_edits(
    project: Project,
    col_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project.write("ml.md", NOTES)
    assert "+3 new" in sync_ok(project, col_path, capsys)

    with monkeypatch.context() as patched:
        patched.setattr(pipeline, "run", _no_build)
        out = sync_ok(project, col_path, capsys)
        assert out.rstrip().endswith(
            "nothing to do: profile/collection.anki2 already matches the notes"
        )
        with opened(col_path) as col:
            edit_in_anki(col, "optimizer.step()", "Back", "It steps.")
        out = sync_ok(project, col_path, capsys)
        assert "kept Anki edit: notes/ml.md:5: Back (the notes did not change it)" in out

    # An edit of the notes: the sync builds them.
    project.write("ml.md", NOTES.replace("The learning rate.", "The step size."))
    out = sync_ok(project, col_path, capsys)
    assert "update: notes/ml.md:11: fields Back" in out
    with opened(col_path) as col:
        rate = col.get_note(note_by_front(col, "Which rate"))  # type: ignore[arg-type]
        assert rate["Back"] == "The step size."


def test_a_build_since_the_last_sync_is_synced_with_its_own_notes(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    project.write("ml.md", NOTES.replace("The learning rate.", "The step size."))
    assert project.run("build") == 0  # nothing changed since this build: the stamp holds

    out = sync_ok(project, col_path, capsys)
    assert "update: notes/ml.md:11: fields Back" in out
    with opened(col_path) as col:
        rate = col.get_note(note_by_front(col, "Which rate"))  # type: ignore[arg-type]
        assert rate["Back"] == "The step size."
