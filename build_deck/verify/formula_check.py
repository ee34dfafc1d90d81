r"""Verification: a formula check, the formula it names on its card against its reference.

A check that starts with ``# formula`` verifies TeX the card shows:

- :func:`formula_directive` reads what ``# formula`` names (a formula, a deletion, or
  by default the card's answer), and :func:`_formula_tex` finds that TeX on the card;
- :func:`read_formula` reads it into a :class:`Formula` with
  :mod:`build_deck.verify.formula`: the parts of its chain after a leading name;
- the check's worker evaluates those parts and the check's ``reference`` at several
  points; :func:`compare_formula` compares what it returned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from build_deck.model import Card, CardKind, Check
from build_deck.verify import formula as tex
from build_deck.verify.sandbox import Outcome
from build_deck.verify.shown import answer_pieces, shown_pieces, strip_cloze
from build_deck.verify.values import format_value

_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*formula\b[ \t]*(?::(.*))?$", re.MULTILINE)
_FORMULA_RTOL = 1e-6
_FORMULA_ATOL = 1e-9


@dataclass(frozen=True, slots=True)
class Formula:
    """The formula a check verifies, read from the card."""

    source: str
    """The TeX as shown (spacing dropped), for messages."""
    parts: tuple[tex.Node, ...]
    """The trees of the parts compared with the reference."""
    texts: tuple[str, ...]
    """The TeX of each of those parts."""


def formula_directive(check: Check) -> str | None:
    """What ``# formula`` in a check names ('' for the default), or None."""
    match = _DIRECTIVE.search(check.code)
    if match is None:
        return None
    return (match.group(1) or "").strip()


def _formula_tex(card: Card, check: Check, named: str) -> str:
    """The TeX of the formula a check names on its card; raises FormulaError."""
    target = named if re.fullmatch(r"[cC]\d+", named) else check.target
    if named and target is not named:
        wanted = " ".join(named.strip("$").split())
        shown = (
            " ".join(card.value_source.split())
            + " "
            + " ".join(strip_cloze(card.value_source).split())  # V = {{c1::...}} in one $...$
            + " "
            + " ".join(" ".join(body.split()) for _, body in card.deletions)
        )
        if wanted not in shown:
            raise tex.FormulaError(f"the card shows no formula ${wanted}$")
        return wanted
    if card.kind is CardKind.CLOZE:
        bodies = [
            (n, body) for n, body in card.deletions if target is None or f"c{n}" == target.lower()
        ]
        if not bodies:
            raise tex.FormulaError(f"the card has no deletion {target}")
        for number, body in bodies:
            maths = [p.text for p in shown_pieces(body) if p.kind == "math"]
            if maths:
                return maths[0]
            if target is not None:
                raise tex.FormulaError(f"deletion c{number} holds no math")
        raise tex.FormulaError("no deletion of the card holds math; name one with ```check c2")
    maths = [p.text for p in answer_pieces(card) if p.kind == "math"]
    if not maths:
        raise tex.FormulaError("the answer shows no formula")
    return strip_cloze(maths[-1])


def read_formula(card: Card, check: Check, named: str) -> Formula:
    """The formula a check verifies: the parts of its chain after a leading name
    (``\\frac{dL}{dw} =``), parsed. Raises FormulaError."""
    source = strip_cloze(_formula_tex(card, check, named))
    chain, relations = tex.split_chain(source)
    odd = [r for r in relations if r not in ("=", "≈")]
    if odd:
        raise tex.FormulaError(
            f"${tex.shown(source)}$ holds '{odd[0]}': name the part to verify, "
            "e.g. '# formula: $...$'"
        )
    trees = []
    for tokens in chain:
        if not tokens:
            continue
        try:
            trees.append((tex.parse_tokens(tokens, source), tex.part_text(tokens, source)))
        except tex.FormulaError as exc:
            raise tex.FormulaError(f"cannot read ${tex.shown(source)}$: {exc}") from None
    if len(trees) > 1 and tex.is_name(trees[0][0]):
        trees = trees[1:]
    if not trees:
        raise tex.FormulaError(f"${tex.shown(source)}$ has nothing to evaluate")
    return Formula(tex.shown(source), tuple(t for t, _ in trees), tuple(t for _, t in trees))


def _format_point(bindings: dict[str, Any]) -> str:
    return ", ".join(f"{name}={format_value(value)}" for name, value in bindings.items())


def _array(value: Any) -> Any:
    """``value`` as an array of floats, or None when it is ragged or not numbers."""
    import numpy as np

    try:
        return np.asarray(value, dtype=float)
    except (ValueError, TypeError, OverflowError):
        return None


def compare_formula(
    formula: Formula, outcome: Outcome, tol: float | None, rtol: float | None
) -> str | None:
    """None if every part of the formula matches the reference, else the message."""
    import numpy as np

    compared = 0
    for point in outcome.formula:
        reference = _array(point.reference)
        if reference is None:
            return (
                f"formula {formula.source}: the check's reference gives "
                f"{format_value(point.reference)}, which is not a number or a regular array"
            )
        if not np.all(np.isfinite(reference)):
            continue
        compared += 1
        for text, value in zip(formula.texts, point.shown, strict=True):
            shown = _array(value)
            if shown is None:
                return f"formula {text} gives {format_value(value)}: not a regular array"
            same = shown.shape == reference.shape or shown.size == reference.size == 1
            if same:
                same = bool(
                    np.allclose(
                        shown.reshape(reference.shape),
                        reference,
                        rtol=_FORMULA_RTOL if rtol is None else rtol,
                        atol=_FORMULA_ATOL if tol is None else tol,
                    )
                )
            if not same:
                where = _format_point(point.bindings)
                return (
                    f"formula {text} differs from the check's reference"
                    + (f" at {where}" if where else "")
                    + f": shows {format_value(value)}, reference {format_value(point.reference)}"
                )
    if compared < 2 and len(outcome.formula) >= 2:
        return (
            f"formula {formula.source}: the reference is not finite at the points; "
            "give 'points' where it is defined"
        )
    return None


def still_message(still: tuple[str, ...]) -> str:
    """The error for a formula check whose points hold names still."""
    return (
        f"formula check holds {'; '.join(still)}: across its points every variable "
        "takes at least two values, not only 0 and 1; make it a parameter of the "
        "reference or give points that move it"
    )
