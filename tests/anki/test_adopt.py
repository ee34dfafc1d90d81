"""`build-deck adopt`: notes made by hand or by another tool, with months of reviews,
become build-deck's in place: every review kept, nothing duplicated.

The collection is filled as Obsidian_to_Anki, inka2 and a student's own hand would
fill it: stock Basic and Cloze note types, decks of their own, the note ids written
into the notes file as those tools write them. Every card is reviewed through Anki's
scheduler before the migration.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from anki.collection import Collection

from build_deck.anki.sync_model import OUR_NOTETYPES
from build_deck.identity.ledger import load_ledger
from tests.anki.syncing import opened, sync_ok
from tests.conftest import Project, import_package, review_deck

NOTES = """\
# Cells

Q: Which organelle makes most of a cell's ATP?
A: The mitochondrion, by oxidative phosphorylation.
<!--ID: {obsidian}-->

Q: What does **DNA polymerase** do?
A: It copies DNA, one nucleotide at a time.

<!--ID:{inka}-->
The cell membrane is a {{{{c1::lipid bilayer}}}} with {{{{c2::embedded proteins}}}}.

Q: Where does photosynthesis take place in a plant cell?
A: In the chloroplasts.

Q: What do ribosomes make?
A: Proteins.
"""


def add(col: Collection, notetype: str, deck: str, *fields: str) -> int:
    """Add a note as another tool would; returns its id."""
    model = col.models.by_name(notetype)
    assert model is not None
    note = col.new_note(model)
    for index, value in enumerate(fields):
        note.fields[index] = value
    deck_id = col.decks.id(deck, create=True)
    assert deck_id is not None
    col.add_note(note, deck_id)
    return int(note.id)


def fill(col: Collection) -> dict[str, int]:
    """The student's collection before build-deck: four notes of the notes (one worded
    differently, one named only by its ID comment), one unrelated; all reviewed."""
    notes = {
        # Obsidian_to_Anki, an older wording: found by the ID comment it wrote
        "obsidian": add(col, "Basic", "Obsidian", "Which organelle produces ATP?", "Mitochondria"),
        # made by hand, with Anki's editor formatting
        "hand": add(
            col,
            "Basic",
            "Default",
            "What does <b>DNA polymerase</b> do?",
            "It copies DNA, one nucleotide at a time.",
        ),
        # inka2's cloze, in a deck of its own
        "inka": add(
            col,
            "Cloze",
            "Inka::Biology",
            "The cell membrane is a {{c1::lipid bilayer}} with {{c2::embedded proteins}}.",
            "",
        ),
        # made by hand with a slightly different question: alike enough
        "alike": add(
            col,
            "Basic",
            "Default",
            "Where does photosynthesis take place in plant cells?",
            "In the chloroplasts.",
        ),
        "spanish": add(col, "Basic", "Spanish", "el perro", "the dog"),
    }
    for deck in ("Obsidian", "Default", "Inka::Biology", "Spanish"):
        review_deck(col, deck)
    return notes


def reviews(col: Collection, note_id: int) -> list[tuple[int, int, int]]:
    """(card id, ord, review count) of each card of a note."""
    db = col.db
    assert db is not None
    return [
        (cid, ord_, db.scalar("SELECT count() FROM revlog WHERE cid = ?", cid))
        for cid, ord_ in db.all("SELECT id, ord FROM cards WHERE nid = ? ORDER BY ord", note_id)
    ]


def adopt(project: Project, col: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run `build-deck adopt`, which must succeed; all its output."""
    capsys.readouterr()
    code = project.run("adopt", "--collection", str(col), *args)
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    return captured.out + captured.err


def test_adopt_then_sync_keeps_every_review_and_duplicates_nothing(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with opened(col_path) as col:
        ids = fill(col)
        before = {name: reviews(col, note_id) for name, note_id in ids.items()}
    assert all(count > 0 for history in before.values() for _, _, count in history)
    project.write("bio.md", NOTES.format(obsidian=ids["obsidian"], inka=ids["inka"]))

    out = adopt(project, col_path, capsys)
    assert f"= note {ids['obsidian']} (Basic, in Obsidian; 1 reviews); ID comment" in out
    assert f"= note {ids['hand']} (Basic, in Default; 1 reviews); same text" in out
    assert f"= note {ids['inka']} (Cloze, in Inka::Biology; 2 reviews); ID comment" in out
    assert f"= note {ids['alike']} (Basic, in Default; 1 reviews); alike, 0.9" in out
    assert "4 notes to adopt (5 reviews kept), 0 ambiguous, 0 left alone, of 5 cards" in out
    assert out.rstrip().endswith("nothing written; 'build-deck adopt --apply' adopts them")
    assert not project.cards.exists()
    with opened(col_path) as col:
        assert col.find_notes(f"mid:{next(iter(OUR_NOTETYPES))}") == []

    out = adopt(project, col_path, capsys, "--apply")
    assert "adopted 4 notes (5 reviews kept) -> profile/collection.anki2;" in out
    ledger, problems = load_ledger(project.cards, "cards")
    assert problems == []
    with opened(col_path) as col:
        for name in ("obsidian", "hand", "inka", "alike"):
            note = col.get_note(ids[name])  # type: ignore[arg-type]
            assert note.mid in OUR_NOTETYPES
            assert note.guid in ledger.entries
            assert reviews(col, ids[name]) == before[name]
    apkg_copy = col_path.parent.parent / "copy" / "collection.anki2"
    apkg_copy.parent.mkdir()
    shutil.copy(col_path, apkg_copy)

    out = sync_ok(project, col_path, capsys)
    assert "+1 new, 4 updated, 0 retyped, 0 moved" in out  # the decks are the student's
    with opened(col_path) as col:
        check_adopted(col, ids, before, moved=False)
    assert "nothing to do" in sync_ok(project, col_path, capsys)

    # The other way in: Anki's own import of the package updates the adopted notes too.
    with opened(apkg_copy) as col:
        import_package(col, project.root / "dist" / "ai-study-notes.apkg")
        check_adopted(col, ids, before, moved=False)


def check_adopted(
    col: Collection,
    ids: dict[str, int],
    before: dict[str, list[tuple[int, int, int]]],
    *,
    moved: bool = True,
) -> None:
    """Every note kept its cards and reviews, shows the notes' text, nothing twice."""
    assert col.note_count() == 6  # the five of before, and the one card new to Anki
    for name, note_id in ids.items():
        assert reviews(col, note_id) == before[name], name
    assert col.get_note(ids["spanish"]).fields == ["el perro", "the dog"]  # type: ignore[arg-type]
    obsidian = col.get_note(ids["obsidian"])  # type: ignore[arg-type]
    assert obsidian["Front"] == "Which organelle makes most of a cell's ATP?"
    assert obsidian["Back"] == "The mitochondrion, by oxidative phosphorylation."
    inka = col.get_note(ids["inka"])  # type: ignore[arg-type]
    assert "ID:" not in inka["Text"] and "{{c2::embedded proteins}}" in inka["Text"]
    ours = col.find_notes("deck:AI*" if moved else "")
    assert len(ours) == (5 if moved else 6)
    db = col.db
    assert db is not None
    fronts = db.list("SELECT sfld FROM notes")
    assert len(fronts) == len(set(fronts))  # no note twice
    for card_id in col.find_cards(f"nid:{ids['inka']}"):
        card = col.get_card(card_id)
        assert "lipid bilayer" in card.answer() and "ID:" not in card.answer()


def test_ambiguous_notes_are_listed_and_left_alone(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with opened(col_path) as col:
        twins = [
            add(col, "Basic", "Default", "What is osmosis?", "Diffusion of water.") for _ in "ab"
        ]
        reversed_note = add(
            col, "Basic (and reversed card)", "Default", "What do ribosomes make?", "Proteins."
        )
        review_deck(col, "Default")
    project.write(
        "bio.md",
        "Q: What is osmosis?\nA: Diffusion of water.\n\nQ: What do ribosomes make?\nA: Proteins.\n",
    )
    out = adopt(project, col_path, capsys, "--apply")
    assert (
        f"ambiguous: notes/bio.md:1: What is osmosis?: note {twins[0]} (Basic, in Default; "
        f"1 reviews); note {twins[1]} (Basic, in Default; 1 reviews); left alone" in out
    )
    assert f"left alone: notes/bio.md:4: note {reversed_note} (Basic (and reversed card)" in out
    assert "0 notes to adopt (0 reviews kept), 1 ambiguous, 1 left alone, of 2 cards" in out
    with opened(col_path) as col:
        assert {col.get_note(n).mid for n in [*twins, reversed_note]}.isdisjoint(  # type: ignore[arg-type]
            OUR_NOTETYPES
        )


def test_a_note_of_the_other_kind_changes_kind_and_keeps_its_card(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with opened(col_path) as col:
        basic = add(col, "Basic", "X", "The powerhouse of the cell is the mitochondrion.", "")
        cloze = add(col, "Cloze", "X", "What is {{c1::osmosis}}?", "")
        review_deck(col, "X")
        before = {basic: reviews(col, basic), cloze: reviews(col, cloze)}
    project.write(
        "bio.md",
        "The powerhouse of the cell is the {{mitochondrion}}.\n\n"
        f"Q: What is osmosis?\nA: Diffusion of water.\n<!--ID: {cloze}-->\n",
    )
    out = adopt(project, col_path, capsys, "--apply")
    assert "adopted 2 notes (2 reviews kept)" in out
    assert "+0 new, 2 updated" in sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        assert col.note_count() == 2
        assert {n: reviews(col, n) for n in before} == before
        assert col.get_note(basic).note_type()["name"] == "build_deck Cloze"  # type: ignore[arg-type,index]
        assert col.get_note(cloze).note_type()["name"] == "build_deck Q/A"  # type: ignore[arg-type,index]
        (card,) = col.get_note(basic).cards()  # type: ignore[arg-type]
        assert card.ord == 0 and "[...]" in card.question()
