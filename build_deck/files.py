"""Reading what a shared repository holds: only regular files, inside their folder, capped.

A notes repository written by someone else may hold symbolic links and special files:
``notes/zero.md -> /dev/zero``, a FIFO that never ends, ``notes/shared.md ->
../../private.md``, ``cards -> ../outside``. Every file build-deck reads from a project
(notes, ledger, images, cache entries) goes through :func:`read_inside`, which reads it
only when it is a regular file whose real path lies inside its folder, and no larger
than a cap. :func:`folder_problem` says when a folder given by name (``notes/``,
``cards/``, ``dist/``) is a link that leads out of the folder that holds it.
:func:`printable` makes text safe to print on a terminal.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

KIB = 1 << 10
MIB = 1 << 20


class UnsafeFile(Exception):
    """A file that is not read; the message says why, in a few words (no path)."""


def inside(path: Path | str, folder: Path | str) -> bool:
    """True when ``path``, links followed, is ``folder`` or lies inside it (links
    followed too)."""
    real = os.path.realpath(path)
    root = os.path.realpath(folder)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def size_text(limit: int) -> str:
    """``16 MiB``, ``64 KiB``: a cap as messages show it."""
    if limit >= MIB and limit % MIB == 0:
        return f"{limit // MIB} MiB"
    if limit >= KIB and limit % KIB == 0:
        return f"{limit // KIB} KiB"
    return f"{limit} bytes"


def read_inside(path: Path, folder: Path, limit: int) -> bytes:
    """The bytes of ``path``, a regular file inside ``folder`` of at most ``limit``
    bytes; raises :class:`UnsafeFile` otherwise, or when it cannot be read.

    A link is followed only when it ends inside ``folder``. The file is examined
    before it is opened (a device or a FIFO is never opened), opened without
    following a link (one swapped in meanwhile fails), examined again, and read up to
    one byte past the cap, so that a file that grows while it is read is refused too.
    """
    real = os.path.realpath(path)
    if not inside(real, folder):
        raise UnsafeFile(f"a symbolic link to a file outside {Path(folder).name or folder}")
    try:
        before = os.stat(real, follow_symlinks=False)
        if stat.S_ISLNK(before.st_mode):  # realpath stops at a loop
            raise UnsafeFile("a symbolic link that leads to itself (a loop)")
        _judge(before, limit)
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(real, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UnsafeFile(_why_not(path, exc)) from None
    try:
        now = os.fstat(fd)
        _judge(now, limit)
        if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            raise UnsafeFile("replaced while it was read")
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, MIB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise UnsafeFile(_why_not(path, exc)) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise UnsafeFile(f"larger than {size_text(limit)}")
    return data


def _judge(status: os.stat_result, limit: int) -> None:
    """Refuse anything but a regular file within the cap."""
    if not stat.S_ISREG(status.st_mode):
        kind = "a folder" if stat.S_ISDIR(status.st_mode) else "a device, pipe or socket"
        raise UnsafeFile(f"not a regular file ({kind})")
    if status.st_size > limit:
        raise UnsafeFile(f"larger than {size_text(limit)}")


def _why_not(path: Path, exc: OSError) -> str:
    """What an OS error means for a file a notes project names."""
    if exc.errno == errno.ELOOP:
        return "a symbolic link that leads to itself (a loop)"
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return "a broken symbolic link"
    return exc.strerror or str(exc)


def folder_problem(folder: Path) -> str | None:
    """Why ``folder`` may not be used, or None: a folder given by name (``notes``,
    ``cards``, ``dist``) must not be a link that leads out of the folder holding it.

    ``cards -> ../outside/.config`` would have a build write its files there.
    """
    absolute = Path(os.path.abspath(folder))
    if inside(absolute, absolute.parent):
        return None
    target = os.path.realpath(absolute)
    return (
        f"a symbolic link to {target}, outside the folder that holds it: a project's "
        "folders must lie inside it; replace the link with a folder"
    )


_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
_CONTROL.update({ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"})
# Line and paragraph separators, bidi embeddings and isolates, lone surrogates.
_UNICODE = [0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A), *range(0xD800, 0xE000)]
_CONTROL.update({code: f"\\u{code:04x}" for code in _UNICODE})


def printable(text: str) -> str:
    """``text`` safe on a terminal, on one line: control characters (escape sequences,
    line breaks, bidi overrides) and lone surrogates shown as ``\\x1b``-style escapes."""
    return text.translate(_CONTROL)
