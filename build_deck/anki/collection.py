"""The student's collection through the ``anki`` package: opening it and reading it.

1. ``open_collection``: check, without writing, that it can be opened as it is (not in
   the format of an older Anki, which opening would upgrade; not read-only), then open
   it with Anki's backend, which takes Anki's lock (SQLite in exclusive locking mode): a
   collection open in Anki is refused with one line;
2. ``read_collection``: its build-deck notes (by note type id and GUID, with their
   cards' home decks and their reviews), the notes sharing a GUID, its decks, the sync
   record of the root deck (found by the root deck's id when the student renamed it)
   and what build-deck last wrote to its note types, for ``sync.plan_sync``.

build_deck/anki/writes.py applies the plan; build_deck/anki/run.py runs both for
``build-deck sync``. Only these modules use the ``anki`` package.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from build_deck.anki.styling import NOTETYPES_KEY, load_bases
from build_deck.anki.sync import file_hash
from build_deck.anki.sync_model import (
    OUR_NOTETYPE_MARKS,
    OUR_NOTETYPES,
    CollectionView,
    Existing,
    SyncError,
)
from build_deck.anki.sync_state import STATE_KEY, load_state, root_deck_id, state_key

try:
    from anki.collection import Collection
    from anki.errors import AnkiException, DBError

    HAVE_ANKI = True
except ImportError:  # the command line says how to install it
    HAVE_ANKI = False

INSTALL_HINT = "pip install 'build-deck[sync]' (or run 'make'), which installs the anki package"
"""What to do when the ``anki`` package is missing."""
SCHEMA_VERSION = 18
"""The collection format the ``anki`` package writes; older ones it upgrades on opening."""


# Opening ------------------------------------------------------------------------------


def collection_schema(path: Path) -> int | None:
    """The collection's format version, read without writing anything (SQLite's
    ``immutable`` mode takes no lock and writes no journal); None if unreadable."""
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            row = connection.execute("SELECT ver FROM col").fetchone()
        finally:
            connection.close()
        return int(row[0])
    except (sqlite3.Error, TypeError, ValueError):
        return None


def check_openable(path: Path) -> None:
    """Raise a one-line ``SyncError`` when opening the collection would fail or change it."""
    if not path.is_file():
        raise SyncError("no Anki collection here: check --collection or --profile")
    if not os.access(path, os.W_OK):
        raise SyncError(
            "the collection file is read-only: Anki's backend opens it for writing, even "
            "to read it; make it writable (chmod u+w), then run again"
        )
    if not os.access(path.parent, os.W_OK):
        raise SyncError(
            f"the folder {path.parent} is read-only: Anki keeps the collection's journal "
            "there; make it writable, then run again"
        )
    schema = collection_schema(path)
    if schema is not None and schema < SCHEMA_VERSION:
        raise SyncError(
            f"the collection is in the format of Anki 2.1.49 or older (schema {schema}): "
            "opening it here would upgrade it, and that Anki could not open it any more; "
            "open it once in Anki 2.1.50 or newer (which upgrades it), close Anki, then "
            "run again"
        )


def open_collection(path: Path) -> Collection:
    """Open the collection; a one-line ``SyncError`` if it is missing, read-only, in an
    older format, or open in Anki."""
    if not HAVE_ANKI:
        raise SyncError(f"the anki package is not installed: {INSTALL_HINT}")
    check_openable(path)
    try:
        return Collection(str(path))
    except DBError as exc:
        # Anki's backend holds SQLite's exclusive lock while the collection is open; a
        # second opener gets "Anki already open, or media currently syncing."
        if "already open" in str(exc) or "locked" in str(exc):
            raise SyncError(
                "the collection is open in Anki (or another program): close Anki, "
                "or switch it to another profile, then sync again"
            ) from exc
        raise SyncError(f"cannot open the collection: {_reason(exc)}") from exc
    except AnkiException as exc:
        raise SyncError(f"cannot open the collection: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    """Anki's error in a few words (its database errors come as Rust debug text)."""
    text = str(exc)
    if 'Some("' in text:
        return text.split('Some("', 1)[1].split('")', 1)[0]
    return text.splitlines()[0] if text else type(exc).__name__


# Reading ------------------------------------------------------------------------------


def read_collection(col: Collection, root_deck: str) -> CollectionView:
    """The build-deck notes of ``col``, their cards, the decks, and the sync record of
    ``root_deck``."""
    field_names = {
        model_id: tuple(f["name"] for f in notetype["flds"])
        for model_id, notetype in notetypes_present(col).items()
    }
    by_guid: dict[str, list[Existing]] = {}
    for note in _our_notes(col, field_names):
        by_guid.setdefault(note.guid, []).append(note)
    notes = {guid: found[0] for guid, found in by_guid.items()}
    duplicates = {guid: found for guid, found in by_guid.items() if len(found) > 1}
    db = col.db
    assert db is not None
    foreign = {
        guid: name
        for guid, name in db.all(
            "SELECT n.guid, t.name FROM notes n JOIN notetypes t ON n.mid = t.id "
            f"WHERE n.mid NOT IN ({OUR_NOTETYPE_MARKS})",
            *OUR_NOTETYPES,
        )
    }
    deck_ids = {d.name: d.id for d in col.decks.all_names_and_ids()}
    key, data = _find_record(col, root_deck, deck_ids)
    record, warning = load_state(data)
    view = CollectionView(notes, foreign, record, deck_ids, root_deck, key, duplicates)
    view.field_names = field_names
    view.bases = load_bases(col.get_config(NOTETYPES_KEY, None))
    if warning:
        view.warnings.append(warning)
    view.other_projects = _other_projects(col, key)
    return view


def _our_notes(col: Collection, field_names: dict[int, tuple[str, ...]]) -> list[Existing]:
    """Every note of build-deck's note types, with its cards and reviews."""
    db = col.db
    assert db is not None
    ours = list(OUR_NOTETYPES)
    cards: dict[int, list[tuple[int, int]]] = {}
    for card_id, note_id, deck, original_deck in db.all(
        "SELECT c.id, c.nid, c.did, c.odid FROM cards c JOIN notes n ON c.nid = n.id "
        f"WHERE n.mid IN ({OUR_NOTETYPE_MARKS}) ORDER BY c.nid, c.ord",
        *ours,
    ):
        cards.setdefault(note_id, []).append((card_id, original_deck or deck))
    reviews = {
        note_id: (count, last)
        for note_id, count, last in db.all(
            "SELECT c.nid, count(), max(r.id) FROM revlog r JOIN cards c ON r.cid = c.id "
            f"JOIN notes n ON c.nid = n.id WHERE n.mid IN ({OUR_NOTETYPE_MARKS}) GROUP BY c.nid",
            *ours,
        )
    }
    found = []
    for note_id, guid, mid, flds, tags in db.all(
        "SELECT id, guid, mid, flds, tags FROM notes "
        f"WHERE mid IN ({OUR_NOTETYPE_MARKS}) ORDER BY id",
        *ours,
    ):
        count, last = reviews.get(note_id, (0, 0))
        found.append(
            Existing(
                note_id,
                guid,
                mid,
                dict(zip(field_names.get(mid, ()), flds.split("\x1f"), strict=False)),
                tuple(tags.split()),
                tuple(cards.get(note_id, ())),
                count,
                last or 0,
            )
        )
    return found


def _find_record(col: Collection, root_deck: str, deck_ids: dict[str, int]) -> tuple[str, Any]:
    """The config key and value of the sync record of ``root_deck``: its own, or else the
    one that followed the deck now named so (a root deck renamed in Anki, and
    ``--deck`` given its new name)."""
    key = state_key(root_deck)
    data = col.get_config(key, None)
    root_id = deck_ids.get(root_deck)
    if data is not None or root_id is None:
        return key, data
    for other, value in col.all_config().items():
        if other.startswith(STATE_KEY + "::") and root_deck_id(value) == root_id:
            return other, value
    return key, None


def _other_projects(col: Collection, own_key: str) -> dict[str, str]:
    """The GUIDs other root decks' syncs wrote, by GUID -> that root deck."""
    db = col.db
    assert db is not None
    owners: dict[str, str] = {}
    prefix = state_key("")
    for key in db.list("SELECT key FROM config WHERE key LIKE ?", prefix + "%"):
        if key == own_key or not str(key).startswith(prefix):
            continue
        record, _ = load_state(col.get_config(str(key), None))
        for guid in record.notes:
            owners.setdefault(guid, str(key)[len(prefix) :])
    return owners


def media_hashes(col: Collection, names: Iterable[str]) -> dict[str, bytes]:
    """Hashes of those media files the collection already has."""
    folder = Path(col.media.dir())
    return {name: file_hash(folder / name) for name in names if (folder / name).is_file()}


def notetypes_present(col: Collection) -> dict[int, dict[str, Any]]:
    """The collection's copies of build-deck's note types."""
    found = {}
    for model_id in OUR_NOTETYPES:
        notetype = col.models.get(model_id)  # type: ignore[arg-type]
        if notetype is not None:
            found[model_id] = dict(notetype)
    return found
