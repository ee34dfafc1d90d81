"""Per-file build cache: skip parsing and verifying a notes file that has not changed.

An entry is keyed by the file's bytes, its shown path, the root deck and a fingerprint
of the tool's own source, so a new version of build-deck never reuses old results.
Entries are JSON with a checksum; one that cannot be read, fails its checksum, or
names an image that changed is ignored (with a warning when it is corrupt) and the
file is built again. Files with errors are never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from build_deck import __version__
from build_deck.model import Card, CardKind, Check, Diagnostic, Severity, SourceLoc

FORMAT = 1
"""Version of the entry layout."""


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


def entry_path(cache_dir: Path, name: str) -> Path:
    """The file that holds the entry called ``name``."""
    digest = hashlib.sha256(name.encode()).hexdigest()[:24]
    return cache_dir / f"{digest}.json"


def _loc(data: list[Any]) -> SourceLoc:
    return SourceLoc(str(data[0]), int(data[1]))


def _card_to_json(card: Card) -> dict[str, Any]:
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


def _card_from_json(data: dict[str, Any]) -> Card:
    return Card(
        kind=CardKind(data["kind"]),
        loc=_loc(data["loc"]),
        deck=data["deck"],
        section=tuple(data["section"]),
        tags=tuple(data["tags"]),
        content=data["content"],
        back=data["back"],
        extra=data["extra"],
        context=data["context"],
        prompt_text=data["prompt_text"],
        value_source=data["value_source"],
        cloze_numbers=tuple(data["cloze_numbers"]),
        deletions=tuple((int(n), str(body)) for n, body in data["deletions"]),
        shorthand=tuple(int(k) for k in data["shorthand"]),
        checks=tuple(
            Check(SourceLoc(p, int(line)), code, t) for p, line, code, t in data["checks"]
        ),
        media=tuple((str(name), str(path)) for name, path in data["media"]),
        answer_lines=tuple((int(a), int(b)) for a, b in data["answer_lines"]),
        value_line=int(data["value_line"]),
    )


def _media_unchanged(cards: list[Card]) -> bool:
    for card in cards:
        for name, path in card.media:
            file = Path(path)
            if not file.is_file():
                return False
            digest = hashlib.sha1(file.read_bytes()).hexdigest()[:10]
            if f"-{digest}" not in name:
                return False
    return True


def load_json(cache_dir: Path, name: str, key: str) -> tuple[Any, str | None]:
    """The payload stored under ``name`` for ``key``, or None; and a warning if the
    entry was corrupt."""
    path = entry_path(cache_dir, name)
    try:
        raw = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"ignoring unreadable build cache entry {path} ({exc})"
    try:
        envelope = json.loads(raw)
        payload = envelope["payload"]
        if hashlib.sha256(payload.encode()).hexdigest() != envelope["sha256"]:
            raise ValueError("checksum mismatch")
        if envelope["format"] != FORMAT or envelope["key"] != key:
            return None, None  # stale: the source or the tool changed
        return json.loads(payload), None
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"ignoring corrupt build cache entry {path} ({exc})"


def store_json(cache_dir: Path, name: str, key: str, data: Any) -> None:
    """Save ``data`` under ``name`` and ``key`` atomically; a failure only costs speed."""
    payload = json.dumps(data, ensure_ascii=False)
    envelope = {
        "format": FORMAT,
        "key": key,
        "sha256": hashlib.sha256(payload.encode()).hexdigest(),
        "payload": payload,
    }
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(envelope, out, ensure_ascii=False)
        os.replace(temp, entry_path(cache_dir, name))
    except OSError:
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


def load(cache_dir: Path, shown_path: str, key: str) -> tuple[FileResult | None, str | None]:
    """The cached result of a notes file for this key, if any; and a warning if the
    entry was corrupt."""
    path = entry_path(cache_dir, shown_path)
    identity = _identity(path)  # before reading: a later change gives another identity
    known = _remembered.get(str(path))
    if known is not None and identity is not None and known[:2] == (identity, key):
        return (_copy(known[2]) if _media_unchanged(known[2].cards) else None), None
    data, warning = load_json(cache_dir, shown_path, key)
    if data is None:
        return None, warning
    try:
        cards = [_card_from_json(c) for c in data["cards"]]
        verified = {_loc(item[:2]): str(item[2]) for item in data["verified"]}
        warnings = [
            Diagnostic(_loc(d["loc"]), d["message"], Severity.WARNING) for d in data["warnings"]
        ]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return None, f"ignoring corrupt build cache entry for {shown_path} ({exc})"
    if not _media_unchanged(cards):
        return None, None
    result = FileResult(cards, verified, warnings)
    _remember(path, identity, key, result)
    return _copy(result), None


def store(cache_dir: Path, shown_path: str, key: str, result: FileResult) -> None:
    """Save a notes file's result."""
    data = {
        "cards": [_card_to_json(c) for c in result.cards],
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


def card_digest(card: Card) -> str:
    """A hash of everything a card's verification reads: all of the card but where it
    is, so that a card that only moved within its file keeps its digest."""
    data = (
        *(card.kind.value, card.deck, card.section, card.tags, card.content, card.back),
        *(card.extra, card.context, card.prompt_text, card.value_source, card.cloze_numbers),
        *(card.deletions, card.shorthand, [(c.code, c.target) for c in card.checks]),
        card.media,
    )  # the repr of strings, numbers and tuples of them tells them apart
    return hashlib.sha256(repr(data).encode()).hexdigest()


NOT_RUN = "checks:not-run"
"""The check mode (``BuildOptions.check_mode``) where checks cannot run."""


def _card_results_name(shown_path: str) -> str:
    return f"cards:{shown_path}"


def load_card_results(
    cache_dir: Path | None, check_mode: str, cards: list[Card]
) -> dict[SourceLoc, str]:
    """The ``cards`` with checks of a notes file that its last error-free build verified
    as they are now (same :func:`card_digest`), with what was verified of each (``""``:
    its checks passed, verifying nothing it shows). None without a cache or where checks
    do not run. (A card without checks costs less to verify than to look up.)"""
    if cache_dir is None or check_mode == NOT_RUN or not cards:
        return {}
    shown_path = cards[0].loc.path
    key = cache_key(b"", shown_path, check_mode)
    data, _ = load_json(cache_dir, _card_results_name(shown_path), key)
    if not isinstance(data, dict) or not data:
        return {}
    known = {}
    for card in cards:
        what = data.get(card_digest(card)) if card.checks else None
        if isinstance(what, str):
            known[card.loc] = what
    return known


def store_card_results(cache_dir: Path, check_mode: str, result: FileResult) -> None:
    """Save what was verified of each card of an error-free notes file (unless checks
    do not run: its cards are then unverified for want of it, not for what they hold)."""
    if check_mode == NOT_RUN or not result.cards:
        return
    shown_path = result.cards[0].loc.path
    key = cache_key(b"", shown_path, check_mode)
    results = {
        card_digest(card): result.verified.get(card.loc, "") for card in result.cards if card.checks
    }
    store_json(cache_dir, _card_results_name(shown_path), key, results)
