"""The card ledger: the identity (GUID) of every card a student may have reviewed.

Committed with the notes under ``cards/`` (docs/ledger.md explains the design):
``cards/ledger/00.jsonl`` to ``ff.jsonl`` hold the cards, spread by a hash of their
GUID, and ``cards/notetypes.jsonl`` the note types. Each line is one JSON object: a
header, one entry per card sorted by GUID, and an end line. Entries hold no line
numbers, so an edit of one card changes one line of one file, and two branches that
add or edit different cards almost never touch neighbouring lines: git merges them.

A card of a build is matched to an entry across all files at once: first by identical
content, then by similarity of its text among candidates found through an index of
rare character trigrams, with a deterministic tie-break. Entries no card matched are
kept as removed (tombstones), so a card that comes back gets its old GUID back.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
import re
from collections import defaultdict
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from build_deck.model import Diagnostic, SourceLoc

LEDGER_DIR = "ledger"
"""The folder under ``cards/`` that holds the card entries."""
BUCKETS = 256
"""Files the entries are spread over (by a hash of the GUID): all always exist, so a
missing one is noticed."""
NOTETYPES_NAME = "notetypes.jsonl"
"""The file under ``cards/`` that records when the note types last changed."""
LEDGER_VERSION = 2
"""Format version, in the header line."""
MAX_LEDGER_BYTES = 1 << 30
"""A larger ledger is refused: it was not written by build-deck."""
MAX_LINE_CHARS = 1 << 16
"""A longer line is refused."""
MIN_DICE = 0.5
"""How alike (0..1, trigram Dice) two texts must at least be to be one card reworded."""
MIN_SCORE = 0.6
"""The least score: likeness plus small bonuses for the same file and section."""

_TEXT_CHARS = 160
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
RESOLVE_HINT = (
    "run 'build-deck ledger resolve' to keep both sides' cards (or run 'make' once: it "
    "installs a git merge driver that does this during 'git merge')"
)


class Change(Enum):
    """What happened to a card since the ledger was written."""

    NEW = "new"
    RESTORED = "restored"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Entry:
    """One card in the ledger: enough to recognise it when it moves or is reworded."""

    guid: str
    """The Anki GUID: never changes once given."""
    file: str
    """Its notes file, relative to the notes folder (``nlp.md``)."""
    section: str
    """Heading path where it was last seen, ``A > B``."""
    deck: str
    """Deck it was last written to."""
    kind: str
    """``qa`` or ``cloze``."""
    content_hash: str
    """Hash of what the card says (matching by identical content)."""
    note_hash: str
    """Hash of everything written into the note (fields and tags)."""
    mtime: int
    """When the note last changed, seconds since the epoch; never goes backwards."""
    text: str
    """Its prompt when last built (shortened): names it, and rewording is measured on it."""
    answer: str
    """Its answer when last built (shortened; empty for clozes)."""
    clozes: tuple[tuple[str, int], ...] = ()
    """Shorthand deletions ``{{text}}`` and the number each was given, remembered."""
    cloze_max: int = 0
    """The highest cloze number the card ever used: new deletions take the next."""
    removed: int = 0
    """0 while the card exists; else when it disappeared from the notes (a tombstone)."""


@dataclass(frozen=True, slots=True)
class NoteTypeEntry:
    """When one note type last changed."""

    name: str
    """The note type's name."""
    model_id: int
    """Its Anki id."""
    fingerprint: str
    """Hash of its fields, templates and CSS."""
    mtime: int
    """When that hash last changed."""


@dataclass(slots=True)
class Ledger:
    """The whole ledger in memory."""

    entries: dict[str, Entry] = field(default_factory=dict)
    """Every entry, live or removed, by GUID."""
    notetypes: dict[str, NoteTypeEntry] = field(default_factory=dict)
    """Note type entries by name."""
    digests: dict[str, str] = field(default_factory=dict, compare=False)
    """A hash of each version 2 file as read (relative to ``cards/``): what a build
    compares its new text with."""
    lines: dict[str, str] = field(default_factory=dict, compare=False)
    """The line each entry was read from, by GUID: written again as it is while the
    entry is unchanged."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What matching needs to know of a card of this build."""

    file: str
    """Its notes file relative to the notes folder."""
    section: str
    """Heading path."""
    kind: str
    """``qa`` or ``cloze``."""
    text: str
    """The prompt as plain text."""
    answer: str
    """The answer as plain text (empty for clozes)."""
    content_hash: str
    """Hash of its content."""


@dataclass(frozen=True, slots=True)
class Match:
    """The ledger's verdict on one card of this build."""

    guid: str
    """Its GUID, old or new."""
    previous: Entry | None
    """The entry it was matched to, or None for a new card."""
    change: Change
    """What happened to it."""


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
        and item[1] > 0
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
        problems.append(Diagnostic(SourceLoc(shown, line), message))

    if not text.strip():
        bad(1, "the card ledger is empty (truncated?): restore it with 'git checkout -- cards/'")
        return ledger, problems
    lines = text.split("\n")
    conflict = _conflict_line(text)
    if conflict is not None:
        bad(conflict, f"the card ledger holds a git merge conflict: {RESOLVE_HINT}")
        return ledger, problems
    if lines[-1] != "":
        bad(len(lines), "the card ledger is truncated (no end of line): restore it from git")
        return ledger, problems
    seen_end = False
    parsed = _parse_all_lines(lines[:-1])
    for number, line in enumerate(lines[:-1], 1):
        if seen_end:
            bad(number, "text after the ledger's end line: restore it from git")
            break
        if parsed is not None:
            data = parsed[number - 1]
        elif len(line) > MAX_LINE_CHARS:
            bad(number, f"line longer than {MAX_LINE_CHARS} characters: not a build-deck ledger")
            continue
        else:
            try:
                data = json.loads(line)
            except ValueError as exc:
                bad(number, f"not a JSON line ({exc.args[0].split(':')[0]}): restore it from git")
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
            problem = _check_types(data, _NOTETYPE_KEYS)
            if problem:
                bad(number, f"malformed note type entry: {problem}")
                continue
            ledger.notetypes[data["notetype"]] = NoteTypeEntry(
                data["notetype"], data["id"], data["fingerprint"], data["mtime"]
            )
            continue
        problem = _check_types(data, _ENTRY_KEYS)
        if problem is None and not _check_clozes(data["clozes"]):
            problem = "'clozes' must be a list of [text, number] pairs"
        if problem is None and data["kind"] not in ("qa", "cloze"):
            problem = "'kind' must be 'qa' or 'cloze'"
        if problem is None and not data["guid"]:
            problem = "empty 'guid'"
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


def _parse_all_lines(lines: list[str]) -> list[Any] | None:
    """Every line's JSON value in one call (fast), or None when a line needs a closer look."""
    if not lines or max(map(len, lines)) > MAX_LINE_CHARS:
        return None
    try:
        values = json.loads("[" + ",".join(lines) + "]")
    except ValueError:
        return None
    return values if isinstance(values, list) and len(values) == len(lines) else None


def read_text_limited(path: Path, shown: str) -> tuple[str | None, list[Diagnostic]]:
    """A file's text, or a diagnostic when it cannot be read or is too large."""
    try:
        size = path.stat().st_size
        if size > MAX_LEDGER_BYTES:
            message = f"larger than {MAX_LEDGER_BYTES >> 20} MiB: not a build-deck ledger"
            return None, [Diagnostic(SourceLoc(shown, 1), message)]
        return path.read_bytes().decode("utf-8"), []
    except UnicodeDecodeError:
        return None, [Diagnostic(SourceLoc(shown, 1), "not UTF-8: restore it from git")]
    except OSError as exc:
        return None, [Diagnostic(SourceLoc(shown, 1), f"cannot read: {exc.strerror}")]


def load_ledger(cards_dir: Path, shown_dir: str) -> tuple[Ledger, list[Diagnostic]]:
    """Read ``cards/``: the v2 ledger, plus any version 1 files (migrated on the fly).

    A missing folder is an empty ledger. Version 1 files (``cards/*.yaml``) are read
    when present, also next to a v2 ledger (a merge of an older branch may bring them
    back); their entries are added, and replace a known GUID's entry when newer.
    """
    ledger = Ledger()
    problems: list[Diagnostic] = []
    if is_v2(cards_dir):
        seen: dict[str, str] = {}
        for name in ledger_names():
            path, shown = cards_dir / name, f"{shown_dir}/{name}"
            if not path.exists():
                message = (
                    "missing from the card ledger: restore it with 'git checkout -- "
                    f"{shown}' (its cards would lose their identity)"
                )
                problems.append(Diagnostic(SourceLoc(shown, 1), message))
                continue
            text, read_problems = read_text_limited(path, shown)
            problems += read_problems
            if text is None:
                continue
            part, part_problems = parse_ledger(text, shown, seen)
            problems += part_problems
            ledger.digests[name] = text_digest(text)
            ledger.entries.update(part.entries)
            ledger.lines.update(part.lines)
            ledger.notetypes.update(part.notetypes)
        expected = set(ledger_names())
        for path in sorted(cards_dir.rglob("*.jsonl")):
            name = path.relative_to(cards_dir).as_posix()
            if name not in expected:
                message = (
                    "not a file of the card ledger (a copy?): its cards would be ignored; "
                    "move its lines into the ledger or delete it"
                )
                problems.append(Diagnostic(SourceLoc(f"{shown_dir}/{name}", 1), message))
    v1_seen: dict[str, str] = {}
    for old in v1_files(cards_dir):
        relative = old.relative_to(cards_dir)
        note = relative.with_suffix(".md").as_posix()
        shown_old = f"{shown_dir}/{relative.as_posix()}"
        v1, v1_problems = load_v1(old, shown_old, note)
        problems += v1_problems
        for entry in v1.entries.values():
            if entry.guid in v1_seen:
                message = (
                    f"duplicate GUID {entry.guid!r} (also in {v1_seen[entry.guid]}): two "
                    "cards cannot share one identity; remove the entry that does not belong"
                )
                problems.append(Diagnostic(SourceLoc(shown_old, 1), message))
                continue
            v1_seen[entry.guid] = shown_old
            known = ledger.entries.get(entry.guid)
            if known is None:
                ledger.entries[entry.guid] = entry
            elif entry.mtime > known.mtime:  # edited since on a branch still on version 1
                ledger.entries[entry.guid] = replace(
                    entry, deck=known.deck, clozes=known.clozes, cloze_max=known.cloze_max
                )
        for name, notetype in v1.notetypes.items():
            ledger.notetypes.setdefault(name, notetype)
    return ledger, problems


def text_digest(text: str) -> str:
    """A hash of a ledger file's text."""
    return hashlib.sha256(text.encode()).hexdigest()


def is_v2(cards_dir: Path) -> bool:
    """True when ``cards_dir`` holds a version 2 ledger (or part of one)."""
    return (cards_dir / LEDGER_DIR).is_dir() or (cards_dir / NOTETYPES_NAME).exists()


# -- version 1 (one YAML file per notes file) --------------------------------------------

V1_NOTETYPES = "_notetypes.yaml"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def v1_files(cards_dir: Path) -> list[Path]:
    """The version 1 ledger files under ``cards_dir``."""
    if not cards_dir.is_dir():
        return []
    return sorted(p for p in cards_dir.rglob("*.yaml") if p.is_file())


def _safe_yaml(text: str, shown: str) -> tuple[Any, Diagnostic | None]:
    """YAML without aliases, anchors or tags (no alias bombs), or a diagnostic."""
    try:
        for event in yaml.parse(text, Loader=_Loader):
            anchor = getattr(event, "anchor", None)
            tag = getattr(event, "tag", None)
            implicit = getattr(event, "implicit", (True, True))
            explicit_tag = tag is not None and not (
                implicit is True or (isinstance(implicit, tuple) and any(implicit))
            )
            if isinstance(event, yaml.AliasEvent) or anchor is not None or explicit_tag:
                line = event.start_mark.line + 1 if event.start_mark else 1
                message = "YAML anchors, aliases and tags are not allowed in a card ledger"
                return None, Diagnostic(SourceLoc(shown, line), message)
        return yaml.load(text, Loader=_Loader), None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return None, Diagnostic(SourceLoc(shown, line), f"cannot read the card ledger: {exc}")


def load_v1(path: Path, shown: str, note: str) -> tuple[Ledger, list[Diagnostic]]:
    """Read one version 1 YAML ledger file (of notes file ``note``) into version 2 entries."""
    ledger = Ledger()
    text, problems = read_text_limited(path, shown)
    if text is None:
        return ledger, problems
    conflict = _conflict_line(text)
    if conflict is not None:
        return ledger, [
            Diagnostic(
                SourceLoc(shown, conflict),
                "the card ledger holds a git merge conflict: keep both sides' entries "
                "(delete only the marker lines), then build",
            )
        ]
    data, problem = _safe_yaml(text, shown)
    if problem is not None:
        return ledger, [problem]
    if path.name == V1_NOTETYPES:
        if not isinstance(data, dict):
            return ledger, [Diagnostic(SourceLoc(shown, 1), "malformed note type ledger")]
        for name, item in data.items():
            if isinstance(item, dict) and isinstance(item.get("mtime"), int):
                ledger.notetypes[str(name)] = NoteTypeEntry(
                    str(name),
                    int(item.get("id", 0)),
                    str(item.get("fingerprint", "")),
                    item["mtime"],
                )
        return ledger, []
    if data is None:
        return ledger, [
            Diagnostic(SourceLoc(shown, 1), "the card ledger is empty: restore it from git")
        ]
    cards = data.get("cards") if isinstance(data, dict) else None
    if not isinstance(cards, list):
        return ledger, [Diagnostic(SourceLoc(shown, 1), "malformed card ledger: no 'cards' list")]
    lines = text.split("\n")
    guid_lines = [i for i, t in enumerate(lines, 1) if t.startswith("- guid:")]
    for index, item in enumerate(cards):
        line = guid_lines[index] if index < len(guid_lines) else 1
        ok = isinstance(item, dict) and all(
            isinstance(item.get(k), str) for k in ("guid", "kind", "section", "text")
        )
        ok = ok and isinstance(item.get("mtime"), int) and item.get("kind") in ("qa", "cloze")
        if not ok:
            problems.append(Diagnostic(SourceLoc(shown, line), "malformed card entry"))
            continue
        if item["guid"] in ledger.entries:
            problems.append(Diagnostic(SourceLoc(shown, line), f"duplicate GUID {item['guid']!r}"))
            continue
        ledger.entries[item["guid"]] = Entry(
            guid=item["guid"],
            file=note,
            section=item["section"],
            deck="",
            kind=item["kind"],
            content_hash=str(item.get("content_hash", "")),
            note_hash=str(item.get("note_hash", "")),
            mtime=item["mtime"],
            text=item["text"],
            answer=str(item.get("answer", "")),
        )
    return ledger, problems


def _conflict_line(text: str) -> int | None:
    """The number of the first line that is a git conflict marker, if any."""
    if not any(marker in text for marker in ("<<<<<<<", "=======", ">>>>>>>", "|||||||")):
        return None  # the common case, without splitting the text
    for number, line in enumerate(text.split("\n"), 1):
        if _CONFLICT.match(line):
            return number
    return None


# -- writing -----------------------------------------------------------------------------


def _entry_json(entry: Entry) -> str:
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
        ledger.lines.get(guid) or _entry_json(ledger.entries[guid])
        for guid in sorted(ledger.entries)
    ]
    lines.append(json.dumps(_END))
    return "\n".join(lines) + "\n"


# -- matching ----------------------------------------------------------------------------


def new_guid(file: str, content_hash: str, taken: Container[str]) -> str:
    """A GUID for a card seen for the first time; stored, never recomputed."""
    for attempt in range(1000):
        digest = hashlib.sha256(f"{file}\x1f{content_hash}\x1f{attempt}".encode()).digest()
        guid = base64.b64encode(digest[:9], altchars=b"-_").decode()
        if guid not in taken:
            return guid
    raise AssertionError("no free GUID")  # 2**72 values: unreachable


def _grams(text: str) -> frozenset[str]:
    text = " ".join(text.lower().split())
    return frozenset(text[i : i + 3] for i in range(max(1, len(text) - 2)))


def _key_text(text: str, answer: str) -> str:
    return f"{text[:_TEXT_CHARS]}\n{answer[:_TEXT_CHARS]}"


_RARE_GRAMS = 16
_CANDIDATES = 12


def match_cards(ledger: Ledger, cards: list[Fingerprint]) -> list[Match]:
    """Give every card of the build an identity, matching all cards to all entries.

    1. identical content: the card is unchanged (perhaps moved, or restored);
    2. similar text: for each card left, candidates sharing its rarest trigrams with an
       entry left; pairs scored by trigram Dice likeness plus bonuses for the same file
       and section; taken best first, ties broken by live before removed, then GUID;
    3. everything else is new.
    """
    by_hash: dict[str, Entry] = {}
    shared: dict[str, list[Entry]] = {}  # hashes held by several entries (rare)
    for entry in ledger.entries.values():
        first = by_hash.setdefault(entry.content_hash, entry)
        if first is not entry:
            shared.setdefault(entry.content_hash, [first]).append(entry)
    for group in shared.values():
        group.sort(key=lambda e: (e.removed != 0, e.guid))
    taken: set[str] = set()
    matched: dict[int, Entry] = {}
    for i, card in enumerate(cards):
        single = by_hash.get(card.content_hash)
        if single is None:
            continue
        for entry in shared.get(card.content_hash, (single,)):
            if entry.guid not in taken and entry.kind == card.kind:
                matched[i] = entry
                taken.add(entry.guid)
                break

    left_cards = [i for i in range(len(cards)) if i not in matched]
    left_entries = [e for e in ledger.entries.values() if e.guid not in taken]
    if left_cards and left_entries:
        for score_key, i, entry in _similar_pairs(cards, left_cards, left_entries):
            del score_key
            if i in matched or entry.guid in taken:
                continue
            matched[i] = entry
            taken.add(entry.guid)

    matches: list[Match] = []
    fresh: set[str] = set()
    for i, card in enumerate(cards):
        previous = matched.get(i)
        if previous is None:
            guid = new_guid(card.file, card.content_hash, _Taken(ledger.entries, fresh))
            fresh.add(guid)
            matches.append(Match(guid, None, Change.NEW))
        elif previous.removed:
            matches.append(Match(previous.guid, previous, Change.RESTORED))
        elif previous.content_hash != card.content_hash:
            matches.append(Match(previous.guid, previous, Change.CHANGED))
        else:
            matches.append(Match(previous.guid, previous, Change.UNCHANGED))
    return matches


class _Taken:
    """GUIDs in use: the ledger's and those given in this build."""

    def __init__(self, entries: dict[str, Entry], fresh: set[str]) -> None:
        self.entries, self.fresh = entries, fresh

    def __contains__(self, guid: object) -> bool:
        return guid in self.entries or guid in self.fresh


def _similar_pairs(
    cards: list[Fingerprint], left_cards: list[int], left_entries: list[Entry]
) -> Iterator[tuple[tuple[float, int, str], int, Entry]]:
    """Candidate (card, entry) pairs alike enough, best first, in a deterministic order."""
    postings: dict[str, list[int]] = defaultdict(list)
    entry_grams: list[frozenset[str]] = []
    for j, entry in enumerate(left_entries):
        grams = _grams(_key_text(entry.text, entry.answer))
        entry_grams.append(grams)
        for gram in grams:
            postings[gram].append(j)
    heap: list[tuple[float, int, int, str, int, int]] = []
    for i in left_cards:
        card = cards[i]
        grams = _grams(_key_text(card.text, card.answer))
        rare = sorted((len(postings[g]), g) for g in grams if g in postings)[:_RARE_GRAMS]
        hits: dict[int, int] = defaultdict(int)
        for _, gram in rare:
            for j in postings[gram]:
                hits[j] += 1
        best = heapq.nlargest(_CANDIDATES, hits.items(), key=lambda kv: (kv[1], -kv[0]))
        for j, _ in best:
            entry = left_entries[j]
            if entry.kind != card.kind:
                continue
            other = entry_grams[j]
            dice = 2 * len(grams & other) / (len(grams) + len(other))
            if dice < MIN_DICE:
                continue
            score = dice + 0.1 * (entry.file == card.file) + 0.05 * (entry.section == card.section)
            if score < MIN_SCORE:
                continue
            heap.append((-score, entry.removed != 0, i, entry.guid, j, 0))
    heap.sort()
    for neg_score, _, i, guid, j, _ in heap:
        yield (neg_score, i, guid), i, left_entries[j]


def number_clozes(
    previous: Entry | None,
    shorthand: list[tuple[str, int]],
    explicit: Iterable[int],
) -> tuple[list[int], tuple[tuple[str, int], ...], int, list[int]]:
    """Stable numbers for a card's shorthand deletions ``{{text}}``.

    ``shorthand`` holds each shorthand deletion's text and the number the parser gave
    it (by order). A deletion the entry remembers keeps its number (matched by text,
    then by likeness); a new one takes the next number never used by the card. The
    first time a card is seen, the parser's numbers are kept.

    Returns the number of each deletion, what to remember, the highest number used,
    and the remembered numbers no deletion uses any more (their Anki cards are empty).
    """
    explicit = set(explicit)
    if previous is None or (not previous.clozes and previous.cloze_max == 0):
        numbers = [n for _, n in shorthand]
        remembered = tuple(sorted(set(shorthand), key=lambda p: (p[1], p[0])))
        top = max([*numbers, *explicit], default=0)
        return numbers, remembered, top, []
    memory = dict(previous.clozes)
    known = [memory.get(body) for body, _ in shorthand]
    if len(memory) == len(previous.clozes) and None not in known:
        same = [n for n in known if n is not None]
        if len(set(same)) == len(same) == len(memory):  # the same deletions as before
            return same, previous.clozes, max([previous.cloze_max, *explicit]), []
    result: list[int | None] = [None] * len(shorthand)
    used: set[int] = set()
    for k, (body, _) in enumerate(shorthand):
        number = memory.get(body)
        if number is not None and number not in used:
            result[k] = number
            used.add(number)
    free_memory = [(body, n) for body, n in previous.clozes if n not in used]
    for k, (body, _) in enumerate(shorthand):
        if result[k] is not None:
            continue
        grams = _grams(body)
        best: tuple[float, str, int] | None = None
        for old_body, n in free_memory:
            if n in used:
                continue
            old = _grams(old_body)
            dice = 2 * len(grams & old) / (len(grams) + len(old))
            if dice >= MIN_DICE and (best is None or (dice, -n) > (best[0], -best[2])):
                best = (dice, old_body, n)
        if best is not None:
            result[k] = best[2]
            used.add(best[2])
    top = max([previous.cloze_max, *explicit, *used], default=0)
    for k in range(len(shorthand)):
        if result[k] is None:
            top += 1
            while top in explicit:
                top += 1
            result[k] = top
            used.add(top)
    numbers = [n for n in result if n is not None]
    remembered = tuple(
        sorted(
            {(body, n) for (body, _), n in zip(shorthand, numbers, strict=True)},
            key=lambda p: (p[1], p[0]),
        )
    )
    gone = sorted({n for _, n in previous.clozes} - used - explicit)
    return numbers, remembered, top, gone


def next_mtime(previous: Entry | None, note_hash: str, now: int) -> int:
    """When the note changed: kept if its note is the same, else now, never backwards."""
    if previous is None:
        return now
    if previous.note_hash == note_hash:
        return previous.mtime
    return max(now, previous.mtime + 1)


def updated_entry(
    previous: Entry | None,
    card: Fingerprint,
    *,
    guid: str,
    deck: str,
    note_hash: str,
    mtime: int,
    clozes: tuple[tuple[str, int], ...],
    cloze_max: int,
) -> Entry:
    """The entry to store for a card of this build."""
    del previous
    return Entry(
        guid=guid,
        file=card.file,
        section=card.section,
        deck=deck,
        kind=card.kind,
        content_hash=card.content_hash,
        note_hash=note_hash,
        mtime=mtime,
        text=card.text[:_TEXT_CHARS],
        answer=card.answer[:_TEXT_CHARS],
        clozes=clozes,
        cloze_max=cloze_max,
        removed=0,
    )


def tombstone(entry: Entry, now: int) -> Entry:
    """The entry of a card that is no longer in the notes."""
    return entry if entry.removed else replace(entry, removed=max(now, 1))


# -- merging -----------------------------------------------------------------------------


def merge_entries(ours: Ledger, theirs: Ledger) -> Ledger:
    """Both sides' cards: a union by GUID; for a GUID on both sides, the newer entry."""
    merged = Ledger(dict(ours.entries), dict(ours.notetypes))
    for guid, entry in theirs.entries.items():
        mine = merged.entries.get(guid)
        if mine is None:
            merged.entries[guid] = entry
            continue
        newest = max((mine, entry), key=lambda e: (e.mtime, e.removed == 0, _entry_json(e)))
        merged.entries[guid] = replace(newest, mtime=max(mine.mtime, entry.mtime))
    for name, nt in theirs.notetypes.items():
        mine_nt = merged.notetypes.get(name)
        if mine_nt is None or (nt.mtime, nt.fingerprint) > (mine_nt.mtime, mine_nt.fingerprint):
            merged.notetypes[name] = nt
    return merged


def split_conflict(text: str) -> tuple[str, str]:
    """The two sides of a ledger holding git conflict markers (the base is dropped)."""
    ours: list[str] = []
    theirs: list[str] = []
    side = "both"
    for line in text.split("\n"):
        if line.startswith("<<<<<<<"):
            side = "ours"
        elif line.startswith("|||||||"):
            side = "base"
        elif line.startswith("=======") and side in ("ours", "base"):
            side = "theirs"
        elif line.startswith(">>>>>>>"):
            side = "both"
        elif side == "both":
            ours.append(line)
            theirs.append(line)
        elif side == "ours":
            ours.append(line)
        elif side == "theirs":
            theirs.append(line)
    return "\n".join(ours), "\n".join(theirs)


def prune(ledger: Ledger, removed_before: int) -> tuple[Ledger, int]:
    """Drop removed entries older than ``removed_before``; returns how many went."""
    keep = {
        g: e for g, e in ledger.entries.items() if not (e.removed and e.removed < removed_before)
    }
    return Ledger(keep, dict(ledger.notetypes)), len(ledger.entries) - len(keep)
