"""Card-level build cache: what the checks of each card verified, by the card's content.

An edited notes file is parsed again, but only the cards whose content changed
(:func:`card_digest`) have their checks run again; the others' results come from here.
Entries are those of :mod:`build_deck.cache`: in the user's cache folder, under its HMAC,
and each mark read back is one the checks give.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from pathlib import Path

from build_deck.cache import FileResult, cache_key, checked_mark, load_json, store_json
from build_deck.model import Card, SourceLoc


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
"""The check mode (``BuildOptions.check_mode``, ``:strict`` may follow) where checks
cannot run."""


def _card_results_name(shown_path: str) -> str:
    return f"cards:{shown_path}"


def load_card_results(
    cache_dir: Path | None, check_mode: str, cards: list[Card]
) -> dict[SourceLoc, str]:
    """The ``cards`` with checks of a notes file that its last error-free build verified
    as they are now (same :func:`card_digest`), with what was verified of each (``""``:
    its checks passed, verifying nothing it shows). None without a cache or where checks
    do not run. (A card without checks costs less to verify than to look up.)"""
    if cache_dir is None or check_mode.startswith(NOT_RUN) or not cards:
        return {}
    shown_path = cards[0].loc.path
    key = cache_key(b"", shown_path, check_mode)
    data, _ = load_json(cache_dir, _card_results_name(shown_path), key)
    if not isinstance(data, dict) or not data:
        return {}
    known = {}
    for card in cards:
        what = data.get(card_digest(card)) if card.checks else None
        if what == "":
            known[card.loc] = what
        elif what is not None:
            try:
                known[card.loc] = checked_mark(what)
            except ValueError:
                return {}  # authentic yet not what a build writes: verify every card
    return known


def store_card_results(
    cache_dir: Path, check_mode: str, result: FileResult, flagged: set[tuple[str, int]]
) -> None:
    """Save what was verified of each card of an error-free notes file (unless checks
    do not run: its cards are then unverified for want of it, not for what they hold).
    A card is left out when verifying it said something (``flagged``: path and line of
    each diagnostic, which falls between the card's first line and the next card's):
    it is verified again next time, and says it again."""
    if check_mode.startswith(NOT_RUN) or not result.cards:
        return
    shown_path = result.cards[0].loc.path
    starts = sorted(card.loc.line for card in result.cards)
    lines = sorted(line for path, line in flagged if path == shown_path)
    results = {}
    for card in result.cards:
        following = bisect.bisect_right(starts, card.loc.line)
        end = starts[following] if following < len(starts) else math.inf
        said = bisect.bisect_left(lines, card.loc.line)
        if card.checks and not (said < len(lines) and lines[said] < end):
            results[card_digest(card)] = result.verified.get(card.loc, "")
    key = cache_key(b"", shown_path, check_mode)
    store_json(cache_dir, _card_results_name(shown_path), key, results)
