"""Run check code from notes files safely: the only module that runs user code.

Notes are shared and downloaded, so a check must not be able to do anything but
arithmetic. Three layers:

1. **asteval**, a restricted interpreter of Python syntax: no ``import``, no ``with``,
   no ``try`` (a time-out cannot be swallowed), no ``class``, ``raise`` or ``del``
   (all refused before the check runs), no ``print``; only the names below exist
   (no ``open``, ``getattr``, ``type``, ``eval``).
2. **A vetted namespace**: ``np`` is not numpy but a read-only namespace holding a
   list of pure numeric functions (no ``load``, ``save``, ``fromfile``, ``memmap``,
   ``lib``, ``ctypeslib``). Attribute access refuses private and dunder names,
   classes, functions, and the array methods that write files; no attribute can be
   assigned, so no check changes ``np`` for the next one or an array's strides.
3. **A separate worker process** per core, with an address-space limit and a time
   limit per check (a timer inside the worker, and a hard kill from the parent).

A formula check sends its card's formula as plain data (the tree of
:mod:`build_deck.formula`) along with the check's code; the worker evaluates it with the
check's names bound, after the check ran, in what is left of its time limit.

asteval was chosen over simpleeval because checks are short programs (assignments,
``def``, ``lambda``, ``assert``) over numpy arrays; simpleeval evaluates single
expressions only.
"""

from __future__ import annotations

import ast
import contextlib
import math
import multiprocessing
import os
import re
import resource
import signal
import time
import types
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
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
"""Characters of an error message sent back from a worker."""

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


def _symbols() -> dict[str, Any]:
    import builtins

    import numpy as np

    numpy_ns = _namespace(np, _NUMPY_NAMES, linalg=_namespace(np.linalg, _LINALG_NAMES))
    symbols: dict[str, Any] = {n: getattr(builtins, n) for n in _BUILTIN_NAMES}
    symbols.update(np=numpy_ns, math=_namespace(math, _MATH_NAMES), numgrad=numgrad)
    return symbols


def _plain(value: Any) -> Any:
    """A check's answer as plain data, or raise TypeError.

    At most :data:`MAX_ANSWER_NUMBERS` numbers, nested at most 32 deep.
    """
    import numpy as np

    left = MAX_ANSWER_NUMBERS

    def take(count: int) -> None:
        nonlocal left
        if count > left:
            raise TypeError(f"answer holds more than {MAX_ANSWER_NUMBERS} numbers")
        left -= count

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
            return array.tolist()
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > 2**1023:
            raise TypeError("answer is too large a number to compare")
        if isinstance(item, bool | int | float | np.integer | np.floating | np.bool_):
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


def _failure(asserts: int, message: str, line: int | None = None) -> Outcome:
    """An outcome for a check that went wrong; long messages are cut."""
    # One line, and no control characters: the message is printed on the user's terminal.
    message = re.sub(r"\s*\n\s*", " ", message.strip())
    message = re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: repr(m.group())[1:-1], message)
    if len(message) > MAX_MESSAGE_LENGTH:
        message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
    return Outcome(None, False, None, None, asserts, message, line)


def _denied_syntax(tree: ast.AST) -> tuple[str, int | None] | None:
    """The first statement a check may not use, as (word, line), or None."""
    for node in ast.walk(tree):
        word = _DENIED_SYNTAX.get(type(node))
        if word is not None:
            return word, getattr(node, "lineno", None)
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
    see :mod:`build_deck.formula`); they are evaluated with the check's names bound.
    """
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
        word, line = denied
        return _failure(0, f"'{word}' is not allowed in a check", line)

    interpreter = Interpreter(
        symtable=dict(symbols), use_numpy=False, config=dict(_ALLOWED_NODES), builtins_readonly=True
    )
    interpreter.symtable.pop("print", None)  # asteval adds it; a check prints nothing
    safe_getattr = astutils.safe_getattr

    def guarded_attribute(node: ast.Attribute) -> Any:
        target = interpreter.run(node.value)
        attribute = node.attr
        if (
            attribute.startswith("_")
            or attribute in _DENIED_ATTRIBUTES
            or isinstance(target, type)
            or (callable(target) and not isinstance(target, types.SimpleNamespace))
        ):
            interpreter.raise_exception(
                node, exc=AttributeError, msg=f"access to attribute '{attribute}' is not allowed"
            )
        return safe_getattr(target, attribute, interpreter.raise_exception, node)

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
        from build_deck.formula import FormulaError, formula_points

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


def _vm_size() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _serve(connection: Connection, time_limit: float, memory_limit: int) -> None:
    """Worker loop: limit this process, then run checks until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.simplefilter("ignore")  # numpy's warnings would land on the user's terminal
    symbols = _symbols()
    limit = _vm_size() + memory_limit
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            job = connection.recv()
        except EOFError:
            return
        if job is None:
            return
        index, code, formula = job
        try:
            outcome = run_check(code, symbols, time_limit, formula)
        except MemoryError:
            outcome = _failure(0, "memory limit exceeded")
        except Exception as exc:  # never a traceback: it is this check's error
            outcome = _failure(0, f"the check could not be run ({type(exc).__name__}: {exc})")
        try:
            connection.send((index, outcome))
        except (MemoryError, RecursionError, TypeError, ValueError) as exc:
            connection.send((index, _failure(0, f"the check's result cannot be sent ({exc})")))


@dataclass(slots=True)
class _Worker:
    process: multiprocessing.process.BaseProcess
    connection: Connection
    job: int | None = None
    started: float = 0.0


def run_checks(
    codes: Sequence[str],
    *,
    formulas: Sequence[Sequence[Any] | None] | None = None,
    time_limit: float = TIME_LIMIT,
    memory_limit: int = MEMORY_LIMIT,
    workers: int | None = None,
) -> list[Outcome]:
    """Run every check in limited worker processes; one outcome per check, in order.

    ``formulas``, one item per check, holds the trees of the formula a check verifies.
    """
    if not codes:
        return []
    import numpy  # noqa: F401  (imported once here, shared by the forked workers)

    context = multiprocessing.get_context("fork")
    count = max(1, min(workers or os.cpu_count() or 1, len(codes)))
    outcomes: list[Outcome | None] = [None] * len(codes)
    pending = list(range(len(codes)))[::-1]

    def spawn() -> _Worker:
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve, args=(child, time_limit, memory_limit), daemon=True
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def replace(worker: _Worker, message: str) -> _Worker:
        if worker.job is not None:
            outcomes[worker.job] = Outcome(None, False, None, None, 0, message)
        worker.process.kill()
        worker.process.join()
        worker.connection.close()
        return spawn()

    pool = [spawn() for _ in range(count)]
    try:
        while pending or any(w.job is not None for w in pool):
            for worker in pool:
                if worker.job is None and pending:
                    worker.job = pending.pop()
                    worker.started = time.monotonic()
                    formula = formulas[worker.job] if formulas is not None else None
                    worker.connection.send((worker.job, codes[worker.job], formula))
            busy = [w for w in pool if w.job is not None]
            deadline = min(w.started for w in busy) + time_limit + 1.0
            ready = wait(
                [w.connection for w in busy], timeout=max(0.0, deadline - time.monotonic())
            )
            for i, worker in enumerate(pool):
                if worker.job is None:
                    continue
                if worker.connection in ready:
                    try:
                        index, outcome = worker.connection.recv()
                    except (EOFError, OSError):
                        pool[i] = replace(worker, "the check crashed its sandbox (memory limit?)")
                        continue
                    outcomes[index] = outcome
                    worker.job = None
                elif time.monotonic() - worker.started > time_limit + 1.0:
                    pool[i] = replace(worker, f"time limit of {time_limit:g} s exceeded")
    finally:
        for worker in pool:
            with contextlib.suppress(BrokenPipeError, OSError):
                worker.connection.send(None)
            worker.process.join(timeout=1)
            if worker.process.is_alive():
                worker.process.kill()
    return [
        o if o is not None else Outcome(None, False, None, None, 0, "not run") for o in outcomes
    ]
