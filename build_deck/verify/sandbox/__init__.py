"""Verification, the check sandbox: the only code that runs the checks of notes files.

Notes are shared and downloaded, so a check must not be able to do anything but
arithmetic. Three layers, and the wire and pool that carry the checks through them:

- :mod:`.syntax`: what a check may be written as, refused with its line before it runs;
- :mod:`.evaluator`: asteval, a restricted interpreter of Python syntax, with
  allow-lists: only vetted names (``np`` is a read-only namespace of pure numeric
  functions), attributes by the type of the object, no ``import``, ``with``, ``try``,
  ``class``, ``raise`` or ``del``;
- :mod:`.confinement`: worker processes (Linux), fresh interpreters with an empty
  environment, resource limits, ``no_new_privs`` and, after their imports and warm-up,
  a seccomp filter that allows only computing and reading and writing their two pipes;
- :mod:`.wire`: what comes back from a worker is a small outcome of plain data (JSON,
  never pickle), type-checked field by field, its messages one short line;
- :mod:`.pool`: the build's workers, started once per build and reused, each check
  with a time limit (a timer in the worker, a kill from the build) and all checks of a
  build with a time budget.
"""

from __future__ import annotations

from build_deck.verify.sandbox.confinement import MEMORY_LIMIT, ConfinementUnavailable, check_mode
from build_deck.verify.sandbox.confinement import _worker_environment as _worker_environment
from build_deck.verify.sandbox.evaluator import TIME_LIMIT
from build_deck.verify.sandbox.pool import CHECK_BUDGET, run_checks, start_workers
from build_deck.verify.sandbox.pool import _close_pools as _close_pools
from build_deck.verify.sandbox.pool import _pools as _pools
from build_deck.verify.sandbox.pool import _receive as _receive
from build_deck.verify.sandbox.pool import _spawn as _spawn
from build_deck.verify.sandbox.pool import _stop as _stop
from build_deck.verify.sandbox.pool import _Worker as _Worker
from build_deck.verify.sandbox.pool import _WorkerFault as _WorkerFault
from build_deck.verify.sandbox.wire import MAX_ANSWER_NUMBERS, MAX_MESSAGE_LENGTH, Outcome

# The private names above are what the confinement tests drive directly: one worker,
# spawned, read and stopped as the pool does it, and the pools themselves.
__all__ = [
    "CHECK_BUDGET",
    "MAX_ANSWER_NUMBERS",
    "MAX_MESSAGE_LENGTH",
    "MEMORY_LIMIT",
    "TIME_LIMIT",
    "ConfinementUnavailable",
    "Outcome",
    "check_mode",
    "run_checks",
    "start_workers",
]
