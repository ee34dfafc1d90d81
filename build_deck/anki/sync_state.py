"""Anki stage: the sync record, what ``build-deck sync`` last wrote to each note.

The record lives in the collection's config (key :func:`state_key`), so it travels
with the collection and is written by the same backend, in the same transaction, as the
notes it describes. For each note it holds a :func:`field_hash` per field, the tags
sync gave and the deck the notes gave it (:class:`NoteState`); for each deck of the
notes, the id of the Anki deck that holds it, so that a deck renamed in Anki is
followed (:class:`SyncRecord`). :func:`dump_state` gives the JSON kept in the config
and :func:`load_state` validates what it reads (version 1, without decks, is read too).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

STATE_KEY = "buildDeckSync"
"""Start of the key of the sync record in the collection's config (see ``state_key``)."""
STATE_VERSION = 2
"""Format version of the sync record (version 1 had no decks)."""


def state_key(root_deck: str) -> str:
    """The config key of the sync record of one root deck.

    One record per root deck: two notes projects synced into one collection never take
    each other's notes for their own removed ones.
    """
    return f"{STATE_KEY}::{root_deck}"


def field_hash(value: str) -> str:
    """Short hash of a field's value, as kept in the sync record."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class NoteState:
    """What sync last wrote to one note."""

    fields: dict[str, str]
    """Field name -> hash of the value sync wrote."""
    tags: tuple[str, ...]
    """The build-deck tags sync wrote."""
    deck: str | None = None
    """The note's deck in the notes at that sync, below the root deck (``""``: the root
    itself); None when unknown (a version 1 record)."""


@dataclass(slots=True)
class SyncRecord:
    """The whole sync record of one root deck."""

    notes: dict[str, NoteState] = field(default_factory=dict)
    """What sync last wrote, by GUID."""
    decks: dict[str, int] = field(default_factory=dict)
    """Deck of the notes, below the root deck (``""``: the root) -> id of the Anki deck
    that held it at the last sync."""


def load_state(data: Any) -> tuple[SyncRecord, str | None]:
    """The sync record from the config value; an unreadable one is empty, with a warning."""
    if data is None:
        return SyncRecord(), None
    try:
        if data["version"] not in (1, STATE_VERSION):
            raise ValueError(f"version {data['version']}")
        notes = {}
        for guid, item in data["notes"].items():
            fields = {str(k): str(v) for k, v in item["fields"].items()}
            deck = item.get("deck")
            notes[str(guid)] = NoteState(
                fields,
                tuple(str(t) for t in item["tags"]),
                None if deck is None else str(deck),
            )
        decks = {str(k): int(v) for k, v in data.get("decks", {}).items()}
        return SyncRecord(notes, decks), None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return SyncRecord(), (
            f"the sync state in the collection is unreadable ({exc}): it is rebuilt; "
            "edits made in Anki since the last sync are overwritten this once"
        )


def dump_state(record: SyncRecord) -> dict[str, Any]:
    """The sync record as the JSON kept in the collection's config."""
    notes: dict[str, Any] = {}
    for guid, state in sorted(record.notes.items()):
        item: dict[str, Any] = {"fields": state.fields, "tags": list(state.tags)}
        if state.deck is not None:
            item["deck"] = state.deck
        notes[guid] = item
    return {"version": STATE_VERSION, "decks": dict(sorted(record.decks.items())), "notes": notes}


def root_deck_id(data: Any) -> int | None:
    """The id of the root deck a config value's record followed, if it names one."""
    try:
        return int(data["decks"][""])
    except (KeyError, TypeError, ValueError):
        return None
