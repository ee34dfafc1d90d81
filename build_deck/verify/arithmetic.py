r"""Verification: displayed arithmetic, recomputed without running any user code.

Displayed math whose parts are all numbers (``$0.5 \cdot 2 + 0.1 = 1.1$``,
``$2 \cdot 3 =$ **6**``) is evaluated with :mod:`build_deck.verify.formula`, and each
part compared within the digits shown:

- :func:`arithmetic_chains` reads every such chain a card shows into its parts
  (:class:`ChainPart`), each with its value and tolerance;
- :func:`check_arithmetic` compares neighbouring parts. A chain written with ``\sim``
  is rough on purpose and is not checked.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import dataclass

from build_deck.model import Card, Diagnostic
from build_deck.verify import formula as tex
from build_deck.verify.shown import answer_pieces, strip_cloze
from build_deck.verify.values import Number, format_value, parse_number


@dataclass(frozen=True, slots=True)
class ChainPart:
    """One numeric part of a chain of displayed arithmetic."""

    text: str
    """Its TeX, as quoted in messages."""
    value: float
    """What it evaluates to."""
    tolerance: float
    """How far off it may be (see :func:`arithmetic_chains`)."""
    math: str
    """The TeX of the whole math span it is part of."""
    span: tuple[int, int] | None
    """Where it is in ``math``; None for a bold value after the math."""


def arithmetic_chains(card: Card) -> list[list[ChainPart]]:
    """Every chain of numbers the card displays, as its parts (TeX, value, tolerance);
    parts that are not plain numbers are left out.

    A number as written (``0.4167``, ``1.97 \\cdot 10^6``, a bold value right after a
    chain that ends in ``=``) has the tolerance of its digits; a computed part is exact,
    or, in a chain with ``\\approx``, may be off by what rounding its numbers moves it by.
    """
    if "=" not in card.value_source and "approx" not in card.value_source:
        return []  # no chain: spare the Markdown parser
    pieces = answer_pieces(card)
    chains = []
    for index, piece in enumerate(pieces):
        if piece.kind != "math":
            continue
        source = strip_cloze(piece.text)
        try:
            parts, relations = tex.split_chain(source)
        except tex.FormulaError:
            continue
        if not relations or any(r not in ("=", "≈") for r in relations):
            continue  # not a chain, or not one of equalities (\sim marks a rough one)
        bold: Number | None = None
        if not parts[-1]:
            following = [p for p in pieces[index + 1 :] if p.kind != "text" or p.text.strip()]
            if following and following[0].kind == "bold":
                bold = parse_number(following[0].text.replace("$", ""))
        values: list[ChainPart] = []
        for position, tokens in enumerate(parts):
            text = tex.part_text(tokens, source)
            number = parse_number(text) if text else bold
            if position == len(parts) - 1 and not tokens and bold is not None:
                text = bold.text
            if number is not None:
                value, tolerance = number.value, number.tolerance
            else:
                try:
                    tree = tex.parse_tokens(tokens, source)
                    value = float(tex.evaluate(tree, tex.numeric_lookup))
                except (tex.FormulaError, TypeError, ValueError, ArithmeticError):
                    continue
                # In a chain with \approx, the numbers a computed part is written with
                # may be rounded too (-\log 0.665 \approx 0.4076): it may be off by what
                # half a unit in each of their last digits moves it by.
                spread = 0.0
                rounded = tex.rounded_inputs(tree)[:20] if "≈" in relations else []
                for changed, _ in rounded:
                    with contextlib.suppress(tex.FormulaError, TypeError, ValueError):
                        spread += abs(float(tex.evaluate(changed, tex.numeric_lookup)) - value)
                tolerance = spread
            span = (tokens[0].start, tokens[-1].end) if tokens else None
            values.append(ChainPart(text, value, tolerance, source, span))
        if len(values) >= 2:
            chains.append(values)
    return chains


def check_arithmetic(card: Card) -> tuple[bool, list[Diagnostic]]:
    """Compare the parts of every numeric chain the card shows: whether any was
    compared, and the chains that do not hold."""
    problems = []
    compared = False
    for parts in arithmetic_chains(card):
        compared = True
        for first, second in itertools.pairwise(parts):
            left, a, ta = first.text, first.value, first.tolerance
            right, b, tb = second.text, second.value, second.tolerance
            broken = [p.text for p in (first, second) if not math.isfinite(p.value)]
            if broken:
                problems.append(
                    Diagnostic(card.loc, f"displayed arithmetic: {broken[0]} is not a number")
                )
                break
            # A number carries the tolerance of its digits; a computed part, in a chain
            # with \approx, that of the numbers it is computed from.
            allowed = abs(ta) + abs(tb)
            allowed += 1e-9 * max(abs(a), abs(b))
            # Half a unit is the edge: 1.5 is shown as 2, not as 1.
            if abs(a - b) > allowed or (allowed and abs(a - b) >= allowed * (1 - 1e-6)):
                problems.append(
                    Diagnostic(
                        card.loc,
                        f"displayed arithmetic does not hold: {left} is {format_value(a)}, "
                        f"{right} is {format_value(b)} (tolerance ±{allowed:.3g} from the "
                        "digits shown); write \\sim for a rough chain",
                    )
                )
                break
    return compared, problems
