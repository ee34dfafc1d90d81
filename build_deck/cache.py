"""Per-file build cache: skip parsing and verifying a notes file that has not changed.

The cache lives in the user's cache folder (:func:`default_cache_dir`: one folder per
notes folder under ``$XDG_CACHE_HOME/build-deck``), never in the repository: a cache
entry says a card was verified, so one written by someone else would be believed.
Every entry is authenticated with an HMAC under a key made on this machine
(:func:`secret_key`, kept beside the cache, never in the repository); an entry whose
HMAC fails is ignored with a warning. An entry is keyed by the file's bytes, its shown
path, the root deck and a fingerprint of the tool's own source, so a new version of
build-deck never reuses old results. Even an authentic entry is read as if an attacker
wrote it: every field is type-checked, each card must sit in the file the entry is for,
each image must be a file inside the notes folder whose bytes give its name, and each
mark must be one the checks give. Files with errors are never cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from build_deck import __version__
from build_deck.files import MIB, UnsafeFile, inside, read_inside
from build_deck.model import (
    MAX_CLOZE_NUMBER,
    Card,
    CardKind,
    Check,
    Diagnostic,
    Severity,
    SourceLoc,
    is_reserved_tag,
)

FORMAT = 2
"""Version of the entry layout (2: authenticated with an HMAC)."""
MAX_ENTRY_BYTES = 64 * MIB
"""A larger entry is not read."""
MAX_IMAGE_BYTES = 32 * MIB
"""A larger image is not read (by the parser, or to check a cached card's image)."""
KEY_NAME = "secret.key"
"""The file, in the user's build-deck cache folder, that holds the key of the HMACs."""
MARKS = ("value recomputed", "arithmetic checked")
"""What a verified card's mark may say, besides ``formula checked at N points``."""


def user_cache_root() -> Path:
    """build-deck's folder in the user's cache folder: ``$XDG_CACHE_HOME/build-deck``
    (``~/.cache/build-deck``), ``~/Library/Caches/build-deck`` on macOS,
    ``%LOCALAPPDATA%\\build-deck`` on Windows."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "build-deck"


def default_cache_dir(notes_dir: Path) -> Path:
    """The build cache of one notes folder: under :func:`user_cache_root`, named by a
    hash of the folder's real path, so that two projects never share entries (an entry
    names image files by their path)."""
    digest = hashlib.sha256(os.path.realpath(notes_dir).encode()).hexdigest()[:20]
    return user_cache_root() / "projects" / digest


LEGACY_CACHE = Path(".cache") / "build-deck"
"""Where the cache used to live, inside the project: never read now."""


def legacy_cache_warnings(notes_dir: Path) -> list[Diagnostic]:
    """A warning about a build cache inside the project (``.cache/build-deck``, where it
    used to be, perhaps committed by someone else): it is never read."""
    legacy = Path(os.path.abspath(notes_dir)).parent / LEGACY_CACHE
    if not os.path.lexists(legacy) or os.path.realpath(legacy) == os.path.realpath(
        user_cache_root()
    ):
        return []  # none, or the user's own cache folder ($XDG_CACHE_HOME set there)
    shown = os.path.relpath(legacy) if inside(legacy, os.getcwd()) else str(legacy)
    message = (
        "ignored: a build cache inside the project is never read, since it may come from "
        "someone else; the cache is in your user cache folder now: delete this folder "
        "('git rm -r --cached' it if it is committed)"
    )
    return [Diagnostic(SourceLoc(Path(shown).as_posix(), 0), message, Severity.WARNING)]


@cache
def secret_key() -> bytes:
    """The key of the cache's HMACs: 32 random bytes made once on this machine and kept
    in :func:`user_cache_root` (mode 0600). When it cannot be kept, a key for this
    process only: the cache then helps within one run, and nothing is trusted across."""
    folder = user_cache_root()
    path = folder / KEY_NAME
    for _ in range(3):
        try:
            key = read_inside(path, folder, 1024)
        except UnsafeFile:
            if os.path.lexists(path):
                break  # there, but not a file of ours: never trusted, never replaced
            try:
                _make_key(folder, path)
            except OSError:
                break
            continue
        if len(key) == 32:
            return key
        try:
            path.unlink()  # damaged: a new one is made, and old entries fail their HMAC
        except OSError:
            break
    return secrets.token_bytes(32)


def _make_key(folder: Path, path: Path) -> None:
    """Write a new key, readable by the user only, linked into place in one step (a
    process that made one first wins: its key is kept)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".key-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(32))
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        os.unlink(temp)


def _mac(name: str, key: str, payload: str) -> str:
    """The HMAC of an entry: its name, its key and its payload, under :func:`secret_key`."""
    message = "\x1f".join((name, key, payload)).encode("utf-8", "surrogatepass")
    return hmac.new(secret_key(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class FileResult:
    """What building one notes file produced, before the ledger and the package."""

    cards: list[Card]
    """The file's cards."""
    verified: dict[SourceLoc, str]
    """The verified cards, with what was verified."""
    diagnostics: list[Diagnostic]
    """Warnings kept with the result (a cached file has no errors)."""


@cache
def tool_fingerprint() -> str:
    """A hash of build-deck's version and source files."""
    digest = hashlib.sha256(__version__.encode())
    package = Path(__file__).parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".mjs", ".js"):
            digest.update(path.relative_to(package).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_key(source: bytes, *context: str) -> str:
    """The key of an entry: the tool's fingerprint, what else the result depends on
    (path shown, root deck, TeX checker), and the source bytes."""
    digest = hashlib.sha256("\x1f".join((tool_fingerprint(), *context, "")).encode())
    digest.update(source)
    return digest.hexdigest()


def nothing_built(cache_dir: Path | None) -> bool:
    """Whether no build has used this cache folder (or there is none): a first build,
    which parses every file and, most likely, runs every check."""
    if cache_dir is None:
        return True
    try:
        with os.scandir(cache_dir) as entries:
            return not any(entry.name.endswith(".json") for entry in entries)
    except OSError:
        return True


def entry_path(cache_dir: Path, name: str) -> Path:
    """The file that holds the entry called ``name``."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:24]
    return cache_dir / f"{digest}.json"


def card_to_json(card: Card) -> dict[str, Any]:
    """A card as plain data, as :func:`card_from_json` reads it back."""
    return {
        "kind": card.kind.value,
        "loc": [card.loc.path, card.loc.line],
        "deck": card.deck,
        "section": list(card.section),
        "tags": list(card.tags),
        "content": card.content,
        "back": card.back,
        "extra": card.extra,
        "context": card.context,
        "prompt_text": card.prompt_text,
        "value_source": card.value_source,
        "cloze_numbers": list(card.cloze_numbers),
        "deletions": [list(d) for d in card.deletions],
        "shorthand": list(card.shorthand),
        "checks": [[c.loc.path, c.loc.line, c.code, c.target] for c in card.checks],
        "media": [list(m) for m in card.media],
        "answer_lines": [list(lines) for lines in card.answer_lines],
        "value_line": card.value_line,
    }


# -- reading an entry as an attacker may have written it ---------------------------------

MAX_LINE = 100_000_000
"""The highest line number an entry may name."""
_MEDIA_NAME = re.compile(r"[^/\\\x00-\x1f.][^/\\\x00-\x1f]{0,254}")
_MARK = re.compile(
    r"value recomputed|arithmetic checked|formula checked at (?:0|[1-9][0-9]{0,5}) points"
)


_UNSAFE_IN_NAME = re.compile(r"[\s%#?\"'<>\[\]&]+")


def deck_media_name(path: Path, data: bytes) -> str:
    """A media file's name in the deck: its own, made safe, and a hash of its bytes."""
    digest = hashlib.sha1(data).hexdigest()[:10]
    stem = _UNSAFE_IN_NAME.sub("_", path.stem)
    return f"{stem}-{digest}{path.suffix}"


class StaleEntry(Exception):
    """An entry that is sound but out of date (an image changed): built again, no warning."""


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} is not text")
    return value


def _items(value: Any, what: str, size: int | None = None) -> list[Any]:
    if not isinstance(value, list) or (size is not None and len(value) != size):
        raise ValueError(f"{what} is not a list" + (f" of {size}" if size else ""))
    return value


def _texts(value: Any, what: str) -> tuple[str, ...]:
    return tuple(_text(item, what) for item in _items(value, what))


def _number(value: Any, what: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"{what} is not a number from {low} to {high}")
    return value


def _loc(value: Any, shown: str) -> SourceLoc:
    """A location, which must be in the file the entry is for."""
    path, line = _items(value, "a location", 2)
    if path != shown:
        raise ValueError(f"a location outside {shown} ({_text(path, 'a path')[:60]!r})")
    return SourceLoc(shown, _number(line, "a line", 0, MAX_LINE))


def checked_mark(value: Any) -> str:
    """What a verified card's mark says, from an entry: only what the checks say
    (ValueError for anything else)."""
    parts = _text(value, "a mark").split("; ")
    if not all(_MARK.fullmatch(part) for part in parts) or len(set(parts)) != len(parts):
        raise ValueError(f"a mark the checks do not give ({value[:60]!r})")
    return "; ".join(parts)


def _media(value: Any, notes_dir: Path) -> tuple[tuple[str, str], ...]:
    """Images: each a file inside the notes folder whose bytes give its name."""
    media = []
    for item in _items(value, "the images"):
        name, path = (_text(x, "an image") for x in _items(item, "an image", 2))
        if not _MEDIA_NAME.fullmatch(name) or not os.path.isabs(path):
            raise ValueError(f"an image name that is not a plain file name ({name[:60]!r})")
        if not inside(path, notes_dir):
            raise ValueError("an image outside the notes folder")
        try:
            data = read_inside(Path(path), notes_dir, MAX_IMAGE_BYTES)
        except UnsafeFile:
            raise StaleEntry from None
        if name != deck_media_name(Path(path), data):
            raise StaleEntry  # the image changed since
        media.append((name, path))
    return tuple(media)


def _checks(value: Any, shown: str) -> tuple[Check, ...]:
    checks = []
    for item in _items(value, "the checks"):
        path, line, code, target = _items(item, "a check", 4)
        if target is not None:
            _text(target, "a check's target")
        checks.append(Check(_loc([path, line], shown), _text(code, "a check"), target))
    return tuple(checks)


def card_from_json(data: Any, shown: str, notes_dir: Path) -> Card:
    """A card from an entry, every field checked."""
    if not isinstance(data, dict):
        raise ValueError("a card is not an object")
    deletions = tuple(
        (_number(n, "a cloze number", 1, MAX_CLOZE_NUMBER), _text(body, "a deletion"))
        for n, body in (_items(d, "a deletion", 2) for d in _items(data["deletions"], "deletions"))
    )
    tags = _texts(data["tags"], "a tag")
    if any(is_reserved_tag(tag) or not tag or any(c.isspace() for c in tag) for tag in tags):
        raise ValueError("a tag the notes may not set")
    return Card(
        kind=CardKind(data["kind"]),
        loc=_loc(data["loc"], shown),
        deck=_text(data["deck"], "a deck"),
        section=_texts(data["section"], "a section"),
        tags=tags,
        content=_text(data["content"], "a field"),
        back=_text(data["back"], "a field"),
        extra=_text(data["extra"], "a field"),
        context=_text(data["context"], "a field"),
        prompt_text=_text(data["prompt_text"], "a prompt"),
        value_source=_text(data["value_source"], "an answer"),
        cloze_numbers=tuple(
            _number(n, "a cloze number", 1, MAX_CLOZE_NUMBER)
            for n in _items(data["cloze_numbers"], "cloze numbers")
        ),
        deletions=deletions,
        shorthand=tuple(
            _number(k, "a shorthand deletion", 0, max(len(deletions) - 1, 0))
            for k in _items(data["shorthand"], "shorthand deletions")
        ),
        checks=_checks(data["checks"], shown),
        media=_media(data["media"], notes_dir),
        answer_lines=tuple(
            (_number(a, "a line", 0, MAX_LINE), _number(b, "a line", 0, MAX_LINE))
            for a, b in (
                _items(x, "answer lines", 2) for x in _items(data["answer_lines"], "answer lines")
            )
        ),
        value_line=_number(data["value_line"], "a line", 0, MAX_LINE),
    )


# -- entries ---------------------------------------------------------------------------


def load_json(cache_dir: Path, name: str, key: str) -> tuple[Any, str | None]:
    """The payload stored under ``name`` for ``key``, or None; and a warning if the
    entry was corrupt or not written by build-deck on this machine (its HMAC fails)."""
    path = entry_path(cache_dir, name)
    try:
        raw = read_inside(path, cache_dir, MAX_ENTRY_BYTES).decode("utf-8")
    except UnsafeFile as exc:
        if not os.path.lexists(path):
            return None, None
        return None, f"ignoring unreadable build cache entry {path} ({exc})"
    except UnicodeDecodeError as exc:
        return None, f"ignoring unreadable build cache entry {path} ({exc})"
    try:
        envelope = json.loads(raw)
        if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
            return None, None  # written by another version: stale
        payload = _text(envelope["payload"], "the payload")
        stored_key = _text(envelope["key"], "the key")
        if not hmac.compare_digest(
            _text(envelope["mac"], "the HMAC"), _mac(name, stored_key, payload)
        ):
            raise ValueError("its HMAC does not hold: it was changed, or not written here")
        if stored_key != key:
            return None, None  # stale: the source or the tool changed
        return json.loads(payload), None
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        return None, f"ignoring corrupt build cache entry {path} ({exc})"


def store_json(cache_dir: Path, name: str, key: str, data: Any) -> None:
    """Save ``data`` under ``name`` and ``key`` atomically; a failure only costs speed."""
    try:
        payload = json.dumps(data, ensure_ascii=False)
        envelope = {
            "format": FORMAT,
            "key": key,
            "mac": _mac(name, key, payload),
            "payload": payload,
        }
        cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(envelope, out, ensure_ascii=False)
        os.replace(temp, entry_path(cache_dir, name))
    except (OSError, ValueError):
        pass


_remembered: dict[str, tuple[tuple[int, int, int], str, FileResult]] = {}
"""Entries this process read or wrote: by entry file, its identity (time, size, inode)
then, its key and its result. ``watch`` builds again and again in one process: an entry
whose file is as it was is not decoded again."""


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _remember(
    path: Path, identity: tuple[int, int, int] | None, key: str, result: FileResult
) -> None:
    if identity is not None:
        _remembered[str(path)] = (identity, key, result)


def _copy(result: FileResult) -> FileResult:
    return FileResult(list(result.cards), dict(result.verified), list(result.diagnostics))


def _media_unchanged(cards: list[Card], notes_dir: Path) -> bool:
    try:
        _media([[name, path] for card in cards for name, path in card.media], notes_dir)
    except (StaleEntry, ValueError):
        return False
    return True


def load(
    cache_dir: Path, shown_path: str, key: str, notes_dir: Path
) -> tuple[FileResult | None, str | None]:
    """The cached result of a notes file for this key, if any; and a warning if the
    entry was corrupt, forged, or holds what this file's build could not have made."""
    path = entry_path(cache_dir, shown_path)
    identity = _identity(path)  # before reading: a later change gives another identity
    known = _remembered.get(str(path))
    if known is not None and identity is not None and known[:2] == (identity, key):
        return (_copy(known[2]) if _media_unchanged(known[2].cards, notes_dir) else None), None
    data, warning = load_json(cache_dir, shown_path, key)
    if data is None:
        return None, warning
    try:
        if not isinstance(data, dict):
            raise ValueError("not an object")
        cards = [card_from_json(c, shown_path, notes_dir) for c in _items(data["cards"], "cards")]
        locs = {card.loc for card in cards}
        verified = {}
        for item in _items(data["verified"], "the verified cards"):
            where, line, what = _items(item, "a verified card", 3)
            loc = _loc([where, line], shown_path)
            if loc not in locs:
                raise ValueError("a mark for no card")
            verified[loc] = checked_mark(what)
        warnings = [
            Diagnostic(
                _loc(d["loc"], shown_path), _text(d["message"], "a warning"), Severity.WARNING
            )
            for d in _items(data["warnings"], "the warnings")
        ]
    except StaleEntry:
        return None, None
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return None, f"ignoring corrupt build cache entry for {shown_path} ({exc})"
    result = FileResult(cards, verified, warnings)
    _remember(path, identity, key, result)
    return _copy(result), None


def store(cache_dir: Path, shown_path: str, key: str, result: FileResult) -> None:
    """Save a notes file's result."""
    data = {
        "cards": [card_to_json(c) for c in result.cards],
        "verified": sorted([loc.path, loc.line, what] for loc, what in result.verified.items()),
        "warnings": [
            {"loc": [d.loc.path, d.loc.line], "message": d.message}
            for d in result.diagnostics
            if d.severity is Severity.WARNING
        ],
    }
    store_json(cache_dir, shown_path, key, data)
    path = entry_path(cache_dir, shown_path)
    _remember(path, _identity(path), key, _copy(result))
