r"""Verification, formula evaluator: the value of a read tree, computed with numpy.

- :func:`evaluate` walks a tree with :class:`_Walk`: numbers, names and operators in
  :meth:`~_Walk.walk`, a name applied to arguments in :meth:`~_Walk.apply`, sums
  and products in :meth:`~_Walk.big_operator`;
- :func:`_builtin` is the table of functions a formula may call (``\exp``,
  ``\max``, ``|x|``, ``\sigma``...);
- :func:`numeric_lookup` gives the names of a chain of plain numbers (``e``, ``\pi``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from build_deck.verify.formula.scan import FormulaError, Node

MAX_RANGE = 10_000
"""Terms one ``\\sum`` or ``\\prod`` may have."""


class _Row:
    """A transposed vector: ``w^\\top x`` is a dot product."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _sigmoid(z: Any) -> Any:
    import numpy as np

    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))


def _softmax(z: Any) -> Any:
    import numpy as np

    z = np.asarray(z, dtype=float)
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


def _binom(n: Any, k: Any) -> float:
    """``\\binom{n}{k}``: exact for whole numbers, through the gamma function else."""
    n, k = float(n), float(k)
    if n.is_integer() and k.is_integer() and 0 <= k <= n <= 10_000:
        return float(math.comb(int(n), int(k)))
    return math.gamma(n + 1) / (math.gamma(k + 1) * math.gamma(n - k + 1))


def _builtin(name: str) -> Callable[..., Any]:
    import numpy as np

    table: dict[str, Callable[..., Any]] = {
        "exp": np.exp,
        "log": np.log,
        "ln": np.log,
        "sin": np.sin,
        "cos": np.cos,
        "tan": np.tan,
        "tanh": np.tanh,
        "sinh": np.sinh,
        "cosh": np.cosh,
        "arctan": np.arctan,
        "sqrt": np.sqrt,
        "abs": np.abs,
        "ceil": np.ceil,
        "floor": np.floor,
        "norm": lambda v: np.linalg.norm(np.asarray(v, dtype=float)),
        "norm_1": lambda v: np.linalg.norm(np.asarray(v, dtype=float), 1),
        "norm_2": lambda v: np.linalg.norm(np.asarray(v, dtype=float), 2),
        "norm_infty": lambda v: np.linalg.norm(np.asarray(v, dtype=float), np.inf),
        "norm_F": lambda v: np.linalg.norm(np.asarray(v, dtype=float).ravel()),
        "det": lambda m: np.linalg.det(np.asarray(m, dtype=float)),
        "max": lambda *a: a[0] if len(a) == 1 else np.maximum.reduce(np.broadcast_arrays(*a)),
        "min": lambda *a: a[0] if len(a) == 1 else np.minimum.reduce(np.broadcast_arrays(*a)),
        "softmax": _softmax,
        "binom": _binom,
        "relu": lambda z: np.maximum(0, z),
        "ReLU": lambda z: np.maximum(0, z),
        "sigma": _sigmoid,
    }
    return table[name]


CONSTANTS = {"e": math.e, "pi": math.pi}
"""Names a formula may use without the check binding them."""


Lookup = Callable[[str, str, str, bool], Any]
"""``lookup(name, base, sub, applied)``: the value of a name a formula reads."""


def evaluate(node: Node, lookup: Lookup) -> Any:
    """The value of a tree; ``lookup(name, base, sub, applied)`` gives each name's value
    (``applied`` when the formula applies the name to arguments, as in ``f(x)``).

    Sums over an index bind that index: inside ``\\sum_i``, ``x_i`` is the whole vector
    ``x`` and the sum adds up the elements of its body.
    """
    import numpy as np

    with np.errstate(all="ignore"):  # inf and nan are results here, not warnings
        return _value(_Walk(lookup).walk(node, {}))


def _value(item: Any) -> Any:
    """A value as a number or an array: a transposed vector is the vector."""
    return item.value if isinstance(item, _Row) else item


class _Walk:
    """One evaluation of a tree: how names are looked up, and the free indices met."""

    def __init__(self, lookup: Lookup) -> None:
        import numpy as np

        self.np = np  # imported once: an import in a deep walk would cost stack
        self.lookup = lookup
        self.free: set[str] = set()  # letters of free indices, as in y_i

    def walk(self, item: Node, bound: Mapping[str, Any]) -> Any:
        """The value of ``item``; ``bound`` holds the indices of the sums around it.

        Numbers, names and operators are read here, one frame per level of the tree:
        a long sum nests as deep as it is long, and every frame counts.
        """
        np = self.np
        kind = item[0]
        if kind == "num":
            return item[1]
        if kind == "sym":
            name, base, sub = item[1], item[2], item[3]
            if name in bound:
                return bound[name]
            if sub and sub in bound:
                return self.lookup(base, base, "", False)  # x_i inside \sum_i: all of x
            try:
                return self.lookup(name, base, sub, False)
            except FormulaError:
                # y_i outside any sum: the formula holds for every i, so all of y at
                # once. Inside a sum over another index, y_i stays an error.
                if len(sub) == 1 and sub.isalpha() and not bound:
                    self.free.add(sub)
                    if len(self.free) > 1:
                        raise FormulaError(
                            f"free indices {' and '.join(sorted(self.free))} in one formula"
                        ) from None
                    return self.lookup(base, base, "", False)
                raise
        if kind == "neg":
            return -_value(self.walk(item[1], bound))
        if kind in ("add", "sub"):
            left, right = _value(self.walk(item[1], bound)), _value(self.walk(item[2], bound))
            return left + right if kind == "add" else left - right
        if kind in ("mul", "dot"):
            return self.product(kind, self.walk(item[1], bound), self.walk(item[2], bound))
        if kind == "div":
            return _value(self.walk(item[1], bound)) / _value(self.walk(item[2], bound))
        if kind in ("pow", "T", "pinv") and item[1][0] == "apply" and len(item[1]) == 3:
            factor = self.number_applied(item[1][1])
            if factor is not None:  # A (A^T A)^{-1}: A times the power, not (A(...))^{-1}
                return self.product("mul", factor, self.walk((kind, item[1][2], *item[2:]), bound))
        if kind == "pow":
            base, exponent = _value(self.walk(item[1], bound)), _value(self.walk(item[2], bound))
            if np.ndim(exponent) == 0 and abs(float(exponent)) > 1e4:
                raise FormulaError("an exponent is too large")
            if _is_square(base) and not self.indexed(item[1], bound):
                return _matrix_power(base, exponent)
            return np.power(np.asarray(base, dtype=float), exponent)
        if kind == "pinv":
            value = _value(self.walk(item[1], bound))
            if np.ndim(value) != 2:
                raise FormulaError("a pseudo-inverse needs a matrix")
            return np.linalg.pinv(np.asarray(value, dtype=float))
        if kind == "T":
            value = _value(self.walk(item[1], bound))
            if np.ndim(value) == 2:
                return np.transpose(value)  # a matrix's transpose
            return _Row(value)
        if kind == "fact":
            n = _value(self.walk(item[1], bound))
            if np.ndim(n) or not 0 <= n <= 170:
                raise FormulaError("a factorial needs a whole number up to 170")
            return math.gamma(float(n) + 1)
        if kind == "call":
            args = [_value(self.walk(a, bound)) for a in item[2:]]
            if item[1] == "abs" and _is_square(args[0]) and not self.indexed(item[2], bound):
                return np.linalg.det(np.asarray(args[0], dtype=float))  # |A|: a determinant
            return _builtin(item[1])(*args)
        if kind == "vec":
            items = [_value(self.walk(a, bound)) for a in item[1:]]
            return np.asarray(items, dtype=float)
        if kind == "apply":
            return self.apply(item, bound)
        if kind in ("sum", "prod", "max", "min"):
            return self.big_operator(item, bound)
        raise FormulaError(f"unknown node {kind!r}")

    def product(self, kind: str, left: Any, right: Any) -> Any:
        """``a b`` (``mul``) or ``a \\cdot b`` (``dot``): ``w^\\top x`` and ``a \\cdot b`` of
        two vectors are dot products, ``w w^\\top`` an outer product, ``A x`` of a matrix
        a matrix product (``w^\\top A`` and ``2 w^\\top`` stay rows); else the product of
        numbers, element by element."""
        np = self.np
        if isinstance(left, _Row):
            right = _value(right)
            if np.ndim(right) == 1:
                return np.dot(left.value, right)  # w^T x: a number
            return _Row(np.dot(left.value, right))  # w^T A, 2 w^T: still a row
        if callable(left) or callable(right):
            raise FormulaError("a function is used as a number")
        if isinstance(right, _Row) and np.ndim(left) == 0:
            return _Row(left * right.value)  # 2 w^T: a row
        if isinstance(right, _Row) and np.ndim(left) == 1:
            return np.outer(left, right.value)  # w w^T: a matrix
        right = _value(right)
        if kind == "dot" and np.ndim(left) == 1 and np.ndim(right) == 1:
            return np.dot(left, right)
        if np.ndim(left) == 2 and np.ndim(right) >= 1:
            return np.matmul(left, right)  # A x: a matrix times a vector or a matrix
        return left * right

    def indexed(self, item: Node, bound: Mapping[str, Any]) -> bool:
        """Whether a tree reads an element: a name subscripted by the indices of the
        sums around it or by a free index (``a_{ij}`` in ``\\sum_i \\sum_j a_{ij}^2``,
        ``x_i``), whose power is element by element even when the name holds a matrix."""
        letters = {*bound, *self.free}
        stack = [item]
        while stack:
            node = stack.pop()
            if not isinstance(node, tuple) or not node:
                continue
            if node[0] == "sym":
                sub = node[3]
                if sub and sub.isalpha() and set(sub) <= letters:
                    return True
                continue
            stack.extend(node[1:])
        return False

    def number_applied(self, target: Node) -> Any:
        """The value of a name written before brackets, ``A`` in ``A (B)^{-1}``, when it
        is a number or an array, not a function; else None."""
        try:
            value = self.lookup(target[1], target[2], target[3], True)
        except FormulaError:
            return None
        return None if callable(value) else value

    def apply(self, item: Node, bound: Mapping[str, Any]) -> Any:
        """``f(x)``: a call if the check binds ``f`` to a function, else a product."""
        target = item[1]
        try:
            function = self.lookup(target[1], target[2], target[3], True)
        except FormulaError:
            if target[1] != "sigma":
                raise
            function = _sigmoid  # \sigma(z) is the logistic function unless bound
        args = [_value(self.walk(a, bound)) for a in item[2:]]
        if callable(function):
            return function(*args)
        if len(args) != 1:  # \lambda(2x, 2y): a number times a vector
            return function * self.np.asarray(args, dtype=float)
        shape, other = self.np.shape(function), self.np.shape(args[0])
        if len(shape) == 2 and other and shape[1] != other[0]:
            return function * args[0]  # a column s_i(\delta_{ij} - s_j): element by element
        return self.product("mul", function, args[0])  # A (B + C): a matrix product

    def big_operator(self, item: Node, bound: Mapping[str, Any]) -> Any:
        """``\\sum``, ``\\prod``, or ``\\max``/``\\min`` over an index: over the elements
        its index binds, or its range."""
        np = self.np
        kind, index, low, high, body = item[0], item[1], item[2], item[3], item[4]
        if low is None:
            total = self.walk(body, {**bound, index: None})
        else:
            first, last = _value(self.walk(low, bound)), _value(self.walk(high, bound))
            if np.ndim(first) or np.ndim(last) or not (0 <= last - first < MAX_RANGE):
                raise FormulaError(f"a \\{kind} runs over more than {MAX_RANGE} terms")
            steps = np.arange(int(first), int(last) + 1, dtype=float)
            total = self.walk(body, {**bound, index: steps})
        total = _value(total)
        reduce = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min}[kind]
        return reduce(total)


def _is_square(value: Any) -> bool:
    """Whether ``value`` is a square matrix (a 2-D array with as many rows as columns)."""
    import numpy as np

    shape = np.shape(value)
    return len(shape) == 2 and shape[0] == shape[1]


def _matrix_power(matrix: Any, exponent: Any) -> Any:
    """``A^k`` of a square matrix: the matrix power, ``A^{-1}`` the inverse; the
    exponent must be a whole number."""
    import numpy as np

    if np.ndim(exponent) or not float(exponent).is_integer():
        raise FormulaError("a power of a square matrix needs a whole exponent")
    return np.linalg.matrix_power(np.asarray(matrix, dtype=float), int(exponent))


def numeric_lookup(name: str, base: str, sub: str, applied: bool) -> Any:
    """The lookup of a chain of plain numbers: only ``e`` and ``\\pi`` have a value."""
    if name in CONSTANTS:
        return CONSTANTS[name]
    raise FormulaError(f"'{name}' is not a number")
