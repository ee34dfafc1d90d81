"""Anki stage: the sync state, what ``build-deck sync`` last wrote to each note.

The sync state lives in the collection's config (key :func:`state_key`), so it travels
with the collection and is written by the same backend as the notes it describes. For
each note it holds a :func:`field_hash` per field and the tags sync gave
(:class:`NoteState`); :func:`dump_state` gives the JSON kept in the config and
:func:`load_state` validates what it reads.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

STATE_KEY = "buildDeckSync"
"""Start of the key of the sync state in the collection's config (see ``state_key``)."""
STATE_VERSION = 1
"""Format version of the sync state."""


def state_key(root_deck: str) -> str:
    """The config key of the sync state of one root deck.

    One state per root deck: two notes projects synced into one collection never take
    each other's notes for their own removed ones.
    """
    return f"{STATE_KEY}::{root_deck}"


def field_hash(value: str) -> str:
    """Short hash of a field's value, as kept in the sync state."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class NoteState:
    """What sync last wrote to one note."""

    fields: dict[str, str]
    """Field name -> hash of the value sync wrote."""
    tags: tuple[str, ...]
    """The build-deck tags sync wrote."""


def load_state(data: Any) -> tuple[dict[str, NoteState], str | None]:
    """The sync state from the config value; an unreadable one is empty, with a warning."""
    if data is None:
        return {}, None
    try:
        if data["version"] != STATE_VERSION:
            raise ValueError(f"version {data['version']}")
        state = {}
        for guid, item in data["notes"].items():
            fields = {str(k): str(v) for k, v in item["fields"].items()}
            state[str(guid)] = NoteState(fields, tuple(str(t) for t in item["tags"]))
        return state, None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return {}, (
            f"the sync state in the collection is unreadable ({exc}): it is rebuilt; "
            "edits made in Anki since the last sync are overwritten this once"
        )


def dump_state(state: dict[str, NoteState]) -> dict[str, Any]:
    """The sync state as the JSON kept in the collection's config."""
    return {
        "version": STATE_VERSION,
        "notes": {
            guid: {"fields": s.fields, "tags": list(s.tags)} for guid, s in sorted(state.items())
        },
    }
