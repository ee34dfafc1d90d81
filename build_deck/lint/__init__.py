"""Card quality: warnings for cards that are right but would teach badly.

``lint_file`` looks at one notes file's cards as Anki will show them and warns, at the
card's ``file:line``, about four kinds of problem (docs/writing-cards.md shows each):

- ``give-away``: the front shows the answer (:mod:`.giveaway`);
- ``too-long``: an answer of several facts, a deletion of a sentence (:mod:`.length`);
- ``two-questions``: a question that asks two things (:mod:`.length`);
- ``run-on``: an answer that swallowed the notes after it (:mod:`.runon`).

``<!-- lint: allow KIND -->`` on a card's first line silences a kind for that card;
``as_errors`` turns the warnings into errors (``--strict``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from build_deck.lint.giveaway import give_aways, vocabulary
from build_deck.lint.length import too_long, two_questions
from build_deck.lint.runon import run_on
from build_deck.model import Card, Diagnostic, Severity

KINDS = ("give-away", "too-long", "two-questions", "run-on")
"""The kinds of warning, as messages and ``lint: allow`` comments name them."""

ALLOW = re.compile(r"<!--\s*lint:\s*allow\b(.*?)-->", re.DOTALL)
"""The comment that silences kinds of warning on one card."""


def lint_file(cards: Sequence[Card], source: str) -> list[Diagnostic]:
    """The card-quality warnings of one notes file's cards; ``source`` is its text."""
    lines = source.split("\n")
    words = vocabulary(cards)
    checks: dict[str, Callable[[Card], list[str]]] = {
        "run-on": lambda card: run_on(card, lines),
        "give-away": lambda card: give_aways(card, words),
        "too-long": too_long,
        "two-questions": two_questions,
    }
    found: list[Diagnostic] = []
    for card in cards:
        line = lines[card.loc.line - 1] if 0 < card.loc.line <= len(lines) else ""
        allowed, problem = _allowed(line)
        if problem:
            found.append(Diagnostic(card.loc, problem, Severity.WARNING))
        kinds: list[str] = []
        for kind, check in checks.items():
            if kind in allowed or (kind == "too-long" and "run-on" in kinds):
                continue  # an answer that runs on is long because of what it swallowed
            for message in check(card):
                kinds.append(kind)
                found.append(Diagnostic(card.loc, f"{kind}: {message}", Severity.WARNING))
    return found


def _allowed(line: str) -> tuple[set[str], str | None]:
    """The kinds a card's first line silences, and a message for a kind not known."""
    allowed: set[str] = set()
    for match in ALLOW.finditer(line):
        names = [n for n in re.split(r"[\s,]+", match.group(1)) if n]
        unknown = [n for n in names if n not in KINDS]
        if unknown or not names:
            what = f"unknown kind {unknown[0]!r}" if unknown else "no kind"
            return allowed, (
                f"{what} in '<!-- lint: allow ... -->': name one or more of {', '.join(KINDS)}"
            )
        allowed.update(names)
    return allowed, None


def kind_of(diagnostic: Diagnostic) -> str | None:
    """The kind of a card-quality diagnostic, or None for any other."""
    head = diagnostic.message.split(":", 1)[0]
    return head if head in KINDS else None


def as_errors(diagnostics: Sequence[Diagnostic]) -> list[Diagnostic]:
    """``diagnostics`` with every card-quality warning made an error (``--strict``)."""
    return [
        Diagnostic(d.loc, d.message, Severity.ERROR)
        if d.severity is Severity.WARNING and kind_of(d)
        else d
        for d in diagnostics
    ]
