"""The student's collection through the ``anki`` package: the only module that uses it.

1. ``open_collection``: open it with Anki's backend, which takes Anki's lock (SQLite in
   exclusive locking mode): a collection open in Anki is refused with one line;
2. ``read_collection``: its build-deck notes (by note type id and GUID), their cards'
   home decks, its decks and the sync state, for ``sync.plan_sync``;
3. ``apply_plan``: after ``backup`` (Anki's own backup, into ``backups/`` next to the
   collection), make the planned changes with Anki's own operations: add notes, update
   notes, change note type, set deck, tag, remove notes, write media; then save the
   sync state in the collection's config.

``sync_collection`` runs 2 and 3 for ``build-deck sync``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from build_deck.anki.notetypes import NoteType, card_css
from build_deck.anki.package import NoteRecord
from build_deck.anki.sync import (
    OUR_NOTETYPES,
    REMOVED_TAG,
    CollectionView,
    Existing,
    Plan,
    Prefer,
    SyncError,
    file_hash,
    plan_sync,
)
from build_deck.anki.sync_report import describe
from build_deck.anki.sync_state import NoteState, dump_state, load_state, state_key

try:
    from anki.collection import AddNoteRequest, Collection
    from anki.errors import AnkiException, DBError

    HAVE_ANKI = True
except ImportError:  # the command line says how to install it
    HAVE_ANKI = False

INSTALL_HINT = "pip install 'build-deck[sync]' (or run 'make'), which installs the anki package"
"""What to do when the ``anki`` package is missing."""


# Reading ------------------------------------------------------------------------------


def open_collection(path: Path) -> Collection:
    """Open the collection; a one-line ``SyncError`` if it is missing or open in Anki."""
    if not HAVE_ANKI:
        raise SyncError(f"the anki package is not installed: {INSTALL_HINT}")
    if not path.is_file():
        raise SyncError("no Anki collection here: check --collection or --profile")
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
        raise SyncError(f"cannot open the collection: {exc}") from exc
    except AnkiException as exc:
        raise SyncError(f"cannot open the collection: {exc}") from exc


def read_collection(col: Collection, root_deck: str) -> CollectionView:
    """The build-deck notes of ``col``, their cards, the decks, and the sync state of
    ``root_deck``."""
    db = col.db
    assert db is not None
    ours = list(OUR_NOTETYPES)
    field_names = {
        model_id: [f["name"] for f in notetype["flds"]]
        for model_id, notetype in notetypes_present(col).items()
    }
    cards: dict[int, list[tuple[int, int]]] = {}
    for card_id, note_id, deck, original_deck in db.all(
        "SELECT c.id, c.nid, c.did, c.odid FROM cards c JOIN notes n ON c.nid = n.id "
        "WHERE n.mid IN (?, ?) ORDER BY c.nid, c.ord",
        *ours,
    ):
        cards.setdefault(note_id, []).append((card_id, original_deck or deck))
    notes: dict[str, Existing] = {}
    for note_id, guid, mid, flds, tags in db.all(
        "SELECT id, guid, mid, flds, tags FROM notes WHERE mid IN (?, ?)", *ours
    ):
        names = field_names.get(mid, [])
        notes[guid] = Existing(
            note_id,
            guid,
            mid,
            dict(zip(names, flds.split("\x1f"), strict=False)),
            tuple(tags.split()),
            tuple(cards.get(note_id, ())),
        )
    foreign = {
        guid: name
        for guid, name in db.all(
            "SELECT n.guid, t.name FROM notes n JOIN notetypes t ON n.mid = t.id "
            "WHERE n.mid NOT IN (?, ?)",
            *ours,
        )
    }
    deck_ids = {d.name: d.id for d in col.decks.all_names_and_ids()}
    key = state_key(root_deck)
    state, warning = load_state(col.get_config(key, None))
    view = CollectionView(notes, foreign, state, deck_ids, state_key=key, root_deck=root_deck)
    if warning:
        view.warnings.append(warning)
    view.other_projects = _other_projects(col, key)
    return view


def _other_projects(col: Collection, own_key: str) -> dict[str, str]:
    """The GUIDs other root decks' syncs wrote, by GUID -> that root deck."""
    db = col.db
    assert db is not None
    owners: dict[str, str] = {}
    prefix = state_key("")
    for key in db.list("SELECT key FROM config WHERE key LIKE ?", prefix + "%"):
        if key == own_key or not str(key).startswith(prefix):
            continue
        state, _ = load_state(col.get_config(str(key), None))
        for guid in state:
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


# Writing ------------------------------------------------------------------------------


def backup(col: Collection, folder: Path) -> bool:
    """Anki's own backup of the collection into ``folder``; False if it was current."""
    folder.mkdir(parents=True, exist_ok=True)
    return col.create_backup(backup_folder=str(folder), force=True, wait_for_completion=True)


def apply_plan(col: Collection, plan: Plan) -> list[str]:
    """Make the planned changes with Anki's own operations; returns warnings."""
    warnings: list[str] = []
    for note_type in plan.add_notetypes + plan.update_notetypes:
        _put_notetype(col, note_type)
    deck_ids: dict[str, int] = {}

    def deck_of(name: str) -> int:
        if name not in deck_ids:
            made = col.decks.id(name, create=True)
            assert made is not None
            deck_ids[name] = int(made)
        return deck_ids[name]

    if plan.adds:
        requests = []
        for want in plan.adds:
            note = col.new_note(col.models.get(want.note_type.model_id))  # type: ignore[arg-type]
            note.guid = want.guid
            for name, value in want.fields.items():
                note[name] = value
            note.tags = list(want.tags)
            requests.append(AddNoteRequest(note, deck_of(want.deck)))  # type: ignore[arg-type]
        col.add_notes(requests)

    notes = []
    for update in plan.updates:
        if update.retype_from is not None:
            info = col.models.change_notetype_info(
                old_notetype_id=update.retype_from,  # type: ignore[arg-type]
                new_notetype_id=update.desired.note_type.model_id,  # type: ignore[arg-type]
            )
            request = info.input
            request.note_ids.extend([update.note_id])
            col.models.change_notetype_of_notes(request)
        note = col.get_note(update.note_id)  # type: ignore[arg-type]
        for name, value in update.fields.items():
            note[name] = value
        if update.tags is not None:
            note.tags = list(update.tags)
        if update.new_guid:
            note.guid = update.desired.guid
        notes.append(note)
    if notes:
        col.update_notes(notes)

    # Moves are computed again now: an update may have made cards (a new cloze number,
    # a new note type), and Anki puts those where the note's other cards were.
    db = col.db
    assert db is not None
    targets = {u.note_id: u.desired.deck for u in plan.updates}
    targets.update({note_id: want.deck for want, note_id in plan.moves})
    by_deck: dict[int, list[int]] = {}
    for note_id, deck_name in targets.items():
        deck = deck_of(deck_name)
        for card_id, home in db.all(
            "SELECT id, CASE odid WHEN 0 THEN did ELSE odid END FROM cards WHERE nid = ?", note_id
        ):
            if home != deck:
                by_deck.setdefault(deck, []).append(card_id)
    for deck, cards in by_deck.items():
        col.set_deck(cards, deck)  # type: ignore[arg-type]

    if plan.removed:
        col.tags.bulk_add([n.note_id for n in plan.removed], REMOVED_TAG)  # type: ignore[misc]
    if plan.prune:
        col.remove_notes([n.note_id for n in plan.prune])  # type: ignore[misc]
    for name, path in plan.media:
        stored = col.media.write_data(name, Path(path).read_bytes())
        if stored != name:
            warnings.append(
                f"media: the collection already has another file named {name}; "
                f"this one was stored as {stored}, which the cards do not show"
            )
    if plan.state_changed:
        col.set_config(plan.state_key, dump_state(plan.state))
    return warnings


def _put_notetype(col: Collection, note_type: NoteType) -> None:
    """Add one of build-deck's note types with its fixed id, or refresh its templates."""
    models = col.models
    current = models.get(note_type.model_id)  # type: ignore[arg-type]
    if current is None:
        notetype = models.new(note_type.name)
        for name in note_type.fields:
            models.add_field(notetype, models.new_field(name))
        template = models.new_template("Cloze" if note_type.is_cloze else "Card 1")
        models.add_template(notetype, template)
        notetype["id"] = note_type.model_id
        notetype["type"] = 1 if note_type.is_cloze else 0
        # Added under its fixed id, as an import does; usn -1 makes AnkiWeb send it on.
        notetype["usn"] = -1
        notetype["mod"] = int(time.time())
    else:
        notetype = current
    notetype["css"] = card_css()
    notetype["tmpls"][0]["qfmt"] = note_type.front
    notetype["tmpls"][0]["afmt"] = note_type.back
    if current is None:
        models.update(notetype, preserve_usn=True)  # adds it under the id it carries
    else:
        models.update_dict(notetype)


# The command --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """What ``build-deck sync`` was asked to do."""

    collection: Path
    """The collection file (``collection.anki2``)."""
    root_deck: str
    """The build's root deck: whose sync state to use."""
    dry_run: bool = False
    """Print the plan, write nothing."""
    prune: bool = False
    """Delete removed notes instead of tagging them."""
    yes: bool = False
    """Delete without asking."""
    prefer: Prefer | None = None
    """How to settle conflicts, or None to report them."""


@dataclass(slots=True)
class SyncOutcome:
    """What a sync did."""

    plan: Plan | None = None
    """The plan, once made."""
    lines: list[str] = field(default_factory=list)
    """What to print: the plan, warnings, errors."""
    error: str | None = None
    """The error that stopped the sync before anything was written."""
    backup: bool = False
    """True when Anki's backup was written."""
    applied: bool = False
    """True when the collection was changed."""


def sync_collection(
    col: Collection,
    records: Sequence[NoteRecord],
    removed_guids: Iterable[str],
    options: SyncOptions,
    *,
    confirm: Any = None,
) -> SyncOutcome:
    """Plan and (unless a dry run) apply a sync of ``records`` to the open collection.

    ``confirm(question) -> bool`` is asked before notes are deleted without ``--yes``.
    Never raises on a problem with the collection: the outcome holds the error. The
    caller opened the collection (``open_collection``) and closes it.
    """
    outcome = SyncOutcome()
    try:
        view = read_collection(col, options.root_deck)
        outcome.lines += [f"warning: {w}" for w in view.warnings]
        media_names = {name for r in records for name, _ in r.card.media}
        plan = plan_sync(
            view,
            records,
            removed_guids=removed_guids,
            prefer=options.prefer,
            prune=options.prune,
            media_present=media_hashes(col, media_names),
            notetypes_present=notetypes_present(col),
        )
        outcome.plan = plan
        outcome.lines += describe(plan)
        if options.dry_run or not (plan.changes_notes or plan.state_changed):
            return outcome
        if plan.prune and not options.yes:
            question = f"delete these {len(plan.prune)} notes and their review history?"
            if confirm is None or not confirm(question):
                outcome.lines.append("not deleted: they are tagged " + REMOVED_TAG)
                plan.removed += [n for n in plan.prune if REMOVED_TAG not in n.tags]
                for note in plan.prune:
                    plan.state[note.guid] = view.state.get(note.guid, NoteState({}, ()))
                plan.prune = []
                if not (plan.changes_notes or plan.state_changed):
                    return outcome
        outcome.backup = backup(col, options.collection.parent / "backups")
        outcome.lines += [f"warning: {w}" for w in apply_plan(col, plan)]
        outcome.applied = True
    except SyncError as exc:
        outcome.error = str(exc)
    except AnkiException as exc:
        outcome.error = f"Anki refused the change: {exc}"
        if outcome.backup:
            outcome.error += (
                f"; the backup in {options.collection.parent / 'backups'} holds the "
                "collection as it was before this sync"
            )
    return outcome
