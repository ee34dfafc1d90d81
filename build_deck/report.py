"""What a build is asked to do and what it found: the typed data every stage shares.

``BuildOptions`` (where to read and write, how strictly) goes into a build;
``NotesFile`` carries one file's cards from parsing to the ledger; ``BuildReport``
collects every card, diagnostic and change, and ``summary_line`` turns it into the one
line every run ends with. The helpers here (``display_path``, ``slugify``,
``build_time``) are the ones each stage shows or names things with.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from build_deck.files import folder_problem
from build_deck.model import Card, Diagnostic, Severity, SourceLoc

if TYPE_CHECKING:  # genanki is imported only by the builds that write a package
    from build_deck.anki.note_record import NoteRecord
    from build_deck.verify.checks import CardRead

DEFAULT_ROOT_DECK = "AI Study Notes"
"""The root deck of the shipped notes."""


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
    cache_dir: Path | None = None
    """The per-file build cache, or None to build every file afresh. The command line
    uses ``cache.default_cache_dir(notes_dir)``, in the user's cache folder: never one
    inside the project, which someone else may have written."""
    check_mode: str = "checks:confined"
    """How checks are run (confined, trusted, or not at all) and whether strictly; part of
    the cache key, so that cards left unverified for want of confinement are checked once
    they can be, and --strict turns the warnings of a cached run into errors."""
    allow_removals: bool = False
    """Let a build remove every card of an existing file, or more than a quarter."""
    tags: tuple[str, ...] = ()
    """Tags every card gets (``tags`` in build-deck.toml), besides its own."""
    strict: bool = False
    """Card-quality warnings (:mod:`build_deck.lint`) are errors (``--strict``)."""
    jobs: int = 0
    """Processes that parse the notes (and check workers): 0 for one per usable core.
    The package is the same, byte for byte, whatever the number."""

    @property
    def package(self) -> Path:
        """The .apkg the build writes: ``out_dir/<root deck as a file name>.apkg``."""
        return self.out_dir / f"{slugify(self.root_deck)}.apkg"

    def folder_problems(self) -> list[Diagnostic]:
        """An error for each folder of the project that leads out of the folder holding
        it (a link such as ``cards -> ../outside``): nothing is read or written then."""
        folders = [self.notes_dir, self.cards_dir, self.cards_dir / "ledger", self.out_dir]
        problems = []
        for folder in folders:
            problem = folder_problem(folder)
            if problem is not None:
                problems.append(Diagnostic(SourceLoc(display_path(folder), 0), problem))
        return problems


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
    without_cards: list[str] = field(default_factory=list)
    """The notes files (as shown) that gave no card, though they were read."""

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


def print_progress(stage: str, done: int, total: int) -> None:
    """Progress on one terminal line, only when stderr is a terminal."""
    if sys.stderr.isatty():
        end = "\n" if done == total else ""
        print(f"\r{stage}: {done}/{total}", end=end, file=sys.stderr, flush=True)


def usable_cores() -> int:
    """The cores this process may run on (its affinity, where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


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
    checks_read: dict[SourceLoc, CardRead] = field(default_factory=dict)
    """Its cards as read for their checks where it was parsed (fresh files), until they
    are verified."""
    read: SourceState | None = None
    """The state of the bytes the build read (for the up-to-date stamp)."""


def share_verified(files: Sequence[NotesFile], verified: Mapping[SourceLoc, str]) -> None:
    """Give each file the entries of ``verified`` that are its cards', in that order (one
    pass over each: a file's cards are not compared with every verified card)."""
    owners: dict[SourceLoc, list[NotesFile]] = {}
    for notes_file in files:
        notes_file.verified = {}
        for card in notes_file.cards:
            owners.setdefault(card.loc, []).append(notes_file)
    for loc, what in verified.items():
        for notes_file in owners.get(loc, []):
            notes_file.verified[loc] = what


@dataclass(frozen=True, slots=True)
class SourceState:
    """What a file held when the build read it: enough to tell later whether it changed."""

    size: int
    """Its size in bytes."""
    sha256: str
    """The SHA-256 of the bytes read."""


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


def plural(count: int, noun: str) -> str:
    """``1 card``, ``2 cards``: a count and its noun, in the number it takes."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def summary_line(report: BuildReport, *, wrote: bool) -> str:
    """The one line every run ends with."""
    qa = sum(card.kind.is_qa for card in report.cards)
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
    line = f"{plural(len(report.cards), 'card')} ({counts}) from {plural(report.files, 'file')}"
    if report.errors:
        return f"{line}; {plural(len(report.errors), 'error')}, nothing written"
    if wrote and report.out_path is not None:
        return (
            f"{line} -> {display_path(report.out_path)}; +{report.new} new, "
            f"{report.changed} changed, {report.moved} moved, {report.restored} restored, "
            f"{len(report.removed)} removed"
        )
    return f"{line}; no errors"
