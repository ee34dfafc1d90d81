"""Files that must not be lost: atomic replacement and a lock against concurrent builds.

As git does with ``index.lock``: a new version is written beside the old one, made
durable (fsync), then renamed over it in one step, and the folder is synced so that
the rename itself survives a crash. A lock file holding the owner's pid keeps a second
build out; a lock left by a process that no longer runs is taken over.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

TEMP_PREFIX = ".build-deck-"
"""Prefix of the temporary files written beside their target."""
LOCK_NAME = ".build-deck.lock"
"""The lock file, in the ledger folder."""


class LockHeld(Exception):
    """Another build holds the lock; the message names it."""


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable (where the OS allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def create_beside(target: Path, suffix: str) -> str:
    """A new, empty temporary file in ``target``'s folder, made as any file the user
    creates is: mode 0666 less the umask (``mkstemp`` would make it 0600 whatever the
    umask). Its name starts with ``TEMP_PREFIX``."""
    while True:
        name = target.parent / f"{TEMP_PREFIX}{secrets.token_hex(6)}{suffix}"
        try:
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return str(name)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a crash leaves either the old or the new file whole.

    The file gets the mode a new file gets under the current umask.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = create_beside(path, ".tmp")
    try:
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_dir(path.parent)


def remove_leftovers(folder: Path) -> None:
    """Delete temporary files a killed build left in ``folder``."""
    if not folder.is_dir():
        return
    for leftover in folder.glob(f"{TEMP_PREFIX}*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _link_with_pid(path: Path) -> None:
    """Create ``path`` holding this process's pid, in one step; FileExistsError if it is
    there already."""
    temp = create_beside(path, ".lock.tmp")
    try:
        with open(temp, "w", encoding="ascii") as out:
            out.write(f"{os.getpid()}\n")
        os.link(temp, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)


@contextlib.contextmanager
def build_lock(folder: Path, shown: str) -> Iterator[None]:
    """Hold ``folder/.build-deck.lock`` for the duration; raises :class:`LockHeld`.

    The file holds the owner's pid from the moment it exists: it is written under a
    temporary name and linked into place, which fails if a lock is there. A lock whose
    owner is gone (killed) is taken over.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    for _ in range(3):
        try:
            _link_with_pid(path)
        except FileExistsError:
            try:
                owner = int(path.read_text(encoding="ascii").strip() or "0")
            except (OSError, ValueError, UnicodeDecodeError):
                owner = 0
            if owner and owner != os.getpid() and _alive(owner):
                raise LockHeld(
                    f"another build (pid {owner}) is writing the deck and the card ledger: "
                    f"wait for it to finish (if no build runs, delete {shown}/{LOCK_NAME})"
                ) from None
            if owner == 0:
                # Damaged (a lock always holds a pid): taken over once it is not new.
                try:
                    if time.time() - path.stat().st_mtime < 5:
                        raise LockHeld(
                            "another build is starting and holds the card ledger's lock: "
                            f"wait for it to finish (if no build runs, delete {shown}/{LOCK_NAME})"
                        )
                except FileNotFoundError:
                    continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
                raise LockHeld(f"cannot lock the card ledger: {exc.strerror}") from None
            raise
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        return
    raise LockHeld(f"cannot take the lock {shown}/{LOCK_NAME}: delete it if no build runs")
