"""``build-deck ledger``: prune old removed cards, resolve a merge conflict, git's merge driver."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from build_deck.identity.ledger import (
    Ledger,
    dump_ledger,
    is_v2,
    ledger_files,
    ledger_names,
    load_ledger,
    merge_entries,
    parse_ledger,
    prune,
    read_text_limited,
    split_conflict,
    v1_files,
)
from build_deck.model import Diagnostic
from build_deck.storage import LockHeld, atomic_write, build_lock

EXIT_OK = 0
EXIT_ERRORS = 1
_DAY = 86400


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _fail(problems: list[Diagnostic]) -> int:
    for problem in problems:
        print(problem, file=sys.stderr)
    return EXIT_ERRORS


def _read(path: Path) -> tuple[Ledger | None, list[Diagnostic]]:
    text, problems = read_text_limited(path, _shown(path))
    if text is None:
        return None, problems
    ledger, problems = parse_ledger(text, _shown(path))
    return (None if problems else ledger), problems


def run_ledger_command(args: argparse.Namespace) -> int:
    """Run ``build-deck ledger ACTION``; returns the exit code."""
    if args.action == "merge":
        return merge_files(args.ours, args.theirs)
    cards: Path = args.cards
    if v1_files(cards) or not is_v2(cards):
        print(
            f"{_shown(cards)}:0: error: no version 2 card ledger here: run 'build-deck build' "
            "first (it converts cards/*.yaml)",
            file=sys.stderr,
        )
        return EXIT_ERRORS
    try:
        with build_lock(cards, _shown(cards)):
            if args.action == "prune":
                return _prune(cards, args.older_than)
            return _resolve(cards)
    except LockHeld as exc:
        print(f"{_shown(cards)}:0: error: {exc}", file=sys.stderr)
        return EXIT_ERRORS
    except OSError as exc:
        where = exc.filename or cards
        print(f"{_shown(Path(where))}:0: error: cannot write: {exc.strerror}", file=sys.stderr)
        return EXIT_ERRORS


def _write_changed(cards: Path, ledger: Ledger) -> None:
    for name, text in ledger_files(ledger).items():
        path = cards / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            atomic_write(path, text.encode())


def _prune(cards: Path, older_than_days: int) -> int:
    ledger, problems = load_ledger(cards, _shown(cards))
    if problems:
        return _fail(problems)
    cutoff = int(time.time()) - older_than_days * _DAY if older_than_days > 0 else 1 << 62
    pruned, count = prune(ledger, cutoff)
    _write_changed(cards, pruned)
    print(f"{_shown(cards)}: forgot {count} removed cards; {len(pruned.entries)} entries left")
    return EXIT_OK


def _resolve(cards: Path) -> int:
    resolved = 0
    for name in ledger_names():
        path = cards / name
        if not path.exists():
            continue
        text, problems = read_text_limited(path, _shown(path))
        if text is None:
            return _fail(problems)
        ours_text, theirs_text = split_conflict(text)
        if ours_text == text:
            continue
        ours, problems = parse_ledger(_terminated(ours_text), f"{_shown(path)} (our side)")
        theirs, more = parse_ledger(_terminated(theirs_text), f"{_shown(path)} (their side)")
        if problems or more:
            return _fail(problems + more)
        atomic_write(path, dump_ledger(merge_entries(ours, theirs)).encode())
        resolved += 1
    _, problems = load_ledger(cards, _shown(cards))
    if problems:
        return _fail(problems)
    if not resolved:
        print(f"{_shown(cards)}: no merge conflict to resolve")
        return EXIT_OK
    print(
        f"{_shown(cards)}: merged both sides of {resolved} ledger files; now "
        f"'git add {_shown(cards)}' and build"
    )
    return EXIT_OK


def _terminated(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def merge_files(ours_path: Path, theirs_path: Path) -> int:
    """git's merge driver: union of both sides' cards into ``ours_path``; 0 when merged."""
    ours, problems = _read(ours_path)
    theirs, more = _read(theirs_path)
    if ours is None or theirs is None:
        _fail(problems + more)
        return EXIT_ERRORS  # git keeps the conflict; 'build-deck ledger resolve' explains
    try:
        atomic_write(ours_path, dump_ledger(merge_entries(ours, theirs)).encode())
    except OSError as exc:
        print(f"{_shown(ours_path)}:0: error: cannot write: {exc.strerror}", file=sys.stderr)
        return EXIT_ERRORS
    return EXIT_OK
