"""``build-deck adopt``: the student's existing notes in Anki that are cards of the notes.

A student who made cards by hand, or with Obsidian_to_Anki, inka2 or md2anki, has
months of reviews on them. Building the same notes with build-deck would add a second
copy of each, starting from zero. Adoption pairs them instead:

1. ``read_candidates``: every note of the collection that is not build-deck's, of any
   note type and deck, with its fields, cards and review count;
2. ``pair_notes``: each card of the build with the note that is the same card, by
   content (the text of question and answer, or of the cloze, without markup), by the
   note id an ID comment next to the card names (Obsidian_to_Anki's ``<!--ID: 1234-->``,
   inka2's), or by its GUID. Two notes as alike for one card, or one note for two
   cards, are listed as ambiguous and left alone: never guessed;
3. ``retype_notes``: the paired notes take build-deck's note type with Anki's own
   Change Note Type, which keeps their cards and reviews.

The caller records the paired notes' GUIDs in the ledger, so that the next ``sync`` or
``.apkg`` import updates them in place. Only :mod:`.collection` imports ``anki``; this
module works on the open collection it is given.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from build_deck.anki.note_record import NoteRecord
from build_deck.anki.notetypes import CLOZE, QA, NoteType
from build_deck.anki.sync_model import OUR_NOTETYPE_MARKS, OUR_NOTETYPES
from build_deck.model import CardKind

if TYPE_CHECKING:
    from anki.collection import Collection

MIN_LIKENESS = 0.8
"""How alike (0..1, Dice of character trigrams) a note and a card must at least be."""
MARGIN = 0.05
"""A second note this close to the best one makes the pair ambiguous."""

_CLOZE = re.compile(r"\{\{c\d+::(.*?)(?:::[^{}]*?)?\}\}", re.DOTALL)
_BREAKS = re.compile(r"<(?:br|/p|/div|/li|/h\d|hr)\b[^>]*>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")
_MATH = re.compile(r"\\[()\[\]]|\$")
_WORDS = re.compile(r"\w+")


class How(Enum):
    """Why a note is taken for a card, strongest first."""

    GUID = "same GUID"
    HINT = "ID comment"
    SAME = "same text"
    ALIKE = "alike"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A note of the collection that is not build-deck's."""

    note_id: int
    """Anki's note id (what an ID comment names)."""
    guid: str
    """Its GUID."""
    notetype_id: int
    """Its note type."""
    notetype: str
    """The note type's name."""
    is_cloze: bool
    """True for a cloze note type."""
    fields: tuple[str, ...]
    """Its fields' HTML, in order."""
    decks: tuple[str, ...]
    """The (home) decks of its cards."""
    cards: int
    """How many cards it has."""
    reviews: int
    """How many reviews its cards have (Anki's revlog)."""
    mod: int
    """When it last changed, seconds since the epoch."""

    @property
    def text(self) -> str:
        """What it says, without markup: question and answer, or the cloze text."""
        if self.is_cloze:
            first = self.fields[0] if self.fields else ""
            return plain_text(next((f for f in self.fields if "{{c" in f), first))
        return " | ".join(plain_text(f) for f in self.fields[:2])


@dataclass(frozen=True, slots=True)
class Pair:
    """A card of the notes and the note in Anki that is the same card."""

    record: NoteRecord
    """The build's note."""
    note: Candidate
    """The note in the collection."""
    how: How
    """Why."""
    likeness: float = 1.0
    """How alike their texts are (1 for the same text)."""


@dataclass(slots=True)
class Adoption:
    """What ``pair_notes`` found."""

    pairs: list[Pair] = field(default_factory=list)
    """Cards and their notes in Anki."""
    ambiguous: list[tuple[NoteRecord, tuple[Candidate, ...]]] = field(default_factory=list)
    """Cards with more than one note that could be theirs (or a note claimed twice)."""
    refused: list[tuple[Pair, str]] = field(default_factory=list)
    """Pairs that adopting would cost reviews, and why."""
    stale_hints: list[tuple[NoteRecord, int]] = field(default_factory=list)
    """ID comments naming a note the collection does not hold (as another tool's)."""

    @property
    def reviews(self) -> int:
        """The reviews the pairs keep."""
        return sum(pair.note.reviews for pair in self.pairs)


def plain_text(field_html: str) -> str:
    """A field's words without markup: tags, entities, cloze and math delimiters, case."""
    text = _BREAKS.sub(" ", field_html)
    text = _TAGS.sub(" ", text)
    text = html.unescape(text)
    while _CLOZE.search(text):
        text = _CLOZE.sub(r"\1", text)
    text = _MATH.sub(" ", text)
    return " ".join(_WORDS.findall(text.casefold()))


def record_text(record: NoteRecord) -> str:
    """What a card of the build says, as ``Candidate.text`` reads a note."""
    card = record.card
    if card.kind is CardKind.CLOZE:
        return plain_text(card.content)
    return f"{plain_text(card.content)} | {plain_text(card.back)}"


def read_candidates(col: Collection) -> list[Candidate]:
    """Every note that is not of build-deck's note types, with its cards and reviews."""
    db = col.db
    assert db is not None
    ours = list(OUR_NOTETYPES)
    deck_names = {d.id: d.name for d in col.decks.all_names_and_ids()}
    kinds: dict[int, tuple[str, bool]] = {}
    for entry in col.models.all_names_and_ids():
        notetype = col.models.get(entry.id)  # type: ignore[arg-type]
        if notetype is not None:
            kinds[int(entry.id)] = (str(notetype["name"]), notetype["type"] == 1)
    cards: dict[int, list[int]] = {}
    for note_id, deck, original in db.all(
        "SELECT c.nid, c.did, c.odid FROM cards c JOIN notes n ON c.nid = n.id "
        f"WHERE n.mid NOT IN ({OUR_NOTETYPE_MARKS})",
        *ours,
    ):
        cards.setdefault(note_id, []).append(original or deck)
    reviews: dict[int, int] = {
        int(note_id): int(count)
        for note_id, count in db.all(
            "SELECT c.nid, count() FROM revlog r JOIN cards c ON r.cid = c.id "
            "JOIN notes n ON c.nid = n.id "
            f"WHERE n.mid NOT IN ({OUR_NOTETYPE_MARKS}) GROUP BY c.nid",
            *ours,
        )
    }
    found = []
    for note_id, guid, mid, flds, mod in db.all(
        "SELECT id, guid, mid, flds, mod FROM notes "
        f"WHERE mid NOT IN ({OUR_NOTETYPE_MARKS}) ORDER BY id",
        *ours,
    ):
        name, is_cloze = kinds.get(mid, ("?", False))
        decks = tuple(sorted({deck_names.get(d, str(d)) for d in cards.get(note_id, [])}))
        found.append(
            Candidate(
                note_id,
                guid,
                mid,
                name,
                is_cloze,
                tuple(flds.split("\x1f")),
                decks,
                len(cards.get(note_id, [])),
                int(reviews.get(note_id, 0)),
                int(mod),
            )
        )
    return found


def _grams(text: str) -> frozenset[str]:
    return frozenset(text[i : i + 3] for i in range(max(1, len(text) - 2)))


def _dice(a: frozenset[str], b: frozenset[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a or b else 1.0


class _Index:
    """The candidates' texts, found by their rarest words."""

    def __init__(self, candidates: Sequence[Candidate]) -> None:
        self.candidates = list(candidates)
        self.texts = [c.text for c in self.candidates]
        self.grams = [_grams(text) for text in self.texts]
        self.by_text: dict[str, list[int]] = {}
        self.by_word: dict[str, list[int]] = {}
        for i, text in enumerate(self.texts):
            self.by_text.setdefault(text, []).append(i)
            for word in set(text.split()):
                self.by_word.setdefault(word, []).append(i)

    def same(self, text: str) -> list[int]:
        """The candidates whose text is ``text``."""
        return self.by_text.get(text, [])

    def alike(self, text: str) -> list[tuple[float, int]]:
        """Candidates at least ``MIN_LIKENESS`` alike, best first."""
        words = sorted(set(text.split()), key=lambda w: (len(self.by_word.get(w, ())), w))
        near = {i for word in words[:4] for i in self.by_word.get(word, ())}
        grams = _grams(text)
        scored = [(_dice(grams, self.grams[i]), i) for i in near]
        return sorted((s for s in scored if s[0] >= MIN_LIKENESS), key=lambda s: (-s[0], s[1]))


def pair_notes(
    records: Sequence[NoteRecord],
    candidates: Sequence[Candidate],
    hints: Mapping[str, int],
    present: set[str],
) -> Adoption:
    """Pair the build's cards with the notes already in Anki (see the module docstring).

    ``hints`` maps a record's GUID to the note id an ID comment names; ``present`` holds
    the GUIDs of build-deck notes the collection already has: those cards are left out.
    """
    index = _Index(candidates)
    by_guid = {c.guid: i for i, c in enumerate(index.candidates)}
    by_note_id = {c.note_id: i for i, c in enumerate(index.candidates)}
    adoption = Adoption()
    proposals: list[tuple[int, int, How, float]] = []  # record, candidate, how, likeness
    for r, record in enumerate(records):
        if record.guid in present:
            continue
        if record.guid in by_guid:
            proposals.append((r, by_guid[record.guid], How.GUID, 1.0))
            continue
        hint = hints.get(record.guid)
        if hint is not None:
            if hint in by_note_id:
                proposals.append((r, by_note_id[hint], How.HINT, 1.0))
                continue
            adoption.stale_hints.append((record, hint))
        text = record_text(record)
        same = index.same(text)
        alike = index.alike(text) if not same else []
        if len(same) == 1:
            proposals.append((r, same[0], How.SAME, 1.0))
        elif len(same) > 1:
            adoption.ambiguous.append((record, tuple(index.candidates[i] for i in same)))
        elif alike and (len(alike) == 1 or alike[1][0] < alike[0][0] - MARGIN):
            proposals.append((r, alike[0][1], How.ALIKE, alike[0][0]))
        elif alike:
            close = [i for score, i in alike if score >= alike[0][0] - MARGIN]
            adoption.ambiguous.append((record, tuple(index.candidates[i] for i in close)))
    _settle(proposals, records, index.candidates, adoption)
    return adoption


def _settle(
    proposals: list[tuple[int, int, How, float]],
    records: Sequence[NoteRecord],
    candidates: Sequence[Candidate],
    adoption: Adoption,
) -> None:
    """Keep the proposals whose note no other card claims as strongly; refuse the pairs
    that would lose cards."""
    strength = list(How)
    claims = Counter((c, strength.index(how)) for _, c, how, _ in proposals)
    best: dict[int, int] = {}
    for _, c, how, _ in proposals:
        best[c] = min(best.get(c, len(strength)), strength.index(how))
    for r, c, how, likeness in proposals:
        record, note = records[r], candidates[c]
        rank = strength.index(how)
        if rank > best[c]:
            adoption.ambiguous.append((record, (note,)))  # a stronger claim took it
        elif claims[(c, rank)] > 1:
            adoption.ambiguous.append((record, (note,)))
        else:
            pair = Pair(record, note, how, likeness)
            problem = _loss(pair)
            if problem:
                adoption.refused.append((pair, problem))
            else:
                adoption.pairs.append(pair)


def _loss(pair: Pair) -> str | None:
    """Why adopting the pair's note would delete cards of it, or None."""
    note, card = pair.note, pair.record.card
    if note.cards > 1 and not note.is_cloze:
        return (
            f"its note type {note.notetype!r} gives it {note.cards} cards (a reversed card?); "
            "build-deck's Q/A note has one, so the others' reviews would be lost"
        )
    if note.cards > 1 and card.kind is CardKind.QA:
        return (
            f"it is a cloze note with {note.cards} cards, and the notes make it one Q/A card: "
            "the other cards' reviews would be lost"
        )
    return None


def target_notetype(record: NoteRecord) -> NoteType:
    """build-deck's note type for the build's note."""
    return CLOZE if record.card.kind is CardKind.CLOZE else QA


def field_map(note: Candidate, target: NoteType) -> list[int]:
    """For each field of ``target``, the field of the note it takes (-1: none). The next
    sync or import writes every field anyway; until then the text stays readable."""
    if target.is_cloze:
        cloze = next((i for i, f in enumerate(note.fields) if "{{c" in f), 0)
        return [cloze] + [-1] * (len(target.fields) - 1)
    back = 1 if len(note.fields) > 1 else -1
    return [0, back] + [-1] * (len(target.fields) - 2)


def retype_notes(col: Collection, pairs: Sequence[Pair]) -> None:
    """Give the paired notes build-deck's note type with Anki's Change Note Type, which
    keeps each note's first card (a cloze note: every card) and its reviews. The note
    types must exist in the collection already."""
    groups: dict[tuple[int, int], list[Pair]] = {}
    for pair in pairs:
        target = target_notetype(pair.record)
        if pair.note.notetype_id != target.model_id:
            groups.setdefault((pair.note.notetype_id, target.model_id), []).append(pair)
    for (old, new), members in sorted(groups.items()):
        info = col.models.change_notetype_info(
            old_notetype_id=old,  # type: ignore[arg-type]
            new_notetype_id=new,  # type: ignore[arg-type]
        )
        target = OUR_NOTETYPES[new]
        request: Any = info.input
        request.note_ids.extend([pair.note.note_id for pair in members])
        del request.new_fields[:]
        request.new_fields.extend(field_map(members[0].note, target))
        if not target.is_cloze and not members[0].note.is_cloze:
            del request.new_templates[:]
            request.new_templates.extend([0])
        col.models.change_notetype_of_notes(request)
