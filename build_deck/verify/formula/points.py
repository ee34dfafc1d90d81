"""Verification, formula checks: a card's formula and a check's reference, side by side.

Runs only inside a check's worker (:mod:`build_deck.verify.sandbox`), where the check's
names are bound. :func:`formula_points` evaluates the formula's parts and the
reference at several points; its parts:

- :func:`_reference_points`: the points and, for a reference given as values, those
  values (:func:`_points_of` for points the check gives, :func:`_draw_points` for
  :data:`POINTS` drawn the same on every run);
- :func:`_lookup_at`: how the formula's names read the check's names at one point;
- :func:`_bindings`: the names shown in messages for one point.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from build_deck.verify.formula.evaluation import CONSTANTS, Lookup, evaluate
from build_deck.verify.formula.scan import FormulaError

POINTS = 6
"""Points drawn when a check gives none."""


_SEED = 20_261_130


def _draw_points(names: list[str]) -> list[dict[str, Any]]:
    """Points for ``names``, the same on every run: three in (0, 1), then three of
    either sign, each value with two decimals so that messages stay readable."""
    import random

    rng = random.Random(_SEED)
    points = []
    for index in range(POINTS):
        point = {}
        for name in names:
            if index < POINTS // 2:
                point[name] = round(rng.uniform(0.1, 0.9), 2)
            else:
                point[name] = round(rng.uniform(0.2, 2.0) * rng.choice((-1, 1)), 2)
        points.append(point)
    return points


def _parameters(function: Any) -> list[str] | None:
    """The parameter names of a check's ``def`` or ``lambda``, or None."""
    names = getattr(function, "__argnames__", None)
    if names is None:
        return None
    keywords = getattr(function, "__kwargs__", None) or []
    return [*names, *(name for name, _ in keywords)]


def _points_of(given: Any, names: list[str]) -> list[dict[str, Any]]:
    if not isinstance(given, list | tuple) or not given:
        raise FormulaError("'points' must be a non-empty list")
    points = []
    for item in given:
        if isinstance(item, dict):
            points.append(dict(item))
        elif len(names) == 1:
            points.append({names[0]: item})
        elif isinstance(item, list | tuple) and len(item) == len(names):
            points.append(dict(zip(names, item, strict=True)))
        else:
            raise FormulaError(f"each point must give {', '.join(names)} (or be a dict)")
    return points


def formula_points(
    parts: Any, table: Mapping[str, Any], plain: Callable[[Any], Any]
) -> list[tuple[dict[str, Any], tuple[Any, ...], Any]]:
    """Evaluate a card's formula and the check's ``reference`` at several points.

    Runs in the check's worker: ``table`` holds the check's names after it ran, and
    calling ``reference`` or a function the formula names runs the check's code.
    ``plain`` turns a value into plain data (or raises TypeError).
    Returns, for each point, the numeric names the formula read, the value of each
    part of the formula, and the reference's value.
    """
    trees = list(parts)
    reference, variables, points, values = _reference_points(table)
    results = []
    for number, point in enumerate(points):
        read: dict[str, Any] = {}
        lookup = _lookup_at(table, point, read)
        shown = tuple(evaluate(tree, lookup) for tree in trees)
        expected = values[number] if variables is None else reference(**point)
        bindings = _bindings(read, point, plain)
        results.append((bindings, tuple(plain(v) for v in shown), plain(expected)))
    return results


def _reference_points(
    table: Mapping[str, Any],
) -> tuple[Any, list[str] | None, list[dict[str, Any]], list[Any]]:
    """The check's ``reference``, its variables (None for a reference given as values),
    the points, and the reference's values at them when it is given as values."""
    if "reference" not in table:
        raise FormulaError(
            "a formula check sets 'reference': a function of the formula's variables, "
            "or its values at 'points'"
        )
    reference = table["reference"]
    variables = _parameters(reference) if callable(reference) else None
    if callable(reference) and variables is None:
        raise FormulaError("'reference' must be a lambda or a def of the check")
    given = table.get("points")
    if variables is None:  # values at the given points
        if given is None:
            raise FormulaError("a reference given as values needs 'points'")
        first = given[0] if isinstance(given, list | tuple) and given else None
        names = sorted(first) if isinstance(first, dict) else []
        points = _points_of(given, names)
        values = list(reference) if isinstance(reference, list | tuple) else [reference]
        if len(values) != len(points):
            raise FormulaError(f"{len(values)} reference values for {len(points)} points")
    else:
        points = _points_of(given, variables) if given is not None else _draw_points(variables)
        values = []
    return reference, variables, points, values


def _lookup_at(table: Mapping[str, Any], point: dict[str, Any], read: dict[str, Any]) -> Lookup:
    """The lookup of the formula's names at ``point``; the numeric names it reads are
    recorded in ``read``."""
    import numpy as np

    def lookup(name: str, base: str, sub: str, applied: bool) -> Any:
        if name in point:
            found = point[name]
        elif name in table and name not in ("reference", "points"):
            found = table[name]
            arguments = _parameters(found) if callable(found) else None
            if arguments is not None and not applied:
                # a name the check defines as a function of the variables
                missing = [a for a in arguments if a not in point]
                if missing:
                    raise FormulaError(
                        f"'{name}' is a function of {', '.join(missing)}, "
                        "which the reference does not take"
                    )
                found = found(**{a: point[a] for a in arguments})
        elif name in CONSTANTS:
            return CONSTANTS[name]
        elif sub.isdigit() and base in table and np.ndim(table[base]) >= 1:
            found = np.asarray(table[base])[int(sub)]  # x_0: element 0 of x
        else:
            raise FormulaError(f"the check defines no '{name}'")
        if not callable(found):
            read[name] = found
        return found

    return lookup


def _bindings(
    read: dict[str, Any], point: dict[str, Any], plain: Callable[[Any], Any]
) -> dict[str, Any]:
    """The names shown in messages for one point: in the order the formula read them,
    then the reference's other variables; a value that is not plain data is left out."""
    import numpy as np

    bindings = {}
    for name, value in {**read, **point}.items():
        with contextlib.suppress(TypeError, ValueError):
            if np.size(value) <= 8:
                bindings[name] = plain(value)
    return bindings
