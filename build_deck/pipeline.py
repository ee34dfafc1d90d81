"""The build, top to bottom: gather and validate everything, then write, or write nothing.

1. ``collect_cards``: read every notes file and extract its cards (all problems collected);
2. ``find_duplicates``: reject duplicate cards across files;
3. ``check_cards``: recompute every card's checks in the sandbox, validate its TeX;
4. ``load_ledger`` and ``plan_identities``: match all cards to the ledger at once
   (stable GUIDs, remembered cloze numbers, mtimes that never go backwards);
   ``guard_removals`` stops a build that would drop many cards by accident;
5. ``write_outputs``, only if nothing failed: the .apkg to a temporary file, then the
   ledger atomically, then the .apkg renamed into place.

A build holds a lock on the ledger folder from the first read to the last write.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import re
import sqlite3
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from markdown_it import MarkdownIt

from build_deck import cache as build_cache
from build_deck.anki.notetypes import CLOZE, NOTE_TYPES, QA, card_css, note_type_of
from build_deck.anki.package import NoteRecord, note_fields, write_package
from build_deck.identity.ledger import (
    LEDGER_DIR,
    Change,
    Entry,
    Fingerprint,
    Ledger,
    Match,
    NoteTypeEntry,
    changed_files,
    ledger_files,
    load_ledger,
    match_cards,
    next_mtime,
    number_clozes,
    text_digest,
    tombstone,
    updated_entry,
    v1_files,
)
from build_deck.identity.storage import (
    LockHeld,
    atomic_write,
    build_lock,
    fsync_dir,
    remove_leftovers,
)
from build_deck.model import Card, CardKind, Diagnostic, Severity, SourceLoc
from build_deck.parse.cloze import count_openings, renumber_clozes
from build_deck.parse.extract import extract_cards
from build_deck.parse.markdown import make_parser

DEFAULT_ROOT_DECK = "AI Study Notes"
"""The root deck of the shipped notes."""

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
    allow_removals: bool = False
    """Let a build remove every card of an existing file, or more than a quarter."""


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
    moved: int = 0
    """Cards that come from another notes file."""
    restored: int = 0
    """Cards that were removed once and came back with their old GUID."""
    deck_changed: int = 0
    """Cards whose deck changed (Anki's import does not move existing cards)."""
    changes: list[CardChange] = field(default_factory=list)
    """Each new, changed, moved or restored card, in file order."""
    removed: list[CardChange] = field(default_factory=list)
    """Cards no longer in the notes (kept in the ledger as removed)."""
    removed_files: dict[str, int] = field(default_factory=dict)
    """How many cards each notes file (relative to the notes folder) lost."""
    records: list[NoteRecord] = field(default_factory=list)
    """The final notes of the build: GUID, mtime, fields, tags, deck (empty on errors)."""
    out_path: Path | None = None
    """The package written, if any."""

    @property
    def errors(self) -> list[Diagnostic]:
        """The diagnostics that fail the run."""
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]


def display_path(path: Path) -> str:
    """A path as the user should see it: relative to the working directory if inside it."""
    absolute = os.path.abspath(path)  # a symbolic link is shown by its own name
    cwd = os.getcwd()
    for folder in (cwd, os.path.realpath(cwd)):
        if absolute == folder:
            return "."
        inside = folder.rstrip("/") + "/"
        if absolute.startswith(inside):
            return absolute[len(inside) :]
    return path.as_posix()


def slugify(name: str) -> str:
    """``AI Study Notes`` -> ``ai-study-notes``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "deck"


def build_time() -> int:
    """Now, or ``SOURCE_DATE_EPOCH`` when set (for reproducible builds)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return int(epoch) if epoch else int(time.time())


@contextlib.contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Pause Python's cycle collector while a stage builds many objects and forks no
    process: it would walk them again and again (a tenth of a rebuild at 100,000 cards)
    and find no garbage. Reference counting still frees everything as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
    paths = []
    for path in sorted(options.notes_dir.rglob("*.md")):
        if path.is_dir():
            report.diagnostics.append(
                Diagnostic(
                    SourceLoc(display_path(path), 0),
                    "a folder named like a notes file: skipped (the notes inside it are read)",
                    Severity.WARNING,
                )
            )
        else:
            paths.append(path)
    if not paths:
        report.diagnostics.append(
            Diagnostic(
                SourceLoc(display_path(options.notes_dir), 0),
                "no notes files (*.md) in the notes folder: check --notes; nothing was written",
            )
        )
        return []
    files: list[NotesFile] = []
    to_parse: list[tuple[int, bytes, str, Path]] = []
    with without_cycle_collection():  # reading the cache builds a Card for every card
        for number, path in enumerate(paths, 1):
            if progress:
                progress("reading notes", number, len(paths))
            shown = display_path(path)
            try:
                data = path.read_bytes()
            except OSError as exc:
                why = "a broken symbolic link" if path.is_symlink() and not path.exists() else None
                report.diagnostics.append(
                    Diagnostic(
                        SourceLoc(shown, 0),
                        f"cannot read: {why or exc.strerror or exc}; fix or remove the file",
                    )
                )
                continue
            key = build_cache.cache_key(
                data, shown, options.root_deck, tex_state, options.check_mode
            )
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
    report.files = len(files)
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
    """What validates the TeX of the cards (build_deck/typeset/texcheck.py's TexChecker)."""

    @property
    def fingerprint(self) -> str:
        """What its verdicts depend on; part of the build cache's key."""
        ...

    def __call__(self, cards: list[Card]) -> Callable[[], list[Diagnostic]]:
        """Start typesetting; returns what waits for the diagnostics."""
        ...


def content_hash(card: Card) -> str:
    """Hash of what a card says (not where it is)."""
    text = "\x1f".join((card.kind.value, card.content, card.back, card.extra))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_duplicates(cards: list[Card], hashes: list[str] | None = None) -> list[Diagnostic]:
    """An error for every card whose content repeats an earlier card's; ``hashes`` are
    the cards' ``content_hash`` when already known."""
    seen: dict[str, SourceLoc] = {}
    problems = []
    if hashes is None:
        hashes = [content_hash(card) for card in cards]
    for card, key in zip(cards, hashes, strict=True):
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


@dataclass(frozen=True, slots=True)
class CardChange:
    """One card the build reports: new, changed, moved, restored or removed."""

    what: str
    """``new``, ``changed``, ``moved``, ``restored`` or ``removed``."""
    where: str
    """``notes/file.md:LINE``, or the file and section of a removed card."""
    text: str
    """The card's first words."""
    guid: str = ""
    """The card's GUID (set for removed cards, which ``sync`` tags or prunes)."""


@dataclass(slots=True)
class IdentityPlan:
    """What the ledger stage decided: every note to write and the ledger to store."""

    records: list[NoteRecord]
    """The notes, with GUIDs, mtimes, renumbered clozes and their Source field."""
    ledger: Ledger
    """The ledger after this build."""
    ledger_texts: dict[str, str]
    """The ledger files to write (relative to ``cards/``) and their new text."""
    note_hashes: list[str]
    """The hash of each record's note, in the order of ``records``."""
    emitted: dict[str, list[Any]] = field(default_factory=dict)
    """What the previous build of this output wrote (``state_path``), as read."""


def notes_relative(notes_file: NotesFile, options: BuildOptions) -> str:
    """A notes file's path relative to the notes folder, the same from any directory."""
    return notes_file.path.relative_to(options.notes_dir).as_posix()


def source_field(notes_name: str, relative: str, section: tuple[str, ...]) -> str:
    """The Source field, ``notes/file.md`` then the heading path: no line number, no churn.

    ``notes_name`` is the notes folder's own name, the same from any working directory.
    """
    where = f"{notes_name}/{relative}"
    return f"{where} › {' > '.join(section)}" if section else where


def note_hash(record: NoteRecord) -> str:
    """Hash of what the student sees of a note: every field but Source, and the tags.

    A change of Source alone (a renamed notes file) gives the note no newer mtime, so
    Anki keeps the note as it is, with the student's own edits and tags; the new Source
    reaches Anki with the card's next real change.
    """
    fields = note_fields(record)
    fields[note_type_of(record.card).fields.index("Source")] = ""
    text = "\x1f".join([*fields, " ".join(record.tags)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(card: Card, relative: str, hash_of_content: str | None = None) -> Fingerprint:
    """What matching needs of a card (``hash_of_content``: its ``content_hash``, if known)."""
    answer = " ".join(card.value_source.split()) if card.kind is CardKind.QA else ""
    return Fingerprint(
        relative,
        " > ".join(card.section),
        card.kind.value,
        card.prompt_text,
        answer,
        content_hash(card) if hash_of_content is None else hash_of_content,
    )


def _first_words(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _stable_clozes(
    card: Card, previous: Entry | None, report: BuildReport
) -> tuple[Card, tuple[tuple[str, int], ...], int]:
    """The card with its shorthand deletions numbered as the ledger remembers them."""
    if card.kind is not CardKind.CLOZE:
        return card, (), 0
    shorthand = [card.deletions[k] for k in card.shorthand]
    short = set(card.shorthand)
    explicit = [n for k, (n, _) in enumerate(card.deletions) if k not in short]
    numbers, remembered, top, gone = number_clozes(
        previous, [(body, n) for n, body in shorthand], explicit
    )
    if gone:
        names = ", ".join(f"c{n}" for n in gone)
        report.diagnostics.append(
            Diagnostic(
                card.loc,
                f"deletion {names} was removed: Anki keeps its card, now empty; after "
                "importing, delete it with Tools > Empty Cards (other cards keep their history)",
                Severity.WARNING,
            )
        )
    changed = {k: new for k, new in zip(card.shorthand, numbers, strict=True)}
    if all(card.deletions[k][0] == new for k, new in changed.items()):
        return card, remembered, top
    if count_openings(card.content) != len(card.deletions):
        return card, remembered, top
    deletions = tuple(
        (changed.get(k, number), body) for k, (number, body) in enumerate(card.deletions)
    )
    renumbered = replace(
        card,
        content=renumber_clozes(card.content, changed),
        deletions=deletions,
        cloze_numbers=tuple(sorted({n for n, _ in deletions})),
    )
    return renumbered, remembered, top


def _emitted_state(options: BuildOptions) -> dict[str, list[Any]]:
    """What the previous build of this output wrote: GUID -> [note hash, mtime], and
    under the key ``""`` (no GUID is empty) the package's inputs and bytes as hashes."""
    try:
        data = json.loads(state_path(options).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def state_path(options: BuildOptions) -> Path:
    """Where a build records the note hash and mtime it wrote for each GUID.

    It is local (not committed): it lets a ``git revert`` of the notes and the
    ledger still reach Anki as a change, with a newer mtime than Anki holds. It also
    lets a build that would write the same package again leave it as it is.
    """
    return options.out_dir / f".{slugify(options.root_deck)}.state.json"


def plan_identities(
    files: list[NotesFile],
    ledger: Ledger,
    report: BuildReport,
    options: BuildOptions,
    now: int,
    content_hashes: list[str] | None = None,
) -> IdentityPlan:
    """Match every card to the ledger; number clozes; set mtimes; decide the new ledger.

    ``content_hashes`` are the ``content_hash`` of the files' cards, in order, when known.
    """
    cards: list[tuple[Card, str]] = []
    for notes_file in files:
        relative = notes_relative(notes_file, options)
        cards += [(card, relative) for card in notes_file.cards]
    hashes: list[str | None] = (
        [None] * len(cards) if content_hashes is None else list(content_hashes)
    )
    prints = [
        fingerprint(card, relative, known)
        for (card, relative), known in zip(cards, hashes, strict=True)
    ]
    matches = match_cards(ledger, prints)
    emitted = _emitted_state(options)
    notes_name = options.notes_dir.resolve().name or "notes"

    entries: dict[str, Entry] = {}
    records: list[NoteRecord] = []
    digests: list[str] = []
    for (card, relative), card_print, match in zip(cards, prints, matches, strict=True):
        previous = match.previous
        card, remembered, top = _stable_clozes(card, previous, report)
        record = NoteRecord.of(
            card,
            verified=report.verified.get(card.loc, False),
            guid=match.guid,
            source=source_field(notes_name, relative, card.section),
        )
        digest = note_hash(record)
        mtime = next_mtime(previous, digest, now)
        shown = emitted.get(match.guid)
        if (
            isinstance(shown, list)
            and len(shown) == 2
            and shown[0] != digest
            and isinstance(shown[1], int)
            and shown[1] >= mtime
        ):
            mtime = max(now, shown[1] + 1)  # e.g. a revert: Anki holds a newer note
        records.append(replace(record, mtime=mtime))
        digests.append(digest)
        entry = updated_entry(
            previous,
            card_print,
            guid=match.guid,
            deck=card.deck,
            note_hash=digest,
            mtime=mtime,
            clozes=remembered,
            cloze_max=top,
        )
        entries[match.guid] = previous if entry == previous else entry  # unchanged: reused
        if match.change is not Change.UNCHANGED or entries[match.guid] is not previous:
            _count_change(report, card, match, card_print)  # something to report
    for guid, entry in ledger.entries.items():
        if guid not in entries:
            entries[guid] = tombstone(entry, now)
            if not entry.removed:
                where = f"{options.notes_dir.resolve().name}/{entry.file}"
                report.removed.append(
                    CardChange(
                        "removed", f"{where} › {entry.section}", _first_words(entry.text), guid
                    )
                )
                report.removed_files[entry.file] = report.removed_files.get(entry.file, 0) + 1
    notetypes = _notetype_entries(ledger, now)
    new_ledger = Ledger(entries, notetypes)
    report.records = records
    dirty = changed_files(ledger, new_ledger)
    texts = {
        name: text
        for name, text in ledger_files(new_ledger, dirty, ledger).items()
        if ledger.digests.get(name) != text_digest(text)
    }
    return IdentityPlan(records, new_ledger, texts, digests, emitted)


def _count_change(report: BuildReport, card: Card, match: Match, card_print: Fingerprint) -> None:
    """Add one card's change to the report's counts and lists."""
    previous = match.previous
    where, words = str(card.loc), _first_words(card.prompt_text)
    if match.change is Change.NEW:
        report.new += 1
        report.changes.append(CardChange("new", where, words))
    elif match.change is Change.RESTORED:
        report.restored += 1
        report.changes.append(CardChange("restored", where, words))
    elif match.change is Change.CHANGED:
        report.changed += 1
        report.changes.append(CardChange("changed", where, words))
    if previous is not None and not previous.removed and previous.file != card_print.file:
        report.moved += 1
        report.changes.append(CardChange("moved", where, f"from {previous.file}: {words}"))
    if previous is not None and previous.deck and previous.deck != card.deck:
        report.deck_changed += 1


def _notetype_entries(ledger: Ledger, now: int) -> dict[str, NoteTypeEntry]:
    """When each note type last changed: kept while its fingerprint holds."""
    css = card_css()
    result = {}
    for note_type in NOTE_TYPES:
        fingerprint_now = note_type.fingerprint(css)
        old = ledger.notetypes.get(note_type.name)
        if old is not None and old.fingerprint == fingerprint_now:
            mtime = old.mtime
        else:
            mtime = max(now, old.mtime + 1) if old is not None else now
        result[note_type.name] = NoteTypeEntry(
            note_type.name, note_type.model_id, fingerprint_now, mtime
        )
    return result


def guard_removals(
    files: list[NotesFile], ledger: Ledger, report: BuildReport, options: BuildOptions
) -> None:
    """Stop a build that would remove every card of an existing file, or > 1/4 of the deck.

    Such a loss is most often an accident (a file read while an editor saves it, an
    unclosed fence); ``--allow-removals`` says it is meant.
    """
    if options.allow_removals or not report.removed:
        return
    for notes_file in files:
        relative = notes_relative(notes_file, options)
        gone = report.removed_files.get(relative, 0)
        if gone and not notes_file.cards:
            report.diagnostics.append(
                Diagnostic(
                    SourceLoc(notes_file.shown, 1),
                    f"this build would remove all {gone} cards of this file, which still "
                    "exists (half-saved? a fence left open?); fix the file, or build with "
                    "--allow-removals if you mean it",
                )
            )
    live = sum(1 for entry in ledger.entries.values() if not entry.removed)
    if len(report.removed) * 4 > live:
        report.diagnostics.append(
            Diagnostic(
                SourceLoc(display_path(options.notes_dir), 0),
                f"this build would remove {len(report.removed)} of the deck's {live} cards "
                "(more than a quarter); their GUIDs are kept in the ledger, but check that "
                "no notes file is missing or truncated, then build with --allow-removals "
                "if you mean it",
            )
        )


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

    out_path = options.out_dir / f"{slugify(options.root_deck)}.apkg"
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
    model_ids = {CardKind.QA: QA.model_id, CardKind.CLOZE: CLOZE.model_id}
    digest.update(
        "".join(
            f"\x1e{r.guid}\x1f{r.mtime}\x1f{model_ids[r.card.kind]}\x1f{r.card.deck}"
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
    verify: Callable[[list[Card]], tuple[dict[SourceLoc, str], list[Diagnostic]]] | None = None,
    progress: Progress | None = None,
    texcheck: TexHook | None = None,
) -> BuildReport:
    """Build (``write=True``) or only check the notes and the ledger; never raises on bad
    input. A build holds the ledger's lock from reading it to writing it.

    ``texcheck`` starts typesetting the cards' TeX and returns what waits for its
    diagnostics, so that MathJax works while the checks are recomputed.
    """
    report = BuildReport()
    if not write:
        _run_stages(
            options, report, write=False, verify=verify, progress=progress, texcheck=texcheck
        )
        return report
    shown_cards = display_path(options.cards_dir)
    try:
        with build_lock(options.cards_dir, shown_cards):
            _run_stages(
                options, report, write=True, verify=verify, progress=progress, texcheck=texcheck
            )
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
    verify: Callable[[list[Card]], tuple[dict[SourceLoc, str], list[Diagnostic]]] | None,
    progress: Progress | None,
    texcheck: TexHook | None,
) -> None:
    """The stages of the module docstring, in order; stops before writing on any error."""
    tex_state = texcheck.fingerprint if texcheck is not None else "tex:off"
    files = collect_cards(options, report, progress, tex_state)
    hashes = [content_hash(card) for card in report.cards]  # once: duplicates and ledger
    report.diagnostics.extend(find_duplicates(report.cards, hashes))
    check_cards(files, report, options, verify, texcheck)
    with without_cycle_collection():  # from here on, nothing forks
        _ledger_stages(files, options, report, hashes, write=write)


def _ledger_stages(
    files: list[NotesFile],
    options: BuildOptions,
    report: BuildReport,
    hashes: list[str],
    *,
    write: bool,
) -> None:
    """Stages 4 and 5: the ledger, then the outputs; ``hashes`` are the cards'
    ``content_hash``, in the order of ``report.cards`` (the files' cards in order)."""
    ledger, problems = load_ledger(options.cards_dir, display_path(options.cards_dir))
    report.diagnostics += problems
    if report.errors:
        report.diagnostics.sort(key=lambda d: (d.loc.path, d.loc.line))
        return
    plan = plan_identities(files, ledger, report, options, build_time(), hashes)
    guard_removals(files, ledger, report, options)
    report.diagnostics.sort(key=lambda d: (d.loc.path, d.loc.line))
    if report.errors or not write:
        return
    if options.locked and _ledger_is_stale(plan, options):
        report.diagnostics.append(
            Diagnostic(
                SourceLoc(display_path(options.cards_dir), 0),
                "card ledger out of date (--locked): run 'build-deck build' and commit cards/",
            )
        )
        return
    write_outputs(plan, report, options)


def check_cards(
    files: list[NotesFile],
    report: BuildReport,
    options: BuildOptions,
    verify: Callable[[list[Card]], tuple[dict[SourceLoc, str], list[Diagnostic]]] | None,
    texcheck: TexHook | None,
) -> None:
    """Recompute checks and validate TeX of the fresh (uncached) files; cache the results."""
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
            f"{report.changed} changed, {report.moved} moved, {report.restored} restored, "
            f"{len(report.removed)} removed"
        )
    return f"{line}; no errors"
