"""Stage 1 of the build: the notes files to read, and what was left out and why.

:func:`gather_notes` walks the notes folder in sorted order:

- hidden files and folders (``.obsidian/``, ``.trash/``, ``.git/``) are not notes;
- a symbolic link that leads outside the notes folder is not followed, with a warning
  naming it: nothing outside the notes may end up in the deck, and a folder left out
  without a word would count its cards as removed;
- a symbolic link inside the notes folder is read, once: a file reached by two paths
  is read by the one without links in it.

:func:`files_without_cards` names the files that gave no card, for one line each.
"""

from __future__ import annotations

from pathlib import Path

from build_deck.model import Diagnostic, Severity, SourceLoc
from build_deck.report import BuildOptions, BuildReport, NotesFile, display_path

NO_CARDS = "no cards (write Q:/A: or a {{cloze}})"
"""What is said of a notes file that gave no card."""


def gather_notes(options: BuildOptions, report: BuildReport) -> list[Path]:
    """The notes files to build, in order; an error when there are none."""
    if not options.notes_dir.is_dir():
        report.diagnostics.append(
            Diagnostic(SourceLoc(display_path(options.notes_dir), 0), "no such notes folder")
        )
        return []
    root = options.notes_dir.resolve()
    found: dict[Path, Path] = {}  # the file, links followed -> the path it is read by
    # Each folder with the folders above it (links followed): a link back up is a loop.
    pending: list[tuple[Path, frozenset[Path]]] = [(options.notes_dir, frozenset())]
    while pending:
        folder, above = pending.pop()
        real_folder = folder.resolve()
        if real_folder in above:
            continue
        subfolders = []
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith(".") or not _inside(entry, root, report):
                continue
            if entry.is_dir():
                if entry.suffix == ".md":
                    report.diagnostics.append(
                        Diagnostic(
                            SourceLoc(display_path(entry), 0),
                            "a folder named like a notes file: skipped (the notes inside it "
                            "are read)",
                            Severity.WARNING,
                        )
                    )
                subfolders.append((entry, above | {real_folder}))
            elif entry.suffix == ".md":
                real = entry.resolve()
                direct = real == root / entry.relative_to(options.notes_dir)
                if real not in found or direct:
                    found[real] = entry
        pending.extend(reversed(subfolders))
    paths = sorted(found.values())
    if not paths:
        report.diagnostics.append(
            Diagnostic(
                SourceLoc(display_path(options.notes_dir), 0),
                "no notes files (*.md) in the notes folder: check --notes; nothing was written",
            )
        )
    return paths


def _inside(entry: Path, root: Path, report: BuildReport) -> bool:
    """False, with a warning, for a symbolic link that leads outside the notes folder."""
    if not entry.is_symlink():
        return True
    target = entry.resolve()
    if target.is_relative_to(root) or not target.exists():
        return True  # a broken link is reported when it is read
    report.diagnostics.append(
        Diagnostic(
            SourceLoc(display_path(entry), 0),
            f"symbolic link to {target}, outside the notes folder: not followed, so "
            "nothing in it is read; move or copy those notes into the notes folder",
            Severity.WARNING,
        )
    )
    return False


def files_without_cards(files: list[NotesFile]) -> list[str]:
    """The notes files (as shown) that gave no card and no error; a README is notes
    about the notes and is not named."""
    return [
        f.shown
        for f in files
        if not f.cards
        and f.path.stem.lower() != "readme"
        and not any(d.severity is Severity.ERROR for d in f.diagnostics)
    ]
