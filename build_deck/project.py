"""``build-deck init``: a notes project of one's own, or a folder of notes adopted.

``init DIR --deck NAME`` writes what a project needs and nothing it already has:

1. ``build-deck.toml``, the project's settings (build_deck/config.py), naming the deck;
2. the notes folder, with a short example file when it holds no notes yet (a folder
   that holds notes already is adopted as it is);
3. the card ledger's folder, ``cards/``;
4. the ``.gitattributes`` lines that hand the ledger to build-deck's merge driver, and
   a ``.gitignore`` for what a build writes;
5. a README paragraph that says how the deck is built;
6. a git repository if the folder is in none, and git's merge driver for the ledger.

``init --start-over --deck NAME`` empties a project whose notes and ledger are
committed in git: it deletes them (git keeps them in its history), names the new deck
in ``build-deck.toml`` and then does the above. Every step prints one line.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from build_deck.config import CONFIG_NAME, ConfigError, ProjectConfig, config_text, load_config
from build_deck.model import Diagnostic, SourceLoc
from build_deck.report import display_path, slugify

EXIT_OK = 0
EXIT_ERRORS = 1

MERGE_DRIVER = "build-deck-ledger"
"""The name of git's merge driver for the card ledger (.gitattributes, docs/ledger.md)."""

EXAMPLE_NAME = "example.md"
"""The example notes file of a new project."""

EXAMPLE_NOTES = """\
# Getting started

Everything in a notes file is ordinary Markdown. A paragraph that starts with `Q:` is a
question card, a sentence with a `{{...}}` deletion is a cloze card, and everything
else stays notes. Replace this file with your own notes.

Q: Which command turns these notes into an Anki package?
A: `build-deck build`; import the `.apkg` it writes with Anki's File → Import.

The folder that keeps each note's identity, so that an edited note keeps its reviews, is
{{`cards/`}}.

Q: What is the standard deviation of $1, 2, 3, 4$ (population, two decimals)?
A: ≈ **1.12**

```check
answer = np.std([1, 2, 3, 4])
```
"""
"""A new project's first notes: a Q/A card, a cloze card and a card with a check."""


class InitError(Exception):
    """``init`` cannot go on; the message is one line, with where and why."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``init`` to the command line."""
    init = commands.add_parser(
        "init",
        help="create a notes project (or adopt a folder of notes): settings, notes/, cards/",
    )
    init.add_argument(
        "dir", nargs="?", type=Path, default=Path("."), help="the project folder (default .)"
    )
    init.add_argument("--deck", help="name of the root deck, as Anki shows it")
    init.add_argument(
        "--notes", help="the notes folder, relative to DIR (default: notes, or the settings')"
    )
    init.add_argument(
        "--start-over",
        action="store_true",
        help="delete the notes and the card ledger (committed in git, which keeps them) "
        "and start an empty deck named --deck",
    )
    init.add_argument(
        "--no-git", action="store_true", help="neither create a git repository nor set it up"
    )


def run_init(args: argparse.Namespace) -> int:
    """Run ``build-deck init``; returns the exit code."""
    root: Path = args.dir
    try:
        config = _existing_config(root)
        deck = _deck_name(args.deck, config, root)
        if args.start_over:
            _say(start_over(root, deck, config))
            config = _existing_config(root)
        for line in init_project(root, deck, config, notes=args.notes, git=not args.no_git):
            _say(line)
    except InitError as exc:
        print(exc, file=sys.stderr, flush=True)
        return EXIT_ERRORS
    except ConfigError as exc:
        print(exc.diagnostic, file=sys.stderr, flush=True)
        return EXIT_ERRORS
    except OSError as exc:
        where = display_path(Path(exc.filename)) if exc.filename else display_path(root)
        print(f"{where}:0: error: {exc.strerror or exc}", file=sys.stderr, flush=True)
        return EXIT_ERRORS
    shown = display_path(root)
    go = "" if shown == "." else f"cd {shlex.quote(shown)} && "
    _say(f"ready: {go}build-deck build")
    return EXIT_OK


def _say(line: str) -> None:
    print(line, flush=True)


def _error(where: Path, message: str) -> InitError:
    return InitError(str(Diagnostic(SourceLoc(display_path(where), 0), message)))


def _existing_config(root: Path) -> ProjectConfig | None:
    path = root / CONFIG_NAME
    if not path.is_file():
        return None
    return load_config(path, display_path(path))


def _deck_name(given: str | None, config: ProjectConfig | None, root: Path) -> str:
    deck = given if given is not None else config.deck if config is not None else None
    if deck is None:
        raise _error(root, "pass --deck NAME: the root deck's name, as Anki will show it")
    deck = deck.strip()
    if not deck or "::" in deck:
        raise _error(root, f'--deck must name one deck, without "::": {given!r}')
    return deck


def _relative(path: Path | None, root: Path, default: str) -> str:
    if path is None:
        return default
    return Path(os.path.relpath(path, root)).as_posix()


def init_project(
    root: Path,
    deck: str,
    config: ProjectConfig | None,
    *,
    notes: str | None = None,
    git: bool = True,
) -> list[str]:
    """Create (or complete) the project in ``root``; one line for each thing done or kept.

    Nothing that exists is overwritten: a settings file, notes and a README are kept, and
    ``.gitignore`` and ``.gitattributes`` only get the lines they lack.
    """
    if root.exists() and not root.is_dir():
        raise _error(root, "not a folder")
    root.mkdir(parents=True, exist_ok=True)
    config = config or ProjectConfig()
    notes_name = notes or _relative(config.notes, root, "notes")
    cards_name = _relative(config.cards, root, "cards")
    out_name = _relative(config.out, root, "dist")
    lines = [_write_config(root, deck, config, notes_name)]
    lines.append(_make_notes(root / notes_name))
    cards = root / cards_name
    lines.append(f"kept {_shown(cards)}/" if cards.is_dir() else f"created {_shown(cards)}/")
    cards.mkdir(parents=True, exist_ok=True)
    lines.append(
        _add_lines(
            root / ".gitattributes",
            [
                "# The card ledger: git merges it with build-deck's merge driver.",
                f"{cards_name}/ledger/*.jsonl merge={MERGE_DRIVER}",
                f"{cards_name}/notetypes.jsonl merge={MERGE_DRIVER}",
            ],
        )
    )
    lines.append(
        _add_lines(
            root / ".gitignore",
            [
                "# Written by build-deck",
                f"{out_name}/",
                ".cache/",
                f"{cards_name}/.build-deck.lock",
            ],
        )
    )
    lines.append(_readme(root, deck, notes_name, cards_name, out_name))
    if git:
        lines += _set_up_git(root)
    return [line for line in lines if line]


def _shown(path: Path) -> str:
    return display_path(path)


def _write_config(root: Path, deck: str, config: ProjectConfig, notes_name: str) -> str:
    path = root / CONFIG_NAME
    if config.path is not None:
        if config.deck is not None and config.deck != deck:
            return f"kept {_shown(path)} (its deck is {config.deck!r}: edit it to rename)"
        return f"kept {_shown(path)}"
    path.write_text(config_text(deck, notes_name), encoding="utf-8")
    return f"created {_shown(path)} (deck {deck!r})"


def _make_notes(notes: Path) -> str:
    if notes.exists() and not notes.is_dir():
        raise _error(notes, "not a folder: pass --notes FOLDER")
    found = sorted(notes.rglob("*.md")) if notes.is_dir() else []
    if found:
        return f"adopted {_shown(notes)}/ ({len(found)} notes files, left as they are)"
    notes.mkdir(parents=True, exist_ok=True)
    example = notes / EXAMPLE_NAME
    example.write_text(EXAMPLE_NOTES, encoding="utf-8")
    return f"created {_shown(example)} (a Q/A card, a cloze card and a checked value)"


def _add_lines(path: Path, wanted: Sequence[str]) -> str:
    """Append to ``path`` the lines of ``wanted`` it lacks (comments only with them)."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in wanted if not line.startswith("#") and line not in present]
    if not missing:
        return f"kept {_shown(path)}"
    block = [line for line in wanted if line.startswith("#") or line in missing]
    separator = "" if not text or text.endswith("\n\n") else "\n" if text.endswith("\n") else "\n\n"
    with open(path, "a", encoding="utf-8") as file:
        file.write(separator + "\n".join(block) + "\n")
    return f"{'added to' if text else 'created'} {_shown(path)}: {', '.join(missing)}"


def readme_paragraph(deck: str, notes: str, cards: str, out: str) -> str:
    """The README paragraph that says how the deck is built."""
    text = (
        f"The Markdown notes in `{notes}/` make the Anki deck *{deck}*. `build-deck build` "
        f"checks every card and writes `{out}/{slugify(deck)}.apkg`: import it in Anki with "
        "File → Import, again after every change (edited cards are updated in place and "
        "keep their reviews). `build-deck sync` applies the notes to the Anki collection "
        f"directly, with Anki closed. Commit `{cards}/`, the card ledger, with the notes: it "
        "keeps every card's identity. `build-deck.toml` holds the deck's name and folders."
    )
    return textwrap.fill(text, width=88, break_on_hyphens=False, break_long_words=False) + "\n"


def _readme(root: Path, deck: str, notes: str, cards: str, out: str) -> str:
    path = root / "README.md"
    paragraph = readme_paragraph(deck, notes, cards, out)
    if not path.is_file():
        path.write_text(f"# {deck}\n\n{paragraph}", encoding="utf-8")
        return f"created {_shown(path)}"
    text = path.read_text(encoding="utf-8")
    if "build-deck" in text:
        return f"kept {_shown(path)}"
    separator = "\n" if text.endswith("\n") else "\n\n"
    path.write_text(f"{text}{separator}## The Anki deck\n\n{paragraph}", encoding="utf-8")
    return f"added to {_shown(path)}: a paragraph on building the deck"


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )


def in_git_work_tree(root: Path) -> bool:
    """True when ``root`` is inside a git work tree (and git is installed)."""
    if shutil.which("git") is None:
        return False
    done = _git(root, "rev-parse", "--is-inside-work-tree")
    return done.returncode == 0 and done.stdout.strip() == "true"


def merge_driver_command() -> str:
    """The command git runs to merge a ledger file: this interpreter's build-deck."""
    return f"{shlex.quote(sys.executable)} -m build_deck ledger merge %O %A %B"


def _set_up_git(root: Path) -> list[str]:
    """A repository if there is none; git's merge driver for the ledger."""
    if shutil.which("git") is None:
        return ["git not found: no repository made, no merge driver set (see docs/ledger.md)"]
    lines = []
    if not in_git_work_tree(root):
        done = _git(root, "init", "-q")
        if done.returncode != 0:
            return [f"git init failed: {done.stderr.strip()}"]
        lines.append(f"created a git repository in {_shown(root)}: commit notes and cards together")
    settings = {
        f"merge.{MERGE_DRIVER}.name": "build-deck card ledger (keeps both sides' cards)",
        f"merge.{MERGE_DRIVER}.driver": merge_driver_command(),
    }
    for key, value in settings.items():
        done = _git(root, "config", key, value)
        if done.returncode != 0:
            return [*lines, f"git config failed: {done.stderr.strip()}"]
    lines.append("set git's merge driver for the card ledger (git merge keeps both sides' cards)")
    return lines


def start_over(root: Path, deck: str, config: ProjectConfig | None) -> str:
    """Delete the committed notes and ledger, and name ``deck`` in the settings; the line
    that says so. An ``InitError`` when git would not keep what is deleted."""
    config = config or ProjectConfig()
    notes = config.notes or root / "notes"
    cards = config.cards or root / "cards"
    if not in_git_work_tree(root):
        raise _error(
            notes,
            "--start-over deletes the notes and the card ledger, and only does so when git "
            "keeps them: this folder is not in a git repository",
        )
    status = _git(root, "status", "--porcelain", "--", str(notes.resolve()), str(cards.resolve()))
    if status.returncode != 0 or status.stdout.strip():
        raise _error(
            notes,
            f"--start-over: {_shown(notes)}/ or {_shown(cards)}/ has changes git does not keep "
            "yet: commit (or stash) them first, so that the old deck stays in git's history",
        )
    count = sum(1 for _ in notes.rglob("*.md")) if notes.is_dir() else 0
    for folder in (notes, cards):
        if folder.is_dir():
            shutil.rmtree(folder)
    path = root / CONFIG_NAME
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        quoted = deck.replace("\\", "\\\\").replace('"', '\\"')
        line = f'deck = "{quoted}"  # the root deck: every card goes to it or to a subdeck'
        text, found = re.subn(r"(?m)^deck\s*=.*$", lambda _: line, text, count=1)
        path.write_text(text if found else f"{line}\n{text}", encoding="utf-8")
    return (
        f"started over: deleted {_shown(notes)}/ ({count} notes files) and {_shown(cards)}/; "
        f"git keeps them (git log -- {_shown(notes)}); build-deck.toml names {deck!r}"
    )
