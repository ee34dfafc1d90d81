"""Verification, the check sandbox's evaluator: asteval, and the names a check may use.

:func:`run_check` runs one check in this process (only ever inside a confined worker).
Its parts: :func:`.syntax.read_check` refuses a check too long or using a statement a
check may not use, up front and with its line; ``_interpreter`` sets up asteval with
the allow-lists (attributes by the type of the object, :data:`_ALLOWED_ATTRIBUTES`; no
attribute assigned; no ``%`` formatting of text); ``_formula_points`` evaluates a formula
check's formula with the check's names bound, in what is left of its time limit. The
names (``_symbols``): the builtins of :data:`_BUILTIN_NAMES`, ``math``, ``numgrad`` and
``np``, a read-only namespace of pure numeric functions that refuse arrays that are not
numeric. asteval was chosen over simpleeval because checks are short programs
(assignments, ``def``, ``lambda``, ``assert``) over numpy arrays; simpleeval evaluates
single expressions only.

What it guarantees, and the tests that prove it (in tests/verify/test_sandbox.py):

- only the listed names exist: ``TestTryingToBreakOut.test_builtins_name``,
  ``test_dunder_import``, ``test_getattr``, ``test_type``, ``test_eval_and_exec``,
  ``test_open_for_reading``, ``test_np_load``, ``test_np_lib``,
  ``test_numpy_functions_outside_the_list_are_absent``;
- refused statements never start to run: ``test_import_os``,
  ``test_import_hidden_in_a_function_is_refused_before_running``,
  ``test_class_definition``, ``test_with_statement``, ``test_raise_statement``,
  ``TestLimits.test_infinite_loop_that_tries_to_swallow_the_timeout``;
- no private or unlisted attribute is read, none is assigned: ``test_dunder_class``,
  ``test_globals_of_numgrad``, ``test_private_attribute_of_an_array``,
  ``test_changing_an_arrays_memory_layout``,
  ``test_a_check_cannot_change_np_for_the_next_check``,
  ``TestAllowListsInTheEvaluator.test_array_methods_that_touch_memory``;
- no object arrays, no padding without a cap, ``pow`` capped like ``**``:
  ``test_arrays_that_are_not_numeric``, ``test_f_string_with_a_huge_width``,
  ``test_string_padding``, ``test_percent_formatting_pads_without_a_cap``,
  ``test_pow_has_the_exponent_cap_of_the_operator``;
- a check stops at its time limit; asserts count only if they ran and held:
  ``TestLimits.test_infinite_loop``, ``test_loop_inside_a_called_function``,
  ``TestChecks.test_asserts_that_ran_are_counted``,
  ``test_asserts_that_never_run_do_not_count``.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import math
import signal
import time
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from build_deck.verify.sandbox.syntax import read_check
from build_deck.verify.sandbox.wire import FormulaPoint, Outcome, _failure, _plain

TIME_LIMIT = 2.0
"""Seconds one check may run."""
_NUMPY_NAMES = """
abs absolute all allclose any arange arccos arccosh arcsin arcsinh arctan arctan2
arctanh argmax argmin argsort around array array_equal asarray atleast_1d atleast_2d
ceil clip column_stack concatenate corrcoef cos cosh count_nonzero cov cross cumprod
cumsum deg2rad diag diagonal diff dot e einsum exp exp2 expm1 eye fabs flip float64
floor full full_like heaviside hstack hypot identity inf inner int64 isclose isfinite
isinf isnan kron linspace log log10 log1p log2 logaddexp matmul max maximum mean median
min minimum nan nanmax nanmin ndim newaxis ones ones_like outer percentile pi power
prod quantile rad2deg ravel reshape round shape sign sin sinc sinh size sort sqrt
square squeeze stack std sum swapaxes tan tanh tensordot tile trace transpose tril triu
unique var vstack where zeros zeros_like
""".split()
_LINALG_NAMES = """
cholesky det eig eigh eigvals eigvalsh inv matrix_power matrix_rank norm pinv qr solve
svd
""".split()
_MATH_NAMES = """
comb e erf erfc exp factorial gamma inf isclose lgamma log log10 log2 perm pi prod sqrt
tanh
""".split()
_BUILTIN_NAMES = """
abs all any bool dict divmod enumerate filter float int len list map max min pow range
reversed round set sorted sum tuple zip True False None
""".split()
_DENIED_ATTRIBUTES = frozenset(
    """tofile dump dumps ctypes load save savez savetxt fromfile memmap lib ctypeslib f2py
    testing os sys mro gi_frame gi_code f_globals f_locals f_back tb_frame func_globals
    format format_map""".split()
)

# Attributes a check may read, by the type of the object (an allow-list: a method added
# to numpy later is refused until it is named here). ``np``, ``np.linalg`` and ``math``
# are namespaces of vetted names; a named tuple (np.linalg.eigh's result) offers its
# fields. Left out on purpose: ndarray.resize, view, base, data, ctypes, strides,
# tobytes, ... (memory layout), and str.ljust, rjust, center, zfill, expandtabs
# (padding, which no cap on ``*`` would bound).
_NUMBER_ATTRIBUTES = "real imag conjugate is_integer bit_length numerator denominator"
_ARRAY_ATTRIBUTES = """T all any argmax argmin argsort astype clip conj conjugate copy cumprod
    cumsum diagonal dot dtype flatten imag item max mean min ndim nonzero prod ravel real
    repeat reshape round shape size sort squeeze std sum swapaxes tolist trace transpose
    var"""
_ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "array": frozenset(_ARRAY_ATTRIBUTES.split()),
    "number": frozenset(_NUMBER_ATTRIBUTES.split()),
    "list": frozenset("append extend index count pop insert reverse sort copy remove".split()),
    "dict": frozenset("keys values items get copy pop update setdefault".split()),
    "tuple": frozenset("count index".split()),
    "set": frozenset("add discard remove union intersection difference issubset".split()),
    "str": frozenset(
        """upper lower strip lstrip rstrip split join replace startswith endswith count find
        index isdigit splitlines""".split()
    ),
}
_NUMERIC_KINDS = "?biufc"
"""numpy dtype kinds a check may make: bool, integers, floats, complex. No object
arrays (numpy calls methods by name on their items), no structured or raw memory."""
_ALLOWED_NODES = {"import": False, "importfrom": False, "with": False, "try": False}
_ALLOWED_NODES.update({"print": False, "raise": False, "delete": False})


class CheckTimeout(Exception):
    """Raised inside a worker when a check runs past its time limit."""


def numgrad(f: Callable[..., Any], x: Any, *args: Any) -> Any:
    """Central-difference derivative of scalar ``f`` with respect to its first argument.

    A float for a scalar ``x``; an array of the same shape for an array ``x``.
    """
    import numpy as np

    if np.ndim(x) == 0:
        h = 1e-6 * max(1.0, abs(float(x)))
        return (float(f(x + h, *args)) - float(f(x - h, *args))) / (2 * h)
    point = np.array(x, dtype=float)
    grad = np.zeros_like(point)
    for index in np.ndindex(point.shape):
        h = 1e-6 * max(1.0, abs(float(point[index])))
        up, down = point.copy(), point.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (float(f(up, *args)) - float(f(down, *args))) / (2 * h)
    return grad


class _Namespace(types.SimpleNamespace):
    """A read-only namespace of vetted names (``np``, ``np.linalg``, ``math``).

    A worker runs many checks with the same namespaces: one check must not be able to
    replace ``np.exp`` for the next.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to '{name}': the namespace is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete '{name}': the namespace is read-only")


def _namespace(module: Any, names: Sequence[str], **extra: Any) -> _Namespace:
    found = {n: getattr(module, n) for n in names if hasattr(module, n)}
    return _Namespace(**found, **extra)


def _numeric_only(value: Any, depth: int = 0) -> None:
    """Raise TypeError if ``value`` is or holds an array (or dtype) that is not numeric,
    or an object numpy would call methods on."""
    import numpy as np

    if isinstance(value, np.ndarray | np.generic):
        if value.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(f"arrays of {value.dtype} are not allowed in a check: only numbers")
    elif isinstance(value, list | tuple):
        if depth > 32:
            raise TypeError("the argument is nested too deeply")
        for item in value:
            if not isinstance(item, int | float):
                _numeric_only(item, depth + 1)
    elif not isinstance(value, int | float | complex | str | slice | None):
        if value in (int, float, bool, complex):
            return
        if (
            isinstance(value, type)
            and issubclass(value, np.generic)
            and np.dtype(value).kind in _NUMERIC_KINDS
        ):
            return
        if isinstance(value, np.dtype) and value.kind in _NUMERIC_KINDS:
            return
        raise TypeError(f"a {type(value).__name__} is not a number or an array of numbers")


def _numeric_function(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (from numpy) refusing to take or make arrays that are not numeric."""
    import numpy as np

    def numeric(*args: Any, **kwargs: Any) -> Any:
        for argument in (*args, *kwargs.values()):
            _numeric_only(argument)
        if kwargs.get("dtype") is not None and np.dtype(kwargs["dtype"]).kind not in _NUMERIC_KINDS:
            raise TypeError("only numeric dtypes are allowed in a check")
        result = function(*args, **kwargs)
        _numeric_only(result)
        return result

    numeric.__name__ = getattr(function, "__name__", "function")
    return numeric


def _capped_pow(base: Any, exponent: Any, modulo: Any = None) -> Any:
    """``pow`` under the same cap as ``**``."""
    from asteval.astutils import safe_pow

    if modulo is not None:
        return pow(base, exponent, modulo)
    return safe_pow(base, exponent)


def _symbols() -> dict[str, Any]:
    import builtins

    import numpy as np

    def vetted(module: Any, names: Sequence[str], **extra: Any) -> _Namespace:
        found = {}
        for name in names:
            if hasattr(module, name):
                value = getattr(module, name)
                is_function = callable(value) and not isinstance(value, type)
                found[name] = _numeric_function(value) if is_function else value
        return _Namespace(**found, **extra)

    numpy_ns = vetted(np, _NUMPY_NAMES, linalg=vetted(np.linalg, _LINALG_NAMES))
    symbols: dict[str, Any] = {n: getattr(builtins, n) for n in _BUILTIN_NAMES}
    symbols.update(np=numpy_ns, math=_namespace(math, _MATH_NAMES), numgrad=numgrad)
    symbols["pow"] = _capped_pow
    return symbols


def _attribute_allowed(target: Any, attribute: str) -> bool:
    """Whether a check may read ``target.attribute`` (see :data:`_ALLOWED_ATTRIBUTES`)."""
    import numpy as np

    if attribute.startswith("_") or attribute in _DENIED_ATTRIBUTES:
        return False
    if isinstance(target, _Namespace):
        return hasattr(target, attribute)
    if isinstance(target, np.ndarray | np.generic):
        kind = "array"
    elif isinstance(target, bool | int | float | complex):
        kind = "number"
    elif isinstance(target, tuple):
        if attribute in getattr(type(target), "_fields", ()):
            return True  # a named tuple's field, e.g. eigh(a).eigenvalues
        kind = "tuple"
    else:
        kind = type(target).__name__
    return type(target) is not type and attribute in _ALLOWED_ATTRIBUTES.get(kind, ())


class _Timer:
    """Raise :class:`CheckTimeout` in this process after ``seconds``.

    ``expired`` stays True once the time is up, even if the interpreter dropped the
    exception (asteval does when it lands between two top-level statements).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False

    def __enter__(self) -> _Timer:
        def expire(signum: int, frame: Any) -> None:
            self.expired = True
            raise CheckTimeout(f"time limit of {self.seconds:g} s exceeded")

        signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _describe(error: Any, code: str) -> tuple[str, int | None]:
    """An asteval error as (message, 1-based line in the check, if known)."""
    exc_type = error.exc if isinstance(error.exc, type) else Exception
    message = str(error.msg or "")
    original = error.exc_info[1] if error.exc_info else None
    if message.startswith("Error running function") and original is not None:
        # asteval wraps an error from a call with the call's arguments: keep the cause.
        message = str(original)
    line = error.lineno or None
    if issubclass(exc_type, AssertionError):
        source = code.splitlines()[line - 1].strip() if line else ""
        return f"assertion failed: {source}" + (f" ({message})" if message else ""), line
    if issubclass(exc_type, MemoryError):
        return "memory limit exceeded" + (f" ({message})" if message else ""), line
    return (f"{exc_type.__name__}: {message}" if message else exc_type.__name__), line


def run_check(
    code: str,
    symbols: dict[str, Any],
    time_limit: float = TIME_LIMIT,
    formula: Sequence[Any] | None = None,
    members: Mapping[str, Any] | None = None,
) -> Outcome:
    """Run one check in this process (call it only inside a limited worker).

    ``formula`` holds the expression trees of a formula the card shows (plain data,
    see :mod:`build_deck.verify.formula`); they are evaluated with the check's names bound.
    ``members`` holds the trees of the card's displayed chain members that need the
    check's names (``trees``), and the card's givens (``given``, ``first_index``).
    """
    tree = read_check(code)
    if isinstance(tree, Outcome):
        return tree
    interpreter, asserts = _interpreter(symbols)
    timer = _Timer(time_limit)
    started = time.monotonic()
    # The tree, not the text: asteval would parse the code a second time.
    with contextlib.suppress(CheckTimeout), timer:
        interpreter.eval(tree, show_errors=False)
    if timer.expired:
        return _failure(asserts(), f"time limit of {time_limit:g} s exceeded")
    if interpreter.error:
        message, line = _describe(interpreter.error[0], code)
        return _failure(asserts(), message, line)
    table = interpreter.symtable
    has_answer = "answer" in table
    try:
        answer = _plain(table["answer"]) if has_answer else None
    except (TypeError, ValueError) as exc:
        return _failure(asserts(), str(exc))
    tolerances: dict[str, float | None] = {}
    for name in ("tol", "rtol"):
        try:
            tolerances[name] = float(table[name]) if name in table else None
        except (TypeError, ValueError):
            return _failure(asserts(), f"{name} must be a number, not {table[name]!r}")
    values: tuple[tuple[bool, Any], ...] = ()
    if members:  # first: calling the reference leaves its parameters in the table
        values = _member_values(members, table, timer, time_limit, started)
    points: tuple[FormulaPoint, ...] = ()
    still: tuple[str, ...] = ()
    if formula is not None:
        evaluated = _formula_points(formula, table, timer, time_limit, started)
        if isinstance(evaluated, str):
            return _failure(asserts(), evaluated)
        points, still = evaluated
    return Outcome(
        answer,
        has_answer,
        tolerances["tol"],
        tolerances["rtol"],
        asserts(),
        None,
        None,
        points,
        still,
        values,
    )


def _interpreter(symbols: dict[str, Any]) -> tuple[Any, Callable[[], int]]:
    """An asteval interpreter over a copy of ``symbols``, guarded by the allow-lists, and
    a function that tells how many ``assert`` statements ran and held in it so far.

    Attributes are read only as :func:`_attribute_allowed` says and never assigned;
    ``%`` formatting of text is refused.
    """
    import numpy as np
    from asteval import Interpreter, astutils

    _remember_symbol_names()
    interpreter = Interpreter(
        symtable=dict(symbols), use_numpy=False, config=dict(_ALLOWED_NODES), builtins_readonly=True
    )
    interpreter.symtable.pop("print", None)  # asteval adds it; a check prints nothing
    safe_getattr = astutils.safe_getattr

    def guarded_attribute(node: ast.Attribute) -> Any:
        target = interpreter.run(node.value)
        attribute = node.attr
        if not _attribute_allowed(target, attribute):
            interpreter.raise_exception(
                node, exc=AttributeError, msg=f"access to attribute '{attribute}' is not allowed"
            )
        value = safe_getattr(target, attribute, interpreter.raise_exception, node)
        if callable(value) and isinstance(target, np.ndarray | np.generic):
            return _numeric_function(value)  # e.g. x.astype('O') makes no object array
        return value

    def guarded_binary_operation(node: ast.BinOp) -> Any:
        left, right = interpreter.run(node.left), interpreter.run(node.right)
        if isinstance(node.op, ast.Mod) and isinstance(left, str | bytes):
            # '%*d' % (10**9, 1) pads without any cap.
            interpreter.raise_exception(
                node, exc=TypeError, msg="'%' formatting is not allowed: use an f-string"
            )
        return astutils.op2func(node.op)(left, right)

    assign = interpreter.node_assign

    def guarded_assign(node: ast.AST, value: Any) -> None:
        # `x.attr = ...` could change numpy's view of memory (strides, dtype, data).
        if isinstance(node, ast.Attribute):
            interpreter.raise_exception(
                node,
                exc=AttributeError,
                msg=f"assignment to attribute '{node.attr}' is not allowed",
            )
        assign(node, value)

    asserts = 0
    check_assertion = interpreter.node_handlers["assert"]

    def counted_assertion(node: ast.Assert) -> Any:
        nonlocal asserts
        result = check_assertion(node)  # raises if the assertion fails
        asserts += 1
        return result

    interpreter.node_handlers["attribute"] = guarded_attribute
    interpreter.node_handlers["binop"] = guarded_binary_operation
    interpreter.node_handlers["assert"] = counted_assertion
    interpreter.node_assign = guarded_assign
    return interpreter, lambda: asserts


def _remember_symbol_names() -> None:
    """asteval asks whether a name is valid at every assignment and call, by running
    Python's tokenizer on it: about a sixth of a check's time. The answer depends on
    the name alone, so it is remembered for the names a worker has seen."""
    import asteval.asteval

    if not hasattr(asteval.asteval.valid_symbol_name, "cache_info"):
        valid = functools.lru_cache(maxsize=4096)(asteval.asteval.valid_symbol_name)
        asteval.asteval.valid_symbol_name = valid


def _formula_points(
    formula: Sequence[Any], table: Any, timer: _Timer, time_limit: float, started: float
) -> tuple[tuple[FormulaPoint, ...], tuple[str, ...]] | str:
    """A formula check's points, its names bound from ``table`` (the check's names after
    it ran), and the names they hold still; or why they cannot be evaluated. ``timer``
    allows it what is left of the check's ``time_limit`` since it ``started``."""
    from build_deck.verify.formula import FormulaError, formula_points

    points: tuple[FormulaPoint, ...] = ()
    still: tuple[str, ...] = ()
    try:
        # The formula gets what is left of the check's time limit.
        timer.seconds = max(0.01, time_limit - (time.monotonic() - started))
        with contextlib.suppress(CheckTimeout), timer:
            found, held = formula_points(formula, table, _plain)
            points, still = tuple(FormulaPoint(*p) for p in found), tuple(held)
    except (FormulaError, TypeError, ValueError, ArithmeticError, IndexError) as exc:
        return f"the formula cannot be evaluated: {exc}"
    if timer.expired:
        return f"time limit of {time_limit:g} s exceeded"
    return points, still


def _member_values(
    members: Mapping[str, Any], table: Any, timer: _Timer, time_limit: float, started: float
) -> tuple[tuple[bool, Any], ...]:
    """The chain members of ``members`` evaluated with the check's names, in what is left
    of the check's time limit; a member not evaluated in time has no value."""
    from build_deck.verify.formula import member_values

    trees = list(members.get("trees") or [])
    found: list[tuple[bool, Any]] = []
    timer.seconds = max(0.01, time_limit - (time.monotonic() - started))
    with contextlib.suppress(CheckTimeout), timer:
        found = member_values(
            trees, table, members.get("given") or {}, members.get("first_index") or {}, _plain
        )
    found += [(False, "time limit exceeded")] * (len(trees) - len(found))
    return tuple(found)
