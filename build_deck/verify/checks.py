r"""Verification: compare what a card shows with an independent computation.

Three things a card shows are verified:

- **its value**, read from the card's Markdown source: the first **bold** value of a
  Q/A answer (else its last value), or a cloze deletion, compared with the ``answer``
  its check computes. The tolerance comes from the digits shown: half a unit in the
  last digit, unless the check sets ``tol`` (absolute) or ``rtol`` (relative);
- **its formula**, when a check starts with ``# formula``: the TeX the card shows is
  read into an expression (:mod:`build_deck.verify.formula`), evaluated in the check's worker
  with the check's names bound, and compared with the check's ``reference`` at several
  points;
- **its arithmetic**: displayed math whose parts are all numbers
  (``$0.5 \cdot 2 + 0.1 = 1.1$``, ``$2 \cdot 3 =$ **6**``) is evaluated here, without
  running any user code, and each part compared, within the digits shown. A chain
  written with ``\sim`` is rough on purpose and is not checked.

A card is verified (and earns the mark) only when one of these was compared; checks
that only assert supporting facts must pass but do not earn it.

The parts: :mod:`.values` (the value), :mod:`.formula_check` (the formula),
:mod:`.arithmetic` (displayed arithmetic), and :mod:`.shown` (the pieces of Markdown
the last two find their TeX in). This module runs the checks and judges each card.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from build_deck.model import Card, Check, Diagnostic, Severity, SourceLoc
from build_deck.verify import formula as tex
from build_deck.verify.coverage import CardReading, judge_coverage
from build_deck.verify.formula_check import (
    Formula,
    compare_formula,
    formula_directive,
    read_formula,
    still_message,
)
from build_deck.verify.sandbox import (
    CHECK_BUDGET,
    MAX_MESSAGE_LENGTH,
    ConfinementUnavailable,
    Outcome,
    run_checks,
)
from build_deck.verify.values import CardValue, card_value, compare


def _short(message: str) -> str:
    """``message`` on one line of at most :data:`MAX_MESSAGE_LENGTH` characters."""
    message = " ".join(message[: MAX_MESSAGE_LENGTH * 2].split())
    if len(message) > MAX_MESSAGE_LENGTH:
        message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
    return message


VALUE = "value recomputed"
"""What the mark says of a card whose check recomputed its value."""
ARITHMETIC = "arithmetic checked"
"""What the mark says of a card whose displayed arithmetic was recomputed."""
FORMULA = "formula checked at {} points"
"""What the mark says of a card whose formula was compared with a reference."""


@dataclass(slots=True)
class _Verdict:
    """What one check verified of its card."""

    earned: list[str]
    """What the mark may say for it."""
    problem: Diagnostic | None = None
    """Its failure, if it failed."""
    value_at: int | None = None
    """Where the value it recomputed is shown, if it recomputed one."""


def _judge(
    card: Card, check: Check, outcome: Outcome, formula: Formula | None, value: CardValue | str
) -> _Verdict:
    """What one check verified of its card (``value``: what it compares against), and its
    failure if it failed."""
    if outcome.error is not None:
        lines = check.code.count("\n") + 1
        error_line = outcome.error_line if 0 < (outcome.error_line or 0) <= lines else None
        line = check.loc.line + (error_line or 1)
        message = _short(f"check failed: {outcome.error}")
        return _Verdict([], Diagnostic(SourceLoc(check.loc.path, line), message))
    earned = []
    if formula is not None:
        problem = compare_formula(formula, outcome, outcome.tol, outcome.rtol)
        if problem:
            return _Verdict([], Diagnostic(card.loc, _short(problem)))
        if outcome.still:
            return _Verdict([], Diagnostic(check.loc, _short(still_message(outcome.still))))
        earned.append(FORMULA.format(len(outcome.formula)))
    if not outcome.has_answer:
        if outcome.asserts or formula is not None:
            return _Verdict(earned)
        return _Verdict([], Diagnostic(check.loc, "the check sets no 'answer' and asserts nothing"))
    if isinstance(value, str):
        return _Verdict([], Diagnostic(check.loc, _short(f"cannot check this card: {value}")))
    problem = compare(value, outcome)
    if problem:
        return _Verdict([], Diagnostic(card.loc, _short(problem)))
    return _Verdict([VALUE, *earned], value_at=value.at)


_Job = tuple[Card, Check, Formula | None, CardValue | str]


@dataclass(slots=True)
class CardRead:
    """What is read of one card before its checks run, in the process that parsed it
    (:func:`read_card`). Verifying the card fills in its reading's values: it is read for
    one verification."""

    card: Card
    """The card read."""
    jobs: list[tuple[Check, Formula | None, CardValue | str]]
    """Its checks to run, each with the formula it verifies and the value it compares
    against (or why there is none: :func:`~build_deck.verify.values.card_value`)."""
    problems: list[Diagnostic]
    """Its formula checks that cannot be read: each fails the card."""
    reading: CardReading | None
    """What its mark must cover, and its chains (``reading.card`` is the card); None for
    a card already judged where it was read (:attr:`arithmetic`)."""
    arithmetic: bool = False
    """For a card already judged: whether its chains earned it the mark."""


def read_card(card: Card) -> CardRead:
    """Read one card for its verification: the formula each check verifies (a formula
    that cannot be read fails its card) and the value it compares against, and what
    the card asks to recall. A card without checks is judged here (its chains compared,
    :func:`~build_deck.verify.coverage.judge_coverage`) unless that finds a problem: in a
    parse worker, so that its reading need not be carried back to the build."""
    jobs: list[tuple[Check, Formula | None, CardValue | str]] = []
    problems: list[Diagnostic] = []
    formulas = set()
    for check in card.checks:
        named = formula_directive(check)
        formula = None
        if named is not None:
            try:
                formula = read_formula(card, check, named)
            except tex.FormulaError as exc:
                problems.append(Diagnostic(check.loc, f"formula check: {exc}"))
                continue
            formulas.add(formula.source)
        jobs.append((check, formula, card_value(card, check)))
    reading = CardReading.read(card, formulas)
    if not jobs and not problems:
        # No check will change what its chains hold: judged now, the reading is not kept.
        # With no problem, the verdict is the same whatever --strict says.
        arithmetic, judged = judge_coverage(reading, earned=False, strict=False)
        if not judged:
            return CardRead(card, [], [], None, arithmetic)
    return CardRead(card, jobs, problems, reading)


def read_cards(cards: Sequence[Card]) -> dict[SourceLoc, CardRead]:
    """:func:`read_card` of each card, by its place; for :func:`verify_cards`."""
    return {card.loc: read_card(card) for card in cards}


def load_readers() -> None:
    """Import what reading a card needs (numpy) before the parse workers fork, so that
    each of them does not import it again."""
    import numpy  # noqa: F401


def _read_jobs(
    cards: Sequence[Card],
    diagnostics: list[Diagnostic],
    failed: set[SourceLoc],
    read: Mapping[SourceLoc, CardRead],
) -> tuple[list[_Job], dict[SourceLoc, CardReading], dict[SourceLoc, bool]]:
    """The checks to run, each with the formula it verifies, and what is read of each
    card to judge its mark (from ``read`` where it holds the card, else read here): its
    reading, or for a card already judged, whether its chains earned the mark."""
    jobs: list[_Job] = []
    readings: dict[SourceLoc, CardReading] = {}
    judged: dict[SourceLoc, bool] = {}
    for card in cards:
        got = read.get(card.loc)
        if got is None or got.card is not card:
            got = read_card(card)
        diagnostics += got.problems
        if got.problems:
            failed.add(card.loc)
        jobs += [(card, *job) for job in got.jobs]
        if got.reading is None:
            judged[card.loc] = got.arithmetic
        else:
            readings[card.loc] = got.reading
    return jobs, readings, judged


def _members_job(reading: CardReading) -> dict[str, Any] | None:
    """What a check of the card evaluates of its chains: the members that need names."""
    pending = reading.values.pending()
    if not pending:
        return None
    stated = reading.values.stated
    return {
        "trees": [tree for _, tree in pending],
        "given": stated.values,
        "first_index": stated.first_index,
    }


def verify_cards(
    cards: Sequence[Card],
    *,
    budget: float = CHECK_BUDGET,
    trust_checks: bool = False,
    strict: bool = False,
    workers: int | None = None,
    read: Mapping[SourceLoc, CardRead] | None = None,
) -> tuple[dict[SourceLoc, str], list[Diagnostic]]:
    """Run every check and compare every chain; returns the verified cards, each with
    what was verified, and the failures. ``workers``: at most that many check workers
    (by default one per core). ``read``: the cards as :func:`read_cards` read them
    where they were parsed (a card not there is read here); they are used up.

    A card is verified only when everything it asks to recall is covered
    (:mod:`build_deck.verify.coverage`). All checks together may take ``budget``
    seconds. Where checks cannot be confined they are run only with ``trust_checks``;
    otherwise the cards stay unverified by their checks, with one warning saying why
    (an error with ``strict``, as are the warnings about what a mark does not cover).
    """
    diagnostics: list[Diagnostic] = []
    failed: set[SourceLoc] = set()
    jobs, readings, judged = _read_jobs(cards, diagnostics, failed, read or {})
    codes = [check.code for _, check, *_ in jobs]
    formulas = [list(f.parts) if f is not None else None for _, _, f, _ in jobs]
    members = [_members_job(readings[card.loc]) for card, *_ in jobs]
    outcomes: list[Outcome] = []
    if jobs:
        try:
            outcomes = run_checks(
                codes, formulas=formulas, members=members, budget=budget, workers=workers
            )
        except ConfinementUnavailable as exc:
            if not trust_checks:
                diagnostics.append(_not_run([(c, k) for c, k, *_ in jobs], str(exc), strict))
                # Cards that no check ran for stay unverified, whatever else they show.
                failed |= {card.loc for card, *_ in jobs}
                jobs = []
            else:
                outcomes = run_checks(
                    codes,
                    formulas=formulas,
                    members=members,
                    budget=budget,
                    workers=workers,
                    confine=False,
                )
    earned: dict[SourceLoc, list[str]] = {}
    for (card, check, formula, shown), outcome in zip(jobs, outcomes, strict=True):
        if outcome.budget_exceeded:
            failed.add(card.loc)
            continue
        reading = readings[card.loc]
        for (key, _), (ok, value) in zip(reading.values.pending(), outcome.members, strict=False):
            reading.values.take(key, ok, value)
        verdict = _judge(card, check, outcome, formula, shown)
        if verdict.problem is not None:
            diagnostics.append(verdict.problem)
            failed.add(card.loc)
        if verdict.value_at is not None:
            reading.checked_values.add(verdict.value_at)
        if formula is not None and verdict.earned:
            reading.formulas_passed.add(formula.source)
        earned.setdefault(card.loc, []).extend(verdict.earned)
    diagnostics += _judge_marks(cards, readings, judged, earned, failed, strict)
    cut = sum(outcome.budget_exceeded for outcome in outcomes)
    if cut:
        pairs = [(card, check) for card, check, *_ in jobs]
        diagnostics.append(_budget_exceeded(pairs, outcomes, budget, cut))
    verified = {
        loc: "; ".join(dict.fromkeys(kinds))
        for loc, kinds in earned.items()
        if kinds and loc not in failed
    }
    return verified, diagnostics


def _judge_marks(
    cards: Sequence[Card],
    readings: Mapping[SourceLoc, CardReading],
    judged: Mapping[SourceLoc, bool],
    earned: dict[SourceLoc, list[str]],
    failed: set[SourceLoc],
    strict: bool,
) -> list[Diagnostic]:
    """Whether each card's mark covers all it asks to recall (:func:`judge_coverage`):
    what its chains earned is added to ``earned``, a card that is not covered to
    ``failed``; returns the diagnostics. ``judged``: the cards judged where they were
    read, each with whether its chains earned the mark."""
    diagnostics: list[Diagnostic] = []
    for card in cards:
        problems: list[Diagnostic] = []
        if card.loc in judged:
            arithmetic = judged[card.loc]
        else:
            kinds = earned.get(card.loc, [])
            arithmetic, problems = judge_coverage(readings[card.loc], bool(kinds), strict)
        diagnostics += problems
        if problems:
            failed.add(card.loc)
        elif arithmetic:
            earned.setdefault(card.loc, []).append(ARITHMETIC)
    return diagnostics


def _not_run(jobs: Sequence[tuple[Card, Check]], why: str, strict: bool) -> Diagnostic:
    """The one line saying that no check ran because none could be confined."""
    message = (
        f"checks not run, {len(jobs)} checks left unverified: {why}; pass --trust-checks "
        "to run them unconfined, only for notes you trust"
    )
    severity = Severity.ERROR if strict else Severity.WARNING
    return Diagnostic(jobs[0][1].loc, _short(message), severity)


def _budget_exceeded(
    jobs: Sequence[tuple[Card, Check]], outcomes: Sequence[Outcome], budget: float, cut: int
) -> Diagnostic:
    """One error for a build whose checks ran out of time, at the file that took most."""
    seconds: dict[str, float] = {}
    slowest: dict[str, tuple[float, SourceLoc]] = {}
    for (_, check), outcome in zip(jobs, outcomes, strict=True):
        path = check.loc.path
        seconds[path] = seconds.get(path, 0.0) + outcome.seconds
        if outcome.seconds >= slowest.get(path, (-1.0, check.loc))[0]:
            slowest[path] = (outcome.seconds, check.loc)
    worst = max(seconds, key=lambda path: seconds[path])
    return Diagnostic(
        slowest[worst][1],
        f"checks stopped after {budget:g} s, the time all checks of a build may take; "
        f"this file's took longest ({seconds[worst]:.1f} s, all workers together); "
        f"{cut} checks were cut or not run, their cards unverified; make the slow checks "
        "faster or raise --check-budget",
    )
