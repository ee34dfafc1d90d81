r"""Test the checks: make what a verified card shows wrong, and see whether they notice.

For every verified card, each mutant changes one thing the card's mark vouches for:

- **a number** (the value shown, or a number in displayed arithmetic): its leading digit
  moves by one, far beyond the tolerance of its digits; a value's sign flips;
- **a formula** the card's check reads: a ``+`` becomes ``-`` and back, an exponent grows
  by one, a fraction turns over, a subscript index changes (``_0`` -> ``_1``,
  ``_i`` -> ``_j``), two symbols swap places, a function becomes another (``\\max`` and
  ``\\min``, ``\\log`` and ``\\exp``), a product becomes a sum.

A mutant that means the same as the original (``w_d w_c`` with its symbols swapped) is
not wrong and is dropped: both are evaluated at random points first. The mutants run
through the same verification as the build (the checks in the sandbox), all in one
batch. A mutant whose card still verifies *survives*: the check does not test what the
card shows. Results are kept in the build cache, keyed by the card and its checks.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from build_deck import cache as build_cache
from build_deck.model import Card, CardKind, Diagnostic, Severity, SourceLoc
from build_deck.verify import formula as tex
from build_deck.verify.arithmetic import arithmetic_chains
from build_deck.verify.checks import verify_cards
from build_deck.verify.formula_check import _formula_tex, formula_directive
from build_deck.verify.shown import strip_cloze
from build_deck.verify.values import _BOLD, parse_value

MAX_MUTANTS = 12
"""Mutants tried per card, at most."""


@dataclass(frozen=True, slots=True)
class Mutant:
    """A card changed in one place."""

    card: Card
    """The changed card (its source and deletions)."""
    shown: str
    """The changed piece as the card now shows it, for messages."""


@dataclass(frozen=True, slots=True)
class MutationReport:
    """What ``check --mutate`` found."""

    mutants: int
    """Mutants tried."""
    caught: int
    """Mutants that failed verification, as they should."""
    survivors: list[Diagnostic]
    """A warning for each mutant that still verified."""


# -- making mutants --------------------------------------------------------------------


def _bump_number(text: str) -> str | None:
    """``0.4076`` -> ``0.5076``, ``24`` -> ``34``, ``9`` -> ``19``: the leading digit moves."""
    for index, char in enumerate(text):
        if char.isdigit() and char != "0":
            bumped = "10" if char == "9" else str(int(char) + 1)
            return text[:index] + bumped + text[index + 1 :]
    match = re.search(r"0", text)
    if match is None:
        return None
    return text[: match.start()] + "1" + text[match.end() :]


def _group_end(text: str, start: int) -> int | None:
    """The index after the ``}`` that closes the ``{`` at ``start``."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def number_mutants(text: str) -> Iterator[tuple[str, str]]:
    """Each number in ``text`` with its leading digit moved."""
    for match in re.finditer(r"(?<![A-Za-z_\\{])\d+(?:\.\d+)?", text):
        bumped = _bump_number(match.group())
        if bumped is not None:
            yield "number", text[: match.start()] + bumped + text[match.end() :]


def formula_mutants(source: str) -> Iterator[tuple[str, str]]:
    """Each one-place change of a formula's TeX: signs, exponents, fractions, indices,
    swapped symbols, numbers."""
    for match in re.finditer(r"(?<=[^\s{(=,\\])\s*([+-])", source):
        sign = "-" if match.group(1) == "+" else "+"
        yield "sign", source[: match.start(1)] + sign + source[match.end(1) :]
    for match in re.finditer(r"\^(\{-?\d+\}|\d)", source):
        number = int(match.group(1).strip("{}"))
        yield "exponent", source[: match.start()] + f"^{{{number + 1}}}" + source[match.end() :]
    for match in re.finditer(r"\\[dt]?frac\s*(?=\{)", source):
        top_end = _group_end(source, match.end())
        if top_end is None or top_end >= len(source) or source[top_end] != "{":
            continue
        bottom_end = _group_end(source, top_end)
        if bottom_end is None:
            continue
        top, bottom = source[match.end() : top_end], source[top_end:bottom_end]
        yield "fraction", source[: match.end()] + bottom + top + source[bottom_end:]
    letters = sorted(set(re.findall(r"(?<!\\)_\{?([a-z])\}?(?![a-z])", source)))
    for match in re.finditer(r"(?<!\\)_(\{[^{}]*\}|[A-Za-z0-9])", source):
        index = match.group(1).strip("{}")
        if index.isdigit():
            changed = str(int(index) + 1)
        elif len(index) == 1 and index.isalpha():
            others = [x for x in letters if x != index]
            changed = others[0] if others else chr((ord(index) - ord("a") + 1) % 26 + ord("a"))
        elif index[-1].isdigit():
            changed = index[:-1] + str((int(index[-1]) + 1) % 10)
        else:
            changed = index + "2"
        yield "index", source[: match.start()] + "_{" + changed + "}" + source[match.end() :]
    symbols = []
    for match in re.finditer(r"(?<![\\A-Za-z])([A-Za-z])(?![A-Za-z])", source):
        if match.group(1) not in symbols and match.group(1) not in "de":
            symbols.append(match.group(1))
    if len(symbols) >= 2:
        first, second = symbols[0], symbols[1]
        swapped = re.sub(
            rf"(?<![\\A-Za-z])([{first}{second}])(?![A-Za-z])",
            lambda m: second if m.group(1) == first else first,
            source,
        )
        yield "swap", swapped
    for match in re.finditer(r"\\(max|min|log|exp|sin|cos)\b", source):
        other = {"max": "min", "min": "max", "log": "exp", "exp": "log", "sin": "cos"}
        replacement = other.get(match.group(1), "sin")
        yield "function", source[: match.start(1)] + replacement + source[match.end(1) :]
    for match in re.finditer(r"\\cdot|\\times", source):
        yield "operator", source[: match.start()] + "+" + source[match.end() :]
    yield from number_mutants(source)


def _values(source: str, names: dict[str, float]) -> list[Any] | None:
    """Each part of a chain evaluated with ``names`` (every name a number), or None."""
    import numpy as np

    def lookup(name: str, base: str, sub: str, applied: bool) -> Any:
        if name in tex.CONSTANTS:
            return tex.CONSTANTS[name]
        return names.setdefault(name, random.Random(name).uniform(0.2, 1.8))

    try:
        parts, _ = tex.split_chain(source)
        values = []
        for tokens in parts:
            if tokens:
                values.append(np.asarray(tex.evaluate(tex.parse_tokens(tokens, source), lookup)))
        return values
    except (tex.FormulaError, TypeError, ValueError, ArithmeticError, IndexError):
        return None


def same_meaning(original: str, mutated: str) -> bool:
    """True when two formulas agree at three random points: the mutant is not wrong."""
    import numpy as np

    for seed in range(3):
        names: dict[str, float] = {}
        rng = random.Random(seed)
        for name in re.findall(r"[A-Za-z]+", original):
            names[name] = rng.uniform(0.2, 1.8)
        first, second = _values(original, dict(names)), _values(mutated, dict(names))
        if first is None or second is None or len(first) != len(second):
            return False
        for a, b in zip(first, second, strict=True):
            if a.shape != b.shape or not np.allclose(a, b, rtol=1e-9, atol=1e-12):
                return False
    return True


def _only_the_name(original: str, mutated: str) -> bool:
    """True when a mutant changes only the name a formula defines (``\\frac{dL}{dx} =``),
    which a formula check does not read."""
    try:
        before, _ = tex.split_chain(original)
        after, _ = tex.split_chain(mutated)
        if len(before) < 2 or len(before) != len(after) or not before[0]:
            return False
        if not tex.is_name(tex.parse_tokens(before[0], original)):
            return False
    except tex.FormulaError:
        return False
    texts = [tex.part_text(p, original) for p in before[1:]]
    return texts == [tex.part_text(p, mutated) for p in after[1:]]


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


def _sites(card: Card, verdict: str) -> list[_Site]:
    sites: list[_Site] = []
    if "formula" in verdict:
        for check in card.checks:
            named = formula_directive(check)
            if named is None:
                continue
            try:
                found = _formula_tex(card, check, named)
            except tex.FormulaError:
                continue
            sites.append(_Site(found, "$", "$", formula_mutants, True))
    if "arithmetic" in verdict:
        for chain in arithmetic_chains(card):
            for part in chain:
                if part.span is None or strip_cloze(part.math) != part.math:
                    continue
                start, end = part.span
                before, after = "$" + part.math[:start], part.math[end:] + "$"
                sites.append(_Site(part.math[start:end], before, after, formula_mutants, True))
    if "value" in verdict:
        if card.kind is CardKind.CLOZE:
            for _, body in card.deletions[:1]:
                sites.append(_Site(body, "::", "", number_mutants, False))
        else:
            for match in _BOLD.finditer(card.value_source):
                text = match.group(1) or match.group(2)
                if parse_value(text) is not None:
                    sites.append(_Site(text, "**", "**", number_mutants, False))
                    break
    return sites


def card_mutants(card: Card, verdict: str) -> list[Mutant]:
    """The mutants of what a verified card's mark vouches for (see the module docstring)."""
    found: list[Mutant] = []
    seen: set[tuple[str, str]] = set()
    for site in _sites(card, verdict):
        for _, changed in site.operators(site.inner):
            if changed == site.inner or (site.before, changed) in seen:
                continue
            seen.add((site.before, changed))
            if site.math and same_meaning(strip_cloze(site.inner), strip_cloze(changed)):
                continue
            if site.math and _only_the_name(strip_cloze(site.inner), strip_cloze(changed)):
                continue
            old = site.before + site.inner + site.after
            mutated = _replaced(card, old, site.before + changed + site.after)
            if mutated is not None:
                found.append(Mutant(mutated, tex.shown(strip_cloze(changed))))
    if len(found) > MAX_MUTANTS:
        # Keep a spread of operators rather than the first few.
        step = len(found) / MAX_MUTANTS
        found = [found[int(i * step)] for i in range(MAX_MUTANTS)]
    return found


# -- running them ----------------------------------------------------------------------


def _key(card: Card, verdict: str) -> str:
    data = json.dumps(
        [card.value_source, card.deletions, [c.code for c in card.checks], verdict, MAX_MUTANTS]
    )
    return build_cache.cache_key(data.encode(), "mutate")


def _relocated(card: Card, number: int) -> Card:
    """A mutant under a path of its own, so that its results can be told apart."""
    path = f"{card.loc.path}#mutant{number}"
    checks = tuple(replace(c, loc=SourceLoc(path, c.loc.line)) for c in card.checks)
    return replace(card, loc=SourceLoc(path, card.loc.line), checks=checks)


def mutate_cards(
    cards: Sequence[Card], verified: dict[SourceLoc, str], cache_dir: Path | None
) -> MutationReport:
    """Make and run the mutants of every verified card; report the survivors."""
    results: dict[SourceLoc, list[tuple[str, bool]]] = {}
    todo: list[tuple[Card, list[Mutant]]] = []
    for card in cards:
        verdict = verified.get(card.loc)
        if verdict is None:
            continue
        if cache_dir is not None:
            hit, _ = build_cache.load_json(cache_dir, f"mutate:{card.loc}", _key(card, verdict))
            if isinstance(hit, list):
                results[card.loc] = [(str(shown), bool(caught)) for shown, caught in hit]
                continue
        todo.append((card, card_mutants(card, verdict)))

    batch: list[Card] = []
    owners: list[tuple[Card, str]] = []
    for card, mutants in todo:
        for mutant in mutants:
            batch.append(_relocated(mutant.card, len(batch)))
            owners.append((card, mutant.shown))
    passed, problems = verify_cards(batch) if batch else ({}, [])
    failed_paths = {d.loc.path for d in problems if d.severity is Severity.ERROR}
    for mutant_card, (card, shown) in zip(batch, owners, strict=True):
        caught = mutant_card.loc.path in failed_paths or mutant_card.loc not in passed
        results.setdefault(card.loc, []).append((shown, caught))
    for card, _ in todo:
        results.setdefault(card.loc, [])
        if cache_dir is not None:
            verdict = verified[card.loc]
            data = [[shown, caught] for shown, caught in results[card.loc]]
            build_cache.store_json(cache_dir, f"mutate:{card.loc}", _key(card, verdict), data)

    survivors = []
    total = caught_count = 0
    for loc in sorted(results):
        for shown, caught in results[loc]:
            total += 1
            caught_count += caught
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
    return MutationReport(total, caught_count, survivors)


def digest(report: MutationReport) -> str:
    """The line ``check --mutate`` ends with."""
    share = 100.0 * report.caught / report.mutants if report.mutants else 100.0
    return f"mutants: {report.caught} of {report.mutants} caught ({share:.1f}%)"
