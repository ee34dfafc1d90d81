"""Identity stage: the cards of a build matched to the ledger's entries.

- :func:`match_cards`: every card of the build (its :class:`Fingerprint`) gets a
  :class:`Match`: the GUID of the entry it is (by identical content, else by similar
  text), or a :func:`new_guid`, and what happened to it (:class:`Change`);
- :func:`number_clozes`: stable numbers for a card's shorthand cloze deletions;
- :func:`next_mtime`, :func:`updated_entry` and :func:`tombstone`: the entries the
  build stores for its cards, and for the cards that went.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
from collections import defaultdict
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, replace
from enum import Enum

from build_deck.identity.ledger_model import Entry, Ledger

MIN_DICE = 0.5
"""How alike (0..1, trigram Dice) two texts must at least be to be one card reworded."""
MIN_SCORE = 0.6
"""The least score: likeness plus small bonuses for the same file and section."""

_TEXT_CHARS = 160


class Change(Enum):
    """What happened to a card since the ledger was written."""

    NEW = "new"
    RESTORED = "restored"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


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
