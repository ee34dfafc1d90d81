"""The notes project's settings: ``build-deck.toml``, read by every command.

A notes project keeps its root deck's name, its folders, the tags every card gets and
how strict a build is in one file at its top, so that ``make build``, ``build-deck
build`` and ``build-deck sync`` build the same deck without options::

    deck = "AI Study Notes"
    notes = "notes"
    cards = "cards"
    out = "dist"
    tags = []
    strict = false

The file is looked for in the working directory, then in each folder above it; its
folders are relative to the folder that holds it. The command line overrides each
setting. A key the tool does not know, or a value of the wrong kind, is a one-line
error at ``build-deck.toml:LINE``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_deck.model import Diagnostic, SourceLoc

CONFIG_NAME = "build-deck.toml"
"""The settings file at the top of a notes project."""

KEYS = ("deck", "notes", "cards", "out", "tags", "strict")
"""The settings a project may set, in the order the file lists them."""

_TAG = re.compile(r"[^\s\"]+")


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    """The settings of one notes project; None where the file does not set one."""

    path: Path | None = None
    """The file they were read from, or None when there is none."""
    deck: str | None = None
    """The root deck's name."""
    notes: Path | None = None
    """The notes folder (already joined to the file's folder)."""
    cards: Path | None = None
    """The card ledger folder."""
    out: Path | None = None
    """The output folder (the .apkg, the preview)."""
    tags: tuple[str, ...] = ()
    """Tags every card gets."""
    strict: bool | None = None
    """Fail when TeX cannot be validated or checks cannot be confined."""

    @property
    def root(self) -> Path | None:
        """The folder of the project (the one that holds the file)."""
        return None if self.path is None else self.path.parent


class ConfigError(Exception):
    """The settings file cannot be used; ``diagnostic`` says where and why."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(str(diagnostic))
        self.diagnostic = diagnostic
        """The one-line error, at ``build-deck.toml:LINE``."""


def find_config(start: Path | None = None) -> Path | None:
    """``build-deck.toml`` in ``start`` (the working directory) or the nearest folder
    above it that has one. In the working directory it is returned as a relative path,
    so that the folders it names print as they are written."""
    if start is None:
        if Path(CONFIG_NAME).is_file():
            return Path(CONFIG_NAME)
        start = Path.cwd()
    folder = start.resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate / CONFIG_NAME
    return None


def load_config(path: Path, shown: str | None = None) -> ProjectConfig:
    """Read and validate a settings file; a ``ConfigError`` for the first problem."""
    shown = shown or path.as_posix()
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(Diagnostic(SourceLoc(shown, 1), "not UTF-8: save it as UTF-8")) from exc
    except OSError as exc:
        raise ConfigError(
            Diagnostic(SourceLoc(shown, 0), f"cannot read: {exc.strerror or exc}")
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column \d+\)", message)
        line = int(found.group(1)) if found else 1
        reason = message[: found.start()].strip() if found else message
        raise ConfigError(Diagnostic(SourceLoc(shown, line), f"not valid TOML: {reason}")) from exc
    return _validate(data, text, path, shown)


def _line_of(text: str, key: str) -> int:
    """The line that sets ``key`` (1 when it cannot be told)."""
    pattern = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\")\s*[=.]")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return 1


def _validate(data: dict[str, Any], text: str, path: Path, shown: str) -> ProjectConfig:
    """The settings of ``data`` (a parsed file), each checked for its kind."""

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(Diagnostic(SourceLoc(shown, _line_of(text, key)), message))

    for key in data:
        if key not in KEYS:
            raise fail(key, f"unknown setting {key!r}: the settings are {', '.join(KEYS)}")
    root = path.parent
    folders: dict[str, Path] = {}
    for key in ("notes", "cards", "out"):
        if key in data:
            value = data[key]
            if not isinstance(value, str) or not value.strip():
                raise fail(key, f'{key} must be a folder name in quotes, e.g. {key} = "{key}"')
            folders[key] = root / value if root != Path() else Path(value)
    deck = data.get("deck")
    if deck is not None and (not isinstance(deck, str) or not deck.strip() or "::" in deck):
        raise fail(
            "deck", 'deck must be the root deck\'s name in quotes, without "::", e.g. deck = "ML"'
        )
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(
        isinstance(tag, str) and _TAG.fullmatch(tag) for tag in tags
    ):
        raise fail("tags", 'tags must be a list of words without spaces, e.g. tags = ["ml"]')
    strict = data.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise fail("strict", "strict must be true or false")
    return ProjectConfig(
        path=path,
        deck=deck.strip() if isinstance(deck, str) else None,
        notes=folders.get("notes"),
        cards=folders.get("cards"),
        out=folders.get("out"),
        tags=tuple(sorted(set(tags))),
        strict=strict,
    )


def read_project_config(start: Path | None = None) -> ProjectConfig:
    """The settings of the project around ``start`` (the working directory): empty when
    there is no ``build-deck.toml``; a ``ConfigError`` when it cannot be used."""
    path = find_config(start)
    if path is None:
        return ProjectConfig()
    return load_config(path)


def config_text(deck: str, notes: str = "notes") -> str:
    """A new project's ``build-deck.toml``, every setting named and explained."""
    quoted = deck.replace("\\", "\\\\").replace('"', '\\"')
    return (
        "# build-deck's settings for this notes project. Every build-deck command (and\n"
        "# make) reads them; an option on the command line overrides one.\n"
        f'deck = "{quoted}"  # the root deck: every card goes to it or to a subdeck\n'
        f'notes = "{notes}"  # the Markdown notes\n'
        'cards = "cards"  # the card ledger: commit it with the notes\n'
        'out = "dist"  # where the .apkg and the preview are written\n'
        'tags = []  # tags every card gets, e.g. ["ml", "exam-2026"]\n'
        "strict = false  # true: fail when TeX cannot be validated or checks cannot be confined\n"
    )
