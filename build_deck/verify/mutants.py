r"""Verification, ``check --mutate``: the mutants of a verified card, one change each.

Each operator belongs to a family, which ``check --mutate`` reports on its own:

- ``number``: a number's leading digit moves by one (``0.4076`` -> ``0.5076``), far
  beyond the tolerance of its digits; ``coefficient``: a factor in front of a term
  changes (``2 w x_1`` -> ``3 w x_1``, ``x`` -> ``2x``);
- ``sign``: a ``+`` becomes ``-`` and back; ``operator``: a product becomes a sum;
- ``exponent``: an exponent grows by one; ``fraction``: a fraction turns over;
- ``index``: a subscript changes (``_0`` -> ``_1``, ``_i`` -> ``_j``);
- ``swap``: two variables trade places; ``zero-one``: a variable becomes 0 or 1;
- ``drop-term``: a term of a sum is dropped; ``drop-root``: ``\sqrt{x}`` becomes
  ``x``; ``drop-transpose``: ``^\top`` goes;
- ``function``: a function becomes its neighbour: ``\log`` and ``\exp``, ``\sin`` and
  ``\cos``, ``\tanh`` and ``\sigma``, ``\max`` and ``\min``.

Every piece of math a verified card asks to recall is changed so, chains included
(:func:`formula_mutants`); a value shown gets ``number`` mutants
(:func:`number_mutants`). :func:`same_meaning` drops a mutant that means the same as
the original (``w_d w_c`` swapped to ``w_c w_d``), :func:`readable` one the formula
reader cannot read (it would test the reader, not the check).
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator
from typing import Any

from build_deck.verify import formula as tex
from build_deck.verify.arithmetic import names_result

FAMILIES = (
    "number",
    "coefficient",
    "sign",
    "operator",
    "exponent",
    "fraction",
    "index",
    "swap",
    "zero-one",
    "drop-term",
    "drop-root",
    "drop-transpose",
    "function",
)
"""The operator families, in the order reports list them."""

_SYMBOL = re.compile(r"(?<![\\A-Za-z])([A-Za-z])(_\{[^{}]*\}|_[A-Za-z0-9])?(?![A-Za-z{])")
_FUNCTION_SWAPS = {
    "max": "min",
    "min": "max",
    "log": "exp",
    "exp": "log",
    "ln": "exp",
    "sin": "cos",
    "cos": "sin",
    "tanh": "sigma",
    "sigma": "tanh",
}


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


def _variables(source: str) -> list[str]:
    """The variables of a formula as written (``w_{d2}``), first seen first; not ``d``
    or ``e``, which are read as a derivative's or Euler's."""
    found: list[str] = []
    for match in _SYMBOL.finditer(source):
        if match.group(1) in "de" and not match.group(2):
            continue
        if match.group(0) not in found:
            found.append(match.group(0))
    return found


def _replace_variable(source: str, variable: str, by: str) -> str:
    pattern = rf"(?<![\\A-Za-z]){re.escape(variable)}(?![A-Za-z_{{])"
    return re.sub(pattern, lambda _: by, source)


def _structure_mutants(source: str) -> Iterator[tuple[str, str]]:
    """Signs, exponents, fractions, indices: the operators that keep every symbol."""
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


def _symbol_mutants(source: str) -> Iterator[tuple[str, str]]:
    """Swapped variables, and a variable replaced by 0 or by 1."""
    variables = _variables(source)
    pairs = list(itertools.pairwise(variables))[:2]
    if len(variables) > 2:
        pairs.append((variables[0], variables[-1]))
    for first, second in pairs:
        swapped = _replace_variable(source, first, "\0")
        swapped = _replace_variable(swapped, second, first).replace("\0", second)
        yield "swap", swapped
    for variable in variables[:4]:
        for digit in ("{0}", "{1}"):  # braced: 4p becomes 4{0}, not the number 40
            yield "zero-one", _replace_variable(source, variable, digit)


def _dropped_terms(source: str) -> Iterator[str]:
    """``source`` with one term of a sum left out: a ``+``/``-`` and what follows it up
    to the next one at the same depth, or the end of its bracket."""
    depth_at: list[int] = []
    depth = 0
    for char in source:
        if char in "{([":
            depth += 1
        elif char in "})]":
            depth -= 1
        depth_at.append(depth)
    for match in re.finditer(r"(?<=[^\s{(=,\\&])\s*[+-]", source):
        start = match.start()
        level = depth_at[start]
        end = match.end()
        while end < len(source):
            char = source[end]
            if depth_at[end] < level or (char in "})]" and depth_at[end] == level - 1):
                break
            if depth_at[end] == level and (
                char in "+-=<>&" or source.startswith(("\\approx", "\\le", "\\ge"), end)
            ):
                break
            end += 1
        if end > match.end() + 1:
            yield source[:start] + source[end:]


def _member_starts(source: str) -> list[int]:
    """Where each member of a chain starts, but a first one that only names the result."""
    try:
        parts, _ = tex.split_chain(source)
        starts = [part[0].start for part in parts if part]
        if len(parts) > 1 and parts[0] and tex.is_name(tex.parse_tokens(parts[0], source)):
            starts = starts[1:]
    except tex.FormulaError:
        return []
    return starts


def _shape_mutants(source: str) -> Iterator[tuple[str, str]]:
    """Dropped terms, roots and transposes; changed coefficients; products as sums."""
    for dropped in _dropped_terms(source):
        yield "drop-term", dropped
    for match in re.finditer(r"\\sqrt\s*(?:\[[^\]]*\])?(?=\{)", source):
        yield "drop-root", source[: match.start()] + source[match.end() :]
    for match in re.finditer(r"\^\{?\\top\}?|\^\{?T\}?(?![A-Za-z])|\^\{?\\intercal\}?", source):
        yield "drop-transpose", source[: match.start()] + source[match.end() :]
    for match in re.finditer(
        r"(?<![\w.\\{^_])(\d+(?:\.\d+)?)(?=\s*(?:\\[A-Za-z]|[A-Za-z(]))", source
    ):
        number = match.group(1)
        changed = str(int(number) + 1) if number.isdigit() else f"{float(number) * 2:g}"
        yield "coefficient", source[: match.start(1)] + changed + source[match.end(1) :]
    for start in _member_starts(source):
        if re.match(r"[A-Za-z(]|\\(?!frac|dfrac|tfrac|sum|prod)[A-Za-z]", source[start:]):
            yield "coefficient", source[:start] + "2" + source[start:]
    for match in re.finditer(r"\\cdot|\\times", source):
        yield "operator", source[: match.start()] + "+" + source[match.end() :]
    for match in re.finditer(r"\\(max|min|log|exp|ln|sin|cos|tanh|sigma)\b", source):
        if match.group(1) == "sigma" and not source.startswith("(", match.end()):
            continue  # \sigma as a name, not the logistic function
        replacement = _FUNCTION_SWAPS[match.group(1)]
        yield "function", source[: match.start(1)] + replacement + source[match.end(1) :]


def formula_mutants(source: str) -> Iterator[tuple[str, str]]:
    """Each one-place change of a formula's TeX, with its family (module docstring)."""
    yield from _structure_mutants(source)
    yield from _symbol_mutants(source)
    yield from _shape_mutants(source)
    yield from number_mutants(source)


def readable(source: str) -> bool:
    """Whether the formula reader reads every part of ``source``."""
    try:
        parts, _ = tex.split_chain(source)
        for tokens in parts:
            if tokens:
                tex.parse_tokens(tokens, source)
    except tex.FormulaError:
        return False
    return True


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


def only_the_name(original: str, mutated: str) -> bool:
    """True when a mutant changes only the name a formula defines (``\\frac{dL}{dx} =``),
    which nothing compares."""
    try:
        before, _ = tex.split_chain(original)
        after, _ = tex.split_chain(mutated)
        if len(before) < 2 or len(before) != len(after) or not before[0]:
            return False
        if not names_result(tex.parse_tokens(before[0], original)):
            return False
    except tex.FormulaError:
        return False
    texts = [tex.part_text(p, original) for p in before[1:]]
    return texts == [tex.part_text(p, mutated) for p in after[1:]]
