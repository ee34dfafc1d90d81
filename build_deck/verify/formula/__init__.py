r"""Verification: read the TeX a card shows into a small expression tree, and evaluate it.

A card's math comes from shared notes, so it is never handed to ``eval`` or to a
computer-algebra system that evaluates while it parses. A recursive-descent reader
accepts a small, explicit subset of TeX (numbers, letters with subscripts, Greek
letters, ``+ - \cdot \times / ^``, ``\frac``, ``\sqrt``, brackets, ``|x|``,
``\exp \log \ln \max \min \sigma \tanh``..., ``\sum``/``\prod`` with or without bounds,
``\max_j``/``\min_j`` over an index, ``^\top``, ``^+``, norms ``\|x\|_2``, Leibniz
derivatives ``\frac{dL}{dx_b}`` read as one name) and refuses
anything else, naming the part it could not read. Its result is plain data:

- ``("num", value)``
- ``("sym", name, base, sub)``: ``w_{d2}`` is ``("sym", "w_d2", "w", "d2")``;
  ``\hat y_i`` is ``yhat_i``; ``\frac{dL}{dx_b}`` is the name ``dL_dx_b``
- ``("neg", a)``, ``("add", a, b)``, ``("sub", a, b)``, ``("mul", a, b)``, ``("dot", a,
  b)`` (``a \\cdot b``, a dot product of two vectors),
  ``("div", a, b)``, ``("pow", a, b)`` (a matrix power when ``a`` is a square
  matrix), ``("T", a)`` (transpose), ``("pinv", a)`` (pseudo-inverse), ``("fact", a)``
- ``("call", function, a, ...)`` for a built-in function such as ``exp``
- ``("apply", ("sym", ...), a, ...)``: ``f(x)``, a call when the check binds ``f`` to a
  function, else a product
- ``("sum", index, low, high, body)`` and ``("prod", ...)``, bounds None when not given;
  ``("max", index, None, None, body)`` and ``("min", ...)`` for ``\max_j z_j``
- ``("vec", a, b, ...)``: a vector written ``(a, b, ...)`` or ``[a, b, ...]``

:func:`evaluate` walks such a tree with numpy. The build evaluates numeric chains
(``$0.5 \cdot 2 + 0.1 = 1.1$``) with it, where every leaf is a number; a check's worker
evaluates formulas with the check's names bound: :func:`formula_points`, which calls
the check's ``reference``, runs only there, called by :mod:`build_deck.verify.sandbox`.

Its parts, in the order a formula meets them:

- :mod:`.vocabulary`: the TeX the reader knows, as word lists;
- :mod:`.scan`: the token scanner (``tokenize``, ``split_chain``), the reader's
  cursor over the tokens, :class:`FormulaError` and the limits;
- :mod:`.names`: names, subscripts, and names applied to arguments;
- :mod:`.commands`: the command table (``\frac``, ``\sqrt``, accents, functions,
  ``\sum``/``\prod``);
- :mod:`.grammar`: the expression grammar on top of them, :func:`parse_formula`;
- :mod:`.trees`: what a read tree holds (its names, its rounded numbers);
- :mod:`.evaluation`: :func:`evaluate` and its built-in functions;
- :mod:`.points`: :func:`formula_points`, run in the check's worker, and
  :func:`given_lookup` and :func:`member_values`, which evaluate the symbolic members
  of a displayed chain with the check's names and the card's givens.
"""

from __future__ import annotations

from build_deck.verify.formula.evaluation import CONSTANTS, MAX_RANGE, evaluate, numeric_lookup
from build_deck.verify.formula.grammar import parse_formula, parse_tokens
from build_deck.verify.formula.points import (
    POINTS,
    formula_points,
    given_lookup,
    member_values,
    still_names,
)
from build_deck.verify.formula.scan import (
    MAX_DEPTH,
    MAX_TEX_LENGTH,
    FormulaError,
    Node,
    Token,
    part_text,
    shown,
    split_chain,
    tokenize,
)
from build_deck.verify.formula.trees import is_name, rounded_inputs, symbols

__all__ = [
    "CONSTANTS",
    "MAX_DEPTH",
    "MAX_RANGE",
    "MAX_TEX_LENGTH",
    "POINTS",
    "FormulaError",
    "Node",
    "Token",
    "evaluate",
    "formula_points",
    "given_lookup",
    "is_name",
    "member_values",
    "numeric_lookup",
    "parse_formula",
    "parse_tokens",
    "part_text",
    "rounded_inputs",
    "shown",
    "split_chain",
    "still_names",
    "symbols",
    "tokenize",
]
