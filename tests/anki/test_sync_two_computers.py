"""Two computers that both ran `build-deck sync` before their AnkiWeb sync: Anki's own sync
server (``python -m anki.syncserver``) on localhost plays AnkiWeb."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from anki.sync_pb2 import SyncCollectionResponse

from tests.anki.syncing import NOTES, ROOT, opened, sync_ok
from tests.conftest import Project, review_deck

FULL = (
    SyncCollectionResponse.FULL_SYNC,
    SyncCollectionResponse.FULL_DOWNLOAD,
    SyncCollectionResponse.FULL_UPLOAD,
)


@pytest.fixture
def sync_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Anki's sync server on a free port of 127.0.0.1, with one user; its endpoint."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(
        os.environ,
        SYNC_USER1="student:secret",
        SYNC_HOST="127.0.0.1",
        SYNC_PORT=str(port),
        SYNC_BASE=str(tmp_path_factory.mktemp("ankiweb")),
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "anki.syncserver"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "no sync server"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.terminate()
        server.wait(timeout=30)


def ankiweb_sync(path: Path, endpoint: str, *, upload: bool = False) -> None:
    """What Anki's Sync button does; a full sync uploads or downloads as told."""
    with opened(path) as col:
        auth = col.sync_login("student", "secret", endpoint)
        out = col.sync_collection(auth, False)
        if out.required in FULL:
            up = out.required == SyncCollectionResponse.FULL_UPLOAD or (
                out.required == SyncCollectionResponse.FULL_SYNC and upload
            )
            col.close_for_full_sync()
            col.full_upload_or_download(auth=auth, server_usn=out.server_media_usn, upload=up)
            col.reopen(after_full_sync=True)


def reviews_by_guid(path: Path) -> dict[str, list[int]]:
    """The review count of each card of every build-deck note, by GUID (a list per note)."""
    found: dict[str, list[int]] = {}
    with opened(path) as col:
        db = col.db
        assert db is not None
        for guid, count in db.all(
            "SELECT n.guid, (SELECT count() FROM revlog r JOIN cards c ON r.cid = c.id "
            "WHERE c.nid = n.id) FROM notes n JOIN notetypes t ON n.mid = t.id "
            "WHERE t.name LIKE 'build_deck%'"
        ):
            found.setdefault(guid, []).append(count)
    return found


def test_notes_both_computers_added_are_merged_with_the_reviews_of_both(
    project: Project,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sync_server: str,
) -> None:
    desktop, laptop = tmp_path / "desktop" / "collection.anki2", tmp_path / "laptop" / "c.anki2"
    for path in (desktop, laptop):
        path.parent.mkdir()
        with opened(path) as col:
            if path == desktop:  # the student's own note, so that AnkiWeb has cards
                own = col.new_note(col.models.by_name("Basic"))  # type: ignore[arg-type]
                own["Front"] = "my own card"
                col.add_note(own, col.decks.id("Default"))  # type: ignore[arg-type]
    ankiweb_sync(desktop, sync_server, upload=True)
    ankiweb_sync(laptop, sync_server)

    # Both computers sync the notes (one ledger in git), and review, before AnkiWeb.
    project.write("ml.md", NOTES)
    for path in (desktop, laptop):
        sync_ok(project, path, capsys)
        with opened(path) as col:
            assert review_deck(col, ROOT) == 3
    ankiweb_sync(desktop, sync_server)
    ankiweb_sync(laptop, sync_server)
    assert sorted(reviews_by_guid(laptop).values()) == [[1, 1]] * 3  # every note twice

    out = sync_ok(project, laptop, capsys)
    assert out.count("notes shared its GUID (two computers synced before AnkiWeb merged") == 3
    assert "3 merged, +0 new, 0 updated" in out
    assert sorted(reviews_by_guid(laptop).values()) == [[2]] * 3
    assert "nothing to do" in sync_ok(project, laptop, capsys)

    ankiweb_sync(laptop, sync_server)
    ankiweb_sync(desktop, sync_server)
    assert sorted(reviews_by_guid(desktop).values()) == [[2]] * 3
    assert "nothing to do" in sync_ok(project, desktop, capsys)
    with opened(desktop) as col:
        assert col.note_count() == 4
