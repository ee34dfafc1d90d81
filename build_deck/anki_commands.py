"""The commands that talk to an Anki collection: ``sync`` and ``pull``.

Both open the collection first (which takes Anki's lock), then build the notes as
``build`` does; ``sync`` then applies the build to the collection (build_deck/anki/sync.py
plans, build_deck/anki/collection.py writes), ``pull`` brings edits made in Anki back to the
notes (build_deck/anki/pull.py). A dry run or a pull builds into a scratch copy of
``cards/`` and ``dist/``, so that it writes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from build_deck.files import UnsafeFile, printable, read_inside
from build_deck.gather import NO_CARDS
from build_deck.model import Diagnostic, Severity, SourceLoc
from build_deck.report import BuildOptions, BuildReport, display_path, summary_line

if TYPE_CHECKING:
    from anki.collection import Collection

    from build_deck.anki.note_record import NoteRecord

Build = Callable[[BuildOptions], BuildReport]
"""Runs the build with the given options (texcheck and checks included)."""
StampKey = Callable[[BuildOptions], dict[str, Any]]
"""The key of the up-to-date stamp of a build with the given options (build_deck/cli.py)."""


def add_parsers(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser],
) -> None:
    """Add ``sync`` and ``pull`` to the command line."""
    where = argparse.ArgumentParser(add_help=False)
    choice = where.add_mutually_exclusive_group()
    choice.add_argument(
        "--collection", type=Path, help="the collection file (collection.anki2) to sync with"
    )
    choice.add_argument(
        "--profile", help="the Anki profile whose collection to use (default: Anki's default)"
    )

    sync = commands.add_parser(
        "sync",
        parents=[*parents, where],
        help="build, then apply the notes to an Anki collection (Anki closed)",
    )
    sync.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    sync.add_argument(
        "--allow-removals",
        action="store_true",
        help="allow removing all cards of an existing file, or over a quarter of the deck "
        "(an error otherwise)",
    )
    sync.add_argument(
        "--prune", action="store_true", help="delete notes removed from the notes (asks first)"
    )
    sync.add_argument("--yes", action="store_true", help="with --prune: delete without asking")
    side = sync.add_mutually_exclusive_group()
    side.add_argument(
        "--theirs", action="store_true", help="conflicts: keep the fields edited in Anki"
    )
    side.add_argument("--ours", action="store_true", help="conflicts: take the notes' fields")

    pull = commands.add_parser(
        "pull",
        parents=[*parents, where],
        help="show the fields edited in Anki as a diff against the notes",
    )
    pull.add_argument(
        "--apply", action="store_true", help="write the edits that convert cleanly into the notes"
    )


def _error(where: str, message: str) -> None:
    print(Diagnostic(SourceLoc(where, 0), message), file=sys.stderr, flush=True)


def _collection_path(args: argparse.Namespace) -> Path | None:
    from build_deck.anki.profiles import ProfileError, find_collection

    if args.collection is not None:
        return Path(args.collection)
    try:
        return find_collection(args.profile)
    except ProfileError as exc:
        _error("anki", str(exc))
        return None


def run_anki_command(
    args: argparse.Namespace,
    options: BuildOptions,
    build: Build,
    stamp_key: StampKey | None = None,
) -> int:
    """Run ``sync`` or ``pull``; returns the exit code. A sync with nothing changed since
    the build of the last sync (its up-to-date stamp keyed by ``stamp_key``) takes that
    build's notes from the build cache, and does not build."""
    from build_deck.anki import collection as sync_module
    from build_deck.anki.sync_model import SyncError  # the parser alone imports neither

    if not sync_module.HAVE_ANKI:
        _error("anki", f"the anki package is not installed: {sync_module.INSTALL_HINT}")
        return 1
    collection = _collection_path(args)
    if collection is None:
        return 1
    # Open the collection first: this takes Anki's lock, so that a collection open in
    # Anki stops the command before anything (ledger, package) is written, and Anki
    # cannot open it while the command runs.
    try:
        col = sync_module.open_collection(collection)
    except SyncError as exc:
        _error(display_path(collection), str(exc))
        return 1
    try:
        scratch = args.command == "pull" or args.dry_run
        with tempfile.TemporaryDirectory(prefix="build-deck-") as folder:
            build_options, problems = (
                _scratch_options(options, Path(folder)) if scratch else (options, [])
            )
            for problem in problems:
                print(problem, file=sys.stderr, flush=True)
            if any(p.severity is Severity.ERROR for p in problems):
                return 1
            kept = None
            if stamp_key is not None and args.command == "sync" and not scratch:
                kept = _unchanged_notes(options, stamp_key(options))
            if kept is not None:
                for line in kept[0]:
                    print(line, file=sys.stderr, flush=True)
                return _sync(args, kept[1], [], col, collection, options.root_deck)
            report = build(build_options)
            for diagnostic in report.diagnostics:
                print(diagnostic, file=sys.stderr, flush=True)
            if report.errors:
                print(summary_line(report, wrote=False), flush=True)
                return 1
            if args.command == "pull":
                from build_deck.anki.pull import run_pull

                def rebuild() -> Sequence[NoteRecord] | None:
                    again = build(build_options)
                    return None if again.errors else again.records

                return run_pull(
                    col, report.records, options.root_deck, apply=args.apply, rebuild=rebuild
                )
            removed = [change.guid for change in report.removed]
            return _sync(args, report.records, removed, col, collection, options.root_deck)
    finally:
        col.close()


def _unchanged_notes(
    options: BuildOptions, key: dict[str, Any]
) -> tuple[list[str], list[NoteRecord]] | None:
    """When nothing changed since the build of the last sync (its stamp under ``key``):
    the warnings that build printed, and its notes; else None."""
    from build_deck.anki.kept_records import kept_records
    from build_deck.freshness import context_key, unchanged_package

    found = unchanged_package(options, key)
    if found is None or found[1] is None or options.cache_dir is None:
        return None
    cache, notes = options.cache_dir, options.notes_dir
    records = kept_records(cache, options.package, context_key(key), found[1], notes)
    warnings = [line for line in found[0][:-1] if not line.endswith(f": {NO_CARDS}")]
    return None if records is None else (warnings, records)


def _scratch_options(options: BuildOptions, folder: Path) -> tuple[BuildOptions, list[Diagnostic]]:
    """The same build, writing its ledger and package under ``folder``; and the problems
    that stop it. Only the ledger's own files are copied, each only when it is a
    regular file inside ``cards/`` (``cards/zero -> /dev/zero`` is never read)."""
    from build_deck.identity.ledger import ledger_names, v1_files
    from build_deck.identity.ledger_format import MAX_LEDGER_BYTES

    cards = folder / "cards"
    problems = options.folder_problems()
    if problems or not options.cards_dir.is_dir():
        return replace(options, cards_dir=cards, out_dir=folder / "dist"), problems
    names = [
        *ledger_names(),
        *(p.relative_to(options.cards_dir).as_posix() for p in v1_files(options.cards_dir)),
    ]
    for name in names:
        source = options.cards_dir / name
        if not os.path.lexists(source):
            continue
        try:
            data = read_inside(source, options.cards_dir, MAX_LEDGER_BYTES)
        except UnsafeFile as exc:
            message = f"cannot read: {exc}; a card ledger file must be a regular file inside cards/"
            problems.append(Diagnostic(SourceLoc(display_path(source), 1), message))
            continue
        (cards / name).parent.mkdir(parents=True, exist_ok=True)
        (cards / name).write_bytes(data)
    return replace(options, cards_dir=cards, out_dir=folder / "dist"), problems


def _ask(question: str) -> bool:
    if not sys.stdin.isatty():
        print(f"{question} (not a terminal: pass --yes to delete)", flush=True)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _sync(
    args: argparse.Namespace,
    records: Sequence[NoteRecord],
    removed: Sequence[str],
    col: Collection,
    collection: Path,
    root_deck: str,
) -> int:
    from build_deck.anki.run import SyncOptions, sync_collection
    from build_deck.anki.sync_model import Prefer
    from build_deck.anki.sync_report import summary

    prefer = Prefer.THEIRS if args.theirs else Prefer.OURS if args.ours else None
    options = SyncOptions(
        collection,
        root_deck,
        args.dry_run,
        args.prune,
        args.yes,
        prefer,
        display_path(collection.parent / "backups"),
    )
    outcome = sync_collection(col, records, removed, options, confirm=_ask)
    shown = display_path(collection)
    for line in outcome.lines:
        where = sys.stderr if ": error: " in line else sys.stdout
        print(printable(line), file=where, flush=True)
    if outcome.error is not None:
        _error(shown, outcome.error)
        return 1
    plan = outcome.plan
    assert plan is not None
    if args.dry_run:
        print(f"dry run, nothing written: {summary(plan)} -> {shown}", flush=True)
    elif not outcome.applied and (
        plan.conflicts or plan.kept or plan.foreign or plan.styling.conflicts
    ):
        print(f"nothing written: {summary(plan)} -> {shown}", flush=True)
    elif not outcome.applied:
        print(f"nothing to do: {shown} already matches the notes", flush=True)
    else:
        backup = "; backup in " + display_path(collection.parent / "backups")
        print(f"synced {shown}: {summary(plan)}{backup if outcome.backup else ''}", flush=True)
    return 1 if plan.conflicts or plan.foreign or plan.styling.conflicts else 0
