r"""Verification: the givens a card states in its prompt, such as ``$n = 28$``.

A symbolic member of a displayed chain (``$(n - 1)s - 2p + k = 27 \cdot 2 - 2 + 4$``)
is evaluated with the names the card's check binds, or with values the card states.
A card states a value in the math of its prompt (a Q/A card's question, a cloze's text
outside its deletions): ``$n = 28$``, ``$x = (2, 1)$``, or a definition whose value
follows from other givens, ``$L = \frac{1}{1+\exp(u)}$`` with ``$u = 0.1$``.

- :func:`stated_values` reads them (:class:`Stated`): the values, and for each vector
  whether the card counts its elements from 0 or from 1;
- the lookup that evaluates a formula with them is
  :func:`build_deck.verify.formula.points.given_lookup`, the same in the build and in a
  check's worker.

What the answer states is not a given: it is what the mark vouches for.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from build_deck.model import Card
from build_deck.verify import formula as tex
from build_deck.verify.formula.points import given_lookup
from build_deck.verify.shown import Piece, prompt_math, recalled_pieces


@dataclass(frozen=True, slots=True)
class Stated:
    """What a card's prompt states."""

    values: dict[str, Any] = field(default_factory=dict)
    """Each given name's value: a number, or a vector as a (nested) list."""
    first_index: dict[str, int] = field(default_factory=dict)
    """For each name of a vector, the index of its first element on this card: 0 when
    the card writes ``x_0``, else 1 (``x = (x_1, x_2, x_3)``)."""


def _statements(maths: list[str]) -> list[tuple[str, tex.Node]]:
    """Every ``name = expression`` of the prompt's math, in order."""
    found = []
    for source in maths:
        for chunk in _top_level_chunks(source):
            try:
                parts, relations = tex.split_chain(chunk)
                trees = [tex.parse_tokens(p, chunk) if p else None for p in parts]
            except tex.FormulaError:
                continue
            if not relations or any(r != "=" for r in relations):
                continue
            names = [t[1] for t in trees[:-1] if t is not None and t[0] == "sym"]
            last = trees[-1]
            if last is None or len(names) != len(trees) - 1:
                continue
            found += [(name, last) for name in names]
    return found


def _top_level_chunks(source: str) -> list[str]:
    """``source`` cut at commas outside brackets: ``n = 28, s = 2`` states two values."""
    chunks, depth, start = [], 0, 0
    for index, char in enumerate(source):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            chunks.append(source[start:index])
            start = index + 1
    return [*chunks, source[start:]]


def _plain(value: Any) -> Any:
    """A number or an array as plain data (floats and nested lists), or raise."""
    import numpy as np

    array = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(array)):
        raise ValueError("not finite")
    return array.tolist() if array.ndim else float(array)


def stated_values(card: Card, pieces: list[Piece] | None = None) -> Stated:
    """The values the card's prompt states; a name stated twice with different values
    is not a given. ``pieces`` are what the card asks to recall, if already read."""
    prompt = prompt_math(card)
    statements = _statements(prompt)
    pieces = recalled_pieces(card) if pieces is None else pieces
    maths = [*prompt, *(p.text for p in pieces)]
    indexed = _indexed_names(maths)
    names = {name for name, _ in statements} | set(indexed)
    first_index = {name: 0 if 0 in indexed.get(name, ()) else 1 for name in names}
    values: dict[str, Any] = {}
    ambiguous: set[str] = set()
    pending = list(statements)
    for _ in range(len(statements)):  # a definition may use a given stated after it
        left = []
        for name, tree in pending:
            try:
                value = _plain(tex.evaluate(tree, given_lookup({}, values, first_index)))
            except (tex.FormulaError, TypeError, ValueError, ArithmeticError, IndexError):
                left.append((name, tree))
                continue
            if name in values and values[name] != value:
                ambiguous.add(name)
            values[name] = value
        if len(left) == len(pending):
            break
        pending = left
    for name in ambiguous:
        with contextlib.suppress(KeyError):
            del values[name]
    return Stated(values, first_index)


def _indexed_names(maths: list[str]) -> dict[str, set[int]]:
    """The names written with a number as subscript, and those numbers (``x`` of
    ``x_0 + x_1``: 0 and 1): vectors whose elements the card counts from 0 or 1."""
    found: dict[str, set[int]] = {}
    for source in maths:
        with contextlib.suppress(tex.FormulaError):
            for tokens in tex.split_chain(source)[0]:
                with contextlib.suppress(tex.FormulaError):
                    if tokens:
                        _subscripts(tex.parse_tokens(tokens, source), found)
    return found


def _subscripts(tree: Any, found: dict[str, set[int]]) -> None:
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple) and item:
            if item[0] == "sym" and item[3].isdigit():
                found.setdefault(item[2], set()).add(int(item[3]))
            stack.extend(item[1:])
