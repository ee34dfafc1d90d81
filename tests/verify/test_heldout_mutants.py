"""A held-out mutation test of the shipped deck: does the mark cover what the card shows?

``check --mutate`` tests the checks with its own operators. This test uses others,
which the build never sees: a result's last digit, a decimal point, a relation turned
round, a factor or a subscript dropped, a term negated, a function dropped, brackets
removed, numbers doubled or exchanged. Each mutant changes one thing in the math or
the values of the answer (Q/A) or the deletions (cloze) of a card that carries the
mark, and runs through the same verification as the build. A mutant is caught when its
card fails or loses the mark.

Mutants the formula reader cannot read are left out (they would test the reader), and
so are those that mean the same as the original at random values of their names. The
mutants are sampled with a fixed seed, so the test is the same on every run.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from build_deck.model import Card, Severity, SourceLoc
from build_deck.pipeline import run
from build_deck.report import BuildOptions
from build_deck.verify import formula as tex
from build_deck.verify.checks import verify_cards
from build_deck.verify.mutants import readable
from build_deck.verify.shown import deletion_spans, recalled_pieces
from build_deck.verify.values import parse_value
from tests.conftest import REPO

PER_CARD = 2
"""Mutants sampled per marked card."""
SEED = 18


def _numbers(text: str) -> Iterator[re.Match[str]]:
    return re.finditer(r"(?<![A-Za-z_\\{])\d+(?:\.\d+)?", text)


def last_digit(text: str) -> Iterator[str]:
    """A number's last digit moved by two: 0.4076 -> 0.4078, 56 -> 58."""
    for match in _numbers(text):
        number = match.group()
        digit = (int(number[-1]) + 2) % 10
        yield text[: match.start()] + number[:-1] + str(digit) + text[match.end() :]


def decimal_shift(text: str) -> Iterator[str]:
    """A number ten times larger: 0.25 -> 2.5, 3 -> 30."""
    for match in _numbers(text):
        value = float(match.group()) * 10
        shown = f"{value:g}" if "." in match.group() else str(int(value))
        yield text[: match.start()] + shown + text[match.end() :]


def doubled(text: str) -> Iterator[str]:
    """A number doubled: 0.7616 -> 1.5232."""
    for match in _numbers(text):
        number = match.group()
        value = float(number) * 2
        shown = f"{value:.{len(number.partition('.')[2])}f}" if "." in number else str(int(value))
        yield text[: match.start()] + shown + text[match.end() :]


def numbers_exchanged(text: str) -> Iterator[str]:
    """Two different numbers trade places."""
    found = list(_numbers(text))
    for first, second in itertools.pairwise(found):
        if first.group() != second.group():
            yield (
                text[: first.start()]
                + second.group()
                + text[first.end() : second.start()]
                + first.group()
                + text[second.end() :]
            )


def relation_turned(text: str) -> Iterator[str]:
    """A relation turned round: < and >, \\le and \\ge, = and \\ne."""
    turns = {"<": ">", ">": "<", "\\le": "\\ge", "\\ge": "\\le", "=": "\\ne"}
    for match in re.finditer(r"\\le\b|\\ge\b|[<>=]", text):
        turned = turns[match.group()]
        if turned[0] == "\\" and text[match.end() : match.end() + 1].isalpha():
            turned += " "  # \ne x, not the command \nex
        yield text[: match.start()] + turned + text[match.end() :]


def factor_dropped(text: str) -> Iterator[str]:
    """One factor of a product left out: 2 w x_1 -> 2 x_1, a \\cdot b -> a."""
    for match in re.finditer(r"\\cdot\s*(?:\d+(?:\.\d+)?|[A-Za-z](?:_\{?\w+\}?)?)", text):
        yield text[: match.start()] + text[match.end() :]
    for match in re.finditer(r"(?<=[\w}])\s+([A-Za-z](?:_\{?\w+\}?)?)(?=[\s+\-=)]|$)", text):
        yield text[: match.start()] + text[match.end() :]


def subscript_dropped(text: str) -> Iterator[str]:
    """A subscript left out: x_1 -> x."""
    for match in re.finditer(r"(?<=[A-Za-z])_(\{[^{}]*\}|\w)", text):
        yield text[: match.start()] + text[match.end() :]


def negated(text: str) -> Iterator[str]:
    """A bracketed group or a fraction negated."""
    for match in re.finditer(r"\(|\\frac", text):
        yield text[: match.start()] + "-" + text[match.start() :]


def function_dropped(text: str) -> Iterator[str]:
    """A function left out: \\log x -> x, \\sqrt{x} is not (check --mutate drops it)."""
    for match in re.finditer(r"\\(?:log|ln|exp|tanh|sin|cos)\b\s*|\\sigma(?=\()", text):
        yield text[: match.start()] + text[match.end() :]


def brackets_dropped(text: str) -> Iterator[str]:
    """A pair of round brackets removed: (n - 1)s -> n - 1s."""
    for match in re.finditer(r"\(([^()]*)\)", text):
        if "," not in match.group(1):
            yield text[: match.start()] + match.group(1) + text[match.end() :]


OPERATORS: dict[str, Callable[[str], Iterator[str]]] = {
    "last digit": last_digit,
    "decimal shift": decimal_shift,
    "doubled": doubled,
    "numbers exchanged": numbers_exchanged,
    "relation turned": relation_turned,
    "factor dropped": factor_dropped,
    "subscript dropped": subscript_dropped,
    "negated": negated,
    "function dropped": function_dropped,
    "brackets dropped": brackets_dropped,
}
VALUE_OPERATORS = ("last digit", "decimal shift", "doubled")
"""The operators that apply to a value shown outside math (a bold value, a deletion)."""


def _same(original: str, mutated: str) -> bool:
    """Whether every part of both chains agrees at two random values of their names."""
    import numpy as np

    def values(source: str, seed: int) -> list[object] | None:
        def lookup(name: str, base: str, sub: str, applied: bool) -> object:
            if name in tex.CONSTANTS:
                return tex.CONSTANTS[name]
            return random.Random(f"{seed}{name}").uniform(0.3, 1.7)

        try:
            parts, relations = tex.split_chain(source)
            found: list[object] = [tuple(relations)]
            for tokens in parts:
                if tokens:
                    found.append(np.asarray(tex.evaluate(tex.parse_tokens(tokens, source), lookup)))
            return found
        except (tex.FormulaError, TypeError, ValueError, ArithmeticError, IndexError):
            return None

    for seed in range(2):
        first, second = values(original, seed), values(mutated, seed)
        if first is None or second is None or len(first) != len(second) or first[0] != second[0]:
            return False
        for a, b in zip(first[1:], second[1:], strict=True):
            a, b = np.asarray(a), np.asarray(b)
            if a.shape != b.shape or not np.allclose(a, b, rtol=1e-9, atol=1e-12):
                return False
    return True


def _same_value(original: str, mutated: str) -> bool:
    """Whether two values shown are the same numbers (0.000 and 0)."""
    first, second = parse_value(original), parse_value(mutated)
    if first is None or second is None:
        return False
    return [n.value for n in first.numbers] == [n.value for n in second.numbers]


def mutants_of(card: Card) -> list[tuple[str, Card]]:
    """Every held-out mutant of a card: (operator, the changed card)."""
    found = []
    source = card.value_source
    for piece in recalled_pieces(card):
        raw = source[piece.start : piece.end]
        if piece.kind == "math":
            if raw != piece.text:
                continue  # math holding a deletion
            operators = list(OPERATORS)
        else:
            operators = list(VALUE_OPERATORS)
        inner_at = raw.find(piece.text, raw.find("::") + 2 if "::" in raw else 0)
        for name in operators:
            for changed in OPERATORS[name](piece.text):
                if changed == piece.text:
                    continue
                if piece.kind == "math" and (not readable(changed) or _same(piece.text, changed)):
                    continue
                if piece.kind == "value" and _same_value(piece.text, changed):
                    continue
                new_raw = raw[:inner_at] + changed + raw[inner_at + len(piece.text) :]
                new_source = source[: piece.start] + new_raw + source[piece.end :]
                bodies = [body for _, _, _, body in deletion_spans(new_source)]
                deletions = card.deletions
                if len(bodies) == len(card.deletions):
                    deletions = tuple(
                        (n, body) for (n, _), body in zip(card.deletions, bodies, strict=True)
                    )
                found.append((name, replace(card, value_source=new_source, deletions=deletions)))
    return found


@pytest.fixture(scope="module")
def outcome() -> dict[str, list[bool]]:
    """For each operator, whether each of its sampled mutants was caught."""
    options = BuildOptions(notes_dir=REPO / "notes", cards_dir=REPO / "cards", cache_dir=None)
    report = run(options, write=False, verify=verify_cards)
    assert report.errors == []
    marked = [card for card in report.cards if card.loc in report.verified]
    rng = random.Random(SEED)
    batch: list[tuple[str, Card]] = []
    for card in marked:
        found = mutants_of(card)
        for name, mutant in rng.sample(found, min(PER_CARD, len(found))):
            path = f"{card.loc.path}#heldout{len(batch)}"
            checks = tuple(replace(c, loc=SourceLoc(path, c.loc.line)) for c in mutant.checks)
            moved = replace(mutant, loc=SourceLoc(path, card.loc.line), checks=checks)
            batch.append((name, moved))
    verified, problems = verify_cards([card for _, card in batch])
    failed = {d.loc.path for d in problems if d.severity is Severity.ERROR}
    results: dict[str, list[bool]] = {}
    for name, card in batch:
        caught = card.loc.path in failed or card.loc not in verified
        results.setdefault(name, []).append(caught)
    return results


def test_the_mark_covers_what_the_card_shows(outcome: dict[str, list[bool]]) -> None:
    caught = sum(sum(found) for found in outcome.values())
    total = sum(len(found) for found in outcome.values())
    lines = [f"{name}: {sum(found)} of {len(found)}" for name, found in sorted(outcome.items())]
    print(f"held-out mutants caught: {caught} of {total} ({100 * caught / total:.1f}%)")
    print("\n".join(lines))
    assert total >= 500
    assert caught >= 0.9 * total, lines


def test_every_operator_found_mutants(outcome: dict[str, list[bool]]) -> None:
    assert set(outcome) == set(OPERATORS)
