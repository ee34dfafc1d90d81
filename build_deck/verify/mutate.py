r"""Test the checks: make what a verified card shows wrong, and see whether they notice.

A verified card's mark covers everything it asks to recall, so every piece of it is
changed, one change per mutant (:mod:`build_deck.verify.mutants`): the math of its
answer or deletions, chains included, by the operators of every family, and each value
it shows by its leading digit. Mutants that mean the same as the original, that only
rename what a formula defines, or that the formula reader cannot read are dropped
first.

The mutants run through the same verification as the build (the checks in the
sandbox), all in one batch. A mutant whose card still verifies *survives*: nothing
compares what it changed. The report counts the mutants caught, in all and by family.
Results are kept in the build cache, keyed by the card and its checks.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from build_deck import cache as build_cache
from build_deck.model import Card, CardKind, Diagnostic, Severity, SourceLoc
from build_deck.verify import formula as tex
from build_deck.verify.checks import verify_cards
from build_deck.verify.coverage import states_nothing
from build_deck.verify.mutants import (
    FAMILIES,
    formula_mutants,
    number_mutants,
    only_the_name,
    readable,
    same_meaning,
)
from build_deck.verify.shown import recalled_pieces, strip_cloze

MAX_MUTANTS = 16
"""Mutants tried per card, at most."""
_VERSION = 2
"""Bumped when the mutants change, so that cached results are not reused."""


@dataclass(frozen=True, slots=True)
class Mutant:
    """A card changed in one place."""

    card: Card
    """The changed card (its source and deletions)."""
    shown: str
    """The changed piece as the card now shows it, for messages."""
    family: str = "number"
    """The family of the operator that made it (:data:`~.mutants.FAMILIES`)."""


@dataclass(frozen=True, slots=True)
class MutationReport:
    """What ``check --mutate`` found."""

    mutants: int
    """Mutants tried."""
    caught: int
    """Mutants that failed verification, as they should."""
    survivors: list[Diagnostic]
    """A warning for each mutant that still verified."""
    families: dict[str, tuple[int, int]] = field(default_factory=dict)
    """For each operator family: mutants caught, and tried."""


def _replaced(card: Card, old: str, new: str) -> Card | None:
    """``card`` with the first ``old`` in its source (and deletions) replaced by ``new``."""
    if old not in card.value_source:
        return None
    source = card.value_source.replace(old, new, 1)
    # A deletion's body is what follows its "::".
    inner_old, inner_new = old.removeprefix("::"), new.removeprefix("::")
    deletions = tuple(
        (number, body.replace(inner_old, inner_new, 1) if inner_old in body else body)
        for number, body in card.deletions
    )
    return replace(card, value_source=source, deletions=deletions)


@dataclass(frozen=True, slots=True)
class _Site:
    """A piece of a card's source to mutate, with the text around it that places it."""

    inner: str
    """The piece the operators change."""
    before: str
    """What precedes it in the source (``$``, ``**``, ``::``...)."""
    after: str
    """What follows it."""
    operators: Callable[[str], Iterator[tuple[str, str]]]
    """The mutation operators for this piece."""
    math: bool
    """Whether the piece is TeX (then mutants that mean the same are dropped)."""


def _value_mutants(text: str) -> Iterator[tuple[str, str]]:
    for _, changed in number_mutants(text):
        yield "value", changed


def _sites(card: Card) -> list[_Site]:
    """Every piece of what the card asks to recall, as a place to change."""
    sites: list[_Site] = []
    for piece in recalled_pieces(card):
        raw = card.value_source[piece.start : piece.end]
        if piece.kind == "math":
            if raw != piece.text or states_nothing(piece):
                continue  # math holding a deletion (its markup is kept), or only a name
            sites.append(_Site(piece.text, "$", "$", formula_mutants, True))
        elif card.kind is CardKind.CLOZE:
            at = raw.find(piece.text, raw.find("::") + 2 if "::" in raw else 2)
            before, after = raw[:at], raw[at + len(piece.text) :]
            sites.append(_Site(piece.text, before, after, _value_mutants, False))
        else:
            sites.append(_Site(piece.text, "**", "**", _value_mutants, False))
    return sites


def card_mutants(card: Card) -> list[Mutant]:
    """The mutants of what a verified card asks to recall (see the module docstring)."""
    candidates: dict[str, list[tuple[_Site, str]]] = {}
    seen: set[tuple[str, str]] = set()
    for site in _sites(card):
        for family, changed in site.operators(site.inner):
            if changed != site.inner and (site.before, changed) not in seen:
                seen.add((site.before, changed))
                candidates.setdefault(family, []).append((site, changed))
    # A spread of operators rather than the first few: one of each family in turn.
    rounds = itertools.zip_longest(*candidates.values())
    ordered = [(f, c) for row in rounds for f, c in zip(candidates, row, strict=True) if c]
    found: list[Mutant] = []
    for family, (site, changed) in ordered:
        if len(found) == MAX_MUTANTS:
            break
        mutated_tex = strip_cloze(changed)
        if site.math:
            original = strip_cloze(site.inner)
            if (
                (not readable(mutated_tex) and readable(original))
                or same_meaning(original, mutated_tex)
                or only_the_name(original, mutated_tex)
            ):
                continue
        old = site.before + site.inner + site.after
        mutated = _replaced(card, old, site.before + changed + site.after)
        if mutated is not None:
            found.append(Mutant(mutated, tex.shown(mutated_tex), family))
    return found


# -- running them ----------------------------------------------------------------------


def _key(card: Card, verdict: str) -> str:
    data = json.dumps(
        [
            card.value_source,
            card.deletions,
            [c.code for c in card.checks],
            verdict,
            MAX_MUTANTS,
            _VERSION,
        ]
    )
    return build_cache.cache_key(data.encode(), "mutate")


def _relocated(card: Card, number: int) -> Card:
    """A mutant under a path of its own, so that its results can be told apart."""
    path = f"{card.loc.path}#mutant{number}"
    checks = tuple(replace(c, loc=SourceLoc(path, c.loc.line)) for c in card.checks)
    return replace(card, loc=SourceLoc(path, card.loc.line), checks=checks)


_Result = tuple[str, bool, str]
"""A mutant as shown, whether it was caught, and its family."""


def run_mutants(mutants: Sequence[Mutant]) -> list[bool]:
    """Whether each mutant was caught: its card fails verification or is not marked."""
    batch = [_relocated(mutant.card, number) for number, mutant in enumerate(mutants)]
    passed, problems = verify_cards(batch) if batch else ({}, [])
    failed_paths = {d.loc.path for d in problems if d.severity is Severity.ERROR}
    return [card.loc.path in failed_paths or card.loc not in passed for card in batch]


def mutate_cards(
    cards: Sequence[Card], verified: dict[SourceLoc, str], cache_dir: Path | None
) -> MutationReport:
    """Make and run the mutants of every verified card; report the survivors."""
    results: dict[SourceLoc, list[_Result]] = {}
    todo: list[tuple[Card, list[Mutant]]] = []
    for card in cards:
        verdict = verified.get(card.loc)
        if verdict is None:
            continue
        if cache_dir is not None:
            hit, _ = build_cache.load_json(cache_dir, f"mutate:{card.loc}", _key(card, verdict))
            if isinstance(hit, list):
                results[card.loc] = [(str(s), bool(c), str(f)) for s, c, f in hit]
                continue
        todo.append((card, card_mutants(card)))

    mutants = [mutant for _, found in todo for mutant in found]
    owners = [card for card, found in todo for _ in found]
    for mutant, card, caught in zip(mutants, owners, run_mutants(mutants), strict=True):
        results.setdefault(card.loc, []).append((mutant.shown, caught, mutant.family))
    for card, _ in todo:
        results.setdefault(card.loc, [])
        if cache_dir is not None:
            verdict = verified[card.loc]
            data = [list(result) for result in results[card.loc]]
            build_cache.store_json(cache_dir, f"mutate:{card.loc}", _key(card, verdict), data)
    return _report(results, verified)


def _report(
    results: dict[SourceLoc, list[_Result]], verified: dict[SourceLoc, str]
) -> MutationReport:
    """The counts, by family too, and a warning for each survivor."""
    survivors = []
    total = caught_count = 0
    families: dict[str, tuple[int, int]] = {}
    for loc in sorted(results):
        for shown, caught, family in results[loc]:
            total += 1
            caught_count += caught
            got, tried = families.get(family, (0, 0))
            families[family] = (got + caught, tried + 1)
            if not caught:
                survivors.append(
                    Diagnostic(
                        loc,
                        f"the check passes when the card shows {shown}; "
                        "it does not test the formula"
                        if "formula" in verified[loc]
                        else f"the checks pass when the card shows {shown}; "
                        "they do not test what the card shows",
                        Severity.WARNING,
                    )
                )
    order = [f for f in (*FAMILIES, "value") if f in families]
    ordered = {f: families[f] for f in [*order, *sorted(set(families) - set(order))]}
    return MutationReport(total, caught_count, survivors, ordered)


def digest(report: MutationReport) -> str:
    """What ``check --mutate`` ends with: a line per operator family, then the total."""
    lines = [
        f"  {family}: {caught} of {tried} caught"
        for family, (caught, tried) in report.families.items()
    ]
    share = 100.0 * report.caught / report.mutants if report.mutants else 100.0
    lines.append(f"mutants: {report.caught} of {report.mutants} caught ({share:.1f}%)")
    return "\n".join(lines)
