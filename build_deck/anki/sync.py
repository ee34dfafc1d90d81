"""Plan a sync of a build into an Anki collection: what ``build-deck sync`` will do.

The build gives the notes of the deck (``BuildReport.records``); build_deck/anki/collection.py
reads the collection into a ``CollectionView``: its build-deck notes, their cards, and
the sync state, that is what sync last wrote to each note (a hash per field, and the
tags it gave; build_deck/anki/sync_state.py keeps it). Then ``plan_sync`` compares each
note of the build with the note of its GUID, field by field, against the sync state,
and decides what to add, update, retype (Q/A <-> cloze; ``_pair_retyped`` finds the
note a retyped card replaces), move, tag as removed or delete, which Anki-side edits to
keep and which cards conflict. It writes nothing, and reads only its arguments and
media files. build_deck/anki/sync_report.py turns a plan into the lines the command
prints.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from build_deck.anki.note_text import MAX_COMPARED, first_words, note_text, source_place
from build_deck.anki.notetypes import CLOZE, NOTE_TYPES, QA, VERIFIED_TAG, NoteType, card_css
from build_deck.anki.package import NoteRecord, note_fields
from build_deck.anki.sync_state import STATE_KEY, NoteState, field_hash
from build_deck.model import CardKind, SourceLoc

REMOVED_TAG = "build-deck::removed"
"""Tag given to notes whose card was removed from the notes."""

OUR_NOTETYPES = {nt.model_id: nt for nt in NOTE_TYPES}
"""build-deck's note types by id."""


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
        """Its deck's full name."""
        return self.record.card.deck

    @property
    def tags(self) -> tuple[str, ...]:
        """Its tags (build-deck's own)."""
        return self.record.tags

    @classmethod
    def of(cls, record: NoteRecord) -> Desired:
        """The desired note of a build record."""
        note_type = QA if record.card.kind is CardKind.QA else CLOZE
        # Anki stores field text in Unicode NFC: compare and write it that way.
        values = [unicodedata.normalize("NFC", value) for value in note_fields(record)]
        return cls(record, note_type, dict(zip(note_type.fields, values, strict=True)))


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

    @property
    def source(self) -> str:
        """Its Source field (``notes/file.md:LINE``)."""
        return self.fields.get("Source", "")

    @property
    def summary(self) -> str:
        """Its first words, to name it in reports."""
        return first_words(self.fields)


@dataclass(slots=True)
class CollectionView:
    """What sync reads from the collection before planning."""

    notes: dict[str, Existing]
    """build-deck notes by GUID."""
    foreign_guids: dict[str, str]
    """GUIDs held by notes of other note types -> that note type's name."""
    state: dict[str, NoteState]
    """The sync state by GUID."""
    deck_ids: dict[str, int]
    """Deck name -> id, for every deck."""
    state_key: str = STATE_KEY
    """The config key the state was read from, and is written to."""
    warnings: list[str] = field(default_factory=list)
    """Problems found while reading (e.g. an unreadable sync state)."""
    root_deck: str = ""
    """The build's root deck (empty: any deck)."""
    other_projects: dict[str, str] = field(default_factory=dict)
    """GUIDs in the sync state of another root deck -> that root deck."""

    def owner(self, note: Existing) -> str | None:
        """None when ``note`` is this project's to change; else whose it is.

        The sync state knows which notes this project's syncs wrote. A note it does not
        hold is another project's when that project's sync state holds it, or when a
        card of it lives outside this root deck: such a note is never updated, moved,
        tagged or deleted, whatever GUID a ledger claims (a ledger is shared data).
        """
        if note.guid in self.state:
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
class Conflict:
    """A card edited both in Anki and in the notes since the last sync."""

    desired: Desired
    """The build's note."""
    fields: tuple[str, ...]
    """The fields both sides changed."""


@dataclass(slots=True)
class Plan:
    """Everything a sync will do, decided before anything is written."""

    add_notetypes: list[NoteType] = field(default_factory=list)
    """Note types missing from the collection."""
    update_notetypes: list[NoteType] = field(default_factory=list)
    """Note types whose templates or CSS changed."""
    adds: list[Desired] = field(default_factory=list)
    """Notes to add."""
    updates: list[Update] = field(default_factory=list)
    """Notes to change (fields, tags or note type)."""
    moves: list[tuple[Desired, int]] = field(default_factory=list)
    """Notes whose cards go to another deck, with their note id."""
    kept: list[tuple[Desired, tuple[str, ...]]] = field(default_factory=list)
    """Fields edited in Anki that the notes did not change: left alone."""
    conflicts: list[Conflict] = field(default_factory=list)
    """Cards left alone because both sides changed them."""
    foreign: list[tuple[Desired, str]] = field(default_factory=list)
    """Build notes whose GUID belongs to a note that is not this project's (of another
    note type, or another project's), with whose it is: left alone."""
    removed: list[Existing] = field(default_factory=list)
    """build-deck notes no longer in the notes, to tag ``REMOVED_TAG``."""
    prune: list[Existing] = field(default_factory=list)
    """build-deck notes no longer in the notes, to delete (``--prune``)."""
    media: list[tuple[str, str]] = field(default_factory=list)
    """Media to copy: (name in the collection, path on disk)."""
    state: dict[str, NoteState] = field(default_factory=dict)
    """The sync state to save."""
    state_changed: bool = False
    """True when the state differs from the one read."""
    state_key: str = STATE_KEY
    """The config key to write the state to."""

    @property
    def changes_notes(self) -> bool:
        """True when the plan changes anything the student sees."""
        return bool(
            self.add_notetypes
            or self.update_notetypes
            or self.adds
            or self.updates
            or self.moves
            or self.removed
            or self.prune
            or self.media
        )


# Planning -----------------------------------------------------------------------------


def plan_sync(
    view: CollectionView,
    records: Sequence[NoteRecord],
    *,
    removed_guids: Iterable[str] = (),
    prefer: Prefer | None = None,
    prune: bool = False,
    media_present: dict[str, bytes] | None = None,
    notetypes_present: dict[int, dict[str, Any]] | None = None,
) -> Plan:
    """Decide what a sync does; reads only its arguments and the build's media files.

    ``removed_guids`` are GUIDs the ledger just dropped; with the sync state, they say
    which notes build-deck created (a note of our note types with any other GUID was
    made by hand, and is never touched). ``media_present`` maps the collection's media
    names to their hashes; ``notetypes_present`` holds the collection's copies of
    build-deck's note types.
    """
    plan = Plan(state=dict(view.state), state_key=view.state_key)
    desired = [Desired.of(r) for r in records]
    build_guids = {d.guid for d in desired}
    vocabulary = {t for d in desired for t in d.tags} | {VERIFIED_TAG, REMOVED_TAG}
    known = set(view.state) | set(removed_guids)
    orphans = {
        guid: note
        for guid, note in view.notes.items()
        if guid not in build_guids and guid in known and view.owner(note) is None
    }
    retyped = _pair_retyped(
        [d for d in desired if d.guid not in view.notes and d.guid not in view.foreign_guids],
        list(orphans.values()),
    )

    _plan_notetypes(plan, notetypes_present or {})
    for want in desired:
        old = view.notes.get(want.guid)
        owner = view.owner(old) if old is not None else None
        if owner is not None:
            plan.foreign.append((want, owner))
            continue
        new_guid = False
        if old is None and want.guid in retyped:
            old = retyped[want.guid]
            orphans.pop(old.guid, None)
            new_guid = True
        if old is None:
            if want.guid in view.foreign_guids:
                plan.foreign.append((want, f"a note of type '{view.foreign_guids[want.guid]}'"))
            else:
                plan.adds.append(want)
                plan.state[want.guid] = _written_state(want, want.fields)
            continue
        _plan_note(plan, view, want, old, vocabulary, prefer, new_guid)

    for note in sorted(orphans.values(), key=lambda n: n.source):
        if prune:
            plan.prune.append(note)
            plan.state.pop(note.guid, None)
        elif REMOVED_TAG not in note.tags:
            plan.removed.append(note)
    for guid in list(plan.state):
        if guid not in build_guids and guid not in view.notes:
            del plan.state[guid]  # deleted in Anki and gone from the notes: forget it
    plan.media = _plan_media(desired, media_present or {})
    plan.state_changed = plan.state != view.state
    return plan


def _written_state(want: Desired, written: dict[str, str]) -> NoteState:
    return NoteState({k: field_hash(v) for k, v in written.items()}, want.tags)


def _plan_note(
    plan: Plan,
    view: CollectionView,
    want: Desired,
    old: Existing,
    vocabulary: set[str],
    prefer: Prefer | None,
    new_guid: bool,
) -> None:
    """Plan one note that exists in the collection."""
    last = view.state.get(old.guid)
    retype = old.notetype_id != want.note_type.model_id
    write: dict[str, str] = {}
    recorded: dict[str, str] = {}  # field -> hash for the new state
    kept: list[str] = []
    conflicted: list[str] = []
    if retype:
        # A new note type: every field is written. Anki-side edits since the last sync
        # would be lost, so they make a conflict unless --ours says the notes win.
        edited = [
            name
            for name, value in old.fields.items()
            if last is not None and last.fields.get(name) not in (None, field_hash(value))
        ]
        if edited and prefer is not Prefer.OURS:
            if prefer is None:
                plan.conflicts.append(Conflict(want, tuple(edited)))
            return  # --theirs: the note keeps its type and its edits
        write = dict(want.fields)
        recorded = {k: field_hash(v) for k, v in write.items()}
    else:
        for name, value in want.fields.items():
            current = old.fields.get(name, "")
            last_hash = last.fields.get(name) if last else None
            if current == value:
                recorded[name] = field_hash(value)
            elif last_hash is None or field_hash(current) == last_hash:
                write[name] = value  # only the notes changed it (or sync never wrote it)
                recorded[name] = field_hash(value)
            elif field_hash(value) == last_hash:
                kept.append(name)  # only Anki changed it
                recorded[name] = last_hash
            elif prefer is Prefer.OURS:
                write[name] = value
                recorded[name] = field_hash(value)
            elif prefer is Prefer.THEIRS:
                kept.append(name)
                recorded[name] = field_hash(value)  # the notes' version is now seen
            else:
                conflicted.append(name)
        if conflicted:
            plan.conflicts.append(Conflict(want, tuple(conflicted)))
            return
    # Anki compares tags without case, and may keep an existing tag's spelling.
    owned = {t.lower() for t in (last.tags if last is not None else vocabulary)}
    owned |= {REMOVED_TAG.lower(), VERIFIED_TAG}
    wanted = {t.lower(): t for t in want.tags}
    kept_tags = {t.lower(): t for t in old.tags if t.lower() not in owned | set(wanted)}
    tags = tuple(sorted({**kept_tags, **wanted}.values()))
    new_tags = tags if {t.lower() for t in tags} != {t.lower() for t in old.tags} else None
    if write or new_tags is not None or retype or new_guid:
        plan.updates.append(
            Update(
                want,
                old.note_id,
                write,
                new_tags,
                old.notetype_id if retype else None,
                new_guid,
            )
        )
    if kept:
        plan.kept.append((want, tuple(kept)))
    deck_id = view.deck_ids.get(want.deck)
    if any(deck != deck_id for _, deck in old.card_decks):
        plan.moves.append((want, old.note_id))
    if new_guid:
        plan.state.pop(old.guid, None)
    plan.state[want.guid] = NoteState(recorded, want.tags)


def _pair_retyped(new: list[Desired], orphans: list[Existing]) -> dict[str, Existing]:
    """New build notes that are an orphan note of the other type (Q/A <-> cloze).

    The ledger gives a card a new GUID when its kind changes; the note it replaces is
    in the same file and section, and near the same line (when its Source field names
    one) or says much the same.
    """
    if not new:
        return {}
    places = [
        (old, *source_place(old.source), note_text(old.fields)[:MAX_COMPARED]) for old in orphans
    ]
    pairs = []
    for want in new:
        text = note_text(want.fields)[:MAX_COMPARED]
        # Both Source fields are written by the build, whatever the working directory.
        path = source_place(want.fields["Source"])[0]
        for old, old_path, old_line, old_text in places:
            if old.notetype_id == want.note_type.model_id:
                continue
            if old_path != path or old.fields.get("Context") != want.fields["Context"]:
                continue
            ratio = difflib.SequenceMatcher(None, text, old_text, autojunk=False).ratio()
            # An old Source field without a line says nothing about distance.
            distance = abs(want.loc.line - old_line) if old_line else math.inf
            if distance <= 3 or ratio >= 0.6:
                pairs.append((-ratio, distance, want.guid, old.guid, old))
    pairs.sort(key=lambda p: p[:4])
    chosen: dict[str, Existing] = {}
    taken: set[str] = set()
    for _, _, guid, old_guid, old in pairs:
        if guid not in chosen and old_guid not in taken:
            chosen[guid] = old
            taken.add(old_guid)
    return chosen


def _plan_notetypes(plan: Plan, present: dict[int, dict[str, Any]]) -> None:
    for note_type in NOTE_TYPES:
        current = present.get(note_type.model_id)
        if current is None:
            plan.add_notetypes.append(note_type)
            continue
        names = tuple(f["name"] for f in current["flds"])
        if names != note_type.fields:
            raise SyncError(
                f"the note type '{current['name']}' has the fields {', '.join(names)}, "
                f"not {', '.join(note_type.fields)}: restore them in Anki (Tools → Manage "
                "Note Types → Fields) and sync again"
            )
        template = current["tmpls"][0] if current["tmpls"] else {}
        if (
            current.get("css") != card_css()
            or template.get("qfmt") != note_type.front
            or template.get("afmt") != note_type.back
        ):
            plan.update_notetypes.append(note_type)


def _plan_media(desired: list[Desired], present: dict[str, bytes]) -> list[tuple[str, str]]:
    wanted = sorted({m for d in desired for m in d.record.card.media})
    missing = []
    for name, path in wanted:
        if present.get(name) != file_hash(Path(path)):
            missing.append((name, path))
    return missing


def file_hash(path: Path) -> bytes:
    """Hash of a media file's bytes."""
    return hashlib.sha256(path.read_bytes()).digest()
