"""What `build-deck sync` and `pull` must never do to a collection: lose reviews when cut
short, write when they promise not to, or fail with a message that says nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from anki.collection import Collection

from tests.anki.syncing import (
    NOTES,
    edit_in_anki,
    history,
    note_by_front,
    opened,
    pull,
    review_all,
    sync,
    sync_ok,
)
from tests.conftest import Project, import_package

CLOZE_RATE = NOTES.replace(
    "Q: Which rate scales each step?\nA: The learning rate.",
    "The {{c1::learning rate}} scales each {{c2::step}}.",
)


def snapshot(col_path: Path) -> dict[str, bytes]:
    """The bytes of the collection's files (the database and its journal)."""
    return {p.name: p.read_bytes() for p in col_path.parent.glob(col_path.name + "*")}


def test_dry_run_and_pull_write_nothing_and_an_old_format_is_refused(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        edit_in_anki(col, "Which rate", "Back", "The <i>learning</i> rate.")
    project.write("ml.md", NOTES.replace("every parameter.", "each parameter."))
    before = snapshot(col_path)
    assert "dry run, nothing written: +0 new, 1 updated" in sync_ok(
        project, col_path, capsys, "--dry-run"
    )
    assert "1 fields edited in Anki" in pull(project, col_path, capsys)
    assert snapshot(col_path) == before

    # As Anki 2.1.49 and older leave it (schema 11): refused, in one line, unchanged.
    Collection(str(col_path)).close(downgrade=True)
    before = snapshot(col_path)
    message = (
        "profile/collection.anki2:0: error: the collection is in the format of Anki 2.1.49 "
        "or older (schema 11): opening it here would upgrade it, and that Anki could not "
        "open it any more; open it once in Anki 2.1.50 or newer (which upgrades it), close "
        "Anki, then run again"
    )
    for command in (["sync", "--dry-run"], ["pull"], ["sync"]):
        capsys.readouterr()
        assert project.run(*command, "--collection", str(col_path)) == 1
        errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert errors == [message]
        assert snapshot(col_path) == before


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only for the block, even to root (with chattr's immutable flag)."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("needs chattr to make a file read-only to root")
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
            pytest.skip("this file system has no immutable flag")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(mode & 0o555)
        try:
            yield
        finally:
            path.chmod(mode)


def test_a_read_only_collection_or_backups_folder_is_named_in_one_line(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    with read_only(col_path):
        code, out = sync(project, col_path, capsys)
    assert code == 1
    assert [line for line in out.splitlines() if "error" in line] == [
        "profile/collection.anki2:0: error: the collection file is read-only: Anki's backend "
        "opens it for writing, even to read it; make it writable (chmod u+w), then run again"
    ]
    backups = col_path.parent / "backups"
    backups.mkdir()
    with read_only(backups):
        code, out = sync(project, col_path, capsys)
    assert code == 1
    assert [line for line in out.splitlines() if "error" in line] == [
        "profile/collection.anki2:0: error: cannot write the backup into profile/backups "
        "(profile/backups is read-only): make that folder writable, then sync again; the "
        "collection was not changed"
    ]
    with opened(col_path) as col:
        assert col.note_count() == 0


KILL_AT_WRITE = """
import os, signal, sys
from build_deck.anki import writes
stop_at = int(sys.argv[1])
real = writes.Writer.write
def write(self, what, action, *args):
    result = real(self, what, action, *args)
    if self.count == stop_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return result
writes.Writer.write = write
from build_deck.cli import main
sys.exit(main(sys.argv[2:]))
"""
"""Runs the command line, killed with SIGKILL right after write number argv[1]."""

TRUNCATED_BACKUP = """
import os, signal, sys
from pathlib import Path
from anki.collection import Collection
real = Collection.create_backup
def create_backup(self, *, backup_folder, force, wait_for_completion):
    real(self, backup_folder=backup_folder, force=force, wait_for_completion=True)
    (done,) = Path(backup_folder).glob("*.colpkg")
    done.write_bytes(done.read_bytes()[: done.stat().st_size // 2])
    os.kill(os.getpid(), signal.SIGKILL)  # as if killed half-way through writing it
Collection.create_backup = create_backup
from build_deck.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_sync_killed_while_writing_its_backup_leaves_no_backup_under_ankis_name(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    killed = subprocess.run(
        [sys.executable, "-c", TRUNCATED_BACKUP, "sync", "--collection", str(col_path)],
        cwd=project.root,
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -9, killed.stderr
    backups = col_path.parent / "backups"
    assert list(backups.glob("backup-*.colpkg")) == []
    sync_ok(project, col_path, capsys)
    (made,) = backups.iterdir()
    assert made.name.startswith("backup-") and made.suffix == ".colpkg"
    with zipfile.ZipFile(made) as package:
        assert package.testzip() is None


def test_a_note_deleted_in_anki_is_said_to_be_re_added(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        col.remove_notes([note_by_front(col, "optimizer.step()")])  # type: ignore[list-item]
    out = sync_ok(project, col_path, capsys)
    assert "add: notes/ml.md:5: What does optimizer.step() do? (re-added: deleted in Anki)" in out


def cut_short_retype(project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]) -> int:
    """Sync and review the notes, then leave the "Which rate" card as a sync of an older
    build-deck killed between Anki's change of note type and the field writes did; returns
    that note's id."""
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    project.write("ml.md", CLOZE_RATE)
    assert project.run("build", "--allow-removals") == 0  # the ledger gives the new GUID
    with opened(col_path) as col:
        review_all(col)
        rate = note_by_front(col, "Which rate")
        info = col.models.change_notetype_info(
            old_notetype_id=col.models.id_for_name("build_deck Q/A"),  # type: ignore[arg-type]
            new_notetype_id=col.models.id_for_name("build_deck Cloze"),  # type: ignore[arg-type]
        )
        request = info.input
        request.note_ids.extend([rate])
        col.models.change_notetype_of_notes(request)
    return rate


def test_a_change_of_note_type_cut_short_is_completed_with_its_reviews(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rate = cut_short_retype(project, col_path, capsys)
    with opened(col_path) as col:
        before = history(col, rate)
    out = sync_ok(project, col_path, capsys, "--allow-removals")
    assert "+0 new" in out and "0 tagged removed" in out, out
    with opened(col_path) as col:
        assert col.note_count() == 3
        assert history(col, rate)[0] == before[0]
        assert "{{c1::learning rate}}" in col.get_note(rate)["Text"]  # type: ignore[arg-type]
    out = sync_ok(project, col_path, capsys, "--prune", "--dry-run", "--allow-removals")
    assert "delete:" not in out and "0 deleted" in out


def test_a_card_added_again_after_a_cut_short_change_is_merged_back(
    project: Project,
    col_path: Path,
    capsys: pytest.CaptureFixture[str],
    collection: Collection,
) -> None:
    rate = cut_short_retype(project, col_path, capsys)
    import_package(collection, project.apkg)
    (twin,) = collection.find_notes('"Text:*learning rate*"')
    # What the next sync of that older build-deck did: the card added again, as new.
    with opened(col_path) as col:
        before = history(col, rate)
        fresh = col.new_note(col.models.by_name("build_deck Cloze"))  # type: ignore[arg-type]
        for name in ("Text", "Context", "Source", "Extra", "Verified"):
            fresh[name] = collection.get_note(twin)[name]
        fresh.guid = collection.get_note(twin).guid
        col.add_note(fresh, col.get_note(rate).cards()[0].did)  # type: ignore[arg-type]
    out = sync_ok(project, col_path, capsys, "--prune", "--yes", "--allow-removals")
    assert "merged: notes/ml.md › Machine Learning > Training: " in out, out
    assert "0 deleted" in out
    with opened(col_path) as col:
        assert col.note_count() == 3
        (kept,) = col.find_notes('"Text:*learning rate*"')
        assert col.get_note(kept).guid == fresh.guid
        assert history(col, kept)[0][1] == before[0][1]


def test_a_sync_killed_at_any_write_leaves_every_review_on_its_card(
    project: Project,
    col_path: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project.write("ml.md", NOTES + "\nMomentum keeps a {{c1::running average}}.\n")
    project.write("other.md", "# Other\n\nQ: What does dropout drop?\nA: Units, at random.\n")
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        review_all(col)
        reviews = {
            card_id: col.db.scalar("SELECT count() FROM revlog WHERE cid = ?", card_id)  # type: ignore[union-attr]
            for card_id in col.find_cards("")
        }
        removed = note_by_front(col, "loss.backward()")
        gone = set(col.get_note(removed).card_ids())  # type: ignore[arg-type]
    # Retype, reword, add, remove and move, all in one sync.
    reworded = CLOZE_RATE.replace("from their gradients.", "from the gradients.")
    project.write(
        "ml.md",
        reworded.replace(
            "Q: What does `loss.backward()` compute?\n"
            "A: The gradient of the loss with respect to every parameter.\n",
            "Q: What does weight decay add?\nA: A penalty on the weights.\n",
        ),
    )
    project.write(
        "other.md", "---\ndeck: Regularisation\n---\n" + (project.notes / "other.md").read_text()
    )
    pristine = tmp_path_factory.mktemp("pristine")
    shutil.copytree(project.root, pristine / "p")
    args = ["sync", "--collection", "profile/collection.anki2", "--allow-removals"]
    args += ["--notes", "notes", "--cards", "cards", "--out", "dist"]
    write = 0
    while True:
        write += 1
        work = tmp_path_factory.mktemp(f"kill{write}") / "p"
        shutil.copytree(pristine / "p", work)
        killed = subprocess.run(
            [sys.executable, "-c", KILL_AT_WRITE, str(write), *args],
            cwd=work,
            capture_output=True,
            text=True,
        )
        if killed.returncode != -9:
            assert killed.returncode == 0, killed.stderr
            break  # every write was cut once
        monkeypatch.chdir(work)
        capsys.readouterr()
        assert Project(work).run(*args[:-6]) == 0, capsys.readouterr()
        with opened(work / "profile" / "collection.anki2") as col:
            db = col.db
            assert db is not None
            guids = db.list("SELECT guid FROM notes")
            assert len(guids) == len(set(guids)) == 6
            for card_id, count in reviews.items():
                if card_id not in gone:  # the card is still there, with its reviews
                    card = col.get_card(card_id)
                    assert db.scalar("SELECT count() FROM revlog WHERE cid = ?", card.id) == count
            moved = col.get_note(note_by_front(col, "dropout"))  # type: ignore[arg-type]
            assert col.decks.name(moved.cards()[0].did) == "AI Study Notes::Regularisation"
    assert write > 5
