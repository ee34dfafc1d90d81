"""The build, top to bottom: gather and validate everything, then write, or write nothing.

1. read every notes file and extract its cards (all problems collected);
2. reject duplicate cards across files;
3. recompute every card's checks in the sandbox;
4. match the cards to the ledger (stable GUIDs, modification times);
5. only if nothing failed: write the .apkg atomically, then the ledger.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import yaml
from markdown_it import MarkdownIt

from build_deck import cache as build_cache
from build_deck.extract import extract_cards
from build_deck.ledger import (
    Change,
    Entry,
    FileLedger,
    Fingerprint,
    LedgerError,
    dump_ledger,
    ledger_path,
    load_ledger,
    reconcile,
)
from build_deck.markdown import make_parser
from build_deck.model import Card, CardKind, Diagnostic, Severity, SourceLoc
from build_deck.notetypes import NOTE_TYPES, card_css
from build_deck.package import NoteRecord, note_fields, write_package

DEFAULT_ROOT_DECK = "AI Study Notes"
"""The root deck of the shipped notes."""

NOTETYPE_LEDGER = "_notetypes.yaml"
"""File under ``cards/`` that records when the note types last changed."""

DEFAULT_CACHE = Path(".cache/build-deck")
"""Where the per-file build cache lives."""


Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """Where to read and write, and how strictly."""

    notes_dir: Path = Path("notes")
    """The Markdown sources."""
    cards_dir: Path = Path("cards")
    """The card ledger."""
    out_dir: Path = Path("dist")
    """Where the .apkg goes."""
    root_deck: str = DEFAULT_ROOT_DECK
    """Name of the root deck."""
    locked: bool = False
    """Fail instead of changing the ledger."""
    cache_dir: Path | None = DEFAULT_CACHE
    """The per-file build cache, or None to build every file afresh."""
    check_mode: str = "checks:confined"
    """How checks are run (confined, trusted, or not at all); part of the cache key, so
    that cards left unverified for want of confinement are checked once they can be."""


@dataclass(slots=True)
class BuildReport:
    """What a run found and did; the CLI turns it into output and an exit code."""

    files: int = 0
    """Notes files read."""
    cards: list[Card] = field(default_factory=list)
    """Every card found."""
    verified: dict[SourceLoc, str] = field(default_factory=dict)
    """Cards that passed and had something they show verified, with what was verified."""
    diagnostics: list[Diagnostic] = field(default_factory=list)
    """Errors and warnings, in file order."""
    new: int = 0
    """Cards not in the ledger before."""
    changed: int = 0
    """Cards whose content changed."""
    removed: list[tuple[str, Entry]] = field(default_factory=list)
    """Ledger entries no card matched, with their notes file."""
    out_path: Path | None = None
    """The package written, if any."""
    records: list[NoteRecord] = field(default_factory=list)
    """The notes of the package written (GUID, mtime, fields, tags, deck), in file order."""

    @property
    def errors(self) -> list[Diagnostic]:
        """The diagnostics that fail the run."""
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]


def display_path(path: Path) -> str:
    """A path as the user should see it: relative to the working directory if inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def slugify(name: str) -> str:
    """``AI Study Notes`` -> ``ai-study-notes``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "deck"


def build_time() -> int:
    """Now, or ``SOURCE_DATE_EPOCH`` when set (for reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return int(epoch) if epoch else int(time.time())


def read_notes_file(data: bytes, shown: str) -> tuple[str | None, Diagnostic | None]:
    """The text of a notes file, or an error if it is not UTF-8 or holds NUL bytes.

    Markdown would turn a NUL into U+FFFD on the card; no editor writes one on purpose,
    so it means a damaged file (a crash leaves blocks of zeros) or UTF-16.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, Diagnostic(
            SourceLoc(shown, line),
            f"not UTF-8 (byte 0x{data[exc.start]:02x}): save the file as UTF-8",
        )
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        lines = sum("\0" in text_line for text_line in text.split("\n"))
        what, it = ("a NUL byte", "it") if text.count("\0") == 1 else ("NUL bytes", "them")
        if lines > 1:
            what += f" on {lines} lines, the first here"
        return None, Diagnostic(
            SourceLoc(shown, line),
            f"{what} (the file is damaged, or saved as UTF-16): delete {it}, "
            "or save the file again as UTF-8",
        )
    return text, None


@dataclass(slots=True)
class NotesFile:
    """One notes file's cards, and whether they came from the build cache."""

    path: Path
    """The file."""
    shown: str
    """Its path as shown to the user."""
    key: str
    """Its build-cache key."""
    cards: list[Card]
    """Its cards."""
    cached: bool
    """True when parsing and verifying were skipped."""
    diagnostics: list[Diagnostic] = field(default_factory=list)
    """Its own problems (parsing, checks)."""
    verified: dict[SourceLoc, str] = field(default_factory=dict)
    """Its verified cards, with what was verified."""


def collect_cards(
    options: BuildOptions,
    report: BuildReport,
    progress: Progress | None = None,
    tex_state: str = "tex:off",
) -> list[NotesFile]:
    """Read and extract every notes file, from the cache where it is still valid.

    ``tex_state`` says how TeX is being validated; it is part of the cache key.
    """
    if not options.notes_dir.is_dir():
        report.diagnostics.append(
            Diagnostic(SourceLoc(display_path(options.notes_dir), 0), "no such notes folder")
        )
        return []
    paths = sorted(options.notes_dir.rglob("*.md"))
    files: list[NotesFile] = []
    to_parse: list[tuple[int, bytes, str, Path]] = []
    for number, path in enumerate(paths, 1):
        if progress:
            progress("reading notes", number, len(paths))
        shown = display_path(path)
        data = path.read_bytes()
        key = build_cache.cache_key(data, shown, options.root_deck, tex_state, options.check_mode)
        if options.cache_dir is not None:
            hit, warning = build_cache.load(options.cache_dir, shown, key)
            if warning:
                report.diagnostics.append(
                    Diagnostic(SourceLoc(shown, 1), warning, Severity.WARNING)
                )
            if hit is not None:
                files.append(
                    NotesFile(
                        path, shown, key, hit.cards, True, hit.diagnostics, dict(hit.verified)
                    )
                )
                continue
        files.append(NotesFile(path, shown, key, [], False))
        to_parse.append((len(files) - 1, data, shown, path.parent))

    jobs = [
        (data, shown, folder, options.root_deck, options.notes_dir)
        for _, data, shown, folder in to_parse
    ]
    for (index, *_), (cards, diagnostics) in zip(to_parse, _parse_all(jobs), strict=True):
        files[index].cards = cards
        files[index].diagnostics = diagnostics
    report.files = len(paths)
    for notes_file in files:
        report.cards.extend(notes_file.cards)
    return files


_ParseJob = tuple[bytes, str, Path, str, Path]
_PARALLEL_FROM = 16
"""Parse in several processes from this many files on."""
_parser_of_process: list[MarkdownIt] = []


def _parse_one(job: _ParseJob) -> tuple[list[Card], list[Diagnostic]]:
    """Decode and extract one notes file (in this process or a worker)."""
    data, shown, folder, root_deck, notes_dir = job
    text, problem = read_notes_file(data, shown)
    if text is None:
        return [], [problem] if problem else []
    if not _parser_of_process:
        _parser_of_process.append(make_parser())
    return extract_cards(
        _parser_of_process[0], text, shown, folder, root_deck, notes_root=notes_dir
    )


def _parse_all(jobs: list[_ParseJob]) -> list[tuple[list[Card], list[Diagnostic]]]:
    """Extract many files, on every core when there are enough of them."""
    workers = min(os.cpu_count() or 1, 4)
    if len(jobs) < _PARALLEL_FROM or workers < 2:
        return [_parse_one(job) for job in jobs]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.map(_parse_one, jobs, chunksize=max(1, len(jobs) // (workers * 4)))


class TexHook(Protocol):
    """What validates the TeX of the cards (build_deck/texcheck.py's TexChecker)."""

    @property
    def fingerprint(self) -> str:
        """What its verdicts depend on; part of the build cache's key."""
        ...

    def __call__(self, cards: list[Card]) -> Callable[[], list[Diagnostic]]:
        """Start typesetting; returns what waits for the diagnostics."""
        ...


def _load_ledger(where: Path, cache_dir: Path | None) -> FileLedger:
    """A ledger file, parsed once per version of its bytes (YAML is slow to read)."""
    if cache_dir is None or not where.exists():
        return load_ledger(where)
    name = f"ledger:{where.as_posix()}"
    key = build_cache.cache_key(where.read_bytes(), name)
    data, _ = build_cache.load_json(cache_dir, name, key)
    if data is not None:
        try:
            entries = tuple(Entry(*item) for item in data["entries"])
            return FileLedger(int(data["next_serial"]), entries)
        except (TypeError, KeyError, ValueError):
            pass  # not what we wrote: read the YAML
    ledger = load_ledger(where)
    payload = {"next_serial": ledger.next_serial, "entries": [astuple(e) for e in ledger.entries]}
    build_cache.store_json(cache_dir, name, key, payload)
    return ledger


def content_hash(card: Card) -> str:
    """Hash of what a card says (not where it is)."""
    text = "\x1f".join((card.kind.value, card.content, card.back, card.extra))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_duplicates(cards: list[Card]) -> list[Diagnostic]:
    """An error for every card whose content repeats an earlier card's."""
    seen: dict[str, SourceLoc] = {}
    problems = []
    for card in cards:
        key = content_hash(card)
        if key in seen:
            problems.append(
                Diagnostic(
                    card.loc,
                    f"duplicate card: same content as {seen[key]}; remove one or make them differ",
                )
            )
        else:
            seen[key] = card.loc
    return problems


def _notetype_mtimes(options: BuildOptions, now: int) -> tuple[dict[int, int], str]:
    """When each note type last changed, and the ledger text that records it."""
    path = options.cards_dir / NOTETYPE_LEDGER
    old: dict[str, dict[str, Any]] = {}
    if path.exists():
        old = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    css = card_css()
    new: dict[str, dict[str, object]] = {}
    mtimes = {}
    for note_type in NOTE_TYPES:
        fingerprint = note_type.fingerprint(css)
        previous = old.get(note_type.name) or {}
        same = previous.get("fingerprint") == fingerprint
        mtime = int(previous.get("mtime", now)) if same else now
        new[note_type.name] = {"id": note_type.model_id, "fingerprint": fingerprint, "mtime": mtime}
        mtimes[note_type.model_id] = mtime
    header = "# When the note types' templates or CSS last changed, kept by build-deck.\n"
    return mtimes, header + yaml.safe_dump(new, sort_keys=True)


def run(
    options: BuildOptions,
    *,
    write: bool,
    verify: Callable[[list[Card]], tuple[dict[SourceLoc, str], list[Diagnostic]]] | None = None,
    progress: Progress | None = None,
    texcheck: TexHook | None = None,
) -> BuildReport:
    """Build (``write=True``) or only check the notes; never raises on bad input.

    ``texcheck`` starts typesetting the cards' TeX and returns what waits for its
    diagnostics, so that MathJax works while the checks are recomputed.
    """
    report = BuildReport()
    tex_state = texcheck.fingerprint if texcheck is not None else "tex:off"
    files = collect_cards(options, report, progress, tex_state)
    report.diagnostics.extend(find_duplicates(report.cards))

    # Cached files were verified and typeset when they were cached: only fresh ones are.
    fresh = [f for f in files if not f.cached]
    fresh_cards = [card for f in fresh for card in f.cards]
    tex_problems = texcheck(fresh_cards) if texcheck is not None else list
    problems: list[Diagnostic] = []
    if verify is not None:
        verified, problems = verify(fresh_cards)
        for notes_file in fresh:
            locs = {card.loc for card in notes_file.cards}
            notes_file.verified = {loc: what for loc, what in verified.items() if loc in locs}
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

    report.diagnostics.sort(key=lambda d: (d.loc.path, d.loc.line))
    if report.errors or not write:
        return report

    now = build_time()
    records: list[NoteRecord] = []
    ledger_texts: dict[Path, str | None] = {}  # what to write (None: delete)
    live_ledgers: set[Path] = set()
    try:
        for notes_file in files:
            path, cards, shown = notes_file.path, notes_file.cards, notes_file.shown
            relative = path.relative_to(options.notes_dir)
            where = ledger_path(options.cards_dir, relative)
            old = _load_ledger(where, options.cache_dir)
            live_ledgers.add(where)
            prints = []
            for card in cards:
                record = NoteRecord.of(card, verified=report.verified.get(card.loc, False))
                note_hash = hashlib.sha256(
                    "\x1f".join([*note_fields(record), " ".join(record.tags)]).encode()
                ).hexdigest()[:16]
                prints.append(
                    Fingerprint(
                        card.kind.value,
                        card.loc.line,
                        " > ".join(card.section),
                        card.prompt_text,
                        " ".join(card.value_source.split()) if card.kind is CardKind.QA else "",
                        content_hash(card),
                        note_hash,
                    )
                )
                records.append(record)
            outcome = reconcile(old, prints, shown, now)
            start = len(records) - len(cards)
            for i, (entry, change) in enumerate(zip(outcome.entries, outcome.changes, strict=True)):
                records[start + i] = replace(records[start + i], guid=entry.guid, mtime=entry.mtime)
                report.new += change is Change.NEW
                report.changed += change is Change.CHANGED
            report.removed += [(shown, e) for e in outcome.removed]
            if outcome.ledger != old or not where.exists():
                ledger_texts[where] = dump_ledger(outcome.ledger, shown)
        # Ledgers whose notes file is gone: every card in them was removed.
        if options.cards_dir.is_dir():
            for where in sorted(options.cards_dir.rglob("*.yaml")):
                if where in live_ledgers or where.name == NOTETYPE_LEDGER:
                    continue
                note = (options.notes_dir / where.relative_to(options.cards_dir)).with_suffix(".md")
                shown = display_path(note)
                report.removed += [(shown, e) for e in load_ledger(where).entries]
                ledger_texts[where] = None
    except LedgerError as exc:
        report.diagnostics.append(
            Diagnostic(SourceLoc(display_path(options.cards_dir), 0), str(exc))
        )
        return report

    notetype_mtimes, notetype_text = _notetype_mtimes(options, now)
    ledger_texts[options.cards_dir / NOTETYPE_LEDGER] = notetype_text

    stale = [
        where
        for where, text in ledger_texts.items()
        if (where.read_text(encoding="utf-8") if where.exists() else None) != text
    ]
    if options.locked and stale:
        for where in stale:
            report.diagnostics.append(
                Diagnostic(
                    SourceLoc(display_path(where), 0),
                    "card ledger out of date (--locked): run 'build-deck build' and commit cards/",
                )
            )
        return report

    out_path = options.out_dir / f"{slugify(options.root_deck)}.apkg"
    media = sorted({m for card in report.cards for m in card.media})
    write_package(records, out_path, notetype_mtimes, media)
    report.out_path = out_path
    report.records = records
    for where in stale:
        text = ledger_texts[where]
        if text is None:
            where.unlink()
        else:
            where.parent.mkdir(parents=True, exist_ok=True)
            where.write_text(text, encoding="utf-8")
    return report


def print_progress(stage: str, done: int, total: int) -> None:
    """Progress on one terminal line, only when stderr is a terminal."""
    if sys.stderr.isatty():
        end = "\n" if done == total else ""
        print(f"\r{stage}: {done}/{total}", end=end, file=sys.stderr, flush=True)


def summary_line(report: BuildReport, *, wrote: bool) -> str:
    """The one line every run ends with."""
    qa = sum(card.kind is CardKind.QA for card in report.cards)
    cloze = len(report.cards) - qa
    counts = f"{qa} Q/A, {cloze} cloze, {len(report.verified)} verified"
    if not report.errors:
        # A card may be verified in more than one way; supporting-only cards have
        # checks that passed but compared nothing the card shows.
        kinds = list(report.verified.values())
        supporting = sum(bool(c.checks) and c.loc not in report.verified for c in report.cards)
        counts += (
            f": {sum('value' in k for k in kinds)} values, "
            f"{sum('formula' in k for k in kinds)} formulas, "
            f"{sum('arithmetic' in k for k in kinds)} arithmetic; {supporting} supporting-only"
        )
    line = f"{len(report.cards)} cards ({counts}) from {report.files} files"
    if report.errors:
        return f"{line}; {len(report.errors)} errors, nothing written"
    if wrote and report.out_path is not None:
        return (
            f"{line} -> {display_path(report.out_path)}; +{report.new} new, "
            f"{report.changed} changed, {len(report.removed)} removed"
        )
    return f"{line}; no errors"
