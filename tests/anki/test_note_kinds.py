"""Reversed and typed cards: stable identities, re-import, and `build-deck sync`."""

from __future__ import annotations

from pathlib import Path

import pytest
from anki.collection import Collection

from build_deck.anki.notetypes import NOTE_TYPES, REVERSED, TYPED
from tests.anki.syncing import opened, review_all, sync_ok
from tests.conftest import Project, import_package

NOTES = """
# Words

Q (reversed): la pomme
A: the apple

Q (typed): Capital of France?
A: Paris

Q: Plain one way?
A: Yes.
"""


def test_note_types_keep_their_ids_and_templates() -> None:
    assert (REVERSED.model_id, REVERSED.name, len(REVERSED.templates)) == (
        1_734_006_203,
        "build_deck Q/A reversed",
        2,
    )
    assert (TYPED.model_id, TYPED.name) == (1_734_006_204, "build_deck Q/A typed")
    assert "{{type:Back}}" in TYPED.front and "{{type:Back}}" in TYPED.back
    assert len({nt.model_id for nt in NOTE_TYPES}) == len(NOTE_TYPES)


def test_reworded_cards_keep_their_identity_through_reimport(
    project: Project, collection: Collection
) -> None:
    project.write("words.md", NOTES)
    assert project.run("build") == 0
    import_package(collection, project.apkg)
    guids = {collection.get_note(n).guid for n in collection.find_notes("")}
    assert collection.card_count() == 4  # two for the reversed note
    project.write("words.md", NOTES.replace("the apple", "the apple (fruit)"))
    assert project.run("build") == 0
    import_package(collection, project.apkg)
    assert {collection.get_note(n).guid for n in collection.find_notes("")} == guids
    note = collection.get_note(collection.find_notes('"note:build_deck Q/A reversed"')[0])
    assert note["Back"] == "the apple (fruit)"
    back_to_front = next(c for c in note.cards() if c.ord == 1)
    assert "the apple (fruit)" in back_to_front.question().split("</style>")[-1]
    assert "la pomme" in back_to_front.answer().split('id="answer"')[-1]


def test_sync_adds_updates_and_retypes(
    project: Project,
    col_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project.write("words.md", NOTES)
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        assert col.card_count() == 4
        assert review_all(col) == 4
        typed = col.get_card(col.find_cards('"note:build_deck Q/A typed"')[0])
        assert "[[type:Back]]" in typed.question()
    # The plain card becomes a reversed one: a new identity in the ledger (as a Q/A card
    # made a cloze), and sync retypes the note in place, its reviews kept.
    project.write("words.md", NOTES.replace("Q: Plain one way?", "Q (reversed): Plain one way?"))
    sync_ok(project, col_path, capsys, "--allow-removals")
    with opened(col_path) as col:
        reversed_notes = col.find_notes('"note:build_deck Q/A reversed"')
        assert len(reversed_notes) == 2
        assert col.note_count() == 3 and col.card_count() == 5
        assert col.find_notes('"note:build_deck Q/A"') == []
        assert review_all(col) == 1  # only the new back-to-front card is due
    assert sync_ok(project, col_path, capsys).count("added") == 0
