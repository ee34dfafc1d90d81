"""Run check code from notes files safely: the only module that runs user code.

Notes are shared and downloaded, so a check must not be able to do anything but
arithmetic. Three layers:

1. **asteval**, a restricted interpreter of Python syntax: no ``import``, no ``with``,
   no ``try`` (a time-out cannot be swallowed), no ``class``, ``raise`` or ``del``
   (all refused before the check runs), no ``print``; only the names below exist
   (no ``open``, ``getattr``, ``type``, ``eval``).
2. **Allow-lists**: ``np`` is not numpy but a read-only namespace holding a list of
   pure numeric functions (no ``load``, ``save``, ``fromfile``, ``memmap``, ``lib``,
   ``ctypeslib``), each refusing to take or make arrays that are not numeric (no
   object arrays). Attributes are allowed by the type of the object
   (:data:`_ALLOWED_ATTRIBUTES`), never a private or dunder name; no attribute can be
   assigned, so no check changes ``np`` for the next one or an array's strides.
   F-strings with computed format specs, ``%`` formatting of text and string padding
   are refused, and ``pow`` has the cap of ``**``.
3. **Confined worker processes** (Linux): fresh interpreters, not forks of the build,
   started once per build and reused. Each starts with an empty environment (but for
   the variables OpenBLAS needs), holds only /dev/null and its two pipes, and has
   resource limits (memory, CPU, no file writes, no processes, few descriptors) and
   ``no_new_privs``. After importing numpy and asteval and warming them up, it loads a
   seccomp filter (through libseccomp) that allows only computing: memory, futexes,
   clocks, its timer, exit, and reading and writing its own two pipes. Opening files,
   exec, fork, sockets, ptrace and signals to other processes fail with EPERM, so even
   code that escapes the first two layers (a memory bug in numpy) cannot touch the
   machine. What comes back through the pipe is checked to be a small outcome of plain
   data (JSON, never pickle), and each check has a time limit (a timer inside the
   worker, and a kill from the build), all checks of a build a time budget.
   Landlock is not added: with every ``open`` denied by the filter it would deny
   nothing more.

A formula check sends its card's formula as plain data (the tree of
:mod:`build_deck.verify.formula`) along with the check's code; the worker evaluates it with the
check's names bound, after the check ran, in what is left of its time limit.

asteval was chosen over simpleeval because checks are short programs (assignments,
``def``, ``lambda``, ``assert``) over numpy arrays; simpleeval evaluates single
expressions only. libseccomp is used through pyseccomp, a small ctypes binding with
the API of libseccomp's own Python bindings (which are not on PyPI): the system's
library resolves system call names and checks the architecture, so no BPF is written
by hand here.
"""

from __future__ import annotations

import ast
import atexit
import collections
import contextlib
import json
import math
import os
import re
import select
import signal
import struct
import subprocess
import sys
import time
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

TIME_LIMIT = 2.0
"""Seconds one check may run."""
MEMORY_LIMIT = 512 * 1024 * 1024
"""Bytes of address space one check may add to its worker."""
MAX_CODE_LENGTH = 50_000
"""Characters one check may hold."""
MAX_ANSWER_NUMBERS = 10_000
"""Numbers one ``answer`` may hold: a card shows a few, and this keeps the parent,
which has no memory limit, from receiving huge answers."""
MAX_MESSAGE_LENGTH = 300
"""Characters of an error message sent back from a worker, and of the build's message
about a check (the card's text or the answer may be huge)."""

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
MAX_FORMAT_WIDTH = 1000
"""Largest width or precision in an f-string's format spec."""

_ALLOWED_NODES = {"import": False, "importfrom": False, "with": False, "try": False}
_ALLOWED_NODES.update({"print": False, "raise": False, "delete": False})

# Statements refused before a check runs, with the word the error names. asteval
# refuses most of them too (_ALLOWED_NODES); refusing them up front gives their line,
# and a check cannot run for a while before it reaches, say, a ``try``.
_DENIED_SYNTAX: dict[type[ast.AST], str] = {
    ast.Import: "import",
    ast.ImportFrom: "import",
    ast.With: "with",
    ast.AsyncWith: "with",
    ast.Try: "try",
    ast.TryStar: "try",
    ast.Raise: "raise",
    ast.Delete: "del",
    ast.ClassDef: "class",
    ast.Global: "global",
    ast.Nonlocal: "nonlocal",
    ast.AsyncFunctionDef: "async def",
    ast.AsyncFor: "async for",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


class CheckTimeout(Exception):
    """Raised inside a worker when a check runs past its time limit."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What running one check produced; plain data, safe to send between processes."""

    answer: Any
    """The value of ``answer`` as plain Python (float, int, nested lists, tuple), or None."""
    has_answer: bool
    """Whether the check set ``answer``."""
    tol: float | None
    """The check's ``tol``, if set."""
    rtol: float | None
    """The check's ``rtol``, if set."""
    asserts: int
    """How many ``assert`` statements ran and held (one in a branch or loop that never
    runs does not count)."""
    error: str | None = None
    """What went wrong, or None."""
    error_line: int | None = None
    """1-based line of the check code where it went wrong, if known."""
    formula: tuple[FormulaPoint, ...] = ()
    """For a formula check: the formula and the check's reference at each point."""
    seconds: float = 0.0
    """Wall-clock seconds the check took, as the build measured it."""
    budget_exceeded: bool = False
    """Whether the check was cut or never started because the build's checks used up
    their time budget."""


@dataclass(frozen=True, slots=True)
class FormulaPoint:
    """A card's formula and the check's reference, evaluated at one point."""

    bindings: dict[str, Any]
    """The value of each name the formula reads, where it is a number or a vector."""
    shown: tuple[Any, ...]
    """The value of each part of the formula the card shows."""
    reference: Any
    """The reference's value."""


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


def _plain(value: Any) -> Any:
    """A check's answer as plain data, or raise TypeError.

    At most :data:`MAX_ANSWER_NUMBERS` numbers, nested at most 32 deep.
    """
    import numpy as np

    left = MAX_ANSWER_NUMBERS
    size = 0  # about the bytes it takes on the pipe: refused before it is encoded

    def take(count: int) -> None:
        nonlocal left
        if count > left:
            raise TypeError(f"answer holds more than {MAX_ANSWER_NUMBERS} numbers")
        left -= count
        grow(count * 24)

    def grow(count: int) -> None:
        nonlocal size
        size += count
        if size > MAX_RESULT_BYTES:
            raise TypeError(f"the answer is larger than {MAX_RESULT_BYTES // 1024} KiB")

    def convert(item: Any, depth: int) -> Any:
        if depth > 32:
            raise TypeError("answer is nested too deeply")
        if isinstance(item, tuple):
            take(len(item))
            return tuple(convert(v, depth + 1) for v in item)
        if isinstance(item, np.ndarray | list):
            array = np.asarray(item)
            if array.dtype.kind not in "biuf":
                raise TypeError("answer must hold numbers")
            take(array.size)
            if array.dtype.kind == "f" and array.dtype.itemsize > 8:
                array = array.astype(np.float64)  # long double: compared as a float
            return array.tolist()
        if isinstance(item, int) and not isinstance(item, bool):
            if abs(item) > 2**1023:
                raise TypeError("answer is too large a number to compare")
            grow(item.bit_length() // 3)  # its digits
        if isinstance(item, np.floating):
            return float(item)  # also a long double, which .item() keeps as it is
        if isinstance(item, bool | int | float | np.integer | np.bool_):
            return item.item() if isinstance(item, np.generic) else item
        raise TypeError(f"answer must be a number, a vector or a tuple, not {type(item).__name__}")

    return convert(value, 0)


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


def _one_line(message: str) -> str:
    """A message fit for the user's terminal: one line, no control characters, no memory
    addresses, at most :data:`MAX_MESSAGE_LENGTH` characters."""
    message = message[: MAX_MESSAGE_LENGTH * 4]
    message = re.sub(r"\s*\n\s*", " ", message.strip())
    message = re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: repr(m.group())[1:-1], message)
    message = re.sub(r"\b0x[0-9a-fA-F]{5,}\b", "0x…", message)
    if len(message) > MAX_MESSAGE_LENGTH:
        message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
    return message


def _failure(asserts: int, message: str, line: int | None = None) -> Outcome:
    """An outcome for a check that went wrong, its message made one short line."""
    return Outcome(None, False, None, None, asserts, _one_line(message), line)


def _denied_syntax(tree: ast.AST) -> tuple[str, int | None] | None:
    """The first statement a check may not use, as (what, line), or None."""
    for node in ast.walk(tree):
        word = _DENIED_SYNTAX.get(type(node))
        if word is not None:
            return f"'{word}' is not allowed in a check", getattr(node, "lineno", None)
        if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            problem = _format_spec_problem(node.format_spec)
            if problem:
                return problem, getattr(node, "lineno", None)
    return None


def _format_spec_problem(spec: ast.expr) -> str | None:
    """Why an f-string's format spec is refused, or None: it must be written out, not
    computed (asteval formats it with rules of its own), and its widths small."""
    parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
    if not all(isinstance(p, ast.Constant) and isinstance(p.value, str) for p in parts):
        return "a computed format spec in an f-string is not allowed: write it out"
    text = "".join(str(p.value) for p in parts if isinstance(p, ast.Constant))
    if any(int(width) > MAX_FORMAT_WIDTH for width in re.findall(r"\d+", text)):
        return f"widths in an f-string's format spec are limited to {MAX_FORMAT_WIDTH}"
    return None


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
) -> Outcome:
    """Run one check in this process (call it only inside a limited worker).

    ``formula`` holds the expression trees of a formula the card shows (plain data,
    see :mod:`build_deck.verify.formula`); they are evaluated with the check's names bound.
    """
    import numpy as np
    from asteval import Interpreter, astutils

    if len(code) > MAX_CODE_LENGTH:
        return _failure(0, f"the check is longer than {MAX_CODE_LENGTH} characters")
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return _failure(0, f"syntax error: {exc.msg}", exc.lineno)
    except (RecursionError, MemoryError, ValueError) as exc:
        return _failure(0, f"the check cannot be read ({type(exc).__name__}: {exc})")
    denied = _denied_syntax(tree)
    if denied is not None:
        return _failure(0, *denied)

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
    timer = _Timer(time_limit)
    started = time.monotonic()
    # The tree, not the text: asteval would parse the code a second time.
    with contextlib.suppress(CheckTimeout), timer:
        interpreter.eval(tree, show_errors=False)
    if timer.expired:
        return _failure(asserts, f"time limit of {time_limit:g} s exceeded")
    if interpreter.error:
        message, line = _describe(interpreter.error[0], code)
        return _failure(asserts, message, line)
    table = interpreter.symtable
    has_answer = "answer" in table
    try:
        answer = _plain(table["answer"]) if has_answer else None
    except (TypeError, ValueError) as exc:
        return _failure(asserts, str(exc))
    tolerances: dict[str, float | None] = {}
    for name in ("tol", "rtol"):
        try:
            tolerances[name] = float(table[name]) if name in table else None
        except (TypeError, ValueError):
            return _failure(asserts, f"{name} must be a number, not {table[name]!r}")
    points: tuple[FormulaPoint, ...] = ()
    if formula is not None:
        from build_deck.verify.formula import FormulaError, formula_points

        try:
            # The formula gets what is left of the check's time limit.
            timer.seconds = max(0.01, time_limit - (time.monotonic() - started))
            with contextlib.suppress(CheckTimeout), timer:
                points = tuple(FormulaPoint(*p) for p in formula_points(formula, table, _plain))
        except (FormulaError, TypeError, ValueError, ArithmeticError, IndexError) as exc:
            return _failure(asserts, f"the formula cannot be evaluated: {exc}")
        if timer.expired:
            return _failure(asserts, f"time limit of {time_limit:g} s exceeded")
    return Outcome(
        answer, has_answer, tolerances["tol"], tolerances["rtol"], asserts, None, None, points
    )


# -- Confinement of a worker process (Linux) --------------------------------------------

_PASSED_ENVIRONMENT = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""Variables a worker receives from the build if set there: older OpenBLAS builds pick a
wrong kernel on some CPUs without them. Never set or changed here."""
_THREAD_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
"""A worker computes on one thread: it may not create threads once confined."""

_ALLOWED_SYSCALLS = """
brk munmap mremap madvise futex clock_gettime clock_getres gettimeofday nanosleep
clock_nanosleep rt_sigreturn rt_sigprocmask rt_sigaction sigaltstack setitimer getitimer
alarm exit exit_group getrandom getpid gettid sched_yield sched_getaffinity getrusage
close restart_syscall
""".split()
"""System calls a confined worker may make without condition: memory, futexes, clocks,
its own signal handlers and timer, exit. ``read`` and ``write`` are allowed on its two
pipes only, ``mmap`` and ``mprotect`` without ``PROT_EXEC``; everything else (open,
exec, fork and clone, sockets, ptrace, kill) fails with EPERM."""

_WORKER_PROGRAM = (
    "import sys; from build_deck.verify.sandbox import serve_checks; serve_checks(sys.argv[1:])"
)
_CONFINEMENT_SWITCH = "BUILD_DECK_CONFINEMENT"
"""Set to ``off`` to act as a platform without confinement (for tests of that path)."""
_WORKER_CPU_SECONDS = 600
"""CPU seconds a worker may use in all; it retires itself at half of it."""
_WORKER_FILES = 16
"""File descriptors a worker may hold."""


class ConfinementUnavailable(Exception):
    """Check workers cannot be confined here; the message says why, in one line."""


def confinement_problem() -> str | None:
    """Why check workers cannot be confined on this machine, or None if they can."""
    if os.environ.get(_CONFINEMENT_SWITCH, "").lower() == "off":
        return f"confinement is switched off ({_CONFINEMENT_SWITCH}=off)"
    if not sys.platform.startswith("linux"):
        return f"no seccomp on this platform ({sys.platform}): checks need Linux to be confined"
    import ctypes
    import importlib.util

    if importlib.util.find_spec("pyseccomp") is None:
        return "the Python package pyseccomp is not installed: run 'make' again"
    try:
        ctypes.CDLL("libseccomp.so.2")  # what pyseccomp loads in the workers, without its cost
    except OSError as exc:
        return f"libseccomp cannot be loaded ({_one_line(str(exc))}): apt-get install libseccomp2"
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            if not any(line.startswith("Seccomp:") for line in status):
                return "this kernel has no seccomp"
    except OSError:
        return "/proc is not mounted: cannot tell whether the kernel has seccomp"
    return None


def check_mode(*, trust_checks: bool) -> str:
    """How checks will run here: ``checks:confined``, ``checks:trusted`` (unconfined, as
    the user asked) or ``checks:not-run`` (no confinement, not trusted)."""
    if confinement_problem() is None:
        return "checks:confined"
    return "checks:trusted" if trust_checks else "checks:not-run"


def _vm_size() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _limit_resources(memory_limit: int) -> None:
    """Resource limits of a worker: memory, CPU, no files written, no processes."""
    import resource  # POSIX only, like the workers; the build itself imports it not

    limit = _vm_size() + memory_limit
    limits = {
        resource.RLIMIT_AS: limit,
        resource.RLIMIT_CPU: _WORKER_CPU_SECONDS,
        resource.RLIMIT_FSIZE: 0,
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_NOFILE: _WORKER_FILES,
    }
    if hasattr(resource, "RLIMIT_NPROC"):
        limits[resource.RLIMIT_NPROC] = 0
    for kind, value in limits.items():
        resource.setrlimit(kind, (value, value))


def _no_new_privileges() -> None:
    """prctl(PR_SET_NO_NEW_PRIVS): no exec can ever raise this process's rights."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs = 38
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")


def _install_filter(read_fd: int, write_fd: int) -> None:
    """Load the seccomp filter: from here on this process can only compute and talk."""
    import errno
    import mmap

    import pyseccomp as seccomp

    denied = seccomp.ERRNO(errno.EPERM)
    syscalls = seccomp.SyscallFilter(denied)
    for name in _ALLOWED_SYSCALLS:
        try:
            syscalls.add_rule(seccomp.ALLOW, name)
        except (OSError, ValueError):
            continue  # not a system call of this architecture
    no_exec = seccomp.Arg(2, seccomp.MASKED_EQ, mmap.PROT_EXEC, 0)
    syscalls.add_rule(seccomp.ALLOW, "mmap", no_exec)
    syscalls.add_rule(seccomp.ALLOW, "mprotect", no_exec)
    syscalls.add_rule(seccomp.ALLOW, "read", seccomp.Arg(0, seccomp.EQ, read_fd))
    syscalls.add_rule(seccomp.ALLOW, "write", seccomp.Arg(0, seccomp.EQ, write_fd))
    syscalls.load()


def _warm_up(symbols: dict[str, Any]) -> None:
    """Run checks that load what numpy and asteval import lazily, before confinement."""
    for code in _WARM_UP_CHECKS:
        run_check(code, symbols, TIME_LIMIT)
    from build_deck.verify.formula import parse_formula

    # A formula check, so that the formula reader's evaluator is loaded too.
    tree = parse_formula(r"\sigma(x) \cdot \exp(x_0) + \frac{\log x}{\sqrt{2}} - \max(0, x)^2")
    run_check("reference = lambda x, x_0: x", symbols, TIME_LIMIT, [tree])


_WARM_UP_CHECKS = (
    "a = np.linspace(0, 1, 7).reshape(7, 1) @ np.ones((1, 3))\n"
    "answer = [np.linalg.det(np.eye(3)), np.linalg.inv(np.eye(2)).sum(), np.median(a),"
    " np.percentile(a, 50), np.quantile(a, 0.5), np.std(a), np.unique(a).size,"
    " np.einsum('ij->', a), np.linalg.norm(a), np.linalg.svd(np.eye(2))[1].sum(),"
    " np.linalg.eigh(np.eye(2))[0].sum(), np.linalg.solve(np.eye(2), np.ones(2)).sum(),"
    " np.linalg.qr(np.eye(2))[0].sum(), np.cov(a.T).sum(), np.corrcoef(a.T)[0, 0],"
    " np.round(2.5), np.sort(a[:, 0])[0], np.cumsum(a).sum(), math.gamma(3), math.erf(1),"
    " numgrad(np.tanh, 0.5), numgrad(lambda w: np.sum(w**2), np.ones(2)).sum()]",
    "answer = 1 / 0",
    "assert 1 == 2, 'no'",
    "x = np.ones(3)\nanswer = x.nothing",
    "answer = np.ones((2, 2)) @ np.ones((3, 3))",
    "answer = np.array([1, 2]) + np.array([1, 2, 3])",
    "answer = int('x')",
    "answer = [1, 2][5]",
    "answer = {}['k']",
    "answer = undefined_name",
    "answer = f'{1.5:.3f} {2:d} {np.pi:g}'",
    "answer = np.log(-1) + np.sqrt(-1) + np.float64(1) / 0",
    "def f(n):\n    return f(n + 1)\nanswer = f(0)",
    "answer = 'ab' * 2 + str(np.ones(2)) + repr(np.eye(2))",
    "answer = np.ones(10**12)",
)


# -- The wire between the build and its workers ------------------------------------------

_FRAME = struct.Struct(">I")
"""Every message is its length (4 bytes, big-endian) and then as many bytes of JSON."""
MAX_RESULT_BYTES = 256 * 1024
"""Bytes of one result a worker may send back; more fails the check."""
CHECK_BUDGET = 60.0
"""Seconds all the checks of one build may take together."""
BUDGET_MESSAGE = "not run: the build's checks used up their time budget"
"""The error of a check that was cut or never started when the budget ran out."""
_GRACE = 0.5
"""Seconds past a check's time limit before its worker is killed."""
_QUEUE_DEPTH = 2
"""Checks sent to a worker ahead: the one it runs and the next."""
_QUEUED_JOB_BYTES = 16 * 1024
"""Largest check sent to a busy worker (the pipe holds it without blocking the build)."""
_STARTUP_LIMIT = 60.0
"""Seconds a worker may take to start (imports on a loaded machine)."""

# What a worker may send for each field of Outcome, by the field's annotation.
_FIELD_TYPES: dict[str, Callable[[Any], bool]] = {
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**63,
    "int | None": lambda v: v is None or _FIELD_TYPES["int"](v),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "float | None": lambda v: v is None or _FIELD_TYPES["float"](v),
    "str": lambda v: isinstance(v, str),
    "str | None": lambda v: v is None or isinstance(v, str),
}
_PARENT_FIELDS = frozenset({"seconds", "budget_exceeded"})
"""Fields of Outcome the build sets; a worker never sends them."""


def _to_wire(value: Any) -> Any:
    """Plain data as JSON values: a tuple becomes ``{"tuple": [...]}``."""
    if isinstance(value, tuple):
        return {"tuple": [_to_wire(item) for item in value]}
    if isinstance(value, list):
        return [_to_wire(item) for item in value]
    if isinstance(value, dict):
        return {"dict": [[str(k), _to_wire(v)] for k, v in value.items()]}
    return value


def _from_wire(value: Any, *, text: bool, depth: int = 0) -> Any:
    """Undo :func:`_to_wire`, accepting only numbers, lists and tuples (and ``text``:
    strings and dicts); raise ValueError on anything else."""
    if depth > 40:
        raise ValueError("nested too deeply")
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list):
        return [_from_wire(item, text=text, depth=depth + 1) for item in value]
    if isinstance(value, dict) and set(value) == {"tuple"} and isinstance(value["tuple"], list):
        return tuple(_from_wire(item, text=text, depth=depth + 1) for item in value["tuple"])
    if text and isinstance(value, str):
        return value
    if text and isinstance(value, dict) and set(value) == {"dict"}:
        return {str(k): _from_wire(v, text=text, depth=depth + 1) for k, v in value["dict"]}
    raise ValueError(f"not plain data: {type(value).__name__}")


def _frame(payload: Any) -> bytes:
    data = json.dumps(payload, separators=(",", ":")).encode()
    return _FRAME.pack(len(data)) + data


def _send_frame(fd: int, payload: Any) -> None:
    """Write one message on a blocking file descriptor (in a worker)."""
    _send_bytes(fd, _frame(payload))


def _send_bytes(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_frame(fd: int) -> Any:
    """Read one message from a blocking file descriptor (in a worker); None at EOF."""
    header = _read_exactly(fd, _FRAME.size)
    if header is None:
        return None
    (length,) = _FRAME.unpack(header)
    body = _read_exactly(fd, length)
    return None if body is None else json.loads(body)


def _read_exactly(fd: int, count: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < count:
        chunk = os.read(fd, count - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def _outcome_to_wire(outcome: Outcome) -> dict[str, Any]:
    wire = {
        f.name: _to_wire(getattr(outcome, f.name))
        for f in fields(Outcome)
        if f.name not in _PARENT_FIELDS | {"formula"}
    }
    wire["formula"] = [_to_wire((p.bindings, p.shown, p.reference)) for p in outcome.formula]
    return wire


def _formula_from_wire(value: Any) -> tuple[FormulaPoint, ...]:
    """A formula check's points as sent by a worker; ValueError unless each is a dict of
    names to numbers or vectors, a tuple of values and a value."""
    if not isinstance(value, list):
        raise ValueError("bad formula")
    points = []
    for item in value:
        point = _from_wire(item, text=True)
        if not (isinstance(point, tuple) and len(point) == 3):
            raise ValueError("bad formula point")
        bindings, shown, reference = point
        if not isinstance(bindings, dict) or not isinstance(shown, tuple):
            raise ValueError("bad formula point")
        # Names are text; values are numbers or lists of them, never text.
        _from_wire(_to_wire([list(bindings.values()), shown, reference]), text=False)
        points.append(FormulaPoint(bindings, shown, reference))
    return tuple(points)


def _outcome_from_wire(payload: Any) -> Outcome:
    """A worker's result as an Outcome; ValueError unless it is exactly the plain data
    an Outcome holds."""
    wanted = [f for f in fields(Outcome) if f.name not in _PARENT_FIELDS]
    if not isinstance(payload, dict) or set(payload) != {f.name for f in wanted}:
        raise ValueError("not an outcome")
    values: dict[str, Any] = {}
    for f in wanted:
        value = payload[f.name]
        if f.name == "formula":
            values[f.name] = _formula_from_wire(value)
        elif f.type == "Any":
            values[f.name] = _from_wire(value, text=False)
        elif isinstance(f.type, str) and _FIELD_TYPES[f.type](value):
            values[f.name] = float(value) if "float" in f.type and value is not None else value
        else:
            raise ValueError(f"bad {f.name}")
    if values.get("error") is not None:
        values["error"] = _one_line(values["error"])
    return Outcome(**values)


# -- A worker --------------------------------------------------------------------------


def prepare_worker(read_fd: int, write_fd: int, memory_limit: int, confine: bool) -> dict[str, Any]:
    """Ready this process to run checks: import and warm up, limit it, confine it.

    Returns the checks' base namespace. Sends ``{"ready": true}`` to the build, or
    ``{"ready": false, "why": ...}`` and exits if it cannot be confined.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.simplefilter("ignore")  # numpy's warnings would land on the user's terminal
    symbols = _symbols()
    _warm_up(symbols)
    os.environ.clear()
    try:
        _limit_resources(memory_limit)
        _no_new_privileges()
        if confine:
            _install_filter(read_fd, write_fd)
    except (OSError, ValueError, ImportError, RuntimeError, AttributeError) as exc:
        if confine:
            why = _one_line(f"{type(exc).__name__}: {exc}")
            _send_frame(write_fd, {"ready": False, "why": why})
            os._exit(1)
        # Trusted checks on a system without these limits (no /proc, no prctl): go on.
    _send_frame(write_fd, {"ready": True})
    return symbols


def serve_checks(argv: Sequence[str]) -> None:
    """A worker's main loop: run each check the build sends, send back its outcome.

    ``argv``: the fd to read jobs from, the fd to write results to, the memory limit in
    bytes, and ``1`` to confine the worker (``0`` only where the user trusts the checks).
    """
    import resource

    read_fd, write_fd, memory_limit = int(argv[0]), int(argv[1]), int(argv[2])
    symbols = prepare_worker(read_fd, write_fd, memory_limit, confine=argv[3] == "1")
    while True:
        job = _read_frame(read_fd)
        if job is None:
            os._exit(0)
        try:
            extra = _from_wire(job["symbols"], text=True)
            formula = _from_wire(job["formula"], text=True)
            outcome = run_check(
                job["code"], {**symbols, **extra}, float(job["time_limit"]), formula
            )
        except MemoryError:
            outcome = _failure(0, "memory limit exceeded")
        except Exception as exc:  # never a traceback: it is this check's error
            outcome = _failure(0, f"the check could not be run ({type(exc).__name__}: {exc})")
        try:
            data = _frame(_outcome_to_wire(outcome))
        except (MemoryError, RecursionError, TypeError, ValueError) as exc:
            data = _frame(_outcome_to_wire(_failure(0, f"the result cannot be sent ({exc})")))
        if len(data) > MAX_RESULT_BYTES:
            limit = f"{MAX_RESULT_BYTES // 1024} KiB"
            data = _frame(_outcome_to_wire(_failure(0, f"the answer is larger than {limit}")))
        del outcome
        _send_bytes(write_fd, data)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        if usage.ru_utime + usage.ru_stime > _WORKER_CPU_SECONDS / 2:
            os._exit(0)  # retire before the CPU limit; the build starts a fresh worker


# -- The pool, in the build process -----------------------------------------------------


@dataclass(slots=True)
class _Worker:
    """A worker process as the build sees it."""

    process: subprocess.Popen[bytes]
    jobs: int
    """The pipe the build writes jobs to (non-blocking)."""
    results: int
    """The pipe the build reads results from."""
    received: bytearray = field(default_factory=bytearray)
    ready: bool = False
    queue: collections.deque[int] = field(default_factory=collections.deque)
    """The checks sent to it, in order: the first is running, the next waits in the pipe."""
    started: float = 0.0
    """When the running check (or the worker's start) began."""


class _WorkerFault(Exception):
    """A worker broke the protocol, crashed or sent too much; the message says how."""


def _worker_environment() -> dict[str, str]:
    environment = {name: os.environ[name] for name in _PASSED_ENVIRONMENT if name in os.environ}
    environment.update(_THREAD_ENVIRONMENT)
    return environment


def _spawn(memory_limit: int, confine: bool, program: str | None = None) -> _Worker:
    """Start a worker: a fresh interpreter with an empty environment and two pipes.

    ``program`` replaces the worker's code (tests play an attacker with it).
    """
    job_read, job_write = os.pipe()
    result_read, result_write = os.pipe()
    arguments = [str(job_read), str(result_write), str(memory_limit), "1" if confine else "0"]
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", program or _WORKER_PROGRAM, *arguments],
            env=_worker_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(job_read, result_write),
            close_fds=True,
            cwd="/",
        )
    finally:
        os.close(job_read)
        os.close(result_write)
    os.set_blocking(job_write, False)
    return _Worker(process, job_write, result_read, started=time.monotonic())


def _stop(worker: _Worker) -> None:
    """Kill a worker and release its pipes."""
    with contextlib.suppress(OSError):
        worker.process.kill()
    worker.process.wait()
    for fd in (worker.jobs, worker.results):
        with contextlib.suppress(OSError):
            os.close(fd)


def _send_job(worker: _Worker, data: bytes, deadline: float) -> bool:
    """Write a job to an idle worker; False if it died or would not read it in time."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(worker.jobs, view) :]
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [worker.jobs], [], left)[1]:
                return False
        except OSError:
            return False
    return True


def _receive(worker: _Worker) -> list[Any]:
    """Read what a worker sent; the complete messages in it, decoded from JSON."""
    try:
        chunk = os.read(worker.results, 65536)
    except OSError as exc:
        raise _WorkerFault(f"the pipe from the check's worker failed ({exc.strerror})") from None
    if not chunk:
        raise _WorkerFault(_death(worker))
    worker.received += chunk
    messages = []
    while len(worker.received) >= _FRAME.size:
        (length,) = _FRAME.unpack_from(worker.received)
        if length > MAX_RESULT_BYTES:
            limit = f"{MAX_RESULT_BYTES // 1024} KiB"
            raise _WorkerFault(f"the check's worker sent a result larger than {limit}")
        if len(worker.received) < _FRAME.size + length:
            break
        body = bytes(worker.received[_FRAME.size : _FRAME.size + length])
        del worker.received[: _FRAME.size + length]
        try:
            messages.append(json.loads(body))
        except (ValueError, RecursionError):
            raise _WorkerFault("the check's worker sent something that is not a result") from None
    return messages


def _death(worker: _Worker) -> str:
    """Why a worker's pipe closed, in one line."""
    try:
        code = worker.process.wait(timeout=1)
    except subprocess.TimeoutExpired:
        return "the check's worker closed its pipe"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"the check crashed its worker ({signal.Signals(-code).name})"
    return f"the check's worker exited (status {code})"


_pools: dict[tuple[int, bool], list[_Worker]] = {}


def _close_pools() -> None:
    """Stop every worker (at exit): EOF on its job pipe ends it, a kill if it lingers."""
    workers = [worker for pool in _pools.values() for worker in pool]
    _pools.clear()
    for worker in workers:
        with contextlib.suppress(OSError):
            os.close(worker.jobs)
    for worker in workers:
        try:
            worker.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
        with contextlib.suppress(OSError):
            os.close(worker.results)


atexit.register(_close_pools)


def _pool(memory_limit: int, confine: bool, count: int) -> list[_Worker]:
    """The build's workers for these limits, started once and kept for later checks."""
    pool = _pools.setdefault((memory_limit, confine), [])
    while len(pool) < count:
        pool.append(_spawn(memory_limit, confine))
    return pool


def run_checks(
    codes: Sequence[str],
    *,
    formulas: Sequence[Sequence[Any] | None] | None = None,
    symbols: Sequence[Mapping[str, Any]] | None = None,
    time_limit: float = TIME_LIMIT,
    memory_limit: int = MEMORY_LIMIT,
    workers: int | None = None,
    budget: float = CHECK_BUDGET,
    confine: bool = True,
) -> list[Outcome]:
    """Run every check in confined worker processes; one outcome per check, in order.

    ``symbols[i]`` holds plain data (numbers, strings, lists, tuples, dicts) that check
    ``i`` sees as variables. All checks together may take ``budget`` seconds from the
    moment a worker is ready; those cut or never started then fail with
    :data:`BUDGET_MESSAGE`. With ``confine`` (the
    default) raises :class:`ConfinementUnavailable` where workers cannot be confined;
    ``confine=False`` is for notes the user trusts.

    ``formulas``, one item per check, holds the trees of the formula a check verifies
    (plain data, see :mod:`build_deck.verify.formula`).
    """
    if not codes:
        return []
    if confine:
        problem = confinement_problem()
        if problem is not None:
            raise ConfinementUnavailable(problem)
    count = max(1, min(workers or os.cpu_count() or 1, len(codes)))
    pool = _pool(memory_limit, confine, count)
    outcomes: list[Outcome | None] = [None] * len(codes)
    pending: collections.deque[int] = collections.deque()
    for index, code in enumerate(codes):
        if len(code) > MAX_CODE_LENGTH:
            outcomes[index] = _failure(0, f"the check is longer than {MAX_CODE_LENGTH} characters")
        else:
            pending.append(index)
    out_of_time = math.inf  # the budget starts once a worker is ready, not at its start-up

    def finish(worker: _Worker, outcome: Outcome) -> None:
        now = time.monotonic()
        outcomes[worker.queue.popleft()] = replace(outcome, seconds=now - worker.started)
        worker.started = now  # the next check in its queue starts now

    def discard(worker: _Worker, message: str | None) -> None:
        if worker.queue and message is not None:
            finish(worker, _failure(0, message))
        pending.extendleft(reversed(worker.queue))  # not started: they run elsewhere
        worker.queue.clear()
        _stop(worker)
        pool[pool.index(worker)] = _spawn(memory_limit, confine)

    def dispatch(worker: _Worker) -> None:
        # A second check waits in the pipe, so that the worker goes on without waiting
        # for this process to be scheduled; a large one only when the worker is idle.
        while pending and len(worker.queue) < _QUEUE_DEPTH:
            index = pending[0]
            job = {
                "code": codes[index],
                "symbols": _to_wire(dict(symbols[index]) if symbols else {}),
                "formula": _to_wire(formulas[index]) if formulas else None,
                "time_limit": time_limit,
            }
            data = _frame(job)
            if worker.queue and len(data) > _QUEUED_JOB_BYTES:
                return
            pending.popleft()
            if not worker.queue:
                worker.started = time.monotonic()
            worker.queue.append(index)
            if not _send_job(worker, data, time.monotonic() + time_limit):
                worker.queue.pop()
                pending.appendleft(index)
                if not worker.queue:  # else reading its result tells what became of it
                    discard(worker, None)
                return

    def deadline(worker: _Worker) -> float:
        limit = time_limit + _GRACE if worker.ready else _STARTUP_LIMIT
        return worker.started + limit

    try:
        while pending or any(w.queue for w in pool):
            if out_of_time == math.inf and any(w.ready for w in pool):
                out_of_time = time.monotonic() + budget
            if time.monotonic() >= out_of_time:
                break
            for worker in list(pool):
                if worker.ready:
                    dispatch(worker)
            waiting = [w for w in pool if w.queue or not w.ready]
            if not waiting:
                continue
            timeout = min(min(deadline(w) for w in waiting), out_of_time) - time.monotonic()
            readable = select.select([w.results for w in waiting], [], [], max(0.0, timeout))[0]
            for worker in waiting:
                if worker.results in readable:
                    try:
                        for message in _receive(worker):
                            _take(worker, message, finish)
                    except _WorkerFault as fault:
                        if not worker.ready:
                            raise _StartFailed(str(fault)) from None
                        discard(worker, str(fault) if worker.queue else None)
                elif time.monotonic() > deadline(worker):
                    if not worker.ready:
                        raise _StartFailed("a check worker did not start in time")
                    discard(worker, f"time limit of {time_limit:g} s exceeded")
    except ConfinementUnavailable:
        for worker in pool:
            _stop(worker)
        pool.clear()
        raise
    except _StartFailed as failure:
        for worker in pool:
            while worker.queue:
                finish(worker, _failure(0, str(failure)))
        while pending:
            outcomes[pending.popleft()] = _failure(0, str(failure))
    # Out of budget: what is running is cut, what is left never starts.
    cut = Outcome(None, False, None, None, 0, BUDGET_MESSAGE, budget_exceeded=True)
    for worker in list(pool):
        if worker.queue:
            while worker.queue:
                finish(worker, cut)
            _stop(worker)
            pool.remove(worker)
    for index in pending:
        outcomes[index] = cut
    return [o if o is not None else _failure(0, "not run") for o in outcomes]


class _StartFailed(Exception):
    """A worker could not start (or be confined): no check can run."""


def _take(worker: _Worker, message: Any, finish: Callable[[_Worker, Outcome], None]) -> None:
    """Act on one message from a worker: its start-up report or a job's outcome."""
    if not worker.ready:
        if isinstance(message, dict) and message.get("ready") is True:
            worker.ready = True
            return
        if isinstance(message, dict) and isinstance(message.get("why"), str):
            raise ConfinementUnavailable(f"a check worker could not be confined: {message['why']}")
        raise _StartFailed("a check worker did not start")
    if not worker.queue:
        raise _WorkerFault("the check's worker sent a result nobody asked for")
    try:
        outcome = _outcome_from_wire(message)
    except (ValueError, TypeError, KeyError, RecursionError):
        raise _WorkerFault("the check's worker sent something that is not a result") from None
    finish(worker, outcome)
