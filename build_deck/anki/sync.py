"""Plan a sync of a build into an Anki collection: what ``build-deck sync`` will do.

The build gives the notes of the deck (``BuildReport.records``); build_deck/anki/collection.py
reads the collection into a ``CollectionView``: its build-deck notes, their cards and
reviews, its decks, and the sync record, that is what sync last wrote to each note (a
hash per field, the tags it gave, the note's deck; build_deck/anki/sync_state.py keeps
it). Then ``plan_sync`` compares each note of the build with the note of its GUID, field
by field, against the record, and decides what to add, update, retype (Q/A <-> cloze;
build_deck/anki/pairing.py finds the note a retyped card replaces), move (only when the
notes changed the card's deck since the last sync, into the deck the student has now
for it: build_deck/anki/decks.py), tag as removed or delete, which notes that share a
GUID to merge (build_deck/anki/duplicates.py), which Anki-side edits to keep and which
cards conflict; build_deck/anki/styling.py plans the note types. It writes nothing, and
reads only its arguments and media files; its data is in build_deck/anki/sync_model.py.
build_deck/anki/sync_report.py turns a plan into the lines the command prints.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from build_deck.anki.decks import DeckMap
from build_deck.anki.duplicates import plan_merges
from build_deck.anki.note_record import NoteRecord
from build_deck.anki.notetypes import VERIFIED_TAG
from build_deck.anki.pairing import pair_retyped, retyped_since_sync
from build_deck.anki.styling import StylingError, plan_styling
from build_deck.anki.sync_model import (
    OUR_NOTETYPES,
    REMOVED_TAG,
    CollectionView,
    Conflict,
    Desired,
    Existing,
    Move,
    Plan,
    Prefer,
    SyncError,
    Update,
)
from build_deck.anki.sync_state import NoteState, SyncRecord, field_hash

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

    ``removed_guids`` are GUIDs the ledger just dropped; with the sync record, they say
    which notes build-deck created (a note of our note types with any other GUID was
    made by hand, and is never touched). ``media_present`` maps the collection's media
    names to their hashes; ``notetypes_present`` holds the collection's copies of
    build-deck's note types.
    """
    last = view.record
    plan = Plan(record=SyncRecord(dict(last.notes)), state_key=view.state_key)
    try:
        plan.styling = plan_styling(
            notetypes_present or {}, view.bases, prefer.value if prefer else None
        )
    except StylingError as exc:
        raise SyncError(str(exc)) from exc
    desired = [Desired.of(r, view.root_deck) for r in records]
    decks = DeckMap(view.root_deck, _remembered_decks(view, desired), _deck_names(view))
    plan.deck_names = decks.resolve_all({d.relative for d in desired})
    build_guids = {d.guid for d in desired}
    vocabulary = {t for d in desired for t in d.tags} | {VERIFIED_TAG, REMOVED_TAG}
    known = set(last.notes) | set(removed_guids)
    notes = dict(view.notes)
    orphans = {
        guid: note
        for guid, note in notes.items()
        if guid not in build_guids and guid in known and view.owner(note) is None
    }
    retyped = pair_retyped(
        [d for d in desired if d.guid not in notes and d.guid not in view.foreign_guids],
        list(orphans.values()),
        last.notes,
    )
    for replaced in retyped.values():
        orphans.pop(replaced.guid, None)
    plan.merges = plan_merges(view, desired, orphans, _deck_ids_of(view, plan.deck_names))
    for merge in plan.merges:
        for note in merge.drop:
            if note.guid != merge.guid:
                orphans.pop(note.guid, None)
        if merge.keep.guid != merge.guid:
            orphans.pop(merge.keep.guid, None)
            retyped[merge.guid] = merge.keep
        elif merge.guid in orphans:
            orphans[merge.guid] = merge.keep
        notes[merge.guid] = merge.keep
    for want in desired:
        old = notes.get(want.guid)
        owner = view.owner(old) if old is not None else None
        if owner is not None:
            plan.foreign.append((want, owner))
            continue
        existing = retyped.get(want.guid) or old
        if existing is None:
            _plan_add(plan, view, want)
        else:
            _plan_note(plan, view, want, existing, vocabulary, prefer)
    _plan_orphans(plan, orphans, prune)
    for guid in list(plan.record.notes):
        if guid not in build_guids and guid not in notes:
            del plan.record.notes[guid]  # deleted in Anki and gone from the notes: forget it
    plan.record.decks = _deck_ids_of(view, plan.deck_names)
    plan.media = _plan_media(desired, media_present or {})
    plan.state_changed = plan.record != last or plan.styling.bases_changed
    return plan


def _deck_names(view: CollectionView) -> dict[int, str]:
    return {deck_id: name for name, deck_id in view.deck_ids.items()}


def _deck_ids_of(view: CollectionView, deck_names: dict[str, str]) -> dict[str, int]:
    return {rel: view.deck_ids[name] for rel, name in deck_names.items() if name in view.deck_ids}


def _remembered_decks(view: CollectionView, desired: list[Desired]) -> dict[str, int]:
    """The record's decks, and for a deck of the notes it does not name, from notes
    whose record does not say their deck (a record from before decks were remembered),
    the deck that holds most of their cards."""
    remembered = dict(view.record.decks)
    counts: dict[str, dict[int, int]] = {}
    for want in desired:
        note = view.notes.get(want.guid)
        last = view.record.notes.get(want.guid)
        if want.relative in remembered or note is None or last is None or last.deck is not None:
            continue
        for _, deck_id in note.card_decks:
            per_deck = counts.setdefault(want.relative, {})
            per_deck[deck_id] = per_deck.get(deck_id, 0) + 1
    names = _deck_names(view)
    for relative, per_deck in sorted(counts.items()):
        deck_id = max(per_deck, key=lambda d: (per_deck[d], -d))
        remembered[relative] = deck_id
        # The decks above it are the Anki decks above that one (the root included).
        parts, held = relative.split("::"), names.get(deck_id, "").split("::")
        for depth in range(len(parts)):
            above = "::".join(parts[:depth])
            name = "::".join(held[: len(held) - len(parts) + depth])
            if above not in remembered and name in view.deck_ids:
                remembered[above] = view.deck_ids[name]
    return remembered


def _plan_add(plan: Plan, view: CollectionView, want: Desired) -> None:
    if want.guid in view.foreign_guids:
        plan.foreign.append((want, f"a note of type '{view.foreign_guids[want.guid]}'"))
        return
    plan.adds.append(want)
    if want.guid in view.record.notes:
        plan.readded.add(want.guid)
    plan.record.notes[want.guid] = _written_state(want, want.fields)


def _plan_orphans(plan: Plan, orphans: dict[str, Existing], prune: bool) -> None:
    for note in sorted(orphans.values(), key=lambda n: n.source):
        last = plan.record.notes.get(note.guid)
        if prune and note.reviews and retyped_since_sync(note, last):
            plan.spared.append(note)  # its card may well be in the notes still
        elif prune:
            plan.prune.append(note)
            plan.record.notes.pop(note.guid, None)
            continue
        if REMOVED_TAG not in note.tags:
            plan.removed.append(note)


def _written_state(want: Desired, written: dict[str, str]) -> NoteState:
    return NoteState({k: field_hash(v) for k, v in written.items()}, want.tags, want.relative)


def _plan_note(
    plan: Plan,
    view: CollectionView,
    want: Desired,
    old: Existing,
    vocabulary: set[str],
    prefer: Prefer | None,
) -> None:
    """Plan one note that exists in the collection."""
    last = view.record.notes.get(old.guid)
    new_guid = old.guid != want.guid
    retype = old.notetype_id != want.note_type.model_id
    if retype:
        outcome = _plan_retype(plan, view, want, old, last, prefer)
    else:
        outcome = _plan_fields(plan, want, old, last, prefer)
    if outcome is None:
        return  # a conflict: the card is left alone
    write, recorded, kept = outcome
    tags = _plan_tags(want, old, last, vocabulary)
    if write or tags is not None or retype or new_guid:
        retype_from = old.notetype_id if retype else None
        plan.updates.append(Update(want, old.note_id, write, tags, retype_from, new_guid))
    if kept:
        plan.kept.append((want, tuple(kept)))
    if last is not None and last.deck is not None and last.deck != want.relative:
        target = plan.deck_names[want.relative]
        target_id = view.deck_ids.get(target)
        if any(deck != target_id for _, deck in old.card_decks):
            plan.moves.append(Move(want, old.note_id, target))
    if new_guid:
        plan.record.notes.pop(old.guid, None)
    plan.record.notes[want.guid] = NoteState(recorded, want.tags, want.relative)


Outcome = tuple[dict[str, str], dict[str, str], list[str]] | None
"""Fields to write, field hashes to record, fields whose Anki edit is kept; None for a
conflict."""


def _plan_retype(
    plan: Plan,
    view: CollectionView,
    want: Desired,
    old: Existing,
    last: NoteState | None,
    prefer: Prefer | None,
) -> Outcome:
    """A new note type: every field is written. Anki-side edits since the last sync
    would be lost, so they make a conflict unless --ours says the notes win; a field of
    the student's that the new note type has not makes one too."""
    ours = set(OUR_NOTETYPES[old.notetype_id].fields) if old.notetype_id in OUR_NOTETYPES else set()
    target = set(view.field_names.get(want.note_type.model_id, want.note_type.fields))
    own = [n for n, v in old.fields.items() if n not in ours | target and v.strip()]
    if own:
        plan.conflicts.append(Conflict(want, tuple(own), own_fields=True))
        return None
    edited = [
        name
        for name, value in old.fields.items()
        if last is not None and last.fields.get(name) not in (None, field_hash(value))
    ]
    if edited and prefer is not Prefer.OURS:
        if prefer is None:
            plan.conflicts.append(Conflict(want, tuple(edited)))
        return None  # --theirs: the note keeps its type and its edits
    write = dict(want.fields)
    return write, {k: field_hash(v) for k, v in write.items()}, []


def _plan_fields(
    plan: Plan, want: Desired, old: Existing, last: NoteState | None, prefer: Prefer | None
) -> Outcome:
    """Field by field, against what sync last wrote."""
    write: dict[str, str] = {}
    recorded: dict[str, str] = {}
    kept: list[str] = []
    conflicted: list[str] = []
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
        return None
    return write, recorded, kept


def _plan_tags(
    want: Desired, old: Existing, last: NoteState | None, vocabulary: set[str]
) -> tuple[str, ...] | None:
    """The note's new tags: build-deck's own replaced, the student's kept; None when
    they do not change. Without a record, every tag the build gives is build-deck's."""
    # Anki compares tags without case, and may keep an existing tag's spelling.
    owned = {t.lower() for t in (last.tags if last is not None else vocabulary)}
    owned |= {REMOVED_TAG.lower(), VERIFIED_TAG}
    wanted = {t.lower(): t for t in want.tags}
    kept_tags = {t.lower(): t for t in old.tags if t.lower() not in owned | set(wanted)}
    tags = tuple(sorted({**kept_tags, **wanted}.values()))
    return tags if {t.lower() for t in tags} != {t.lower() for t in old.tags} else None


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
