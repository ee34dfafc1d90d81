"""The card ledger: stable identities for cards whose wording changes.

One YAML file per notes file, under ``cards/``, committed with the notes. It maps each
card to its GUID, its place, a hash of its content and the time that content last
changed. A card of a new build is matched to its old entry first by identical
content (a moved card), then by place and similarity (a reworded card); what is
left is new, and what is left of the old entries was removed.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import yaml

LEDGER_VERSION = 1
"""Format version written into every ledger file."""

MIN_RATIO = 0.5
"""How alike (0..1) the texts of a card and an old entry must at least be to be one card."""
MIN_SCORE = 0.65
"""The least score (text likeness plus bonuses for the same section and a near line)."""

_TEXT_CHARS = 160

# libyaml's parser when PyYAML was built with it (its wheels are): ten times faster.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Change(Enum):
    """What happened to a card since the ledger was written."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the ledger needs to know of a card of this build."""

    kind: str
    """``qa`` or ``cloze``."""
    line: int
    """Line of the card in its file."""
    section: str
    """Heading path, ``A > B``."""
    text: str
    """The card's prompt as plain text."""
    answer: str
    """The card's answer as plain text (empty for clozes)."""
    content_hash: str
    """Hash of the card's content fields."""
    note_hash: str
    """Hash of everything written into the note (fields and tags)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One card in a ledger file."""

    guid: str
    """The Anki GUID: never changes once given."""
    serial: int
    """The card's number within its file; never reused."""
    kind: str
    """``qa`` or ``cloze``."""
    line: int
    """Where the card was last seen."""
    section: str
    """Heading path where the card was last seen."""
    text: str
    """The card's prompt when last built (shortened), to name it in reports."""
    answer: str
    """The card's answer when last built (shortened); with ``text``, what rewording
    is measured against."""
    content_hash: str
    """Hash of the card's content fields."""
    note_hash: str
    """Hash of the whole note, fields and tags."""
    mtime: int
    """When the note last changed, in seconds since the epoch."""


@dataclass(frozen=True, slots=True)
class FileLedger:
    """The ledger of one notes file."""

    next_serial: int = 1
    """The serial the next new card gets."""
    entries: tuple[Entry, ...] = ()
    """One entry per card, in file order."""


@dataclass(frozen=True, slots=True)
class Reconciled:
    """The outcome of matching one file's cards against its ledger."""

    ledger: FileLedger
    """The ledger to write after a successful build."""
    entries: tuple[Entry, ...]
    """The entry of each card of the build, in the order of the cards."""
    changes: tuple[Change, ...]
    """What happened to each card, in the order of the cards."""
    removed: tuple[Entry, ...]
    """Old entries that no card matched."""


class LedgerError(Exception):
    """A ledger file that cannot be read; the message says which and why."""


def ledger_path(cards_dir: Path, relative_note: Path) -> Path:
    """Where the ledger of ``notes/<relative_note>`` lives."""
    return cards_dir / relative_note.with_suffix(".yaml")


def load_ledger(path: Path) -> FileLedger:
    """Read a ledger file; a missing file is an empty ledger."""
    if not path.exists():
        return FileLedger()
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
        entries = tuple(Entry(**{"answer": "", **item}) for item in data.get("cards") or [])
        return FileLedger(int(data.get("next_serial", 1)), entries)
    except (yaml.YAMLError, TypeError, ValueError, AttributeError) as exc:
        raise LedgerError(
            f"{path}: cannot read the card ledger ({exc}); restore it from version control"
        ) from exc


def dump_ledger(ledger: FileLedger, note_path: str) -> str:
    """The ledger as YAML text, stable for the same content."""
    header = (
        f"# Card ledger for {note_path}, kept by build-deck: commit it with the notes.\n"
        "# It keeps each card's Anki identity when the card is reworded or moved.\n"
    )
    lines = [header, f"version: {LEDGER_VERSION}\n", f"next_serial: {ledger.next_serial}\n"]
    lines.append("cards:\n" if ledger.entries else "cards: []\n")
    for e in ledger.entries:
        lines.append(
            f"- guid: {_scalar(e.guid)}\n  serial: {e.serial}\n  kind: {_scalar(e.kind)}\n"
            f"  line: {e.line}\n  section: {_scalar(e.section)}\n  text: {_scalar(e.text)}\n"
            f"  answer: {_scalar(e.answer)}\n  content_hash: {_scalar(e.content_hash)}\n"
            f"  note_hash: {_scalar(e.note_hash)}\n  mtime: {e.mtime}\n"
        )
    return "".join(lines)


def _scalar(text: str) -> str:
    """A string as a YAML double-quoted scalar.

    A JSON string is a valid YAML double-quoted scalar, and ``json.dumps`` is an order
    of magnitude faster than PyYAML's representer on large ledgers; PyYAML reads it back.
    """
    return _UNPRINTABLE.sub(
        lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False)
    )


# Characters YAML does not allow raw in a scalar (or reads as line breaks): escaped.
_UNPRINTABLE = re.compile(
    "[^\t\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def new_guid(note_path: str, serial: int, content_hash: str) -> str:
    """A GUID for a card seen for the first time; stored, never recomputed."""
    digest = hashlib.sha256(f"{note_path}\x1f{serial}\x1f{content_hash}".encode()).digest()
    return base64.b64encode(digest[:9], altchars=b"-_").decode()


def _similarity(card: Fingerprint, entry: Entry) -> float:
    """How likely ``card`` is ``entry`` reworded: 0 if unlike, else about 0.5 to 1.25."""
    if card.kind != entry.kind:
        return 0.0
    new = f"{card.text[:_TEXT_CHARS]}\n{card.answer[:_TEXT_CHARS]}"
    old = f"{entry.text}\n{entry.answer}"
    score = difflib.SequenceMatcher(None, new, old, autojunk=False).ratio()
    if score < MIN_RATIO:
        return 0.0
    if card.section == entry.section:
        score += 0.15
    score += 0.1 * max(0.0, 1.0 - abs(card.line - entry.line) / 30)
    return score


def _entry(card: Fingerprint, guid: str, serial: int, mtime: int) -> Entry:
    return Entry(
        guid=guid,
        serial=serial,
        kind=card.kind,
        line=card.line,
        section=card.section,
        text=card.text[:_TEXT_CHARS],
        answer=card.answer[:_TEXT_CHARS],
        content_hash=card.content_hash,
        note_hash=card.note_hash,
        mtime=mtime,
    )


def reconcile(old: FileLedger, cards: list[Fingerprint], note_path: str, now: int) -> Reconciled:
    """Match this build's cards of one file to the file's ledger."""
    matched: dict[int, Entry] = {}
    free = list(old.entries)

    # 1. Same content: the card is unchanged, perhaps moved.
    for i, card in enumerate(cards):
        same = [e for e in free if e.content_hash == card.content_hash and e.kind == card.kind]
        if same:
            best = min(same, key=lambda e: abs(e.line - card.line))
            matched[i] = best
            free.remove(best)

    # 2. Place and similarity: the card was reworded.
    pairs = sorted(
        (
            (_similarity(card, entry), i, j)
            for i, card in enumerate(cards)
            if i not in matched
            for j, entry in enumerate(free)
        ),
        key=lambda p: (-p[0], p[1], p[2]),
    )
    taken: set[int] = set()
    for score, i, j in pairs:
        if score < MIN_SCORE:
            break
        if i in matched or j in taken:
            continue
        matched[i] = free[j]
        taken.add(j)
    removed = tuple(e for j, e in enumerate(free) if j not in taken)

    # 3. Everything else is new.
    next_serial = old.next_serial
    entries: list[Entry] = []
    changes: list[Change] = []
    for i, card in enumerate(cards):
        previous = matched.get(i)
        if previous is None:
            guid = new_guid(note_path, next_serial, card.content_hash)
            entry = _entry(card, guid, next_serial, now)
            next_serial += 1
            changes.append(Change.NEW)
        else:
            mtime = previous.mtime if previous.note_hash == card.note_hash else now
            entry = _entry(card, previous.guid, previous.serial, mtime)
            changes.append(
                Change.UNCHANGED if previous.content_hash == card.content_hash else Change.CHANGED
            )
        entries.append(entry)
    ledger = FileLedger(next_serial, tuple(entries))
    return Reconciled(ledger, tuple(entries), tuple(changes), removed)
