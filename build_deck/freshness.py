"""The up-to-date stamp: a build with nothing changed says so and stops, before it imports
the parser, the sandbox, MathJax's driver, the ledger or genanki.

After a build that wrote its package with no error, with its TeX validated by MathJax
and its checks run, :func:`save_stamp` records in the build cache what the build was
made from: every file of the notes folder but hidden ones, which the build does not
read (a notes file as the bytes the build read), every file of the ledger folder, the
package and its state file, the images and sounds the cards show, and the files the
caller names (the CLI: ``build-deck.toml`` and MathJax's ``package.json``), each with
its size, modification time and SHA-256. The entry's key (:func:`context_key`) holds
what else the result depends on: the command line and the options it resolves to,
build-deck's source, Python, SQLite, zlib, the installed packages and the environment
variables the build reads.

:func:`unchanged_build` compares. A file whose size differs has changed. The files the
build writes under the ledger's lock (the ledger, the package, its state file) are
unchanged when their size and modification time are as recorded and that time is
older than the stamp by :data:`RACY_SECONDS`; a newer one could hide a change made in
the same clock tick (a "racily clean" file, as git calls it), so it is compared by hash,
and the stamp is then written again with the time of that comparison, as git refreshes
its index. Every other file is compared by hash: the notes are small, and the bytes the
build read are what counts. A file added to or removed from either folder is a
change. Only when nothing changed does it give back the lines the last build printed
(its warnings, and its summary with no card changed); otherwise the build runs as usual.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from build_deck import cache as build_cache
from build_deck.model import Severity
from build_deck.report import (
    BuildOptions,
    BuildReport,
    NotesFile,
    SourceState,
    summary_line,
)
from build_deck.storage import LOCK_NAME, TEMP_PREFIX

ENTRY = "up-to-date:"
"""Prefix of the stamp's name in the build cache; the package's path follows."""
UP_TO_DATE = "nothing changed since the last build"
"""What the summary line of a build that found nothing to do ends with."""
RACY_SECONDS = 2.0
"""A file the build wrote this shortly before the stamp's time is compared by hash."""
ENVIRONMENT = (
    "SOURCE_DATE_EPOCH",
    "BUILD_DECK_MATHJAX",
    "BUILD_DECK_CONFINEMENT",
    "XDG_CACHE_HOME",
    "LOCALAPPDATA",
)
"""Environment variables the build reads (the last two: where MathJax is installed);
their values are part of the stamp's key."""
IGNORED_OPTIONS = frozenset({"command", "verbose", "locked", "allow_removals", "jobs"})
"""Options that cannot change what a build with nothing changed does: it lists no
change, leaves the ledger as it is (so ``--locked`` passes), removes no card, and
writes the same bytes on any number of cores."""


def context_key(options: Mapping[str, Any]) -> str:
    """What a build's result depends on besides its files: the command line's options
    (without :data:`IGNORED_OPTIONS`), build-deck's source, Python, SQLite and zlib, the
    installed packages and the variables of :data:`ENVIRONMENT`."""
    import sqlite3  # a C module, and the build's own package writer imports it
    import zlib

    installed: list[str] = []
    for folder in sys.path:
        if folder.endswith("-packages") and os.path.isdir(folder):
            installed += sorted(n for n in os.listdir(folder) if n.endswith("-info"))
    chosen = [(name, repr(value)) for name, value in options.items() if name not in IGNORED_OPTIONS]
    context = [
        sorted(chosen),
        build_cache.tool_fingerprint(),
        sys.version,
        sqlite3.sqlite_version,
        zlib.ZLIB_RUNTIME_VERSION,
        installed,
        [(name, os.environ.get(name)) for name in ENVIRONMENT],
    ]
    return hashlib.sha256(json.dumps(context).encode()).hexdigest()


def source_state(data: bytes) -> SourceState:
    """The state of a notes file as the build read it."""
    return SourceState(len(data), hashlib.sha256(data).hexdigest())


def _entry(options: BuildOptions) -> str:
    return f"{ENTRY}{options.package}"


def _walk(folder: Path, *, hidden: bool = True) -> Iterator[str]:
    """Every file under ``folder`` (not inside linked folders), but the build's own lock
    and temporary files; without hidden files and folders unless ``hidden``."""
    for root, dirs, names in os.walk(folder):
        if not hidden:  # the build reads none of them (build_deck/gather.py)
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name == LOCK_NAME or name.startswith(TEMP_PREFIX):
                continue
            if hidden or not name.startswith("."):
                yield os.path.join(root, name)


STAMP_FILE_CAP = 256 * 1024 * 1024
"""The largest file a stamp hashes; a larger one (or one that is not a regular file)
means no stamp, and every build runs."""


def _file_digest(path: str, status: os.stat_result) -> str:
    """The sha256 of a regular file (``status``: its ``os.stat`` just taken); OSError for
    anything else (``/dev/zero``, a FIFO, which a notes repository may link to) or a file
    past :data:`STAMP_FILE_CAP`."""
    if not stat.S_ISREG(status.st_mode) or status.st_size > STAMP_FILE_CAP:
        raise OSError(f"{path}: not a regular file within {STAMP_FILE_CAP} bytes")
    with open(path, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise OSError(f"{path}: not a regular file")  # replaced since
        return hashlib.file_digest(file, "sha256").hexdigest()


def _current(path: str, *, written: bool = False) -> list[Any]:
    """[size, mtime_ns, sha256, written] of a file now; ``written``: by the build, under
    its lock (its time may then spare hashing it)."""
    status = os.stat(path)
    return [status.st_size, status.st_mtime_ns, _file_digest(path, status), written]


def _stamp_files(
    options: BuildOptions, files: Sequence[NotesFile], report: BuildReport, extra: Sequence[Path]
) -> dict[str, list[Any]] | None:
    """The files of the stamp and their state; None when the notes folder does not hold
    exactly the notes files this build read."""
    read = {str(f.path): f.read for f in files}
    recorded: dict[str, list[Any]] = {}
    for path in _walk(options.notes_dir, hidden=False):
        if path.endswith(".md"):
            state = read.pop(path, None)
            if state is None:
                return None  # a notes file added while the build ran
            recorded[path] = [state.size, 0, state.sha256, False]
        else:
            recorded[path] = _current(path)
    if read:
        return None  # a notes file removed while the build ran
    for path in _walk(options.cards_dir):
        recorded[path] = _current(path, written=True)
    out = report.out_path
    assert out is not None
    state_file = out.parent / f".{out.stem}.state.json"
    for written in (out, state_file):
        if written.is_file():
            recorded[str(written)] = _current(str(written), written=True)
    for card in report.cards:
        for name, image in card.media:
            recorded.setdefault(image, _current(image))
            digest = hashlib.sha1(Path(image).read_bytes()).hexdigest()[:10]
            if f"-{digest}" not in name:
                return None  # the image changed after the card named it
    for other in extra:
        recorded[str(other)] = _current(str(other))
    return recorded


def save_stamp(
    options: BuildOptions,
    command: Mapping[str, Any],
    files: Sequence[NotesFile],
    report: BuildReport,
    printed: Sequence[str],
    extra: Sequence[Path] = (),
) -> str | None:
    """Record that this build (which wrote its package with no error) is up to date with
    its files; ``printed`` are the lines it printed on stderr, ``extra`` more files its
    result depends on. Returns the SHA-256 of the package as recorded. Returns None, and
    records nothing, when a later build might print or do something else: a warning not
    kept with a notes file, checks that could not run, files changed while it ran."""
    if options.cache_dir is None or report.out_path is None or report.errors:
        return None
    if options.check_mode.startswith("checks:not-run") or any(f.read is None for f in files):
        return None
    kept = {d for f in files for d in f.diagnostics}
    warnings = [d for d in report.diagnostics if d.severity is Severity.WARNING]
    if any(d not in kept for d in warnings):
        return None
    started = time.time_ns()  # a file written after this is compared by hash
    try:
        recorded = _stamp_files(options, files, report, extra)
    except OSError:
        return None
    if recorded is None or str(report.out_path) not in recorded:
        return None  # or the package was removed since it was written
    quiet = replace(report, new=0, changed=0, moved=0, restored=0, removed=[], changes=[])
    stamp = {
        "time_ns": started,
        "files": recorded,
        "listed": [[str(options.notes_dir), False], [str(options.cards_dir), True]],
        "warnings": list(printed),
        "summary": f"{summary_line(quiet, wrote=True)}; {UP_TO_DATE}",
    }
    build_cache.store_json(options.cache_dir, _entry(options), context_key(command), stamp)
    package: str = recorded[str(report.out_path)][2]
    return package


def unchanged_build(options: BuildOptions, command: Mapping[str, Any]) -> list[str] | None:
    """The lines to print (warnings first, then the summary) when nothing changed since
    the last build's stamp; None when something did, or there is no stamp."""
    found = unchanged_package(options, command)
    return None if found is None else found[0]


def unchanged_package(
    options: BuildOptions, command: Mapping[str, Any]
) -> tuple[list[str], str | None] | None:
    """As :func:`unchanged_build`, with the SHA-256 of the package that build wrote, if
    it is known (what ``sync`` pairs the notes it kept of that build with)."""
    if options.cache_dir is None:
        return None
    key = context_key(command)
    stamp, _ = build_cache.load_json(options.cache_dir, _entry(options), key)
    started = time.time_ns()
    try:
        files: dict[str, list[Any]] = stamp["files"]
        listed = [
            p for folder, hidden in stamp["listed"] for p in _walk(Path(folder), hidden=hidden)
        ]
        if len(listed) != sum(1 for path in listed if path in files):
            return None  # a file was added
        old_enough = int(stamp["time_ns"]) - RACY_SECONDS * 1e9
        refresh = False
        for path, (size, mtime_ns, digest, written) in files.items():
            status = os.stat(path)
            if status.st_size != size or not stat.S_ISREG(status.st_mode):
                return None
            if written and status.st_mtime_ns == mtime_ns and mtime_ns < old_enough:
                continue
            if _file_digest(path, status) != digest:
                return None
            if written:
                refresh = True
                files[path] = [size, status.st_mtime_ns, digest, written]
        lines = [*stamp["warnings"], stamp["summary"]]
        package = files.get(str(options.package), [None] * 3)[2]
    except (OSError, KeyError, TypeError, ValueError):
        return None  # a file removed, or no stamp
    if not all(isinstance(line, str) for line in lines):
        return None
    if refresh:  # compared at ``started``: a later change shows in a later time
        stamp["time_ns"] = started
        build_cache.store_json(options.cache_dir, _entry(options), key, stamp)
    return lines, package if isinstance(package, str) else None
