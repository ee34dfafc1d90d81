"""The build, top to bottom: gather and validate everything, then write, or write nothing.

1. gather: ``gather_notes`` (:mod:`build_deck.gather`) lists the notes files;
2. parse: ``read_notes`` (:mod:`build_deck.reading`) extracts each file's cards, or takes
   them from the build cache (all problems collected); ``find_duplicates`` rejects
   duplicate cards across files;
3. lint, verify and 4. typeset: ``check_cards`` warns about cards that would teach badly
   (:mod:`build_deck.lint`) and recomputes every card's checks in the sandbox while
   MathJax validates its TeX;
5. identify: ``identify`` loads the ledger and matches all cards to it at once
   (:mod:`build_deck.identity.plan`: stable GUIDs, remembered cloze numbers, mtimes that
   never go backwards, a guard against dropping many cards by accident);
6. package and 7. write: ``write_outputs``, only if nothing failed: the .apkg to a
   temporary file, then the ledger atomically, then the .apkg renamed into place.

``run`` holds a lock on the ledger folder from the first read to the last write.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import sqlite3
import sys
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from build_deck import cache as build_cache
from build_deck import card_cache
from build_deck.anki.notetypes import card_css, note_type_of
from build_deck.anki.package import write_package
from build_deck.gather import files_without_cards, gather_notes
from build_deck.identity.ledger import LEDGER_DIR, load_ledger, v1_files
from build_deck.identity.plan import (
    IdentityPlan,
    content_hash,
    find_duplicates,
    guard_removals,
    plan_identities,
    root_deck_problem,
    state_path,
)
from build_deck.lint import as_errors
from build_deck.model import Card, Diagnostic, Severity, SourceLoc
from build_deck.reading import read_notes
from build_deck.report import (
    BuildOptions,
    BuildReport,
    NotesFile,
    Progress,
    build_time,
    display_path,
    share_verified,
    without_cycle_collection,
)
from build_deck.storage import LockHeld, atomic_write, build_lock, fsync_dir, remove_leftovers
from build_deck.verify.checks import CardRead


class TexHook(Protocol):
    """What validates the TeX of the cards (build_deck/typeset/texcheck.py's TexChecker)."""

    @property
    def fingerprint(self) -> str:
        """What its verdicts depend on; part of the build cache's key."""
        ...

    def __call__(self, cards: list[Card]) -> Callable[[], list[Diagnostic]]:
        """Start typesetting; returns what waits for the diagnostics."""
        ...


class VerifyHook(Protocol):
    """What recomputes the cards' checks (build_deck/verify/checks.py's verify_cards);
    ``read``: cards already read for it where they were parsed (``read_cards``)."""

    def __call__(
        self, cards: list[Card], *, read: Mapping[SourceLoc, CardRead] | None = None
    ) -> tuple[dict[SourceLoc, str], list[Diagnostic]]: ...


def write_outputs(plan: IdentityPlan, report: BuildReport, options: BuildOptions) -> None:
    """Write the ledger, then the deck, then the local state; a crash anywhere is repaired
    by the next build.

    The package is written to a temporary file first; once it is complete the ledger
    is replaced (atomically), then the package. A crash before the ledger leaves the
    old state; one between the two leaves a ledger the next build writes the deck from.
    When the ledger is current and the package holds what the previous build wrote from
    the same inputs (``package_inputs``), the package is left as it is: writing it
    again would give the same bytes.
    """
    remove_leftovers(options.cards_dir)
    remove_leftovers(options.cards_dir / LEDGER_DIR)
    remove_leftovers(options.out_dir)
    old_files = v1_files(options.cards_dir)

    def store_ledger() -> None:
        for name in sorted(plan.ledger_texts):
            atomic_write(options.cards_dir / name, plan.ledger_texts[name].encode())
        for old in old_files:  # version 1 files: now in the ledger
            old.unlink()
        if old_files:
            fsync_dir(options.cards_dir)

    out_path = options.package
    media = sorted({m for card in report.cards for m in card.media})
    mtimes = {nt.model_id: nt.mtime for nt in plan.ledger.notetypes.values()}
    inputs = package_inputs(plan, mtimes, media)
    package = [inputs, _file_digest(out_path)]
    if plan.ledger_texts or old_files or not package[1] or plan.emitted.get(PACKAGE_KEY) != package:
        write_package(plan.records, out_path, mtimes, media, before_replace=store_ledger)
        package = [inputs, _file_digest(out_path)]
    # else the package already holds the bytes these notes would be written as
    report.out_path = out_path
    state: dict[str, list[Any]] = {
        r.guid: [h, r.mtime] for r, h in zip(plan.records, plan.note_hashes, strict=True)
    }
    state[PACKAGE_KEY] = package
    if state != plan.emitted:
        atomic_write(state_path(options), json.dumps(state, sort_keys=True).encode())


PACKAGE_KEY = ""
"""The key of the state file that holds the package's inputs and bytes, as hashes."""


def package_inputs(
    plan: IdentityPlan, notetype_mtimes: dict[int, int], media: list[tuple[str, str]]
) -> str:
    """A hash of everything the bytes of the package depend on: each note (GUID, mtime,
    note type, deck, Source and the note hash of its other fields and tags), the note
    types and their mtimes, the media files, build-deck's own source, and the versions
    of genanki, SQLite, zlib and Python that write it."""
    digest = hashlib.sha256()
    header = [
        build_cache.tool_fingerprint(),
        importlib.metadata.version("genanki"),
        sqlite3.sqlite_version,
        zlib.ZLIB_RUNTIME_VERSION,
        sys.version,
        card_css(),
        sorted(notetype_mtimes.items()),
        sorted((nt.name, nt.fingerprint) for nt in plan.ledger.notetypes.values()),
        [(name, path, _file_digest(Path(path))) for name, path in media],
    ]
    digest.update(json.dumps(header, ensure_ascii=False).encode())
    digest.update(
        "".join(
            f"\x1e{r.guid}\x1f{r.mtime}\x1f{note_type_of(r.card).model_id}\x1f{r.card.deck}"
            f"\x1f{r.source or r.card.source}\x1f{h}"
            for r, h in zip(plan.records, plan.note_hashes, strict=True)
        ).encode()
    )
    return digest.hexdigest()


def _file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes, or ``""`` when it cannot be read."""
    try:
        with open(path, "rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except OSError:
        return ""


def _ledger_is_stale(plan: IdentityPlan, options: BuildOptions) -> bool:
    return bool(plan.ledger_texts) or bool(v1_files(options.cards_dir))


def run(
    options: BuildOptions,
    *,
    write: bool,
    verify: VerifyHook | None = None,
    progress: Progress | None = None,
    texcheck: TexHook | None = None,
    after_write: Callable[[list[NotesFile], BuildReport], object] | None = None,
) -> BuildReport:
    """Build (``write=True``) or only check the notes and the ledger; never raises on bad
    input. A build holds the ledger's lock from reading it to writing it.

    ``texcheck`` starts typesetting the cards' TeX and returns what waits for its
    diagnostics, so that MathJax works while the checks are recomputed. ``after_write``
    is called once the package is in place, still under the lock (the CLI records the
    up-to-date stamp there).
    """
    report = BuildReport()
    report.diagnostics += options.folder_problems()
    if report.errors:
        return report
    stages = functools.partial(
        _run_stages, verify=verify, progress=progress, texcheck=texcheck, after_write=after_write
    )
    if not write:
        stages(options, report, write=False)
        return report
    shown_cards = display_path(options.cards_dir)
    try:
        with build_lock(options.cards_dir, shown_cards):
            stages(options, report, write=True)
    except LockHeld as exc:
        report.diagnostics.append(Diagnostic(SourceLoc(shown_cards, 0), str(exc)))
    except OSError as exc:
        where = display_path(Path(exc.filename)) if exc.filename else shown_cards
        report.diagnostics.append(
            Diagnostic(
                SourceLoc(where, 0),
                f"cannot write: {exc.strerror or exc}; nothing was changed, fix it and build again",
            )
        )
        report.out_path = None
    return report


def _run_stages(
    options: BuildOptions,
    report: BuildReport,
    *,
    write: bool,
    verify: VerifyHook | None,
    progress: Progress | None,
    texcheck: TexHook | None,
    after_write: Callable[[list[NotesFile], BuildReport], object] | None,
) -> None:
    """The stages of the module docstring, in order; stops before writing on any error."""
    tex_state = texcheck.fingerprint if texcheck is not None else "tex:off"
    report.diagnostics += build_cache.legacy_cache_warnings(options.notes_dir)
    paths = gather_notes(options, report)
    files = read_notes(paths, options, report, progress, tex_state, for_checks=verify is not None)
    hashes = [content_hash(card) for card in report.cards]  # once: duplicates and ledger
    report.diagnostics.extend(find_duplicates(report.cards, hashes))
    check_cards(files, report, options, verify, texcheck)
    report.without_cards = files_without_cards(files)
    if options.strict:  # after check_cards has cached the warnings as warnings
        report.diagnostics = as_errors(report.diagnostics)
    with without_cycle_collection():  # from here on, nothing forks
        plan = identify(files, options, report, hashes, write=write)
        if plan is not None:
            write_outputs(plan, report, options)
            if after_write is not None:
                after_write(files, report)


def identify(
    files: list[NotesFile],
    options: BuildOptions,
    report: BuildReport,
    hashes: list[str],
    *,
    write: bool,
) -> IdentityPlan | None:
    """Stage 5: the ledger loaded and every card matched to it; the plan to write, or
    None when nothing is to be written (errors, a check, a stale ledger under
    ``--locked``). ``hashes`` are the cards' ``content_hash``, in the order of
    ``report.cards`` (the files' cards in order)."""
    ledger, problems = load_ledger(options.cards_dir, display_path(options.cards_dir))
    report.diagnostics += problems
    if not problems and (other_root := root_deck_problem(ledger, options)) is not None:
        report.diagnostics.append(other_root)
    if report.errors:
        report.diagnostics.sort(key=lambda d: (d.loc.path, d.loc.line))
        return None
    plan = plan_identities(files, ledger, report, options, build_time(), hashes)
    guard_removals(files, ledger, report, options)
    report.diagnostics.sort(key=lambda d: (d.loc.path, d.loc.line))
    if report.errors or not write:
        return None
    if options.locked and _ledger_is_stale(plan, options):
        report.diagnostics.append(
            Diagnostic(
                SourceLoc(display_path(options.cards_dir), 0),
                "card ledger out of date (--locked): run 'build-deck build' and commit cards/",
            )
        )
        return None
    return plan


def check_cards(
    files: list[NotesFile],
    report: BuildReport,
    options: BuildOptions,
    verify: VerifyHook | None,
    texcheck: TexHook | None,
) -> None:
    """Recompute the checks of the fresh (uncached) files' cards, which were linted and
    read where they were parsed, while MathJax validates their TeX; cache the results.
    Only the checks of cards an edit changed run again
    (:func:`build_deck.card_cache.card_digest`)."""
    fresh = [f for f in files if not f.cached]
    fresh_cards = [card for f in fresh for card in f.cards]
    tex_problems = texcheck(fresh_cards) if texcheck is not None else list
    known: dict[SourceLoc, str] = {}
    read: dict[SourceLoc, CardRead] = {}
    for f in fresh:
        known |= card_cache.load_card_results(options.cache_dir, options.check_mode, f.cards)
        read |= f.checks_read
        f.checks_read = {}  # used up by verifying
    problems: list[Diagnostic] = []
    if verify is not None:
        verified, problems = verify([c for c in fresh_cards if c.loc not in known], read=read)
        verified |= {loc: what for loc, what in known.items() if what}
        share_verified(fresh, verified)
    flagged = {(d.loc.path, d.loc.line) for d in problems}  # the checks' warnings: not kept
    problems += tex_problems()
    by_file = {f.shown: f for f in fresh}
    for problem in problems:
        owner = by_file.get(problem.loc.path)
        (owner.diagnostics if owner else report.diagnostics).append(problem)
    for notes_file in files:
        report.diagnostics.extend(notes_file.diagnostics)
        report.verified |= notes_file.verified
    if options.cache_dir is not None:
        for notes_file in fresh:
            if not any(d.severity is Severity.ERROR for d in notes_file.diagnostics):
                result = build_cache.FileResult(
                    notes_file.cards, dict(notes_file.verified), notes_file.diagnostics
                )
                build_cache.store(options.cache_dir, notes_file.shown, notes_file.key, result)
                if verify is not None:
                    cache_dir, mode = options.cache_dir, options.check_mode
                    card_cache.store_card_results(cache_dir, mode, result, flagged)
