"""Command line: argv in, a call to the pipeline, a report out, an exit code."""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from build_deck import __version__
from build_deck.cache import default_cache_dir, nothing_built, user_cache_root
from build_deck.config import ConfigError, ProjectConfig, read_project_config
from build_deck.files import UnsafeFile, printable
from build_deck.gather import NO_CARDS
from build_deck.model import Diagnostic, SourceLoc
from build_deck.report import (
    DEFAULT_ROOT_DECK,
    BuildOptions,
    BuildReport,
    NotesFile,
    display_path,
    plural,
    print_progress,
    summary_line,
    usable_cores,
)

if TYPE_CHECKING:
    from build_deck.typeset.texcheck import TexChecker

# The pipeline and the sandbox are imported when a build runs: a build with nothing
# changed stops before (build_deck/freshness.py).

EXIT_OK = 0
EXIT_ERRORS = 1
DEFAULT_CHECK_BUDGET = 60.0
"""``--check-budget``'s default: the sandbox's ``CHECK_BUDGET`` (a test holds them equal)."""


def _seconds(text: str) -> float:
    """A positive number of seconds, for an option."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return seconds


def _count(text: str) -> int:
    """A positive whole number, for an option."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def _option_parsers() -> tuple[argparse.ArgumentParser, ...]:
    """The options several commands share: ``--cards``; the folders, deck and cache;
    strictness; ``--allow-removals``."""
    cards = argparse.ArgumentParser(add_help=False)
    cards.add_argument(
        "--cards", type=Path, help="card ledger folder (default: build-deck.toml's, else cards)"
    )
    common = argparse.ArgumentParser(add_help=False, parents=[cards])
    common.add_argument(
        "--notes", type=Path, help="notes folder (default: build-deck.toml's, else notes)"
    )
    common.add_argument(
        "--out", type=Path, help="output folder (default: build-deck.toml's, else dist)"
    )
    common.add_argument(
        "--deck",
        help=f"name of the root deck (default: build-deck.toml's, else {DEFAULT_ROOT_DECK!r})",
    )
    common.add_argument(
        "--no-cache",
        action="store_true",
        help=f"build every file afresh, without the build cache in {user_cache_root()}",
    )
    common.add_argument(
        "-j",
        "--jobs",
        type=_count,
        default=0,
        metavar="N",
        help="processes that parse the notes and run the checks (default: one per core); "
        "the deck is the same whatever the number",
    )

    strict = argparse.ArgumentParser(add_help=False)
    strict.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        help="fail when the TeX cannot be validated (Node.js or MathJax missing), the "
        "checks cannot be run confined, or a card gets a card-quality warning "
        "(default: build-deck.toml's strict, else no)",
    )
    strict.add_argument(
        "--trust-checks",
        action="store_true",
        help="run the checks even where they cannot be confined (only for notes you trust)",
    )
    strict.add_argument(
        "--check-budget",
        type=_seconds,
        default=DEFAULT_CHECK_BUDGET,
        metavar="SECONDS",
        help=f"seconds all checks of a build may take together (default {DEFAULT_CHECK_BUDGET:g})",
    )
    removals = argparse.ArgumentParser(add_help=False)
    removals.add_argument(
        "--allow-removals",
        action="store_true",
        help="allow removing all cards of an existing file, or over a quarter of the deck "
        "(an error otherwise)",
    )
    return cards, common, strict, removals


def _add_ledger_parser(commands: Any, cards: argparse.ArgumentParser) -> None:
    """``build-deck ledger prune|resolve|merge``."""
    ledger = commands.add_parser(
        "ledger", help="maintain the card ledger (the folder cards/ledger/)"
    )
    actions = ledger.add_subparsers(dest="action", required=True)
    prune = actions.add_parser(
        "prune", parents=[cards], help="forget cards removed from the notes long ago"
    )
    prune.add_argument(
        "--older-than",
        type=int,
        default=180,
        metavar="DAYS",
        help="forget cards removed more than DAYS days ago (default 180; 0: all removed)",
    )
    actions.add_parser(
        "resolve",
        parents=[cards],
        help="resolve a git merge conflict in the ledger, keeping both sides' cards",
    )
    merge = actions.add_parser(
        "merge", help="git merge driver: merge OURS and THEIRS into OURS (see docs/ledger.md)"
    )
    merge.add_argument("base", type=Path)
    merge.add_argument("ours", type=Path)
    merge.add_argument("theirs", type=Path)


def _parser() -> argparse.ArgumentParser:
    cards, common, strict, removals = _option_parsers()
    parser = argparse.ArgumentParser(
        prog="build-deck", description="Turn Markdown study notes into a verified Anki deck."
    )
    parser.add_argument("--version", action="version", version=f"build-deck {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser(
        "build", parents=[common, strict, removals], help="write dist/<deck>.apkg"
    )
    build.add_argument(
        "--locked", action="store_true", help="fail if the card ledger would change (for CI)"
    )
    build.add_argument(
        "-v", "--verbose", action="store_true", help="list every new, changed, moved card"
    )
    _add_ledger_parser(commands, cards)
    check = commands.add_parser(
        "check",
        parents=[common, strict, removals],
        help="validate the notes and the ledger, write nothing",
    )
    check.add_argument(
        "--mutate",
        action="store_true",
        help="also test the checks: make each verified card wrong and see that they fail",
    )
    commands.add_parser(
        "preview", parents=[common, strict], help="write dist/preview/index.html, every card"
    )
    commands.add_parser("stats", parents=[common], help="cards per deck, section and tag")
    commands.add_parser(
        "watch", parents=[common, strict], help="build, then rebuild on every change of the notes"
    )
    from build_deck.adopt_command import add_parser as add_adopt_parser
    from build_deck.anki_commands import add_parsers
    from build_deck.project import add_parser as add_init_parser

    add_parsers(commands, [common, strict])
    add_adopt_parser(commands, [common, strict])
    add_init_parser(commands)
    return parser


def _diagnostic_lines(report: BuildReport) -> list[str]:
    """What a build prints on stderr: its diagnostics, then the files without cards."""
    lines = [str(diagnostic) for diagnostic in report.diagnostics]
    return lines + [f"{shown}: {NO_CARDS}" for shown in report.without_cards]


def _print_diagnostics(report: BuildReport) -> None:
    for line in _diagnostic_lines(report):
        print(line, file=sys.stderr, flush=True)


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
            print(printable(f"  {name:<{width}}  {count:>5}"))


LIST_AT_MOST = 20
"""Changes are listed without ``-v`` when there are at most this many."""


def _print_changes(report: BuildReport, *, verbose: bool) -> None:
    """New, changed, moved, restored and removed cards; the deck-change note."""
    listed = [*report.changes, *report.removed]
    if verbose or len(listed) <= LIST_AT_MOST:
        for change in listed:
            print(printable(f"{change.what}: {change.where}: {change.text}"))
    elif listed:
        print(f"{len(listed)} cards new, changed, moved or removed: 'build -v' lists them")
    if report.removed:
        print(
            f"{len(report.removed)} removed cards stay in the card ledger, so they get their "
            "identity back if they return; Anki keeps them until you delete them there"
        )
    if report.deck_changed:
        print(
            f"{plural(report.deck_changed, 'card')} changed deck: Anki's import does not "
            "move cards that already exist; move them in Anki's browser (Change Deck), or run "
            "'build-deck sync'"
        )


def _write_preview(
    report: BuildReport, verified: dict[SourceLoc, str], options: BuildOptions
) -> int:
    from build_deck.typeset.preview import write_preview
    from build_deck.typeset.texcheck import INSTALL_HINT, MATHJAX_PACKAGE, ensure_mathjax

    mathjax, reason = ensure_mathjax(say=lambda line: print(line, file=sys.stderr, flush=True))
    if mathjax is None:
        where = display_path(options.notes_dir)
        print(
            f"{where}:0: error: no preview: {reason or MATHJAX_PACKAGE + ' not installed'}; "
            f"{INSTALL_HINT}",
            file=sys.stderr,
        )
        return EXIT_ERRORS
    from build_deck.lint import kind_of

    warnings: dict[SourceLoc, list[str]] = {}
    for diagnostic in report.diagnostics:
        if kind_of(diagnostic):
            warnings.setdefault(diagnostic.loc, []).append(diagnostic.message)
    try:
        page = write_preview(
            report.cards,
            verified,
            options.out_dir / "preview",
            mathjax,
            title=options.root_deck,
            warnings=warnings,
        )
    except (UnsafeFile, OSError) as exc:
        where = display_path(options.out_dir / "preview")
        print(Diagnostic(SourceLoc(where, 0), f"no preview: {exc}"), file=sys.stderr)
        return EXIT_ERRORS
    problems = f"; {plural(len(report.errors), 'error')}" if report.errors else ""
    shown = f"{plural(len(report.cards), 'card')} from {plural(report.files, 'file')}"
    print(f"{shown} -> {display_path(page)}{problems}")
    return EXIT_ERRORS if report.errors else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``build-deck``; returns the exit code."""
    try:
        return _main(argv)
    except BrokenPipeError:  # e.g. `build-deck stats | head`: the reader left, stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "init":
        from build_deck.project import run_init

        return run_init(args)
    if args.command == "ledger" and args.action == "merge":  # git runs it: no settings
        from build_deck.identity.ledger_cli import run_ledger_command

        return run_ledger_command(args)
    try:
        config = read_project_config()
    except ConfigError as exc:
        print(exc.diagnostic, file=sys.stderr, flush=True)
        return EXIT_ERRORS
    args.cards = args.cards or config.cards or Path("cards")
    if args.command == "ledger":
        from build_deck.identity.ledger_cli import run_ledger_command

        return run_ledger_command(args)
    options = _options(args, config)
    if args.command == "build" and _nothing_changed(args, options):
        return EXIT_OK
    from build_deck.verify.sandbox import check_mode

    trust = getattr(args, "trust_checks", False)
    options = replace(options, check_mode=check_mode(trust_checks=trust, strict=options.strict))
    if args.command == "watch":
        from build_deck.watch import watch

        print(f"watching {display_path(options.notes_dir)} (Ctrl-C to stop)", flush=True)
        watch(options.notes_dir, lambda: _run_once(args, options))
        return EXIT_OK
    return _run_once(args, options)


def _options(args: argparse.Namespace, config: ProjectConfig) -> BuildOptions:
    """The build's options: the command line's, else build-deck.toml's, else the defaults.
    Sets ``args.strict`` the same way. Not ``check_mode``: finding it imports the sandbox,
    which a build with nothing changed does without."""
    if getattr(args, "strict", None) is None:
        args.strict = bool(config.strict)
    notes_dir = args.notes or config.notes or Path("notes")
    return BuildOptions(
        notes_dir=notes_dir,
        cards_dir=args.cards,
        out_dir=args.out or config.out or Path("dist"),
        root_deck=args.deck or config.deck or DEFAULT_ROOT_DECK,
        locked=getattr(args, "locked", False),
        allow_removals=getattr(args, "allow_removals", False),
        cache_dir=None if args.no_cache else default_cache_dir(notes_dir),
        tags=config.tags,
        strict=bool(args.strict),
        jobs=getattr(args, "jobs", 0),
    )


_BUILD_ARGUMENTS = ("cards", "notes", "out", "deck", "no_cache", "strict", "trust_checks")
"""The command line's options a build reads (with ``--check-budget``): ``build``, ``watch``
and ``sync`` share the stamp of a build made with the same ones."""


def _stamp_key(args: argparse.Namespace, options: BuildOptions) -> dict[str, Any]:
    """What the up-to-date stamp is keyed by: the command line's options a build reads and
    the options they and build-deck.toml resolve to (their files are part of the stamp)."""
    resolved = replace(options, check_mode="", locked=False, allow_removals=False, jobs=0)
    chosen = {name: getattr(args, name, None) for name in _BUILD_ARGUMENTS}
    return {**chosen, "check_budget": getattr(args, "check_budget", None), "options": resolved}


def _nothing_changed(args: argparse.Namespace, options: BuildOptions) -> bool:
    """When nothing changed since the last build, print what it printed and say so."""
    from build_deck.freshness import unchanged_build

    lines = unchanged_build(options, _stamp_key(args, options))
    if lines is None:
        return False
    *printed, summary = lines
    for line in printed:
        print(line, file=sys.stderr, flush=True)
    print(summary, flush=True)
    return True


def _start_checkers(args: argparse.Namespace, options: BuildOptions) -> TexChecker:
    """The build's TeX checker, MathJax loading if it will be needed; and for a first
    build (:func:`~build_deck.cache.nothing_built`) the check workers, starting now so
    that they are ready when the notes have been read."""
    from build_deck.typeset.texcheck import TexChecker

    notes = Path(display_path(options.notes_dir))
    texcheck = TexChecker.start(notes_dir=notes, strict=args.strict, cache_dir=options.cache_dir)
    if nothing_built(options.cache_dir):
        from build_deck.verify.sandbox import start_workers

        start_workers(options.jobs or usable_cores())
    return texcheck


def _build(
    args: argparse.Namespace,
    options: BuildOptions,
    *,
    write: bool,
    texcheck: TexChecker | None = None,
) -> BuildReport:
    """Read, check and maybe write, as the command asks; the report is not printed.
    ``texcheck``: the checker :func:`_start_checkers` started for this build, if any."""
    from build_deck.pipeline import run
    from build_deck.verify.sandbox import CHECK_BUDGET

    if texcheck is None and args.command != "stats":
        texcheck = _start_checkers(args, options)
    from build_deck.verify.checks import verify_cards

    verify = functools.partial(
        verify_cards,
        budget=getattr(args, "check_budget", CHECK_BUDGET),
        trust_checks=getattr(args, "trust_checks", False),
        strict=getattr(args, "strict", False),
        workers=options.jobs or usable_cores(),
    )

    def stamp(files: list[NotesFile], report: BuildReport) -> None:
        from build_deck.config import find_config
        from build_deck.freshness import save_stamp

        assert texcheck is not None and texcheck.mathjax is not None
        extra = [texcheck.mathjax / "package.json", *filter(None, [find_config()])]
        key = _stamp_key(args, options)
        package = save_stamp(options, key, files, report, _diagnostic_lines(report), extra)
        if package and args.command == "sync":  # for the next sync: build_deck/anki/kept_records.py
            from build_deck.anki.kept_records import keep_records
            from build_deck.freshness import context_key

            assert options.cache_dir is not None  # else no stamp
            cache, records = options.cache_dir, report.records
            keep_records(cache, options.package, context_key(key), records, package)

    validated = texcheck is not None and texcheck.fingerprint.startswith("mathjax:")
    stamped = args.command in ("build", "watch") or (args.command == "sync" and not args.dry_run)
    after_write = stamp if stamped and validated else None
    try:
        return run(
            options,
            write=write,
            verify=verify,
            progress=print_progress,
            texcheck=texcheck,
            after_write=after_write,
        )
    finally:
        if texcheck is not None:
            texcheck.close()


def _take(started: list[TexChecker]) -> TexChecker | None:
    """The checker started for the first build, once; None for a later build."""
    return started.pop() if started else None


def _run_once(args: argparse.Namespace, options: BuildOptions) -> int:
    """One run of the command: read, check, maybe write; print the report."""
    if args.command in ("sync", "pull"):
        from build_deck.anki_commands import run_anki_command

        # A first sync starts MathJax and the check workers before Anki's backend is
        # imported and the collection opened, for the build that follows.
        started = [_start_checkers(args, options)] if nothing_built(options.cache_dir) else []
        try:
            return run_anki_command(
                args,
                options,
                lambda opts: _build(args, opts, write=True, texcheck=_take(started)),
                stamp_key=lambda opts: _stamp_key(args, opts),
            )
        finally:
            for texcheck in started:  # not used: the command stopped before building
                texcheck.close()
    if args.command == "adopt":
        from build_deck.adopt_command import run_adopt

        return run_adopt(args, options, lambda opts: _build(args, opts, write=True))
    write = args.command in ("build", "watch")
    report = _build(args, options, write=write)
    _print_diagnostics(report)
    if args.command == "preview":
        return _write_preview(report, report.verified, options)
    if args.command == "stats" and not report.errors:
        _print_stats(report)
    if write and not report.errors:
        _print_changes(report, verbose=getattr(args, "verbose", False))
    print(summary_line(report, wrote=write), flush=True)
    if getattr(args, "mutate", False) and not report.errors:
        from build_deck.verify.mutate import digest, mutate_cards

        mutation = mutate_cards(report.cards, report.verified, options.cache_dir)
        for warning in mutation.survivors:
            print(warning, file=sys.stderr, flush=True)
        print(digest(mutation), flush=True)
    return EXIT_ERRORS if report.errors else EXIT_OK
