"""Anki stage: notes that hold one card twice, to merge into one with the reviews of both.

Two ways lead there:

- **two computers**: the desktop and the laptop both ran ``sync`` before their AnkiWeb
  sync; each added the same notes (same GUIDs) under its own note ids, and AnkiWeb's
  merge keeps both. Every such GUID is held by two notes.
- **a change of note type cut short by an older build-deck**: killed between Anki's
  change of note type and the field writes, it left the reviewed note under its old
  GUID, and the next sync added the card again as a new note under the new GUID. The
  old note is an orphan whose note type changed since the sync record was written.

:func:`plan_merges` picks, for each such card, the note to keep: the one in the deck the
student has for it now, then the one reviewed last, then the one reviewed most, then
the oldest. The others are merged into it when the plan is applied: their reviews are
copied onto the kept note's cards, the scheduling of the card reviewed last is kept,
and they are deleted (build_deck/anki/writes.py).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from build_deck.anki.note_text import MAX_COMPARED
from build_deck.anki.pairing import note_text, retyped_since_sync

if TYPE_CHECKING:
    from build_deck.anki.sync_model import CollectionView, Desired, Existing


@dataclass(frozen=True, slots=True)
class Merge:
    """Notes holding one card, merged into one."""

    guid: str
    """The GUID the merged note has."""
    keep: Existing
    """The note kept."""
    drop: tuple[Existing, ...]
    """The notes merged into it, then deleted."""
    retype: bool = False
    """True for a change of note type cut short (else: notes that share a GUID)."""


def _rank(note: Existing, target: int | None) -> tuple[bool, int, int, int]:
    in_place = target is not None and any(deck == target for _, deck in note.card_decks)
    return (in_place, note.last_review, note.reviews, -note.note_id)


def plan_merges(
    view: CollectionView,
    desired: Sequence[Desired],
    orphans: dict[str, Existing],
    deck_ids: dict[str, int],
) -> list[Merge]:
    """The merges a sync makes; ``deck_ids`` maps the notes' decks to the Anki decks
    that hold them now."""
    wanted = {d.guid: d for d in desired}
    merges = []
    for guid, notes in sorted(view.duplicates.items()):
        want = wanted.get(guid)
        target = deck_ids.get(want.relative) if want is not None else None
        keep = max(notes, key=lambda n: _rank(n, target))
        merges.append(Merge(guid, keep, tuple(n for n in notes if n is not keep)))
    taken = set(view.duplicates)
    for old in sorted(orphans.values(), key=lambda n: n.note_id):
        if not old.reviews or not retyped_since_sync(old, view.record.notes.get(old.guid)):
            continue
        twin = _twin(view, desired, old, taken)
        if twin is None:
            continue
        want, note = twin
        taken.add(want.guid)
        target = deck_ids.get(want.relative)
        keep, drop = (old, note) if _rank(old, target) >= _rank(note, target) else (note, old)
        merges.append(Merge(want.guid, keep, (drop,), retype=True))
    return merges


def _twin(
    view: CollectionView, desired: Sequence[Desired], old: Existing, taken: set[str]
) -> tuple[Desired, Existing] | None:
    """The build note, added after ``old`` in the same place with its note type, that
    holds the card ``old`` held (the most alike, if several)."""
    best: tuple[float, Desired, Existing] | None = None
    for want in desired:
        note = view.notes.get(want.guid)
        if (
            note is None
            or want.guid in taken
            or note.note_id < old.note_id
            or note.notetype_id != old.notetype_id
            or note.source != old.source
            or note.fields.get("Context") != old.fields.get("Context")
        ):
            continue
        ratio = difflib.SequenceMatcher(
            None,
            note_text(note.fields)[:MAX_COMPARED],
            note_text(old.fields)[:MAX_COMPARED],
            autojunk=False,
        ).ratio()
        if best is None or ratio > best[0]:
            best = (ratio, want, note)
    return None if best is None else (best[1], best[2])
