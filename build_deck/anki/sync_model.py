"""Anki stage: the plain data of a sync: the notes as the build wants them and as the
collection has them, what was read from the collection, and the plan.

build_deck/anki/sync.py makes a :class:`Plan` from a :class:`CollectionView` and the
build's notes (:class:`Desired`); build_deck/anki/writes.py applies it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from enum import Enum

from build_deck.anki.decks import relative_deck
from build_deck.anki.duplicates import Merge
from build_deck.anki.note_record import NoteRecord, note_fields
from build_deck.anki.notetypes import NOTE_TYPES, NoteType, note_type_of
from build_deck.anki.pairing import first_words
from build_deck.anki.styling import Styling, StylingPlan
from build_deck.anki.sync_state import STATE_KEY, SyncRecord
from build_deck.model import SourceLoc

REMOVED_TAG = "build-deck::removed"
"""Tag given to notes whose card was removed from the notes."""

OUR_NOTETYPES = {nt.model_id: nt for nt in NOTE_TYPES}
"""build-deck's note types by id."""
OUR_NOTETYPE_MARKS = ", ".join("?" * len(OUR_NOTETYPES))
"""SQL placeholders for the ids of build-deck's note types (``IN (...)``)."""


class SyncError(Exception):
    """A problem that stops the sync before anything is written; one line."""


class Prefer(Enum):
    """How to settle a field edited both in Anki and in the notes."""

    OURS = "ours"
    """The notes win (``--ours``)."""
    THEIRS = "theirs"
    """Anki's edit stays (``--theirs``)."""


@dataclass(frozen=True, slots=True)
class Desired:
    """A note as the build wants it in the collection."""

    record: NoteRecord
    """The build's note."""
    note_type: NoteType
    """Its note type."""
    fields: dict[str, str]
    """Field name -> value."""
    relative: str = ""
    """Its deck below the root deck (``""``: the root itself)."""

    @property
    def guid(self) -> str:
        """The note's GUID."""
        return self.record.guid

    @property
    def loc(self) -> SourceLoc:
        """Where the card is in the notes."""
        return self.record.card.loc

    @property
    def deck(self) -> str:
        """Its deck's full name, as the notes give it."""
        return self.record.card.deck

    @property
    def tags(self) -> tuple[str, ...]:
        """Its tags (build-deck's own)."""
        return self.record.tags

    @classmethod
    def of(cls, record: NoteRecord, root_deck: str = "") -> Desired:
        """The desired note of a build record."""
        note_type = note_type_of(record.card)
        # Anki stores field text in Unicode NFC: compare and write it that way.
        values = [unicodedata.normalize("NFC", value) for value in note_fields(record)]
        fields = dict(zip(note_type.fields, values, strict=True))
        return cls(record, note_type, fields, relative_deck(record.card.deck, root_deck))


@dataclass(frozen=True, slots=True)
class Existing:
    """A build-deck note as it is in the collection."""

    note_id: int
    """Anki's note id."""
    guid: str
    """Its GUID."""
    notetype_id: int
    """Its note type."""
    fields: dict[str, str]
    """Field name -> value."""
    tags: tuple[str, ...]
    """Its tags."""
    card_decks: tuple[tuple[int, int], ...]
    """(card id, home deck id) of each card."""
    reviews: int = 0
    """How many reviews its cards have."""
    last_review: int = 0
    """When its cards were last reviewed (a revlog id, in ms), 0 if never."""

    @property
    def source(self) -> str:
        """Its Source field (``notes/file.md › Heading``)."""
        return self.fields.get("Source", "")

    @property
    def summary(self) -> str:
        """Its first words, to name it in reports."""
        return first_words(self.fields)


@dataclass(slots=True)
class CollectionView:
    """What sync reads from the collection before planning."""

    notes: dict[str, Existing]
    """build-deck notes by GUID (of notes sharing a GUID, one; see ``duplicates``)."""
    foreign_guids: dict[str, str]
    """GUIDs held by notes of other note types -> that note type's name."""
    record: SyncRecord
    """The sync record."""
    deck_ids: dict[str, int]
    """Deck name -> id, for every deck."""
    root_deck: str = ""
    """The root deck the notes name."""
    state_key: str = STATE_KEY
    """The config key the record was read from, and is written to."""
    duplicates: dict[str, list[Existing]] = field(default_factory=dict)
    """GUID -> every build-deck note holding it, where there are several."""
    field_names: dict[int, tuple[str, ...]] = field(default_factory=dict)
    """The fields of build-deck's note types as the collection has them (with the
    student's own)."""
    bases: dict[int, Styling] = field(default_factory=dict)
    """What build-deck last wrote to its note types' styling."""
    warnings: list[str] = field(default_factory=list)
    """Problems found while reading (e.g. an unreadable sync record)."""
    other_projects: dict[str, str] = field(default_factory=dict)
    """GUIDs in the sync record of another root deck -> that root deck."""

    def owner(self, note: Existing) -> str | None:
        """None when ``note`` is this project's to change; else whose it is.

        The sync record knows which notes this project's syncs wrote. A note it does not
        hold is another project's when that project's sync record holds it, or when a
        card of it lives outside this root deck: such a note is never updated, moved,
        tagged or deleted, whatever GUID a ledger claims (a ledger is shared data).
        """
        if note.guid in self.record.notes:
            return None
        other = self.other_projects.get(note.guid)
        if other is not None:
            return f"a note of the notes project with root deck '{other}'"
        if not self.root_deck:
            return None
        names = {deck_id: name for name, deck_id in self.deck_ids.items()}
        for _, deck in note.card_decks:
            name = names.get(deck, "")
            if name != self.root_deck and not name.startswith(f"{self.root_deck}::"):
                return f"a note in the deck '{name}', outside '{self.root_deck}'"
        return None


@dataclass(frozen=True, slots=True)
class Update:
    """Changes to an existing note."""

    desired: Desired
    """The build's note."""
    note_id: int
    """The note in Anki."""
    fields: dict[str, str]
    """Fields to write."""
    tags: tuple[str, ...] | None
    """New tags, or None to leave them."""
    retype_from: int | None = None
    """The note type to change from (Q/A <-> cloze), else None."""
    new_guid: bool = False
    """True when the note takes the GUID of the build's note (retyped card)."""


@dataclass(frozen=True, slots=True)
class Move:
    """A note whose deck changed in the notes since the last sync."""

    desired: Desired
    """The build's note."""
    note_id: int
    """The note in Anki: all its cards go."""
    deck: str
    """The Anki deck they go to (full name)."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """A card left alone: edited both in Anki and in the notes since the last sync, or
    holding a field of the student's that its new note type has not."""

    desired: Desired
    """The build's note."""
    fields: tuple[str, ...]
    """The fields concerned."""
    own_fields: bool = False
    """True for fields of the student's that a change of note type would drop."""


@dataclass(slots=True)
class Plan:
    """Everything a sync will do, decided before anything is written."""

    styling: StylingPlan = field(default_factory=StylingPlan)
    """What happens to the note types."""
    merges: list[Merge] = field(default_factory=list)
    """Notes that share a GUID, merged into one."""
    adds: list[Desired] = field(default_factory=list)
    """Notes to add."""
    readded: set[str] = field(default_factory=set)
    """GUIDs of added notes that sync had written before (deleted in Anki)."""
    updates: list[Update] = field(default_factory=list)
    """Notes to change (fields, tags or note type)."""
    moves: list[Move] = field(default_factory=list)
    """Notes whose cards go to another deck."""
    kept: list[tuple[Desired, tuple[str, ...]]] = field(default_factory=list)
    """Fields edited in Anki that the notes did not change: left alone."""
    conflicts: list[Conflict] = field(default_factory=list)
    """Cards left alone because both sides changed them."""
    foreign: list[tuple[Desired, str]] = field(default_factory=list)
    """Build notes whose GUID belongs to a note of another note type: left alone."""
    removed: list[Existing] = field(default_factory=list)
    """build-deck notes no longer in the notes, to tag ``REMOVED_TAG``."""
    prune: list[Existing] = field(default_factory=list)
    """build-deck notes no longer in the notes, to delete (``--prune``)."""
    spared: list[Existing] = field(default_factory=list)
    """Notes ``--prune`` does not delete: reviewed, and retyped since the last sync."""
    media: list[tuple[str, str]] = field(default_factory=list)
    """Media to copy: (name in the collection, path on disk)."""
    deck_names: dict[str, str] = field(default_factory=dict)
    """Deck of the notes (below the root) -> the Anki deck that holds it (full name)."""
    record: SyncRecord = field(default_factory=SyncRecord)
    """The sync record to save (deck ids of decks the sync creates are added then)."""
    state_changed: bool = False
    """True when the record differs from the one read."""
    state_key: str = STATE_KEY
    """The config key to write the record to."""

    @property
    def changes_notes(self) -> bool:
        """True when the plan changes anything the student sees."""
        return bool(
            self.styling.adds
            or self.styling.updates
            or self.merges
            or self.adds
            or self.updates
            or self.moves
            or self.removed
            or self.prune
            or self.media
        )
