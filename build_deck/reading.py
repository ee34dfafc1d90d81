"""Stage 2 of the build, reading: every notes file's cards, from the build cache where
it is still valid, else parsed (in several processes when there is enough to parse),
linted and read for its checks where it is parsed.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, replace
from pathlib import Path

from markdown_it import MarkdownIt

from build_deck import cache as build_cache
from build_deck.files import MIB, UnsafeFile, read_inside, size_text
from build_deck.freshness import source_state
from build_deck.gather import gather_notes
from build_deck.lint import lint_file
from build_deck.model import Card, Diagnostic, Severity, SourceLoc
from build_deck.parse.extract import extract_cards
from build_deck.parse.markdown import make_parser
from build_deck.parse.media import VaultIndex
from build_deck.report import (
    BuildOptions,
    BuildReport,
    NotesFile,
    Progress,
    display_path,
    usable_cores,
    without_cycle_collection,
)
from build_deck.verify.checks import CardRead, load_readers, read_cards

MAX_NOTES_BYTES = 8 * MIB
"""A larger notes file is refused (the shipped notes are under 200 KiB each)."""


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


def collect_cards(
    options: BuildOptions,
    report: BuildReport,
    progress: Progress | None = None,
    tex_state: str = "tex:off",
) -> list[NotesFile]:
    """Gather and read every notes file (stages 1 and 2), as ``run`` does."""
    return read_notes(gather_notes(options, report), options, report, progress, tex_state)


def read_notes(
    paths: list[Path],
    options: BuildOptions,
    report: BuildReport,
    progress: Progress | None = None,
    tex_state: str = "tex:off",
    *,
    for_checks: bool = False,
) -> list[NotesFile]:
    """Read and extract every notes file, from the cache where it is still valid; lint
    the cards of the files parsed, and with ``for_checks`` read them for their checks
    too, in the processes that parse them.

    ``tex_state`` (how TeX is validated) is part of the cache key."""
    if not paths:
        return []
    files: list[NotesFile] = []
    to_parse: list[tuple[int, bytes, str, Path]] = []
    vault = VaultIndex(options.notes_dir)
    with without_cycle_collection():  # reading the cache builds a Card for every card
        for number, path in enumerate(paths, 1):
            if progress:
                progress("reading notes", number, len(paths))
            shown = display_path(path)
            try:
                data = read_inside(path, options.notes_dir, MAX_NOTES_BYTES)
            except UnsafeFile as exc:
                report.diagnostics.append(
                    Diagnostic(
                        SourceLoc(shown, 0),
                        f"cannot read: {exc}; a notes file must be a regular file inside the "
                        f"notes folder, of at most {size_text(MAX_NOTES_BYTES)}: fix or remove it",
                    )
                )
                continue
            tags = ("tags:" + " ".join(options.tags),) if options.tags else ()
            # An embed may be found by its name anywhere in the notes folder.
            found_by_name = vault.fingerprint() if b"[[" in data or b"[sound:" in data else ""
            key = build_cache.cache_key(
                data, shown, options.root_deck, tex_state, options.check_mode, found_by_name, *tags
            )
            hit = _cached_file(path, shown, key, options, report)
            if hit is None:
                hit = NotesFile(path, shown, key, [], False)
                to_parse.append((len(files), data, shown, path.parent))
            hit.read = source_state(data) if options.cache_dir is not None else None
            files.append(hit)

    jobs = [(data, shown, folder) for _, data, shown, folder in to_parse]
    if for_checks and jobs:
        load_readers()
    settings = _ParseSettings(options.root_deck, vault, options.tags, for_checks)
    parsed = _parse_all(jobs, settings, options.jobs or usable_cores())
    for (index, *_), (cards, diagnostics, read) in zip(to_parse, parsed, strict=True):
        files[index].cards = cards
        files[index].diagnostics = diagnostics
        files[index].checks_read = read
    report.files = len(files)
    for notes_file in files:
        report.cards.extend(notes_file.cards)
    return files


def _cached_file(
    path: Path, shown: str, key: str, options: BuildOptions, report: BuildReport
) -> NotesFile | None:
    """A notes file as the build cache holds it under ``key``, if it does."""
    if options.cache_dir is None:
        return None
    hit, warning = build_cache.load(options.cache_dir, shown, key, options.notes_dir)
    if warning:
        report.diagnostics.append(Diagnostic(SourceLoc(shown, 1), warning, Severity.WARNING))
    if hit is None:
        return None
    return NotesFile(path, shown, key, hit.cards, True, hit.diagnostics, dict(hit.verified))


_ParseJob = tuple[bytes, str, Path]
"""One notes file to parse: its bytes, its path as shown, and its folder."""


@dataclass(frozen=True, slots=True)
class _ParseSettings:
    """What every file of a build is parsed with."""

    root_deck: str
    vault: VaultIndex
    """The files of the notes folder, where an embed is found by its name."""
    tags: tuple[str, ...]
    """The project's tags, on every card."""
    for_checks: bool
    """Whether the cards are read for their checks too."""


_settings_of_process: list[_ParseSettings] = []
"""The settings of the build being parsed: set before the parse workers fork, so that
they inherit them rather than receive them with every file (an Obsidian vault's index of
attachments can be large)."""
_Parsed = tuple[list[Card], list[Diagnostic], dict[SourceLoc, CardRead]]
_PARALLEL_FROM = 64 * 1024
"""Parse in several processes from this many bytes to parse (in two files or more)."""
_MOST_FILES_A_TASK = 4
"""Files a parse worker is given at a time (at 50,000 cards in 1,000 files, 125 at a
time made each worker peak at 99 MiB and 4 at 62 MiB)."""
_parser_of_process: list[MarkdownIt] = []


def _parse_one(job: _ParseJob) -> _Parsed:
    """Decode and extract one notes file (in this process or a worker): its cards, its
    problems and its cards' lint warnings, and (when the settings say so) its cards as
    read for their checks."""
    data, shown, folder = job
    settings = _settings_of_process[0]
    root_deck, vault, tags = settings.root_deck, settings.vault, settings.tags
    text, problem = read_notes_file(data, shown)
    if text is None:
        return [], [problem] if problem else [], {}
    if not _parser_of_process:
        _parser_of_process.append(make_parser())
    cards, problems = extract_cards(
        _parser_of_process[0], text, shown, folder, root_deck, vault=vault
    )
    if tags:  # the project's tags (build-deck.toml), on every card
        cards = [replace(card, tags=tuple(sorted({*card.tags, *tags}))) for card in cards]
    problems += lint_file(cards, text)
    return cards, problems, read_cards(cards) if settings.for_checks else {}


def _parse_all(jobs: list[_ParseJob], settings: _ParseSettings, workers: int) -> list[_Parsed]:
    """Extract many files, in ``workers`` processes when there is enough to parse; the
    results come back in order, the same as one process gives. The largest files start
    first, so that a few big files share the processes evenly."""
    workers = min(workers, len(jobs))
    _settings_of_process[:] = [settings]
    try:
        if workers < 2 or sum(len(job[0]) for job in jobs) < _PARALLEL_FROM:
            return [_parse_one(job) for job in jobs]
        order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i][0]))
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            # A worker sends a chunk's results at once: a few files, so that neither it
            # nor the build holds hundreds of files' cards in one message.
            chunk = max(1, min(_MOST_FILES_A_TASK, len(jobs) // (workers * 4)))
            parsed = pool.map(_parse_one, [jobs[i] for i in order], chunksize=chunk)
    finally:
        _settings_of_process.clear()
    by_index = dict(zip(order, parsed, strict=True))
    return [by_index[i] for i in range(len(jobs))]
