"""Verification, the check sandbox's pool: the build's worker processes and its budget.

:func:`run_checks` runs a build's checks in confined workers, one per core, started
once per build and reused: each a fresh interpreter (``_spawn``) running
``_WORKER_PROGRAM``, whose loop is :func:`serve_checks`, kept by their limits in
``_pools``. Its parts: ``_Batch`` holds the checks of one call; its ``dispatch`` sends a
worker the check it runs and the next, its ``run`` takes outcomes (``_receive``,
``_take``) until all are in or the budget runs out, its ``discard`` kills a worker that
broke its time limit or the wire protocol and starts another, and its ``fail_all`` and
``cut`` give the checks left their outcome when no worker could start or the budget
ran out.

What it guarantees, and the tests that prove it:

- one outcome per check, in order, and no check sees another's names:
  ``TestChecks.test_outcomes_come_back_in_order_across_workers``, ``test_no_checks``,
  ``test_checks_do_not_share_variables``,
  ``test_symbols_of_one_check_are_not_seen_by_the_next`` (tests/verify/test_sandbox.py);
- a check past its time limit, even in C, is killed with its worker, and the next runs
  in a new one: ``TestLimits.test_long_computation_in_c_is_killed`` (test_sandbox.py),
  ``TestOnlyPlainDataComesBack.test_silence``, ``test_a_crash``,
  ``test_a_worker_that_crashed_is_replaced``, ``test_two_replies_to_one_job``
  (tests/verify/test_confinement.py);
- all checks of a build stop at the budget:
  ``test_slow_checks_stop_at_the_budget_and_name_the_file`` (test_confinement.py);
- confined and trusted checks never share a worker:
  ``test_trust_checks_does_not_unconfine_where_confinement_works`` (test_confinement.py).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import math
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from build_deck.verify.sandbox.confinement import (
    _WORKER_CPU_SECONDS,
    MEMORY_LIMIT,
    ConfinementUnavailable,
    _worker_environment,
    confinement_problem,
    prepare_worker,
)
from build_deck.verify.sandbox.evaluator import TIME_LIMIT, run_check
from build_deck.verify.sandbox.syntax import MAX_CODE_LENGTH
from build_deck.verify.sandbox.wire import (
    _FRAME,
    MAX_RESULT_BYTES,
    Outcome,
    _failure,
    _frame,
    _from_wire,
    _outcome_from_wire,
    _outcome_to_wire,
    _read_frame,
    _send_bytes,
    _to_wire,
)

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
_WORKER_PROGRAM = (
    "import sys; from build_deck.verify.sandbox.pool import serve_checks;"
    " serve_checks(sys.argv[1:])"
)
"""What a worker runs: :func:`serve_checks`, in a fresh interpreter."""


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
            members = _from_wire(job["members"], text=True)
            outcome = run_check(
                job["code"], {**symbols, **extra}, float(job["time_limit"]), formula, members
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
    """Stop every worker (at exit): EOF on its job pipe ends it, a kill if it lingers.
    A worker that never served a check (started ahead, see :func:`start_workers`) is
    killed: it may still be importing, and holds nothing."""
    workers = [worker for pool in _pools.values() for worker in pool]
    _pools.clear()
    for worker in workers:
        with contextlib.suppress(OSError):
            os.close(worker.jobs)
        if not worker.ready:
            with contextlib.suppress(OSError):
                worker.process.kill()
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


def start_workers(count: int, *, memory_limit: int = MEMORY_LIMIT) -> None:
    """Start ``count`` confined workers now, ahead of the build's checks, so that they
    import and confine themselves while the notes are read; :func:`run_checks` then
    finds them ready. Nothing is started where workers cannot be confined."""
    if confinement_problem() is None:
        _pool(memory_limit, True, count)


def run_checks(
    codes: Sequence[str],
    *,
    formulas: Sequence[Sequence[Any] | None] | None = None,
    members: Sequence[Mapping[str, Any] | None] | None = None,
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
    (plain data, see :mod:`build_deck.verify.formula`); ``members``, one item per check,
    the chain members it evaluates with its names (see ``run_check``).
    """
    if not codes:
        return []
    if confine:
        problem = confinement_problem()
        if problem is not None:
            raise ConfinementUnavailable(problem)
    count = max(1, min(workers or os.cpu_count() or 1, len(codes)))
    pool = _pool(memory_limit, confine, count)
    batch = _Batch(codes, formulas, members, symbols, time_limit, memory_limit, confine, pool)
    try:
        batch.run(budget)
    except ConfinementUnavailable:
        for worker in pool:
            _stop(worker)
        pool.clear()
        raise
    except _StartFailed as failure:
        batch.fail_all(str(failure))
    batch.cut()
    return [o if o is not None else _failure(0, "not run") for o in batch.outcomes]


@dataclass(slots=True)
class _Batch:
    """The checks of one :func:`run_checks` call on their way through the pool."""

    codes: Sequence[str]
    formulas: Sequence[Sequence[Any] | None] | None
    members: Sequence[Mapping[str, Any] | None] | None
    symbols: Sequence[Mapping[str, Any]] | None
    time_limit: float
    memory_limit: int
    confine: bool
    pool: list[_Worker]
    """The workers for these limits; one that fails is replaced in its place."""
    outcomes: list[Outcome | None] = field(init=False)
    """One per check, in order: None until it is known."""
    pending: collections.deque[int] = field(init=False, default_factory=collections.deque)
    """The checks not sent to a worker yet, in order."""

    def __post_init__(self) -> None:
        self.outcomes = [None] * len(self.codes)
        for index, code in enumerate(self.codes):
            if len(code) > MAX_CODE_LENGTH:
                too_long = f"the check is longer than {MAX_CODE_LENGTH} characters"
                self.outcomes[index] = _failure(0, too_long)
            else:
                self.pending.append(index)

    def run(self, budget: float) -> None:
        """Send the checks and take their outcomes until all are in, or until ``budget``
        seconds after a worker was first ready."""
        pool, pending = self.pool, self.pending
        out_of_time = math.inf  # the budget starts once a worker is ready, not at its start-up
        while pending or any(w.queue for w in pool):
            if out_of_time == math.inf and any(w.ready for w in pool):
                out_of_time = time.monotonic() + budget
            if time.monotonic() >= out_of_time:
                break
            for worker in list(pool):
                if worker.ready:
                    self.dispatch(worker)
            waiting = [w for w in pool if w.queue or not w.ready]
            if not waiting:
                continue
            timeout = min(min(self.deadline(w) for w in waiting), out_of_time) - time.monotonic()
            readable = select.select([w.results for w in waiting], [], [], max(0.0, timeout))[0]
            for worker in waiting:
                if worker.results in readable:
                    try:
                        for message in _receive(worker):
                            _take(worker, message, self.finish)
                    except _WorkerFault as fault:
                        if not worker.ready:
                            raise _StartFailed(str(fault)) from None
                        self.discard(worker, str(fault) if worker.queue else None)
                elif time.monotonic() > self.deadline(worker):
                    if not worker.ready:
                        raise _StartFailed("a check worker did not start in time")
                    self.discard(worker, f"time limit of {self.time_limit:g} s exceeded")

    def finish(self, worker: _Worker, outcome: Outcome) -> None:
        """Record the outcome of the check ``worker`` was running."""
        now = time.monotonic()
        self.outcomes[worker.queue.popleft()] = replace(outcome, seconds=now - worker.started)
        worker.started = now  # the next check in its queue starts now

    def discard(self, worker: _Worker, message: str | None) -> None:
        """Fail its running check with ``message`` (if any), put back the checks queued
        behind it, kill ``worker`` and start another in its place."""
        if worker.queue and message is not None:
            self.finish(worker, _failure(0, message))
        self.pending.extendleft(reversed(worker.queue))  # not started: they run elsewhere
        worker.queue.clear()
        _stop(worker)
        self.pool[self.pool.index(worker)] = _spawn(self.memory_limit, self.confine)

    def dispatch(self, worker: _Worker) -> None:
        """Send ``worker`` checks until it holds :data:`_QUEUE_DEPTH` of them."""
        # A second check waits in the pipe, so that the worker goes on without waiting
        # for this process to be scheduled; a large one only when the worker is idle.
        pending = self.pending
        while pending and len(worker.queue) < _QUEUE_DEPTH:
            index = pending[0]
            job = {
                "code": self.codes[index],
                "symbols": _to_wire(dict(self.symbols[index]) if self.symbols else {}),
                "formula": _to_wire(self.formulas[index]) if self.formulas else None,
                "members": _to_wire(dict(self.members[index] or {})) if self.members else None,
                "time_limit": self.time_limit,
            }
            data = _frame(job)
            if worker.queue and len(data) > _QUEUED_JOB_BYTES:
                return
            pending.popleft()
            if not worker.queue:
                worker.started = time.monotonic()
            worker.queue.append(index)
            if not _send_job(worker, data, time.monotonic() + self.time_limit):
                worker.queue.pop()
                pending.appendleft(index)
                if not worker.queue:  # else reading its result tells what became of it
                    self.discard(worker, None)
                return

    def deadline(self, worker: _Worker) -> float:
        """When ``worker`` is late: its check past the time limit, or its start."""
        limit = self.time_limit + _GRACE if worker.ready else _STARTUP_LIMIT
        return worker.started + limit

    def fail_all(self, message: str) -> None:
        """No worker could start: every check not done fails with ``message``."""
        for worker in self.pool:
            while worker.queue:
                self.finish(worker, _failure(0, message))
        while self.pending:
            self.outcomes[self.pending.popleft()] = _failure(0, message)

    def cut(self) -> None:
        """Out of budget: what is running is cut, what is left never starts."""
        cut = Outcome(None, False, None, None, 0, BUDGET_MESSAGE, budget_exceeded=True)
        for worker in list(self.pool):
            if worker.queue:
                while worker.queue:
                    self.finish(worker, cut)
                _stop(worker)
                self.pool.remove(worker)
        for index in self.pending:
            self.outcomes[index] = cut


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
