"""Finding the collection of an Anki profile, as Anki desktop does."""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path

import pytest
from anki.collection import Collection

from build_deck.anki.profiles import ProfileError, anki_base, find_collection
from tests.conftest import Project


def make_base(base: Path, names: list[str], meta: object) -> Path:
    """An Anki base folder with ``prefs21.db`` as Anki writes it, and empty collections."""
    base.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(base / "prefs21.db") as db:
        db.execute(
            "create table if not exists profiles "
            "(name text primary key collate nocase, data blob not null)"
        )
        db.execute("insert into profiles values ('_global', ?)", (pickle.dumps(meta, 4),))
        for name in names:
            db.execute("insert into profiles values (?, ?)", (name, pickle.dumps({}, 4)))
            (base / name).mkdir()
            Collection(str(base / name / "collection.anki2")).close()
    return base


def test_base_folder_per_platform(tmp_path: Path) -> None:
    home = tmp_path
    assert anki_base({}, "linux", home) == home / ".local/share/Anki2"
    assert anki_base({"XDG_DATA_HOME": "/x"}, "linux", home) == Path("/x/Anki2")
    assert anki_base({}, "darwin", home) == home / "Library/Application Support/Anki2"
    assert anki_base({"APPDATA": "C:/Users/a/AppData/Roaming"}, "win32", home) == Path(
        "C:/Users/a/AppData/Roaming/Anki2"
    )
    assert anki_base({"ANKI_BASE": "/elsewhere"}, "darwin", home) == Path("/elsewhere")


def test_default_profile_is_the_only_or_the_last_loaded(tmp_path: Path) -> None:
    one = make_base(tmp_path / "one", ["User 1"], {"ver": 0})
    assert find_collection(base=one) == one / "User 1" / "collection.anki2"

    meta = {"ver": 0, "last_loaded_profile_name": "Work", "firstRun": False}
    two = make_base(tmp_path / "two", ["User 1", "Work"], meta)
    assert find_collection(base=two) == two / "Work" / "collection.anki2"
    assert find_collection("user 1", base=two) == two / "User 1" / "collection.anki2"
    with pytest.raises(ProfileError, match=r"no profile 'Home' in .*: it has User 1, Work"):
        find_collection("Home", base=two)


class Trap:
    """Unpickling this would run code: the profile list must never do that."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("unpickled!",))


def test_unclear_or_missing_profiles_ask_for_an_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = make_base(tmp_path / "b", ["A", "B"], {"last_loaded_profile_name": Trap()})
    with pytest.raises(ProfileError, match=r"several Anki profiles .*\(A, B\): pass --profile"):
        find_collection(base=base)
    assert "unpickled!" not in capsys.readouterr().out
    with pytest.raises(ProfileError, match=r"no Anki profiles in .* start Anki once"):
        find_collection(base=tmp_path / "nothing")


def test_sync_finds_the_profile_collection(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = make_base(project.root / "Anki2", ["User 1", "Work"], {"ver": 0})
    monkeypatch.setenv("ANKI_BASE", str(base))
    project.write("a.md", "Q: Which profile?\nA: Work.\n")
    assert project.run("sync") == 1
    assert "pass --profile NAME" in capsys.readouterr().err
    assert project.run("sync", "--profile", "work") == 0
    assert "synced Anki2/Work/collection.anki2: +1 new" in capsys.readouterr().out
    col = Collection(str(base / "Work" / "collection.anki2"))
    try:
        assert col.note_count() == 1
    finally:
        col.close()
