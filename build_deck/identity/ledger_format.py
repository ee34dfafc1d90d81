"""Identity stage: the files of the version 2 card ledger, read, validated and written.

``cards/ledger/00.jsonl`` to ``ff.jsonl`` hold the cards, spread by a hash of their
GUID (:func:`bucket_name`), and ``cards/notetypes.jsonl`` the note types
(:func:`ledger_names` names them all). Each line is one JSON object: a header, one
entry per card sorted by GUID, and an end line.

- reading: :func:`read_text_limited` (a file's text, within limits), :func:`parse_ledger`
  (one file, every problem a diagnostic at its line), :func:`conflict_line` (git's
  conflict markers), :func:`text_digest` and :func:`is_v2`;
- writing: :func:`dump_ledger` (one file's text, the same bytes for the same entries),
  :func:`ledger_files` (every file's text) and :func:`changed_files` (which to write).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from build_deck.files import MIB, UnsafeFile, read_inside
from build_deck.identity.ledger_model import Entry, Ledger, NoteTypeEntry
from build_deck.model import MAX_CLOZE_NUMBER, CardKind, Diagnostic, SourceLoc

LEDGER_DIR = "ledger"
"""The folder under ``cards/`` that holds the card entries."""
BUCKETS = 256
"""Files the entries are spread over (by a hash of the GUID): all always exist, so a
missing one is noticed."""
NOTETYPES_NAME = "notetypes.jsonl"
"""The file under ``cards/`` that records when the note types last changed."""
LEDGER_VERSION = 2
"""Format version, in the header line."""
MAX_LEDGER_BYTES = 64 * MIB
"""A larger ledger file is refused: it was not written by build-deck (a bucket of a
ledger of 100,000 cards holds about 200 KiB)."""
MAX_LINE_CHARS = 1 << 16
"""A longer line is refused."""
MAX_PROBLEMS = 20
"""Problems reported per ledger file; after them one line says that more follow."""

_HEADER = {"build-deck ledger": LEDGER_VERSION, "about": "card identities: commit with notes/"}
_END = {"end": "build-deck ledger"}
_CONFLICT = re.compile(r"^(<{7}|={7}|>{7}|\|{7})( |$)")
_ENTRY_KEYS = {
    "guid": str,
    "file": str,
    "section": str,
    "deck": str,
    "kind": str,
    "hash": str,
    "note": str,
    "mtime": int,
    "text": str,
    "answer": str,
    "clozes": list,
    "cloze_max": int,
    "removed": int,
}
_NOTETYPE_KEYS = {"notetype": str, "id": int, "fingerprint": str, "mtime": int}
MAX_TIMESTAMP = 253_402_300_799
"""The last second of the year 9999: the latest mtime or removal time a ledger may hold."""
MAX_NOTETYPE_ID = (1 << 63) - 1
"""The largest note type id Anki (SQLite) can store."""
RESOLVE_HINT = (
    "run 'build-deck ledger resolve' to keep both sides' cards (or run 'make' once: it "
    "installs a git merge driver that does this during 'git merge')"
)


# -- reading ---------------------------------------------------------------------------


def _entry_from(data: dict[str, Any]) -> Entry:
    clozes = tuple((body, number) for body, number in data["clozes"]) if data["clozes"] else ()
    return Entry(
        guid=data["guid"],
        file=data["file"],
        section=data["section"],
        deck=data["deck"],
        kind=data["kind"],
        content_hash=data["hash"],
        note_hash=data["note"],
        mtime=data["mtime"],
        text=data["text"],
        answer=data["answer"],
        clozes=clozes,
        cloze_max=data["cloze_max"],
        removed=data["removed"],
    )


def _check_types(data: dict[str, Any], keys: dict[str, type]) -> str | None:
    """What is wrong with one line's object, or None."""
    if data.keys() == keys.keys() and all(type(data[k]) is t for k, t in keys.items()):
        return None  # the common case, fast
    missing = [k for k in keys if k not in data]
    if missing:
        return f"missing {', '.join(missing)}"
    extra = [k for k in data if k not in keys]
    if extra:
        return f"unknown key {extra[0]!r}"
    for key, kind in keys.items():
        value = data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"{key!r} must be {kind.__name__}, not {type(value).__name__}"
    return None


def _check_clozes(value: list[Any]) -> bool:
    return all(
        isinstance(item, list)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], int)
        and not isinstance(item[1], bool)
        and 0 < item[1] <= MAX_CLOZE_NUMBER
        for item in value
    )


def bucket_name(guid: str) -> str:
    """The file, relative to ``cards/``, that holds the entry of ``guid``."""
    return f"{LEDGER_DIR}/{hashlib.sha1(guid.encode()).hexdigest()[:2]}.jsonl"


def ledger_names() -> list[str]:
    """Every file of the ledger, relative to ``cards/``."""
    return [NOTETYPES_NAME, *(f"{LEDGER_DIR}/{i:02x}.jsonl" for i in range(BUCKETS))]


def parse_ledger(
    text: str, shown: str, seen: dict[str, str] | None = None
) -> tuple[Ledger, list[Diagnostic]]:
    """Read one ledger file; every problem is a diagnostic at ``shown:LINE``.

    ``seen`` maps the GUIDs of files read before to their ``file:line``, to find
    duplicates across files.
    """
    seen = {} if seen is None else seen
    ledger = Ledger()
    problems: list[Diagnostic] = []

    def bad(line: int, message: str) -> None:
        if len(problems) == MAX_PROBLEMS:
            message = "more malformed lines follow: not a build-deck ledger; restore it from git"
        if len(problems) <= MAX_PROBLEMS:
            problems.append(Diagnostic(SourceLoc(shown, line), message))

    whole = _text_problem(text)
    if whole is not None:
        bad(*whole)
        return ledger, problems
    lines = text.split("\n")
    seen_end = False
    check_text = _SURROGATE_ESCAPE.search(text) is not None  # rare: only then look closer
    parsed = _parse_all_lines(lines[:-1])
    for number, line in enumerate(lines[:-1], 1):
        if seen_end:
            bad(number, "text after the ledger's end line: restore it from git")
            break
        if len(problems) > MAX_PROBLEMS:
            break
        if parsed is not None:
            data = parsed[number - 1]
        else:
            data, problem = _parse_line(line)
            if problem is not None:
                bad(number, problem)
                continue
        if not isinstance(data, dict):
            bad(number, "each line must be a JSON object: restore it from git")
            continue
        if number == 1:
            if data.get("build-deck ledger") != LEDGER_VERSION:
                bad(1, f"not a build-deck ledger of version {LEDGER_VERSION}")
                return ledger, problems
            continue
        if data == _END:
            seen_end = True
            continue
        if "notetype" in data:
            problem = _check_types(data, _NOTETYPE_KEYS) or _range_problem(data, _NOTETYPE_RANGES)
            if problem is None and check_text:
                problem = _text_fields_problem(data)
            if problem:
                bad(number, f"malformed note type entry: {problem}")
                continue
            ledger.notetypes[data["notetype"]] = NoteTypeEntry(
                data["notetype"], data["id"], data["fingerprint"], data["mtime"]
            )
            continue
        problem = _entry_problem(data, check_text)
        if problem:
            bad(number, f"malformed card entry: {problem}; restore the line from git")
            continue
        guid = data["guid"]
        if guid in seen:
            bad(
                number,
                f"duplicate GUID {guid!r} (also at {seen[guid]}): two cards cannot "
                "share one identity; remove the line that does not belong",
            )
            continue
        seen[guid] = f"{shown}:{number}"
        ledger.entries[guid] = _entry_from(data)
        ledger.lines[guid] = line
    if not problems and not seen_end:
        bad(len(lines) - 1, "the card ledger is truncated (no end line): restore it from git")
    return ledger, problems


def _text_problem(text: str) -> tuple[int, str] | None:
    """What is wrong with a ledger file as a whole (line, message), before its lines are read."""
    if not text.strip():
        return 1, "the card ledger is empty (truncated?): restore it with 'git checkout -- cards/'"
    conflict = conflict_line(text)
    if conflict is not None:
        return conflict, f"the card ledger holds a git merge conflict: {RESOLVE_HINT}"
    if not text.endswith("\n"):
        return text.count("\n") + 1, (
            "the card ledger is truncated (no end of line): restore it from git"
        )
    return None


def _parse_line(line: str) -> tuple[Any, str | None]:
    """One line's JSON value, or what is wrong with the line."""
    if len(line) > MAX_LINE_CHARS:
        return None, f"line longer than {MAX_LINE_CHARS} characters: not a build-deck ledger"
    try:
        return json.loads(line), None
    except ValueError as exc:
        return None, f"not a JSON line ({exc.args[0].split(':')[0]}): restore it from git"


_KINDS = tuple(kind.value for kind in CardKind)


def _entry_problem(data: dict[str, Any], check_text: bool) -> str | None:
    """What is wrong with one card entry's object, or None. ``check_text``: the line
    may hold a lone surrogate (``\\ud800``), which no file can hold: look for one."""
    problem = _check_types(data, _ENTRY_KEYS)
    if problem is None and not _check_clozes(data["clozes"]):
        problem = (
            f"'clozes' must be a list of [text, number] pairs, numbers 1 to {MAX_CLOZE_NUMBER}"
        )
    if problem is None and data["kind"] not in _KINDS:
        problem = f"'kind' must be one of {', '.join(repr(k) for k in _KINDS)}"
    if problem is None:
        problem = guid_problem(data["guid"])
    if problem is None:
        problem = _range_problem(data, _ENTRY_RANGES)
    if problem is None and check_text:
        problem = _text_fields_problem(data)
    return problem


MAX_GUID_CHARS = 100
"""A longer GUID is refused (build-deck's hold 10 to 12 characters)."""
_ENTRY_RANGES = {"mtime": MAX_TIMESTAMP, "removed": MAX_TIMESTAMP, "cloze_max": MAX_CLOZE_NUMBER}
_NOTETYPE_RANGES = {"mtime": MAX_TIMESTAMP, "id": MAX_NOTETYPE_ID}
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def guid_problem(guid: str) -> str | None:
    """What is wrong with a GUID from a ledger, or None: it must be 1 to 100 characters,
    no control characters, text that can be written (no lone surrogate)."""
    if not guid:
        return "empty 'guid'"
    if len(guid) > MAX_GUID_CHARS:
        return f"'guid' longer than {MAX_GUID_CHARS} characters"
    if _CONTROL_CHARS.search(guid):
        return "'guid' holds a control character"
    if not encodes(guid):
        return "'guid' holds a lone surrogate, which no file can hold"
    return None


def _range_problem(data: dict[str, Any], ranges: dict[str, int]) -> str | None:
    """The first integer of ``data`` outside 0..its maximum, as a message."""
    for key, most in ranges.items():
        if not 0 <= data[key] <= most:
            return f"{key!r} must be between 0 and {most}, not {data[key]}"
    return None


def encodes(text: str) -> bool:
    """True when ``text`` can be written as UTF-8 (it holds no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text_fields_problem(data: dict[str, Any]) -> str | None:
    """The first text of an entry that holds a lone surrogate, as a message."""
    for key, value in data.items():
        texts = [item[0] for item in value] if key == "clozes" else [value]
        if any(isinstance(text, str) and not encodes(text) for text in texts):
            return f"{key!r} holds a lone surrogate, which no file can hold"
    return None


def _parse_all_lines(lines: list[str]) -> list[Any] | None:
    """Every line's JSON value in one call (fast), or None when a line needs a closer look."""
    if not lines or max(map(len, lines)) > MAX_LINE_CHARS:
        return None
    try:
        values = json.loads("[" + ",".join(lines) + "]")
    except ValueError:
        return None
    return values if isinstance(values, list) and len(values) == len(lines) else None


def read_text_limited(
    path: Path, shown: str, folder: Path | None = None
) -> tuple[str | None, list[Diagnostic]]:
    """A file's text, or a diagnostic when it cannot be read or is too large.

    Only a regular file inside ``folder`` (by default its own folder) is read: a
    ledger file that is a link to ``/dev/zero`` or out of ``cards/`` is refused.
    """
    try:
        data = read_inside(path, path.parent if folder is None else folder, MAX_LEDGER_BYTES)
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        return None, [Diagnostic(SourceLoc(shown, 1), "not UTF-8: restore it from git")]
    except UnsafeFile as exc:
        message = f"cannot read: {exc}; a card ledger file must be a regular file inside cards/"
        return None, [Diagnostic(SourceLoc(shown, 1), message)]


def text_digest(text: str) -> str:
    """A hash of a ledger file's text."""
    return hashlib.sha256(text.encode()).hexdigest()


def is_v2(cards_dir: Path) -> bool:
    """True when ``cards_dir`` holds a version 2 ledger (or part of one)."""
    return (cards_dir / LEDGER_DIR).is_dir() or (cards_dir / NOTETYPES_NAME).exists()


def conflict_line(text: str) -> int | None:
    """The number of the first line that is a git conflict marker, if any."""
    if not any(marker in text for marker in ("<<<<<<<", "=======", ">>>>>>>", "|||||||")):
        return None  # the common case, without splitting the text
    for number, line in enumerate(text.split("\n"), 1):
        if _CONFLICT.match(line):
            return number
    return None


# -- writing -----------------------------------------------------------------------------


def entry_json(entry: Entry) -> str:
    """One entry as its line of JSON."""
    return json.dumps(
        {
            "guid": entry.guid,
            "file": entry.file,
            "section": entry.section,
            "deck": entry.deck,
            "kind": entry.kind,
            "hash": entry.content_hash,
            "note": entry.note_hash,
            "mtime": entry.mtime,
            "text": entry.text,
            "answer": entry.answer,
            "clozes": [list(pair) for pair in entry.clozes],
            "cloze_max": entry.cloze_max,
            "removed": entry.removed,
        },
        ensure_ascii=False,
    )


def ledger_files(
    ledger: Ledger, only: set[str] | None = None, old: Ledger | None = None
) -> dict[str, str]:
    """The ledger as the text of each of its files (relative to ``cards/``), or of the
    files named in ``only``. Entries unchanged since ``old`` was read keep their line."""
    names = ledger_names() if only is None else [n for n in ledger_names() if n in only]
    buckets: dict[str, Ledger] = {name: Ledger() for name in names}
    for guid, entry in ledger.entries.items():
        bucket = buckets.get(bucket_name(guid))
        if bucket is not None:
            bucket.entries[guid] = entry
            if old is not None and old.entries.get(guid) is entry and guid in old.lines:
                bucket.lines[guid] = old.lines[guid]
    if NOTETYPES_NAME in buckets:
        buckets[NOTETYPES_NAME].notetypes = dict(ledger.notetypes)
    return {name: dump_ledger(part) for name, part in buckets.items()}


def changed_files(old: Ledger, new: Ledger) -> set[str]:
    """The ledger files whose entries differ between ``old`` and ``new`` (all of them
    when ``old`` was not read from a complete version 2 ledger)."""
    if len(old.digests) != len(ledger_names()):
        return set(ledger_names())
    names = {bucket_name(g) for g, e in new.entries.items() if old.entries.get(g) is not e}
    names |= {bucket_name(g) for g in old.entries if g not in new.entries}
    if new.notetypes != old.notetypes:
        names.add(NOTETYPES_NAME)
    return names


def dump_ledger(ledger: Ledger) -> str:
    """Ledger text: one line each, sorted, the same bytes for the same ledger."""
    lines = [json.dumps(_HEADER)]
    for name in sorted(ledger.notetypes):
        nt = ledger.notetypes[name]
        lines.append(
            json.dumps(
                {
                    "notetype": nt.name,
                    "id": nt.model_id,
                    "fingerprint": nt.fingerprint,
                    "mtime": nt.mtime,
                },
                ensure_ascii=False,
            )
        )
    lines += [
        ledger.lines.get(guid) or entry_json(ledger.entries[guid])
        for guid in sorted(ledger.entries)
    ]
    lines.append(json.dumps(_END))
    return "\n".join(lines) + "\n"
