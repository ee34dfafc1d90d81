"""Edit, rebuild, re-import: Anki updates notes in place and keeps their reviews."""

from __future__ import annotations

import pytest
from anki.collection import Collection

from tests.conftest import Project, import_package, review_deck

NOTES = """
# Machine Learning

## Training loop #pytorch

Q: Why does the training loop call `optimizer.zero_grad()` frist?
A: PyTorch accumulates gradients in `.grad` across backward passes.

Q: What does `loss.backward()` compute?
A: The gradient of the loss with respect to every parameter.

Q: What does `optimizer.step()` do?
A: It updates the parameters from their gradients.

The optimiser's {{c1::learning rate}} scales each step.
"""


def review_everything(col: Collection) -> int:
    """Answer every card "Easy" through Anki's scheduler; returns how many were answered."""
    return review_deck(col, "AI Study Notes::Machine Learning")


def test_reword_add_remove_then_reimport(
    project: Project,
    collection: Collection,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project.write("ml.md", NOTES)
    assert project.run("build") == 0
    import_package(collection, project.apkg)
    assert collection.note_count() == 4
    assert review_everything(collection) == 4

    (zero_grad,) = collection.find_notes('"Front:*zero_grad()* frist?"')
    db = collection.db
    assert db is not None
    reviews_before = db.scalar(
        "SELECT count() FROM revlog WHERE cid IN (SELECT id FROM cards WHERE nid = ?)", zero_grad
    )
    card_before = collection.get_note(zero_grad).cards()[0]
    assert reviews_before >= 1 and card_before.type != 0  # reviewed: no longer new

    # Fix the typo, remove one card, add one; rebuild a day later.
    edited = (
        NOTES.replace("frist?", "first?")
        .replace(
            "Q: What does `optimizer.step()` do?\n"
            "A: It updates the parameters from their gradients.\n",
            "",
        )
        .replace(
            "The optimiser's",
            "Q: What does `model.eval()` change?\nA: Dropout and batch-norm behaviour.\n\n"
            "The optimiser's",
        )
    )
    project.write("ml.md", edited)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(1767225600 + 86400))
    capsys.readouterr()
    assert project.run("build") == 0
    out = capsys.readouterr().out
    assert (
        "removed: notes/ml.md › Machine Learning > Training loop: What does optimizer.step() do?"
        in out
    )
    assert out.rstrip().endswith("+1 new, 1 changed, 0 moved, 0 restored, 1 removed")

    import_package(collection, project.apkg)
    # One note added; the removed one stays (an import never deletes); no duplicates.
    assert collection.note_count() == 5
    assert collection.find_notes('"Front:*frist?"') == []
    (updated,) = collection.find_notes('"Front:*zero_grad()* first?"')
    assert updated == zero_grad
    note = collection.get_note(updated)
    assert "first?" in note["Front"]
    card_after = note.cards()[0]
    assert card_after.id == card_before.id
    assert (card_after.type, card_after.ivl, card_after.due) == (
        card_before.type,
        card_before.ivl,
        card_before.due,
    )
    reviews_after = db.scalar("SELECT count() FROM revlog WHERE cid = ?", card_after.id)
    assert reviews_after == reviews_before
    assert len(collection.find_notes('"Front:*model.eval()*"')) == 1
    guids = db.list("SELECT guid FROM notes")
    assert len(guids) == len(set(guids))


def test_unchanged_rebuild_updates_nothing(project: Project, collection: Collection) -> None:
    project.write("ml.md", NOTES)
    assert project.run("build") == 0
    import_package(collection, project.apkg)
    assert project.run("build") == 0
    log = import_package(collection, project.apkg).log  # type: ignore[attr-defined]
    assert len(log.updated) == 0 and len(log.new) == 0
    assert len(log.duplicate) == 4  # Anki's word for "already there, same"
