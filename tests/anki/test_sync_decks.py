"""`build-deck sync` follows the decks the student made of its cards in Anki."""

from __future__ import annotations

from pathlib import Path

import pytest
from anki.collection import Collection

from build_deck.anki.sync_state import state_key
from tests.anki.syncing import (
    NOTES,
    ROOT,
    edit_in_anki,
    history,
    note_by_front,
    opened,
    review_all,
    sync,
    sync_ok,
)
from tests.conftest import Project

EXTRA_CARD = "\nQ: Which optimizer keeps two moments?\nA: Adam.\n"
STATISTICS = "# Statistics\n\nQ: What does a p-value measure?\nA: Surprise under the null.\n"


def deck_of(col: Collection, note_id: int) -> set[str]:
    """The names of the decks that hold a note's cards."""
    return {col.decks.name(card.did) for card in col.get_note(note_id).cards()}  # type: ignore[arg-type]


def test_renamed_decks_a_preset_and_a_students_own_deck_are_followed(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        review_all(col)
        root = col.decks.id_for_name(ROOT)
        sub = col.decks.id_for_name(f"{ROOT}::Machine Learning")
        assert root is not None and sub is not None
        # The student: a deck of exams with its own options preset, the notes' subdeck
        # renamed, one hard card moved into a deck of their own, one answer edited.
        col.decks.rename(root, "Exam::AI Study Notes")
        col.decks.rename(sub, "Exam::AI Study Notes::ML")
        preset = col.decks.add_config_returning_id("Exam preset")
        deck = col.decks.get(root)
        assert deck is not None
        deck["conf"] = preset
        col.decks.save(deck)
        hard = col.decks.id("Hard", create=True)
        step = note_by_front(col, "optimizer.step()")
        (card,) = col.get_note(step).cards()  # type: ignore[arg-type]
        col.set_deck([card.id], hard)  # type: ignore[arg-type]
        edit_in_anki(col, "Which rate", "Back", "The learning rate (my words).")
        before = history(col, step)
        decks_before = sorted(d.name for d in col.decks.all_names_and_ids())

    # The notes gain a card in the same section, a reworded one, and a new file.
    project.write("ml.md", NOTES.replace("every parameter.", "each parameter.") + EXTRA_CARD)
    project.write("stats.md", STATISTICS)
    out = sync_ok(project, col_path, capsys)
    assert "move:" not in out and "0 moved" in out
    with opened(col_path) as col:
        names = sorted(d.name for d in col.decks.all_names_and_ids())
        assert names == sorted([*decks_before, "Exam::AI Study Notes::Statistics"])
        assert deck_of(col, note_by_front(col, "two moments")) == {"Exam::AI Study Notes::ML"}
        assert deck_of(col, note_by_front(col, "p-value")) == {"Exam::AI Study Notes::Statistics"}
        assert deck_of(col, step) == {"Hard"} and history(col, step) == before
        root_deck = col.decks.get(col.decks.id_for_name("Exam::AI Study Notes"))  # type: ignore[arg-type]
        assert root_deck is not None and root_deck["conf"] == preset
    settled = "nothing written: +0 new, 0 updated, 0 retyped, 0 moved"
    assert settled in sync_ok(project, col_path, capsys)

    # --deck with the deck's new name is not another project's record: the build stops
    # in one line (the ledger's cards are in "AI Study Notes"), and nothing is written.
    code, out = sync(project, col_path, capsys, "--deck", "Exam::AI Study Notes")
    assert code != 0 and "but the card ledger's cards are in 'AI Study Notes'" in out, out
    with opened(col_path) as col:
        assert col.get_note(note_by_front(col, "Which rate"))["Back"] == (  # type: ignore[arg-type]
            "The learning rate (my words)."
        )
        assert sorted(d.name for d in col.decks.all_names_and_ids()) == names

    # A deck changed in the notes still moves the cards, the one in "Hard" too.
    project.write("ml.md", "---\ndeck: Optimisation\n---\n" + NOTES + EXTRA_CARD)
    out = sync_ok(project, col_path, capsys)
    assert "move: notes/ml.md:9: to Exam::AI Study Notes::Optimisation" in out, out
    with opened(col_path) as col:
        assert deck_of(col, step) == {"Exam::AI Study Notes::Optimisation"}
        assert history(col, step) == before


def test_a_record_without_decks_follows_the_decks_the_cards_are_in(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        key = state_key(ROOT)
        record = col.get_config(key)
        # As the previous version of sync left it: no decks.
        notes = {
            guid: {"fields": item["fields"], "tags": item["tags"]}
            for guid, item in record["notes"].items()
        }
        col.set_config(key, {"version": 1, "notes": notes})
        root = col.decks.id_for_name(ROOT)
        assert root is not None
        col.decks.rename(root, "Exam::AI Study Notes")
    project.write("ml.md", NOTES + EXTRA_CARD)
    project.write("stats.md", STATISTICS)
    out = sync_ok(project, col_path, capsys)
    assert "move:" not in out and "+2 new" in out
    with opened(col_path) as col:
        added = note_by_front(col, "two moments")
        assert deck_of(col, added) == {"Exam::AI Study Notes::Machine Learning"}
        assert deck_of(col, note_by_front(col, "p-value")) == {"Exam::AI Study Notes::Statistics"}
        assert col.decks.id_for_name(ROOT) is None
