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
import keyword
import re
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
) -> tuple[list[tuple[dict[str, Any], tuple[Any, ...], Any]], list[str]]:
    """Evaluate a card's formula and the check's ``reference`` at several points.

    Runs in the check's worker: ``table`` holds the check's names after it ran, and
    calling ``reference`` or a function the formula names runs the check's code.
    ``plain`` turns a value into plain data (or raises TypeError).
    Returns, for each point, the numeric names the formula read, the value of each
    part of the formula, and the reference's value; and the names that the points do
    not move (:func:`still_names`).
    """
    trees = list(parts)
    reference, variables, points, values = _reference_points(table)
    results = []
    reads = []
    for number, point in enumerate(points):
        read: dict[str, Any] = {}
        lookup = _lookup_at(table, point, read)
        shown = tuple(evaluate(tree, lookup) for tree in trees)
        expected = values[number] if variables is None else reference(**point)
        bindings = _bindings(read, point, plain)
        results.append((bindings, tuple(plain(v) for v in shown), plain(expected)))
        reads.append({**read, **point})
    return results, still_names(reads)


def still_names(reads: list[dict[str, Any]]) -> list[str]:
    """The names a formula check holds still, each as ``name: why``: a name that takes
    one value at every point (``y`` always 1 lets ``(p - 1) x`` pass for ``(p - y) x``),
    or only the values 0 and 1 (where ``y^2`` is ``y``). An identity matrix of size 2 or
    more (``I = np.eye(3)``) is a constant, not a name held still: no wrong formula
    passes for the right one with it, as ``1 - \\gamma P`` differs from ``I - \\gamma P``."""
    import numpy as np

    still = []
    for name in dict.fromkeys(n for read in reads for n in read):
        try:
            values = [np.asarray(read[name], dtype=float) for read in reads if name in read]
        except (TypeError, ValueError):
            continue
        if all(_is_identity(v) for v in values):
            continue  # the identity matrix I is a constant, as 1 is
        moved = any(v.shape != values[0].shape or not np.array_equal(v, values[0]) for v in values)
        if not moved:
            shown = str(values[0].tolist())
            shown = shown if len(shown) <= 30 else shown[:29] + "…"
            still.append(f"{name}: {shown} at every point")
        elif all(np.all((v == 0) | (v == 1)) for v in values):
            still.append(f"{name}: only 0 and 1")
    return still


def _is_identity(value: Any) -> bool:
    """Whether ``value`` is an identity matrix of size 2 or more (``np.eye(n)``)."""
    import numpy as np

    shape = np.shape(value)
    return len(shape) == 2 and shape[0] == shape[1] >= 2 and np.array_equal(value, np.eye(shape[0]))


def given_lookup(
    table: Mapping[str, Any], given: Mapping[str, Any], first_index: Mapping[str, int]
) -> Lookup:
    """The lookup of a displayed chain's names: the check's names (``table``), then the
    values the card states (``given``), then ``e`` and ``\\pi``; ``x_1`` is an element
    of a vector ``x``, counted from ``first_index[x]`` (0 or 1; 0 unless given). A
    function of the check that the formula does not apply, ``dL_du = lambda w_0, x_0:
    ...``, is called with the values of its parameters."""
    import numpy as np

    def lookup(name: str, base: str, sub: str, applied: bool) -> Any:
        for source in (table, given):
            if name in source:
                found = source[name]
                if callable(found) and not applied:
                    return call_with_values(name, found, parameter)
                return np.asarray(found, dtype=float) if isinstance(found, list) else found
        if name in CONSTANTS:
            return CONSTANTS[name]
        if sub.isdigit():
            for source in (table, given):
                if base in source and not callable(source[base]):
                    vector = np.asarray(source[base], dtype=float)
                    index = int(sub) - first_index.get(base, 0)
                    if vector.ndim >= 1 and 0 <= index < len(vector):
                        return vector[index]
        raise FormulaError(f"no value for '{name}'")

    def parameter(name: str) -> Any:
        """A parameter's value: a number or a vector, never a function."""
        base, _, sub = name.rpartition("_") if re.search(r"_\d+$", name) else (name, "", "")
        found = lookup(name, base or name, sub, True)
        if callable(found):
            raise FormulaError(f"'{name}' is a function")
        return found

    return lookup


def call_with_values(name: str, function: Any, value_of: Callable[[str], Any]) -> Any:
    """``function`` (a check's ``lambda`` or ``def``) called with the value of each of its
    parameters, as ``value_of`` gives them; FormulaError if one has none."""
    parameters = _parameters(function)
    if not parameters:
        raise FormulaError(f"'{name}' is a function of the check")
    values = {}
    for parameter in parameters:
        try:
            values[parameter] = value_of(parameter)
        except FormulaError:
            raise FormulaError(
                f"'{name}' is a function of {parameter}, which has no value here"
            ) from None
    return function(**values)


def member_values(
    trees: Any,
    table: Mapping[str, Any],
    given: Mapping[str, Any],
    first_index: Mapping[str, int],
    plain: Callable[[Any], Any],
) -> list[tuple[bool, Any]]:
    """Each tree's value with the check's names bound, or why it has none: runs in the
    check's worker, after the check. ``(True, value)`` or ``(False, message)``."""
    lookup = given_lookup(table, given, first_index)
    results: list[tuple[bool, Any]] = []
    for tree in trees:
        try:
            results.append((True, plain(evaluate(tree, lookup))))
        except (FormulaError, TypeError, ValueError, ArithmeticError, IndexError) as exc:
            results.append((False, str(exc)))
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
        if name not in point and name not in table and keyword.iskeyword(name[:-1]):
            name = name[:-1]  # lambda_ given as points=[{'lambda': ...}]
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
