"""Anki stage: a sync plan applied to the collection, all or nothing.

1. ``backup``: Anki's own backup of the collection, written into a temporary folder in
   ``backups/`` and renamed into ``backups/`` once complete, so that a backup under
   Anki's name is always whole;
2. the media files, copied into the collection's media folder (files the cards do not
   show yet harm nothing if the rest fails);
3. every change to the database in one SQLite transaction (``col.db.transact``): the
   note types and their bases, the merge of notes holding one card twice, new decks,
   changes of note type, new notes, fields, tags and GUIDs, moves, the removed tag,
   deletions, and last the sync record. Anki's operations nest in it as savepoints, so
   a kill or an error at any point leaves the collection as it was before the sync
   (SQLite's atomic commit), and the next sync does it all again; a change of note
   type is never seen without the fields and GUID that go with it.

Every change goes through :meth:`Writer.write`, one Anki operation at a time, in the
order above.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from build_deck.anki.duplicates import Merge
from build_deck.anki.notetypes import NoteType
from build_deck.anki.styling import NOTETYPES_KEY, Styling, dump_bases
from build_deck.anki.sync_model import REMOVED_TAG, Desired, Plan, SyncError, Update
from build_deck.anki.sync_state import dump_state
from build_deck.storage import TEMP_PREFIX, fsync_dir

try:
    import anki.collection  # noqa: F401 (before anki.cards, which cannot come first)
    from anki.cards import Card
    from anki.collection import AddNoteRequest, Collection
    from anki.errors import AnkiException
except ImportError:  # collection.py says how to install it
    pass

T = TypeVar("T")


class Writer:
    """Makes the changes of a sync, one Anki operation per :meth:`write`."""

    def __init__(self, col: Collection) -> None:
        self.col = col
        """The open collection."""
        self.count = 0
        """How many writes were made."""

    def write(self, what: str, action: Callable[..., T], *args: Any) -> T:
        """Make one change, ``action(*args)`` (``what`` names it); returns what the
        operation returns."""
        del what  # named for readers and for tests that stop a sync at one write
        result = action(*args)
        self.count += 1
        return result


# The backup ---------------------------------------------------------------------------


def backup(col: Collection, folder: Path, writer: Writer, *, shown: str = "") -> bool:
    """Anki's own backup of the collection into ``folder`` (named ``shown`` in messages),
    under Anki's name once it is complete; False if Anki found it current. One-line
    ``SyncError`` if it fails."""
    shown = shown or str(folder)
    remove_unfinished_backups(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(errno.EACCES, f"{shown} is read-only")
        scratch = folder / f"{TEMP_PREFIX}backup-{os.getpid()}"
        scratch.mkdir(exist_ok=True)
    except OSError as exc:
        raise _backup_error(shown, exc) from exc
    try:
        made = writer.write("backup", _create_backup, col, scratch)
        for done in scratch.iterdir():
            os.replace(done, folder / done.name)
        fsync_dir(folder)
    except (OSError, AnkiException) as exc:
        raise _backup_error(shown, exc) from exc
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return bool(made)


def _create_backup(col: Collection, folder: Path) -> bool:
    return col.create_backup(backup_folder=str(folder), force=True, wait_for_completion=True)


def _backup_error(shown: str, exc: Exception) -> SyncError:
    reason = getattr(exc, "strerror", None) or str(exc).split(" (os error")[0]
    return SyncError(
        f"cannot write the backup into {shown} ({reason}): make that folder writable, "
        "then sync again; the collection was not changed"
    )


def remove_unfinished_backups(folder: Path) -> None:
    """Delete what a sync killed while writing its backup left in ``folder``."""
    if folder.is_dir():
        for leftover in folder.glob(f"{TEMP_PREFIX}backup-*"):
            shutil.rmtree(leftover, ignore_errors=True)


# The plan -----------------------------------------------------------------------------


def apply_plan(col: Collection, plan: Plan, writer: Writer) -> list[str]:
    """Make the planned changes: media files, then the database in one transaction;
    returns warnings."""
    warnings: list[str] = []
    for name, path in plan.media:
        stored = writer.write("media", col.media.write_data, name, Path(path).read_bytes())
        if stored != name:
            warnings.append(
                f"media: the collection already has another file named {name}; "
                f"this one was stored as {stored}, which the cards do not show"
            )
    db = col.db
    assert db is not None
    db.transact(lambda: _apply_database(col, plan, writer))
    return warnings


def _apply_database(col: Collection, plan: Plan, writer: Writer) -> None:
    """Every change to the database, inside the sync's transaction."""
    for note_type in plan.styling.adds:
        writer.write("note type", _add_notetype, col, note_type)
    for update in plan.styling.updates:
        writer.write("note type", _write_styling, col, update.note_type, update.styling)
    if plan.styling.bases_changed:
        writer.write("bases", col.set_config, NOTETYPES_KEY, dump_bases(plan.styling.bases))
    for merge in plan.merges:
        _merge(col, merge, writer)
    decks = _Decks(col, writer)
    _retype(col, plan.updates, writer)
    if plan.adds:
        requests = [
            _add_request(col, want, decks.id(plan.deck_names[want.relative])) for want in plan.adds
        ]
        writer.write("add notes", col.add_notes, requests)
    notes = [_updated_note(col, update) for update in plan.updates]
    if notes:
        writer.write("update notes", col.update_notes, notes)
    _move(col, plan, decks, writer)
    if plan.removed:
        writer.write(
            "tag removed", col.tags.bulk_add, [n.note_id for n in plan.removed], REMOVED_TAG
        )
    if plan.prune:
        writer.write("delete", col.remove_notes, [n.note_id for n in plan.prune])
    if plan.state_changed or plan.changes_notes:
        for relative, name in plan.deck_names.items():
            if relative not in plan.record.decks and (found := col.decks.id_for_name(name)):
                plan.record.decks[relative] = int(found)
        writer.write("record", col.set_config, plan.state_key, dump_state(plan.record))


class _Decks:
    """Deck ids by name, creating decks as they are needed."""

    def __init__(self, col: Collection, writer: Writer) -> None:
        self.col = col
        self.writer = writer
        self.ids: dict[str, int] = {}

    def id(self, name: str) -> int:
        if name not in self.ids:
            found = self.col.decks.id_for_name(name)
            if found is None:
                found = self.writer.write("deck", self.col.decks.id, name, True)
            assert found is not None
            self.ids[name] = int(found)
        return self.ids[name]


def _add_request(col: Collection, want: Desired, deck_id: int) -> AddNoteRequest:
    note = col.new_note(col.models.get(want.note_type.model_id))  # type: ignore[arg-type]
    note.guid = want.guid
    for name, value in want.fields.items():
        note[name] = value
    note.tags = list(want.tags)
    return AddNoteRequest(note, deck_id)  # type: ignore[arg-type]


def _retype(col: Collection, updates: list[Update], writer: Writer) -> None:
    """Change the note type of retyped notes with Anki's own Change Note Type (the
    first card keeps its reviews); their fields are written with the other updates."""
    groups: dict[tuple[int, int], list[int]] = {}
    for update in updates:
        if update.retype_from is not None:
            key = (update.retype_from, update.desired.note_type.model_id)
            groups.setdefault(key, []).append(update.note_id)
    for (old, new), note_ids in sorted(groups.items()):
        info = col.models.change_notetype_info(
            old_notetype_id=old,  # type: ignore[arg-type]
            new_notetype_id=new,  # type: ignore[arg-type]
        )
        request = info.input
        request.note_ids.extend(note_ids)
        writer.write("change note type", col.models.change_notetype_of_notes, request)


def _updated_note(col: Collection, update: Update) -> object:
    note = col.get_note(update.note_id)  # type: ignore[arg-type]
    for name, value in update.fields.items():
        note[name] = value
    if update.tags is not None:
        note.tags = list(update.tags)
    if update.new_guid:
        note.guid = update.desired.guid
    return note


def _move(col: Collection, plan: Plan, decks: _Decks, writer: Writer) -> None:
    """Move every card of the moved notes (cards an update just made too)."""
    db = col.db
    assert db is not None
    by_deck: dict[int, list[int]] = {}
    for move in plan.moves:
        deck = decks.id(move.deck)
        for card_id, home in db.all(
            "SELECT id, CASE odid WHEN 0 THEN did ELSE odid END FROM cards WHERE nid = ?",
            move.note_id,
        ):
            if home != deck:
                by_deck.setdefault(deck, []).append(card_id)
    for deck, cards in by_deck.items():
        writer.write("move", col.set_deck, cards, deck)


def _add_notetype(col: Collection, note_type: NoteType) -> None:
    """Add one of build-deck's note types with its fixed id."""
    models = col.models
    notetype = models.new(note_type.name)
    for name in note_type.fields:
        models.add_field(notetype, models.new_field(name))
    for name, _, _ in note_type.templates:
        models.add_template(notetype, models.new_template(name))
    notetype["id"] = note_type.model_id
    notetype["type"] = 1 if note_type.is_cloze else 0
    # Added under its fixed id, as an import does; usn -1 makes AnkiWeb send it on.
    notetype["usn"] = -1
    notetype["mod"] = int(time.time())
    _set_templates(col, notetype, note_type, Styling.of(note_type))
    models.update(notetype, preserve_usn=True)  # adds it under the id it carries


def _write_styling(col: Collection, note_type: NoteType, styling: Styling) -> None:
    """Write the CSS and the templates of a note type as ``styling`` has them (its
    fields, and its templates' names, stay)."""
    notetype = col.models.get(note_type.model_id)  # type: ignore[arg-type]
    assert notetype is not None
    _set_templates(col, notetype, note_type, styling)
    col.models.update_dict(notetype)


def _set_templates(
    col: Collection, notetype: dict[str, Any], note_type: NoteType, styling: Styling
) -> None:
    """Put ``styling`` (CSS, each template by its position) into ``notetype``, adding the
    templates it lacks under build-deck's names."""
    notetype["css"] = styling.css
    for template, (front, back) in zip(notetype["tmpls"], styling.templates, strict=False):
        template["qfmt"], template["afmt"] = front, back
    for index in range(len(notetype["tmpls"]), len(styling.templates)):
        template = col.models.new_template(note_type.templates[index][0])
        template["qfmt"], template["afmt"] = styling.templates[index]
        col.models.add_template(notetype, template)


# Merging notes that hold one card -----------------------------------------------------


def _merge(col: Collection, merge: Merge, writer: Writer) -> None:
    """Merge the dropped notes into the kept one: reviews copied, the scheduling of the
    card reviewed last kept, then the dropped notes deleted."""
    db = col.db
    assert db is not None
    kept = {
        ord_: card_id
        for card_id, ord_ in db.all("SELECT id, ord FROM cards WHERE nid = ?", merge.keep.note_id)
    }
    for drop in merge.drop:
        for card_id, ord_ in db.all("SELECT id, ord FROM cards WHERE nid = ?", drop.note_id):
            target = kept.get(ord_)
            if target is None:
                # A card the kept note has not (the other computer had another
                # cloze number): it becomes the kept note's, with its reviews.
                writer.write(
                    "merge",
                    db.execute,
                    "UPDATE cards SET nid = ?, mod = ?, usn = ? WHERE id = ?",
                    merge.keep.note_id,
                    int(time.time()),
                    col.usn(),
                    card_id,
                )
                kept[ord_] = card_id
                continue
            _merge_card(col, card_id, target, writer)
    writer.write("merge", col.remove_notes, [n.note_id for n in merge.drop])


def _merge_card(col: Collection, source: int, target: int, writer: Writer) -> None:
    """Copy ``source``'s reviews onto ``target`` and give ``target`` the scheduling of
    whichever was reviewed last. The copies get new ids, so that AnkiWeb sends them on
    (it never changes a review it has); the originals stay, as AnkiWeb keeps them too
    (its check after a sync compares the counts), with the card they were of deleted."""
    db = col.db
    assert db is not None
    last = {
        cid: db.scalar("SELECT max(id) FROM revlog WHERE cid = ?", cid) or 0
        for cid in (source, target)
    }
    rows = db.all(
        "SELECT id, ease, ivl, lastIvl, factor, time, type FROM revlog WHERE cid = ?", source
    )

    def copy() -> None:
        for rid, *rest in rows:
            new_id = rid + 1
            while db.scalar("SELECT 1 FROM revlog WHERE id = ?", new_id):
                new_id += 1
            db.execute(
                "INSERT INTO revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                new_id,
                target,
                col.usn(),
                *rest,
            )

    if rows:
        writer.write("merge", copy)
    newer, card = Card(col, source), Card(col, target)  # type: ignore[arg-type]
    if last[source] > last[target] and not (newer.odid or card.odid):
        for name in _SCHEDULING:
            setattr(card, name, getattr(newer, name))
        writer.write("merge", col.update_card, card)


_SCHEDULING = (
    "type",
    "queue",
    "due",
    "ivl",
    "factor",
    "reps",
    "lapses",
    "left",
    "memory_state",
    "desired_retention",
    "decay",
    "last_review_time",
    "custom_data",
)
"""The attributes of a card that say when it is due next and how it was learnt."""
