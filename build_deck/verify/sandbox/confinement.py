"""Verification, the check sandbox's confinement: what a worker process may do (Linux).

A worker is a fresh interpreter, not a fork of the build, started with an empty
environment but for the variables OpenBLAS needs (``_worker_environment``).
:func:`prepare_worker` readies it, in this order: it imports numpy and asteval and warms
them up (``_warm_up`` loads what they import lazily), clears its environment, limits its
resources (``_limit_resources``: memory, CPU, no file written, no process, few
descriptors), sets ``no_new_privs`` (``_no_new_privileges``) and, last, loads a seccomp
filter (``_install_filter``) that allows only computing: memory, futexes, clocks, its
timer, exit, and reading and writing its own two pipes. Opening files, exec, fork,
sockets, ptrace and signals to other processes fail with EPERM, so even code that
escapes the evaluator (a memory bug in numpy) cannot touch the machine. Landlock is not
added: with every ``open`` denied by the filter it would deny nothing more. libseccomp
is used through pyseccomp, a small ctypes binding with the API of libseccomp's own
Python bindings (not on PyPI): the system's library resolves system call names and
checks the architecture, so no BPF is written by hand here. Where workers cannot be
confined (:func:`confinement_problem`; ``BUILD_DECK_CONFINEMENT=off`` acts so),
:func:`check_mode` says how checks will run and the pool raises
:class:`ConfinementUnavailable` unless the user trusts the checks.

What it guarantees, and the tests that prove it (in tests/verify/test_confinement.py):

- code that escaped the evaluator cannot open, write or list files, exec, fork, open
  sockets, ptrace, signal the build or map executable memory:
  ``test_escaped_code_cannot_reach_the_machine``, against the control
  ``test_unconfined_worker_is_not_confined``;
- a worker holds nothing of the build's: ``test_escaped_code_finds_an_empty_environment``,
  ``test_worker_environment_passes_only_the_allow_list``,
  ``test_workers_hold_only_their_pipes_and_the_standard_streams``;
- its memory is limited: ``TestLimits.test_array_beyond_the_default_memory_limit`` and
  ``test_memory_limit_can_be_set`` in tests/verify/test_sandbox.py;
- no check runs unconfined unless the user trusts the notes: ``TestWithoutConfinement``
  (``test_run_checks_refuses``, ``test_cards_build_unverified_with_one_line``,
  ``test_strict_makes_it_an_error``, ``test_trust_checks_runs_them``).
"""

from __future__ import annotations

import os
import signal
import sys
import warnings
from typing import Any

from build_deck.verify.sandbox.evaluator import TIME_LIMIT, _symbols, run_check
from build_deck.verify.sandbox.wire import _one_line, _send_frame

MEMORY_LIMIT = 512 * 1024 * 1024
"""Bytes of address space one check may add to its worker."""

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


def check_mode(*, trust_checks: bool, strict: bool = False) -> str:
    """How checks will run here: ``checks:confined``, ``checks:trusted`` (unconfined, as
    the user asked) or ``checks:not-run`` (no confinement, not trusted); ``:strict``
    follows when what a mark does not cover is an error, not a warning."""
    if confinement_problem() is None:
        mode = "checks:confined"
    else:
        mode = "checks:trusted" if trust_checks else "checks:not-run"
    return f"{mode}:strict" if strict else mode


def _worker_environment() -> dict[str, str]:
    environment = {name: os.environ[name] for name in _PASSED_ENVIRONMENT if name in os.environ}
    environment.update(_THREAD_ENVIRONMENT)
    return environment


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
    # And a chain's members, with a name of the check, a given and one that is neither.
    vector = parse_formula(r"(x_1, 2) - y + z")
    members = {"trees": [tree, vector], "given": {"y": [1.0, 2.0]}, "first_index": {"x": 1}}
    run_check("x = np.ones(2)", symbols, TIME_LIMIT, None, members)


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
