"""Apply a build to an Anki collection directly: ``build-deck sync``.

The build gives the notes of the deck (``BuildReport.records``). Then, with the
collection open through the ``anki`` package (Anki's own backend):

1. ``read_collection``: the collection's build-deck notes, their cards, and the sync
   state, that is what sync last wrote to each note (a hash per field, and its tags);
2. ``plan_sync``: compare each note of the build with the note of its GUID, field by
   field, against the sync state: what to add, update, retype, move, tag as removed or
   delete, which Anki-side edits to keep and which cards conflict. Pure: writes nothing;
3. ``apply_plan``: after Anki's own backup, make the changes with Anki's own operations
   (add notes, update notes, change note type, set deck) and save the new sync state.

The sync state lives in the collection's config (key ``STATE_KEY``), so it travels
with the collection and is written by the same backend as the notes it describes.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from build_deck.model import CardKind, SourceLoc
from build_deck.notetypes import CLOZE, NOTE_TYPES, QA, VERIFIED_TAG, NoteType, card_css
from build_deck.package import NoteRecord, note_fields

try:
    from anki.collection import AddNoteRequest, Collection
    from anki.errors import AnkiException, DBError

    HAVE_ANKI = True
except ImportError:  # pragma: no cover - the CLI says how to install it
    HAVE_ANKI = False

INSTALL_HINT = "pip install 'build-deck[sync]' (or run 'make'), which installs the anki package"
"""What to do when the ``anki`` package is missing."""

STATE_KEY = "buildDeckSync"
"""Key of the sync state in the collection's config."""
STATE_VERSION = 1
"""Format version of the sync state."""
REMOVED_TAG = "build-deck::removed"
"""Tag given to notes whose card was removed from the notes."""

OUR_NOTETYPES = {nt.model_id: nt for nt in NOTE_TYPES}
"""build-deck's note types by id."""


class SyncError(Exception):
    """A problem that stops the sync before anything is written; one line."""


class Prefer(Enum):
    """How to settle a field edited both in Anki and in the notes."""

    OURS = "ours"
    """The notes win (``--ours``)."""
    THEIRS = "theirs"
    """Anki's edit stays (``--theirs``)."""


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


@dataclass(frozen=True, slots=True)
class Desired:
    """A note as the build wants it in the collection."""

    record: NoteRecord
    """The build's note."""
    note_type: NoteType
    """Its note type."""
    fields: dict[str, str]
    """Field name -> value."""

    @property
    def guid(self) -> str:
        """The note's GUID."""
        return self.record.guid

    @property
    def loc(self) -> SourceLoc:
        """Where the card is in the notes."""
        return self.record.card.loc

    @property
    def deck(self) -> str:
        """Its deck's full name."""
        return self.record.card.deck

    @property
    def tags(self) -> tuple[str, ...]:
        """Its tags (build-deck's own)."""
        return self.record.tags

    @classmethod
    def of(cls, record: NoteRecord) -> Desired:
        """The desired note of a build record."""
        note_type = QA if record.card.kind is CardKind.QA else CLOZE
        return cls(record, note_type, dict(zip(note_type.fields, note_fields(record), strict=True)))


@dataclass(frozen=True, slots=True)
class Existing:
    """A build-deck note as it is in the collection."""

    note_id: int
    """Anki's note id."""
    guid: str
    """Its GUID."""
    notetype_id: int
    """Its note type."""
    fields: dict[str, str]
    """Field name -> value."""
    tags: tuple[str, ...]
    """Its tags."""
    card_decks: tuple[tuple[int, int], ...]
    """(card id, home deck id) of each card."""

    @property
    def source(self) -> str:
        """Its Source field (``notes/file.md:LINE``)."""
        return self.fields.get("Source", "")

    @property
    def summary(self) -> str:
        """Its first words, to name it in reports."""
        text = self.fields.get("Front") or self.fields.get("Text") or ""
        return _plain(text)[:60]


@dataclass(slots=True)
class CollectionView:
    """What sync reads from the collection before planning."""

    notes: dict[str, Existing]
    """build-deck notes by GUID."""
    foreign_guids: dict[str, str]
    """GUIDs held by notes of other note types -> that note type's name."""
    state: dict[str, NoteState]
    """The sync state by GUID."""
    deck_ids: dict[str, int]
    """Deck name -> id, for every deck."""
    warnings: list[str] = field(default_factory=list)
    """Problems found while reading (e.g. an unreadable sync state)."""


@dataclass(frozen=True, slots=True)
class Update:
    """Changes to an existing note."""

    desired: Desired
    """The build's note."""
    note_id: int
    """The note in Anki."""
    fields: dict[str, str]
    """Fields to write."""
    tags: tuple[str, ...] | None
    """New tags, or None to leave them."""
    retype_from: int | None = None
    """The note type to change from (Q/A <-> cloze), else None."""
    new_guid: bool = False
    """True when the note takes the GUID of the build's note (retyped card)."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """A card edited both in Anki and in the notes since the last sync."""

    desired: Desired
    """The build's note."""
    fields: tuple[str, ...]
    """The fields both sides changed."""


@dataclass(slots=True)
class Plan:
    """Everything a sync will do, decided before anything is written."""

    add_notetypes: list[NoteType] = field(default_factory=list)
    """Note types missing from the collection."""
    update_notetypes: list[NoteType] = field(default_factory=list)
    """Note types whose templates or CSS changed."""
    adds: list[Desired] = field(default_factory=list)
    """Notes to add."""
    updates: list[Update] = field(default_factory=list)
    """Notes to change (fields, tags or note type)."""
    moves: list[tuple[Desired, list[int]]] = field(default_factory=list)
    """Notes whose cards go to another deck, with those cards."""
    kept: list[tuple[Desired, tuple[str, ...]]] = field(default_factory=list)
    """Fields edited in Anki that the notes did not change: left alone."""
    conflicts: list[Conflict] = field(default_factory=list)
    """Cards left alone because both sides changed them."""
    foreign: list[tuple[Desired, str]] = field(default_factory=list)
    """Build notes whose GUID belongs to a note of another note type: left alone."""
    removed: list[Existing] = field(default_factory=list)
    """build-deck notes no longer in the notes, to tag ``REMOVED_TAG``."""
    prune: list[Existing] = field(default_factory=list)
    """build-deck notes no longer in the notes, to delete (``--prune``)."""
    media: list[tuple[str, str]] = field(default_factory=list)
    """Media to copy: (name in the collection, path on disk)."""
    state: dict[str, NoteState] = field(default_factory=dict)
    """The sync state to save."""
    state_changed: bool = False
    """True when the state differs from the one read."""

    @property
    def changes_notes(self) -> bool:
        """True when the plan changes anything the student sees."""
        return bool(
            self.add_notetypes
            or self.update_notetypes
            or self.adds
            or self.updates
            or self.moves
            or self.removed
            or self.prune
            or self.media
        )


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
        if "open" in str(exc) or "locked" in str(exc):
            raise SyncError(
                "the collection is open in Anki (or another program): close Anki, "
                "or switch it to another profile, then sync again"
            ) from exc
        raise SyncError(f"cannot open the collection: {exc}") from exc
    except AnkiException as exc:
        raise SyncError(f"cannot open the collection: {exc}") from exc


def read_collection(col: Collection) -> CollectionView:
    """The build-deck notes of ``col``, their cards, the decks and the sync state."""
    db = col.db
    assert db is not None
    ours = list(OUR_NOTETYPES)
    field_names = {}
    for model_id in ours:
        notetype = col.models.get(model_id)  # type: ignore[arg-type]
        if notetype is not None:
            field_names[model_id] = [f["name"] for f in notetype["flds"]]
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
    state, warning = _load_state(col.get_config(STATE_KEY, None))
    view = CollectionView(notes, foreign, state, deck_ids)
    if warning:
        view.warnings.append(warning)
    return view


def _load_state(data: Any) -> tuple[dict[str, NoteState], str | None]:
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
    """Decide what a sync does; reads nothing but its arguments and writes nothing.

    ``removed_guids`` are GUIDs the ledger just dropped; with the sync state, they say
    which notes build-deck created (a note of our note types with any other GUID was
    made by hand, and is never touched). ``media_present`` maps the collection's media
    names to their hashes; ``notetypes_present`` holds the collection's copies of
    build-deck's note types.
    """
    plan = Plan(state=dict(view.state))
    desired = [Desired.of(r) for r in records]
    build_guids = {d.guid for d in desired}
    vocabulary = {t for d in desired for t in d.tags} | {VERIFIED_TAG, REMOVED_TAG}
    known = set(view.state) | set(removed_guids)
    orphans = {
        guid: note for guid, note in view.notes.items() if guid not in build_guids and guid in known
    }
    retyped = _pair_retyped(
        [d for d in desired if d.guid not in view.notes and d.guid not in view.foreign_guids],
        list(orphans.values()),
    )

    _plan_notetypes(plan, notetypes_present or {})
    for want in desired:
        old = view.notes.get(want.guid)
        new_guid = False
        if old is None and want.guid in retyped:
            old = retyped[want.guid]
            orphans.pop(old.guid, None)
            new_guid = True
        if old is None:
            if want.guid in view.foreign_guids:
                plan.foreign.append((want, view.foreign_guids[want.guid]))
            else:
                plan.adds.append(want)
                plan.state[want.guid] = _written_state(want, want.fields)
            continue
        _plan_note(plan, view, want, old, vocabulary, prefer, new_guid)

    for note in sorted(orphans.values(), key=lambda n: n.source):
        if prune:
            plan.prune.append(note)
            plan.state.pop(note.guid, None)
        elif REMOVED_TAG not in note.tags:
            plan.removed.append(note)
    for guid in list(plan.state):
        if guid not in build_guids and guid not in view.notes:
            del plan.state[guid]  # deleted in Anki and gone from the notes: forget it
    plan.media = _plan_media(desired, media_present or {})
    plan.state_changed = plan.state != view.state
    return plan


def _written_state(want: Desired, written: dict[str, str]) -> NoteState:
    return NoteState({k: field_hash(v) for k, v in written.items()}, want.tags)


def _plan_note(
    plan: Plan,
    view: CollectionView,
    want: Desired,
    old: Existing,
    vocabulary: set[str],
    prefer: Prefer | None,
    new_guid: bool,
) -> None:
    """Plan one note that exists in the collection."""
    last = view.state.get(old.guid)
    retype = old.notetype_id != want.note_type.model_id
    write: dict[str, str] = {}
    recorded: dict[str, str] = {}  # field -> hash for the new state
    kept: list[str] = []
    conflicted: list[str] = []
    if retype:
        # A new note type: every field is written. Anki-side edits since the last sync
        # would be lost, so they make a conflict unless --ours says the notes win.
        edited = [
            name
            for name, value in old.fields.items()
            if last is not None and last.fields.get(name) not in (None, field_hash(value))
        ]
        if edited and prefer is not Prefer.OURS:
            if prefer is None:
                plan.conflicts.append(Conflict(want, tuple(edited)))
            return  # --theirs: the note keeps its type and its edits
        write = dict(want.fields)
        recorded = {k: field_hash(v) for k, v in write.items()}
    else:
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
            return
    # Anki compares tags without case, and may keep an existing tag's spelling.
    owned = {t.lower() for t in (last.tags if last is not None else vocabulary)}
    owned |= {REMOVED_TAG.lower(), VERIFIED_TAG}
    wanted = {t.lower(): t for t in want.tags}
    kept_tags = {t.lower(): t for t in old.tags if t.lower() not in owned | set(wanted)}
    tags = tuple(sorted({**kept_tags, **wanted}.values()))
    new_tags = tags if {t.lower() for t in tags} != {t.lower() for t in old.tags} else None
    if write or new_tags is not None or retype or new_guid:
        plan.updates.append(
            Update(
                want,
                old.note_id,
                write,
                new_tags,
                old.notetype_id if retype else None,
                new_guid,
            )
        )
    if kept:
        plan.kept.append((want, tuple(kept)))
    deck_id = view.deck_ids.get(want.deck)
    wrong = [card for card, deck in old.card_decks if deck != deck_id]
    if wrong and not retype:
        plan.moves.append((want, wrong))
    elif retype and (deck_id is None or any(deck != deck_id for _, deck in old.card_decks)):
        plan.moves.append((want, [card for card, _ in old.card_decks]))
    if new_guid:
        plan.state.pop(old.guid, None)
    plan.state[want.guid] = NoteState(recorded, want.tags)


def _plain(html_text: str) -> str:
    """Text of an HTML field, for comparing and naming notes."""
    text = re.sub(r"<[^>]+>", " ", html_text)
    text = re.sub(r"\{\{c\d+::(.*?)(::[^}]*)?\}\}", r"\1", text)
    return " ".join(html.unescape(text).split())


def _source_place(source: str) -> tuple[str, int]:
    path, _, line = source.rpartition(":")
    return (path, int(line)) if line.isdigit() else (source, 0)


def _pair_retyped(new: list[Desired], orphans: list[Existing]) -> dict[str, Existing]:
    """New build notes that are an orphan note of the other type (Q/A <-> cloze).

    The ledger gives a card a new GUID when its kind changes; the note it replaces is
    in the same file and section, near the same line, and says much the same.
    """
    pairs = []
    for want in new:
        path, line = _source_place(str(want.loc))
        text = _plain(want.fields.get("Front", "") + " " + want.fields.get("Back", ""))
        text = text if "Text" not in want.fields else _plain(want.fields["Text"])
        for old in orphans:
            if old.notetype_id == want.note_type.model_id:
                continue
            old_path, old_line = _source_place(old.source)
            if old_path != path or old.fields.get("Context") != want.fields["Context"]:
                continue
            old_text = _plain(old.fields.get("Front", "") + " " + old.fields.get("Back", ""))
            if "Text" in old.fields:
                old_text = _plain(old.fields["Text"])
            ratio = difflib.SequenceMatcher(None, text, old_text, autojunk=False).ratio()
            distance = abs(line - old_line)
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


def _plan_notetypes(plan: Plan, present: dict[int, dict[str, Any]]) -> None:
    for note_type in NOTE_TYPES:
        current = present.get(note_type.model_id)
        if current is None:
            plan.add_notetypes.append(note_type)
            continue
        names = tuple(f["name"] for f in current["flds"])
        if names != note_type.fields:
            raise SyncError(
                f"the note type '{current['name']}' has the fields {', '.join(names)}, "
                f"not {', '.join(note_type.fields)}: restore them in Anki (Tools → Manage "
                "Note Types → Fields) and sync again"
            )
        template = current["tmpls"][0] if current["tmpls"] else {}
        if (
            current.get("css") != card_css()
            or template.get("qfmt") != note_type.front
            or template.get("afmt") != note_type.back
        ):
            plan.update_notetypes.append(note_type)


def _plan_media(desired: list[Desired], present: dict[str, bytes]) -> list[tuple[str, str]]:
    wanted = sorted({m for d in desired for m in d.record.card.media})
    missing = []
    for name, path in wanted:
        if present.get(name) != _file_hash(Path(path)):
            missing.append((name, path))
    return missing


def _file_hash(path: Path) -> bytes:
    return hashlib.sha256(path.read_bytes()).digest()


def media_hashes(col: Collection, names: Iterable[str]) -> dict[str, bytes]:
    """Hashes of those media files the collection already has."""
    folder = Path(col.media.dir())
    return {name: _file_hash(folder / name) for name in names if (folder / name).is_file()}


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

    by_deck: dict[int, list[int]] = {}
    for want, cards in plan.moves:
        by_deck.setdefault(deck_of(want.deck), []).extend(cards)
    for retyped in (u for u in plan.updates if u.retype_from is not None):
        # Cards the new note type generated follow the note's deck.
        cards = list(col.card_ids_of_note(retyped.note_id))  # type: ignore[arg-type]
        by_deck.setdefault(deck_of(retyped.desired.deck), []).extend(cards)
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
        col.set_config(STATE_KEY, dump_state(plan.state))
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


# Reporting ----------------------------------------------------------------------------


def describe(plan: Plan, *, verbose_adds: int = 20) -> list[str]:
    """One line per change of the plan, as printed before it is applied."""
    lines = [f"note type: add {nt.name}" for nt in plan.add_notetypes]
    lines += [f"note type: update templates and CSS of {nt.name}" for nt in plan.update_notetypes]
    if len(plan.adds) <= verbose_adds:
        lines += [f"add: {d.loc}: {_plain(_first_field(d))[:60]}" for d in plan.adds]
    for update in plan.updates:
        what = []
        if update.retype_from is not None:
            old = OUR_NOTETYPES[update.retype_from].name
            what.append(f"note type {old} -> {update.desired.note_type.name}")
        if update.fields:
            what.append("fields " + ", ".join(update.fields))
        if update.tags is not None:
            what.append("tags")
        lines.append(f"update: {update.desired.loc}: {'; '.join(what) or 'GUID'}")
    lines += [f"move: {d.loc}: {len(cards)} cards to {d.deck}" for d, cards in plan.moves]
    lines += [
        f"kept Anki edit: {d.loc}: {', '.join(names)} (the notes did not change it)"
        for d, names in plan.kept
    ]
    lines += [
        f"{c.desired.loc}: error: conflict: {', '.join(c.fields)} edited in Anki and in the "
        "notes since the last sync; --theirs keeps Anki's, --ours takes the notes' "
        "('build-deck pull' shows Anki's edit)"
        for c in plan.conflicts
    ]
    lines += [
        f"{d.loc}: error: its GUID belongs to a note of type '{name}' in the collection; left alone"
        for d, name in plan.foreign
    ]
    lines += [f"removed: {n.source}: {n.summary} (tagged {REMOVED_TAG})" for n in plan.removed]
    lines += [f"delete: {n.source}: {n.summary}" for n in plan.prune]
    lines += [f"media: {name}" for name, _ in plan.media]
    return lines


def _first_field(want: Desired) -> str:
    return want.fields.get("Front") or want.fields.get("Text") or ""


def summary(plan: Plan) -> str:
    """Counts of the plan, for the last line of the output."""
    retyped = sum(u.retype_from is not None for u in plan.updates)
    parts = [
        f"+{len(plan.adds)} new",
        f"{len(plan.updates) - retyped} updated",
        f"{retyped} retyped",
        f"{len(plan.moves)} moved",
        f"{len(plan.removed)} tagged removed",
        f"{len(plan.prune)} deleted",
        f"{len(plan.kept)} Anki edits kept",
        f"{len(plan.conflicts)} conflicts",
    ]
    return ", ".join(parts)


# The command --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """What ``build-deck sync`` was asked to do."""

    collection: Path
    """The collection file (``collection.anki2``)."""
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
        view = read_collection(col)
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
