"""The notes of the last build ``sync`` made, kept so that a sync with nothing changed in
the notes needs no build.

After ``sync`` builds, it keeps that build's notes (:class:`NoteRecord`: each card, its
GUID, modification time, verified mark, tags and Source) in the build cache, with the
SHA-256 of the package the build wrote. The next ``sync`` asks the up-to-date stamp
(:mod:`build_deck.freshness`) whether anything the build reads changed; when nothing
did and the stamp's package is the one these notes were kept with, it syncs them
without reading, parsing or checking a notes file, and without importing the parser,
the sandbox or MathJax's driver. Any other case (a notes file edited, a build since
with other notes, an entry that does not read back whole) builds as before.

The entry is read as an attacker may have written it, as every build cache entry is
(:mod:`build_deck.cache`): its HMAC must hold, and each card is read field by field.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from build_deck import cache as build_cache
from build_deck.anki.note_record import NoteRecord
from build_deck.anki.notetypes import VERIFIED_TEXT
from build_deck.cache import card_from_json, card_to_json, checked_mark

ENTRY = "sync-notes:"
"""Prefix of the entry's name in the build cache; the package's path follows."""


def keep_records(
    cache_dir: Path, package: Path, key: str, records: Sequence[NoteRecord], digest: str
) -> None:
    """Keep ``records``, the notes of the build that just wrote ``package`` (of SHA-256
    ``digest``, as the up-to-date stamp recorded it), under the stamp's ``key``; a failure
    only costs speed."""
    notes = [
        [card_to_json(r.card), r.guid, r.mtime, r.verified, list(r.tags), r.source] for r in records
    ]
    data = {"package": digest, "notes": notes}
    build_cache.store_json(cache_dir, f"{ENTRY}{package}", key, data)


def kept_records(
    cache_dir: Path, package: Path, key: str, digest: str, notes_dir: Path
) -> list[NoteRecord] | None:
    """The notes kept with the package of SHA-256 ``digest`` under ``key``; None when
    there are none, they were kept with another package, or they do not read back."""
    data, _ = build_cache.load_json(cache_dir, f"{ENTRY}{package}", key)
    if not isinstance(data, dict) or data.get("package") != digest:
        return None
    try:
        return [_record(item, notes_dir) for item in data["notes"]]
    except (ValueError, KeyError, TypeError, IndexError, build_cache.StaleEntry):
        return None


def _record(item: Any, notes_dir: Path) -> NoteRecord:
    """One note of the entry, every field checked."""
    card_data, guid, mtime, verified, tags, source = item
    shown = card_data["loc"][0]
    if not isinstance(shown, str):
        raise ValueError("a location that is not a path")
    card = card_from_json(card_data, shown, notes_dir)
    if not isinstance(mtime, int) or isinstance(mtime, bool) or mtime < 0:
        raise ValueError("a modification time that is not a whole number")
    if not all(isinstance(x, str) for x in (guid, verified, source, *tags)):
        raise ValueError("a note field that is not text")
    if any(not tag or any(c.isspace() for c in tag) for tag in tags):
        raise ValueError("a tag that is empty or holds a space")
    if verified and verified != VERIFIED_TEXT:
        checked_mark(verified.removeprefix(f"{VERIFIED_TEXT}: "))
    return NoteRecord(card, guid, mtime, verified, tuple(tags), source)
