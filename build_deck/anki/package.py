"""Write the .apkg: the only module that touches genanki.

genanki fills an SQLite collection; the notes' and note types' modification times
are then set from the ledger (Anki's "update if newer" import compares them), and the
zip is written with fixed timestamps, so the same notes and ledger give the same
bytes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import genanki

from build_deck.anki.note_record import NoteRecord, note_fields
from build_deck.anki.notetypes import (
    NOTE_TYPES,
    NoteType,
    card_css,
    note_type_of,
)
from build_deck.storage import TEMP_PREFIX, create_beside

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class _TimedNote(genanki.Note):  # type: ignore[misc]
    """A genanki note written with its own modification time, not the package's."""

    def __init__(self, mtime: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.mtime = mtime

    def write_to_db(self, cursor: Any, timestamp: float, deck_id: int, id_gen: Any) -> None:
        """Write the note and its cards, stamped with the note's own mtime."""
        super().write_to_db(cursor, self.mtime, deck_id, id_gen)


def deck_id(name: str) -> int:
    """A stable deck id derived from the deck's full name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:6], "big") | (1 << 50)


def genanki_model(note_type: NoteType) -> genanki.Model:
    """The genanki model of one of our note types, with the deck's CSS."""
    return genanki.Model(
        note_type.model_id,
        note_type.name,
        fields=[{"name": name} for name in note_type.fields],
        templates=[
            {"name": name, "qfmt": front, "afmt": back} for name, front, back in note_type.templates
        ],
        css=card_css(),
        model_type=genanki.Model.CLOZE if note_type.is_cloze else genanki.Model.FRONT_BACK,
    )


def write_package(
    records: Sequence[NoteRecord],
    out_path: Path,
    notetype_mtimes: dict[int, int],
    media_files: Sequence[tuple[str, str]],
    before_replace: Callable[[], None] | None = None,
) -> None:
    """Write the deck to ``out_path`` atomically: a failed write leaves the old file.

    ``before_replace`` runs once the new package is complete and durable, just before
    it replaces the old one (the build writes the card ledger there); if it raises,
    the old package stays.
    """
    models = {nt.model_id: genanki_model(nt) for nt in NOTE_TYPES}
    decks: dict[str, genanki.Deck] = {}
    for record in records:
        card = record.card
        deck = decks.get(card.deck)
        if deck is None:
            deck = decks[card.deck] = genanki.Deck(deck_id(card.deck), card.deck)
        model = models[note_type_of(card).model_id]
        deck.add_note(
            _TimedNote(
                record.mtime,
                model=model,
                fields=note_fields(record),
                tags=list(record.tags),
                guid=record.guid,
            )
        )
    timestamp = max([r.mtime for r in records] + list(notetype_mtimes.values()) + [0])
    package = genanki.Package([decks[name] for name in sorted(decks)], media_files=[])

    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Named so that the next build removes them if this one is killed.
    fd, db_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".anki2.tmp", dir=out_path.parent)
    os.close(fd)
    zip_name = create_beside(out_path, ".apkg.tmp")
    try:
        connection = sqlite3.connect(db_name)
        cursor = connection.cursor()
        package.write_to_db(cursor, timestamp, itertools.count(int(timestamp) * 1000))
        (models_json,) = cursor.execute("SELECT models FROM col").fetchone()
        stored = json.loads(models_json)
        for model_id, model in stored.items():
            model["mod"] = notetype_mtimes.get(int(model_id), timestamp)
        cursor.execute("UPDATE col SET models = ?", (json.dumps(stored, sort_keys=True),))
        connection.commit()
        connection.close()

        with zipfile.ZipFile(zip_name, "w", zipfile.ZIP_DEFLATED) as archive:
            _add_file(archive, "collection.anki2", Path(db_name))
            index = {str(i): name for i, (name, _) in enumerate(media_files)}
            _add(archive, "media", json.dumps(index).encode())
            for i, (_, path) in enumerate(media_files):
                _add(archive, str(i), Path(path).read_bytes())
        with open(zip_name, "rb") as written:
            os.fsync(written.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(zip_name, out_path)
    finally:
        for name in (db_name, zip_name):
            if os.path.exists(name):
                os.unlink(name)


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    archive.writestr(_entry(name), data)


def _add_file(archive: zipfile.ZipFile, name: str, path: Path) -> None:
    """Add a file as :func:`_add` adds its bytes (the same entry, byte for byte), read
    in pieces: the collection of a 50,000-card deck is over 30 MB."""
    info = _entry(name)
    info.file_size = path.stat().st_size  # as writestr sets it, before the header
    with open(path, "rb") as source, archive.open(info, "w") as target:
        shutil.copyfileobj(source, target, _PIECE)


_PIECE = 1 << 20
"""Bytes read at a time when a file is added to the package."""
