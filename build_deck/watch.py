"""Watch mode: rebuild whenever a notes file changes.

Polling the notes folder five times a second needs no extra dependency and works on
every file system; with the build cache, a rebuild after one save only parses that file
and verifies the cards that changed. The builds run in this one process, so what the
first one started or read stays: the check workers, the cache entries and the parsed
ledger. A failed build prints its errors and leaves the previous deck as it was.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

Snapshot = dict[Path, tuple[int, int]]


def snapshot(folder: Path) -> Snapshot:
    """Size and modification time of every file under ``folder`` (one ``stat`` each),
    except in hidden folders and hidden files, which the build does not read (Obsidian
    rewrites ``.obsidian/`` at every click)."""
    state: Snapshot = {}
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith("."):
                continue
            path = Path(root, name)
            try:
                status = path.stat()
            except OSError:
                continue  # removed while we looked, a broken link, a link to itself
            if stat.S_ISREG(status.st_mode):
                state[path] = (status.st_mtime_ns, status.st_size)
    return state


def watch(
    folder: Path,
    rebuild: Callable[[], object],
    *,
    interval: float = 0.2,
    keep_going: Callable[[], bool] = lambda: True,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Build once, then again after every change under ``folder``; returns the build count.

    ``keep_going`` is asked before each poll, so a caller (or a test) can stop the loop;
    Ctrl-C stops it too.
    """
    builds = 0
    seen = snapshot(folder)
    rebuild()
    builds += 1
    try:
        while keep_going():
            sleep(interval)
            now = snapshot(folder)
            if now != seen:
                seen = now
                rebuild()
                builds += 1
    except KeyboardInterrupt:
        pass
    return builds
