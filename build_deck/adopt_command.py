"""``build-deck adopt``: migrate to build-deck without losing a review.

The student's collection is found as ``sync`` finds it (``--collection``, ``--profile``,
Anki's default profile) and opened first, which takes Anki's lock. The notes are built
as ``build`` builds them (into a scratch copy of ``cards/`` and ``dist/`` unless
``--apply``), then build_deck/anki/adopt.py pairs their cards with the notes already in
the collection and the pairs are listed with their review counts. ``--apply`` then:

1. backs the collection up (Anki's own backup, as ``sync`` does);
2. files each paired card in the ledger under its note's GUID
   (build_deck/identity/adoption.py), so the next ``sync`` or import updates that note;
3. gives the paired notes build-deck's note types with Anki's Change Note Type, which
   keeps their cards and reviews;
4. builds again, so that ``dist/`` holds the package with the adopted GUIDs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from build_deck.files import printable
from build_deck.model import Diagnostic, SourceLoc
from build_deck.report import BuildOptions, BuildReport, display_path, summary_line

# The command's own modules are imported when it runs: the command line is built for
# every command, and a build with nothing changed imports none of them.
if TYPE_CHECKING:
    from anki.collection import Collection

    from build_deck.anki.adopt import Adoption, Candidate

Build = Callable[[BuildOptions], BuildReport]
"""Runs the build with the given options (texcheck and checks included)."""


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser],
) -> None:
    """Add ``adopt`` to the command line."""
    adopt = commands.add_parser(
        "adopt",
        parents=list(parents),
        help="find the notes already in Anki that are cards of the notes, to keep their reviews",
    )
    choice = adopt.add_mutually_exclusive_group()
    choice.add_argument("--collection", type=Path, help="the collection file (collection.anki2)")
    choice.add_argument(
        "--profile", help="the Anki profile whose collection to use (default: Anki's default)"
    )
    adopt.add_argument(
        "--apply",
        action="store_true",
        help="record the pairs in cards/ and give those notes build-deck's note types",
    )


def _error(where: str, message: str) -> None:
    print(Diagnostic(SourceLoc(where, 0), message), file=sys.stderr, flush=True)


def run_adopt(args: argparse.Namespace, options: BuildOptions, build: Build) -> int:
    """Run ``build-deck adopt``; returns the exit code."""
    from build_deck.anki import collection as anki_collection
    from build_deck.anki.profiles import ProfileError, find_collection
    from build_deck.anki.sync_model import SyncError

    if not anki_collection.HAVE_ANKI:
        _error("anki", f"the anki package is not installed: {anki_collection.INSTALL_HINT}")
        return 1
    try:
        path = args.collection or find_collection(args.profile)
    except ProfileError as exc:
        _error("anki", str(exc))
        return 1
    try:
        col = anki_collection.open_collection(path)
    except SyncError as exc:
        _error(display_path(path), str(exc))
        return 1
    try:
        with tempfile.TemporaryDirectory(prefix="build-deck-") as folder:
            scratch = replace(options, cards_dir=Path(folder) / "cards", out_dir=Path(folder))
            if not args.apply and options.cards_dir.is_dir():
                shutil.copytree(options.cards_dir, scratch.cards_dir)
            report = build(options if args.apply else scratch)
            for diagnostic in report.diagnostics:
                print(diagnostic, file=sys.stderr, flush=True)
            if report.errors:
                print(summary_line(report, wrote=False), flush=True)
                return 1
            adoption = find_pairs(col, report)
            shown = display_path(path)
            for line in describe(adoption):
                print(printable(line), flush=True)
            counts = _counts(adoption, report)
            if not args.apply or not adoption.pairs:
                tail = "; 'build-deck adopt --apply' adopts them" if adoption.pairs else ""
                print(f"{counts} -> {shown}; nothing written{tail}", flush=True)
                return 0
            return _apply(col, path, adoption, options, build)
    finally:
        col.close()


def find_pairs(col: Collection, report: BuildReport) -> Adoption:
    """The pairs of the build's cards and the collection's notes."""
    from build_deck.anki.adopt import pair_notes, read_candidates
    from build_deck.anki.sync_model import OUR_NOTETYPE_MARKS, OUR_NOTETYPES
    from build_deck.parse.id_comments import hinted_cards
    from build_deck.parse.markdown import make_parser

    db = col.db
    assert db is not None
    present = set(
        db.list(f"SELECT guid FROM notes WHERE mid IN ({OUR_NOTETYPE_MARKS})", *OUR_NOTETYPES)
    )
    by_loc = hinted_cards(make_parser(), [r.card for r in report.records])
    hints = {r.guid: by_loc[r.card.loc] for r in report.records if r.card.loc in by_loc}
    return pair_notes(report.records, read_candidates(col), hints, present)


def _note(note: Candidate) -> str:
    decks = ", ".join(note.decks) or "no cards"
    return f"note {note.note_id} ({note.notetype}, in {decks}; {note.reviews} reviews)"


def _words(text: str, limit: int = 50) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def describe(adoption: Adoption) -> list[str]:
    """One line per pair, ambiguous card, refused pair and stale ID comment."""
    lines = []
    for pair in adoption.pairs:
        how = pair.how.value if pair.likeness == 1 else f"{pair.how.value}, {pair.likeness:.2f}"
        lines.append(
            f"pair: {pair.record.card.loc}: {_words(pair.record.card.prompt_text)} = "
            f"{_note(pair.note)}; {how}"
        )
    for record, notes in adoption.ambiguous:
        names = "; ".join(_note(note) for note in notes)
        lines.append(
            f"ambiguous: {record.card.loc}: {_words(record.card.prompt_text)}: {names}; "
            "left alone (delete the spare note in Anki, or put <!--ID: NOTE--> under the card)"
        )
    for pair, why in adoption.refused:
        lines.append(
            f"left alone: {pair.record.card.loc}: {_note(pair.note)}: {why}; "
            "the card will be added as a new note"
        )
    for record, note_id in adoption.stale_hints:
        lines.append(
            f"{record.card.loc}: warning: its ID comment names note {note_id}, which is not in "
            "the collection (or is build-deck's already)"
        )
    return lines


def _counts(adoption: Adoption, report: BuildReport) -> str:
    return (
        f"{len(adoption.pairs)} notes to adopt ({adoption.reviews} reviews kept), "
        f"{len(adoption.ambiguous)} ambiguous, {len(adoption.refused)} left alone, "
        f"of {len(report.records)} cards"
    )


def _apply(
    col: Collection,
    path: Path,
    adoption: Adoption,
    options: BuildOptions,
    build: Build,
) -> int:
    """Back up, refile the ledger, retype the notes, build again; the exit code."""
    from build_deck.anki.adopt import retype_notes
    from build_deck.anki.collection import notetypes_present
    from build_deck.anki.notetypes import NOTE_TYPES
    from build_deck.anki.styling import StylingPlan
    from build_deck.anki.sync_model import Plan, SyncError
    from build_deck.anki.writes import Writer, apply_plan, backup
    from build_deck.identity.adoption import refile_entries

    shown_cards = display_path(options.cards_dir)
    writer = Writer(col)
    try:
        backup(col, path.parent / "backups", writer, shown=display_path(path.parent / "backups"))
    except SyncError as exc:
        print(f"{display_path(path)}: error: {exc}", file=sys.stderr, flush=True)
        return 1
    present = notetypes_present(col)
    missing = [nt for nt in NOTE_TYPES if nt.model_id not in present]
    if missing:
        apply_plan(col, Plan(styling=StylingPlan(adds=missing)), writer)
    changes = {p.record.guid: (p.note.guid, p.note.mod + 1) for p in adoption.pairs}
    problems = refile_entries(options.cards_dir, shown_cards, changes)
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr, flush=True)
        return 1
    retype_notes(col, adoption.pairs)
    _claim(col, options.root_deck, [p.note.guid for p in adoption.pairs])
    db = col.db
    assert db is not None
    ids = ",".join(str(int(p.note.note_id)) for p in adoption.pairs)
    mods = db.all(f"SELECT guid, mod FROM notes WHERE id IN ({ids})")
    newer = {str(guid): (str(guid), int(mod) + 1) for guid, mod in mods}
    refile_entries(options.cards_dir, shown_cards, newer)  # newer than the retyped notes
    report = build(options)
    for diagnostic in report.diagnostics:
        print(diagnostic, file=sys.stderr, flush=True)
    if report.errors:
        print(summary_line(report, wrote=False), flush=True)
        return 1
    package = display_path(options.package)
    kept = f"{len(adoption.pairs)} notes ({adoption.reviews} reviews kept)"
    print(
        f"adopted {kept} -> {display_path(path)}; they now have build-deck's note "
        f"types and their GUIDs are in {shown_cards}/ (commit it); backup in "
        f"{display_path(path.parent / 'backups')}; next: 'build-deck sync', or import {package}",
        flush=True,
    )
    return 0


def _claim(col: Collection, root_deck: str, guids: list[str]) -> None:
    """Record the adopted notes in this root deck's sync record. The student chose them
    for this notes project; without the record, sync takes a note whose cards are
    outside the root deck for another project's, and leaves it alone."""
    from build_deck.anki.sync_state import NoteState, dump_state, load_state, state_key

    key = state_key(root_deck)
    record, _ = load_state(col.get_config(key, None))
    for guid in guids:
        record.notes.setdefault(guid, NoteState({}, ()))
    col.set_config(key, dump_state(record))
