"""Command line: argv in, a call to the pipeline, a report out, an exit code."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from build_deck import __version__
from build_deck.pipeline import (
    DEFAULT_ROOT_DECK,
    BuildOptions,
    BuildReport,
    print_progress,
    run,
    summary_line,
)

EXIT_OK = 0
EXIT_ERRORS = 1


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--notes", type=Path, default=Path("notes"), help="notes folder")
    common.add_argument("--cards", type=Path, default=Path("cards"), help="card ledger folder")
    common.add_argument("--out", type=Path, default=Path("dist"), help="output folder")
    common.add_argument("--deck", default=DEFAULT_ROOT_DECK, help="name of the root deck")

    parser = argparse.ArgumentParser(
        prog="build-deck", description="Turn Markdown study notes into a verified Anki deck."
    )
    parser.add_argument("--version", action="version", version=f"build-deck {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", parents=[common], help="write dist/<deck>.apkg")
    build.add_argument(
        "--locked", action="store_true", help="fail if the card ledger would change (for CI)"
    )
    commands.add_parser("check", parents=[common], help="parse and verify, write nothing")
    commands.add_parser("stats", parents=[common], help="cards per deck, section and tag")
    return parser


def _print_diagnostics(report: BuildReport) -> None:
    for diagnostic in report.diagnostics:
        print(diagnostic, file=sys.stderr, flush=True)


def _print_stats(report: BuildReport) -> None:
    tables = {
        "deck": Counter(card.deck for card in report.cards),
        "section": Counter(" > ".join(card.section) or "(no heading)" for card in report.cards),
        "tag": Counter(tag for card in report.cards for tag in card.tags),
    }
    for title, counts in tables.items():
        print(f"cards per {title}:")
        width = max((len(name) for name in counts), default=0)
        for name, count in sorted(counts.items()):
            print(f"  {name:<{width}}  {count:>5}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``build-deck``; returns the exit code."""
    args = _parser().parse_args(argv)
    options = BuildOptions(
        notes_dir=args.notes,
        cards_dir=args.cards,
        out_dir=args.out,
        root_deck=args.deck,
        locked=getattr(args, "locked", False),
    )
    from build_deck.verify import verify_cards

    write = args.command == "build"
    report = run(options, write=write, verify=verify_cards, progress=print_progress)
    _print_diagnostics(report)
    if args.command == "stats" and not report.errors:
        _print_stats(report)
    if write and not report.errors:
        for note_path, entry in report.removed:
            print(f"removed: {note_path}: {entry.text!r} (guid {entry.guid})")
    print(summary_line(report, wrote=write))
    return EXIT_ERRORS if report.errors else EXIT_OK
