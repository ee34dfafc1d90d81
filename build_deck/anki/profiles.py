"""Find a profile's collection the way Anki desktop does (qt/aqt/profiles.py).

Anki keeps its profiles in one base folder: ``$ANKI_BASE`` when set, else
``%APPDATA%\\Anki2`` on Windows, ``~/Library/Application Support/Anki2`` on macOS and
``$XDG_DATA_HOME/Anki2`` (``~/.local/share/Anki2``) elsewhere. ``prefs21.db`` there
lists the profiles (table ``profiles``, one row per name, plus ``_global`` whose
pickled data names the last profile loaded). Anki opens the only profile, or the last
one loaded; a profile's collection is ``<base>/<name>/collection.anki2``.
"""

from __future__ import annotations

import io
import os
import pickle
import sqlite3
import sys
from pathlib import Path
from typing import Any

PREFS = "prefs21.db"
"""The profile list in the base folder."""


class ProfileError(Exception):
    """No collection can be chosen; the message says what to pass instead."""


def anki_base(
    environ: dict[str, str] | None = None, platform: str | None = None, home: Path | None = None
) -> Path:
    """Anki's base folder on this machine (or on ``platform``, for tests)."""
    env = dict(os.environ) if environ is None else environ
    platform = platform or sys.platform
    home = home or Path.home()
    if env.get("ANKI_BASE"):
        return Path(env["ANKI_BASE"])
    if platform.startswith("win"):
        appdata = env.get("APPDATA") or str(home / "AppData" / "Roaming")
        return Path(appdata) / "Anki2"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "Anki2"
    data = env.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    return Path(data) / "Anki2"


class _DataOnly(pickle.Unpickler):
    """Reads plain data only: a profile list is never allowed to run code."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"{module}.{name} is not plain data")


def _last_loaded(blob: bytes | None) -> str | None:
    if not blob:
        return None
    try:
        meta = _DataOnly(io.BytesIO(blob)).load()
    except Exception:  # any damage: Anki would ask, so we do too
        return None
    name = meta.get("last_loaded_profile_name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else None


def list_profiles(base: Path) -> tuple[list[str], str | None]:
    """The profile names in ``base``, and the last one Anki loaded."""
    prefs = base / PREFS
    if not prefs.is_file():
        raise ProfileError(
            f"no Anki profiles in {base} (no {PREFS}): start Anki once, or pass --collection PATH"
        )
    try:
        with sqlite3.connect(f"file:{prefs}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT name, CAST(data AS BLOB) FROM profiles").fetchall()
    except sqlite3.Error as exc:
        raise ProfileError(f"cannot read {prefs} ({exc}): pass --collection PATH") from exc
    names = sorted(str(name) for name, _ in rows if name != "_global")
    last = next((_last_loaded(data) for name, data in rows if name == "_global"), None)
    return names, last


def find_collection(profile: str | None = None, base: Path | None = None) -> Path:
    """The collection of ``profile``, or of the profile Anki opens by default."""
    base = base or anki_base()
    names, last = list_profiles(base)
    if profile is not None:
        match = [n for n in names if n.lower() == profile.lower()]  # Anki: collate nocase
        if not match:
            raise ProfileError(f"no profile {profile!r} in {base}: it has {', '.join(names)}")
        chosen = match[0]
    elif len(names) == 1:
        chosen = names[0]
    elif last in names:
        assert last is not None
        chosen = last
    else:
        raise ProfileError(
            f"several Anki profiles in {base} ({', '.join(names)}): pass --profile NAME"
        )
    return base / chosen / "collection.anki2"
