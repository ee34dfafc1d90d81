"""Verification, formula reader: what a read tree holds.

- :func:`symbols`: the names a tree reads (what a check must bind);
- :func:`rounded_inputs`: the tree with each number that looks rounded moved by half a
  unit in its last digit (how far a chain with ``\\approx`` may be off);
- :func:`is_name`: whether a part only names what follows (``L =``).
"""

from __future__ import annotations

from typing import Any

from build_deck.verify.formula.scan import Node


def symbols(node: Node) -> set[str]:
    """The names a tree reads, apart from the indices of its sums."""
    found: set[str] = set()

    def walk(item: Any, bound: frozenset[str]) -> None:
        if not isinstance(item, tuple) or not item:
            return
        if item[0] == "sym":
            if item[1] not in bound:
                found.add(item[1])
            return
        if item[0] in ("sum", "prod", "max", "min") and len(item) == 5:
            inner = bound | {item[1]}
            walk(item[2], bound)
            walk(item[3], bound)
            walk(item[4], inner)
            return
        for child in item[1:]:
            walk(child, bound)

    walk(node, frozenset())
    return found


def rounded_inputs(node: Node) -> list[tuple[Node, float]]:
    """For each number written in a tree with three or more significant digits, or with
    a trailing zero after its point, so likely rounded (``0.665``, ``0.090``, not
    ``0.5`` or ``0.001``), the tree with that number moved by half a unit in its last
    digit, and that half unit."""
    found: list[tuple[Node, float]] = []

    def variants(item: Any) -> list[tuple[Any, float]]:
        if not isinstance(item, tuple) or not item:
            return []
        if item[0] == "num":
            written = item[2] if len(item) > 2 else ""
            decimals = written.partition(".")[2]
            significant = written.replace(".", "").lstrip("0")
            if not decimals or (len(significant) < 3 and not decimals.endswith("0")):
                return []
            half = 0.5 * 10.0 ** -len(written.split(".")[1])
            return [(("num", item[1] + half, written), half)]
        out = []
        for position, child in enumerate(item):
            for changed, half in variants(child):
                out.append(((*item[:position], changed, *item[position + 1 :]), half))
        return out

    found.extend(variants(node))
    return found


def is_name(node: Node) -> bool:
    """True for a part that only names what follows: ``L``, ``\\frac{dL}{dw}``, ``H(p, q)``."""
    if node[0] == "sym":
        return True
    return node[0] == "apply" and all(n[0] == "sym" for n in node[1:])
