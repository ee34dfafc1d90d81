"""Anki stage: one ``build-deck sync`` of the open collection, read, planned, applied.

``sync_collection`` reads the collection (build_deck/anki/collection.py), plans
(build_deck/anki/sync.py), describes the plan (build_deck/anki/sync_report.py), asks
before deleting, then backs up and applies it (build_deck/anki/writes.py). A problem
with the collection never raises: the outcome holds a one-line error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from build_deck.anki.collection import media_hashes, notetypes_present, read_collection
from build_deck.anki.note_record import NoteRecord
from build_deck.anki.sync import plan_sync
from build_deck.anki.sync_model import REMOVED_TAG, Plan, Prefer, SyncError
from build_deck.anki.sync_report import describe
from build_deck.anki.sync_state import NoteState
from build_deck.anki.writes import Writer, apply_plan, backup

try:
    from anki.collection import Collection
    from anki.errors import AnkiException
except ImportError:  # collection.py says how to install it
    pass


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """What ``build-deck sync`` was asked to do."""

    collection: Path
    """The collection file (``collection.anki2``)."""
    root_deck: str
    """The build's root deck: whose sync record to use."""
    dry_run: bool = False
    """Print the plan, write nothing."""
    prune: bool = False
    """Delete removed notes instead of tagging them."""
    yes: bool = False
    """Delete without asking."""
    prefer: Prefer | None = None
    """How to settle conflicts, or None to report them."""
    backups_shown: str = ""
    """The backups folder as messages name it (``profile/backups``)."""


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
    confirm: Callable[[str], bool] | None = None,
) -> SyncOutcome:
    """Plan and (unless a dry run) apply a sync of ``records`` to the open collection.

    ``confirm(question) -> bool`` is asked before notes are deleted without ``--yes``.
    The caller opened the collection (``open_collection``) and closes it.
    """
    outcome = SyncOutcome()
    folder = options.collection.parent / "backups"
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
        if plan.prune and not options.yes and not _confirmed(plan, view.record.notes, confirm):
            outcome.lines.append("not deleted: they are tagged " + REMOVED_TAG)
            if not (plan.changes_notes or plan.state_changed):
                return outcome
        writer = Writer(col)
        outcome.backup = backup(col, folder, writer, shown=options.backups_shown)
        outcome.lines += [f"warning: {w}" for w in apply_plan(col, plan, writer)]
        outcome.applied = True
    except SyncError as exc:
        outcome.error = str(exc)
    except AnkiException as exc:
        outcome.error = (
            f"Anki refused the change: {exc}; the collection was not changed (a sync "
            "writes all its changes in one transaction)"
        )
    return outcome


def _confirmed(
    plan: Plan, last: dict[str, NoteState], confirm: Callable[[str], bool] | None
) -> bool:
    """Ask before deleting; without a yes, the notes are tagged instead."""
    question = f"delete these {len(plan.prune)} notes and their review history?"
    if confirm is not None and confirm(question):
        return True
    plan.removed += [n for n in plan.prune if REMOVED_TAG not in n.tags]
    for note in plan.prune:
        plan.record.notes[note.guid] = last.get(note.guid, NoteState({}, ()))
    plan.prune = []
    return False
