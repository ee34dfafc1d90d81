"""The shipped notes, built and imported into a real Anki collection (the `anki` package)."""

from __future__ import annotations

import re
import sqlite3
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from anki.collection import Collection

from build_deck.model import CardKind
from build_deck.parse.extract import extract_cards
from build_deck.parse.markdown import make_parser
from tests.conftest import Project, import_package

# What Anki's template renderer prints when a card cannot be rendered.
TEMPLATE_ERRORS = re.compile(
    r"template-error|Invalid HTML on card|The front of this card is blank|"
    r"No cloze|Found '\{\{|missing '\}\}'|unknown field|Unknown filter",
    re.IGNORECASE,
)
MATH = re.compile(r"\\\(.*?\\\)|\\\[.*?\\\]", re.DOTALL)


@pytest.fixture
def imported(shipped: Project, collection: Collection) -> tuple[Project, Collection]:
    assert shipped.run("build") == 0
    import_package(collection, shipped.apkg)
    return shipped, collection


def expected_cards(project: Project) -> list:  # type: ignore[type-arg]
    md = make_parser()
    cards = []
    for path in sorted(project.notes.rglob("*.md")):
        found, problems = extract_cards(
            md,
            path.read_text(encoding="utf-8"),
            f"notes/{path.name}",
            path.parent,
            "AI Study Notes",
        )
        assert problems == []
        cards += found
    return cards


def test_every_note_produced_its_cards(imported: tuple[Project, Collection]) -> None:
    project, col = imported
    cards = expected_cards(project)
    assert col.note_count() == len(cards)
    wanted = sum(len(c.cloze_numbers) if c.kind is CardKind.CLOZE else 1 for c in cards)
    assert col.card_count() == wanted
    for nid in col.find_notes('"note:build_deck Cloze"'):
        note = col.get_note(nid)
        ords = sorted(card.ord + 1 for card in note.cards())
        numbers = sorted({int(n) for n in re.findall(r"\{\{c(\d+)::", note["Text"])})
        assert ords == numbers, note["Source"]


def test_no_card_shows_a_template_error(imported: tuple[Project, Collection]) -> None:
    _, col = imported
    for cid in col.find_cards(""):
        card = col.get_card(cid)
        for side in (card.question(), card.answer()):
            assert not TEMPLATE_ERRORS.search(side), card.note()["Source"]


def test_math_arrives_intact(imported: tuple[Project, Collection]) -> None:
    project, col = imported
    by_content = {c.content: c for c in expected_cards(project)}
    checked = 0
    for cid in col.find_cards(""):
        card = col.get_card(cid)
        source = by_content[card.note().fields[0]]
        answer = card.answer()
        fields = source.content + source.back
        for expression in MATH.findall(fields):
            if "{{c" in expression:
                # Anki rewrites deletions inside math; its delimiters must survive.
                assert expression[:2] in answer and expression[-2:] in answer
                continue
            assert expression in answer, (source.source, expression)
            checked += 1
        # Every opening delimiter is closed in what Anki shows.
        body = answer.split("</style>", 1)[-1]
        assert body.count("\\(") == body.count("\\)"), source.source
        assert body.count("\\[") == body.count("\\]"), source.source
    assert checked > 500


def test_cloze_in_math_reaches_anki_as_math(project: Project, collection: Collection) -> None:
    project.write(
        "m.md",
        r"""
        $L = \frac{1}{ {{c1::1+e^u}} }$ and $\frac{dL}{du} = {{c2::\frac{-e^u}{(1+e^u)^{2}}}}$
        """,
    )
    assert project.run("build") == 0
    import_package(collection, project.apkg)
    cards = sorted(
        (collection.get_card(cid) for cid in collection.find_cards("")), key=lambda c: c.ord
    )
    first, second = (c.question().split("</style>", 1)[1] for c in cards)
    assert r"\(L = \frac{1}{ " in first and "[...]" in first
    assert r"\frac{-e^u}{(1+e^u)^{2} }" in first  # c2 is shown while c1 is asked
    assert r"\frac{-e^u}" not in second and "[...]" in second
    back = cards[1].answer().split("</style>", 1)[1]
    assert r"\frac{-e^u}{(1+e^u)^{2} }" in back


def test_tags_and_decks_as_written(imported: tuple[Project, Collection]) -> None:
    project, col = imported
    cards = expected_cards(project)
    decks = Counter(c.deck for c in cards)
    for deck, count in decks.items():
        assert len(col.find_cards(f'"deck:{deck}" -"deck:{deck}::*"')) >= count
    assert set(decks) <= set(col.decks.all_names())
    notes = {col.get_note(nid).fields[0]: col.get_note(nid) for nid in col.find_notes("")}
    for card in cards:
        note = notes[card.content]
        assert set(card.tags) <= set(note.tags), card.source
        anki_card = note.cards()[0]
        assert col.decks.name(anki_card.did) == card.deck


def test_verified_mark_is_on_the_back(imported: tuple[Project, Collection]) -> None:
    _, col = imported
    verified = col.find_notes("tag:verified")
    assert len(verified) >= 60
    for nid in verified[:20]:
        card = col.get_note(nid).cards()[0]
        # The back says what was verified: a value, a formula, or displayed arithmetic.
        assert re.search(r"&#10003; verified: (value|formula|arithmetic)", card.answer())
        assert "verified:" not in card.question()


def test_package_notes_carry_ledger_mtimes(shipped: Project) -> None:
    assert shipped.run("build") == 0
    from build_deck.identity.ledger import load_ledger

    entries = load_ledger(shipped.cards, "cards")[0].entries.values()
    ledger = {entry.guid: entry.mtime for entry in entries if not entry.removed}
    with zipfile.ZipFile(shipped.apkg) as archive:
        data = archive.read("collection.anki2")
    db = shipped.root / "col.sqlite"
    Path(db).write_bytes(data)
    rows = sqlite3.connect(db).execute("SELECT guid, mod FROM notes").fetchall()
    assert dict(rows) == ledger
