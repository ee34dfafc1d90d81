"""Anki stage: which note of the collection a build note replaces when its GUID is new.

The ledger gives a card a new GUID when its kind changes (Q/A <-> cloze). The note it
replaces is then an *orphan*: a build-deck note whose GUID left the notes.
:func:`pair_retyped` finds it: the same file and section, near the same line or saying
much the same, and of the other note type, or of the same type when the sync record
shows that its note type changed since the last sync (:func:`retyped_since_sync`: a
change of note type cut short before its fields were written).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from build_deck.anki.note_text import MAX_COMPARED, first_words, note_text, plain_text, source_place
from build_deck.anki.notetypes import NOTE_TYPES
from build_deck.anki.sync_state import NoteState

if TYPE_CHECKING:
    from build_deck.anki.sync_model import Desired, Existing

__all__ = [
    "first_words",
    "note_text",
    "pair_retyped",
    "plain_text",
    "retyped_since_sync",
    "source_place",
]

_FIELDS = {nt.model_id: frozenset(nt.fields) for nt in NOTE_TYPES}


def retyped_since_sync(note: Existing, last: NoteState | None) -> bool:
    """True when the note's type changed after sync last wrote it (the fields sync
    recorded are those of the other note type)."""
    if last is None or not last.fields:
        return False
    ours = _FIELDS.get(note.notetype_id, frozenset())
    return not set(last.fields) <= ours


def pair_retyped(
    new: Sequence[Desired], orphans: Sequence[Existing], record: dict[str, NoteState]
) -> dict[str, Existing]:
    """New build notes (GUID -> orphan) that are an orphan note under another type."""
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
            if old_path != path or old.fields.get("Context") != want.fields["Context"]:
                continue
            ratio = difflib.SequenceMatcher(None, text, old_text, autojunk=False).ratio()
            if old.notetype_id == want.note_type.model_id:
                # Only a change of note type cut short: the fields are not yet the new
                # card's, so its place alone (file and section) says it is the one.
                if retyped_since_sync(old, record.get(old.guid)) and (
                    old.source == want.fields["Source"]
                ):
                    pairs.append((-ratio, 0.0, want.guid, old.guid, old))
                continue
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
