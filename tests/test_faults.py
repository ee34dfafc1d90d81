"""Faults an unlucky user meets: kills mid-write, concurrent builds, half-saved notes,
damaged ledgers. Each ends with every GUID kept and no traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from build_deck.cli import main
from build_deck.identity.ledger import load_ledger
from tests.conftest import ledger_snapshot
from tests.flows import ML, NLP, STATS, apkg_guids

STRACE = shutil.which("strace")
needs_strace = pytest.mark.skipif(STRACE is None, reason="strace is not installed")
NEW_CARD = "\nQ: What is an epoch?\nA: One pass over the training data.\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built notes project, copied by each test."""
    root = tmp_path_factory.mktemp("template")
    (root / "notes").mkdir()
    for name, text in {"nlp.md": NLP, "ml.md": ML, "stats.md": STATS}.items():
        (root / "notes" / name).write_text(text.lstrip("\n"))
    assert cli(root, "build").returncode == 0
    return root


@pytest.fixture
def project(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "p"
    shutil.copytree(template, root, symlinks=True)
    monkeypatch.chdir(root)
    yield root


def cli(
    root: Path, *args: str, strace: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``build-deck ARGS`` in a fresh process, as a user runs it (optionally under strace)."""
    command = [sys.executable, "-m", "build_deck", *args, "--no-cache"]
    if strace is not None:
        assert STRACE is not None
        command = [STRACE, "-f", "-qq", "-o", os.devnull, *strace, *command]
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1767225600"}
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120)


def live_guids(root: Path) -> set[str]:
    ledger, problems = load_ledger(root / "cards", "cards")
    assert problems == []
    return {g for g, e in ledger.entries.items() if not e.removed}


def assert_consistent(root: Path, before: set[str]) -> None:
    """A normal build succeeds, keeps every earlier GUID, and the deck matches the ledger."""
    result = cli(root, "build")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    now = live_guids(root)
    assert before <= now
    assert apkg_guids(root / "dist" / "ai-study-notes.apkg") == now
    leftovers = [p.name for p in root.rglob(".build-deck-*")]
    assert leftovers == []


@needs_strace
@pytest.mark.parametrize(
    "inject",
    [
        "fsync:signal=KILL:when=1",  # the package is complete, nothing replaced yet
        "fsync:signal=KILL:when=2",  # a ledger file written, not yet renamed
        "rename:signal=KILL:when=1",  # at the first ledger rename
        "rename:signal=KILL:when=2",  # ledger written, the package not yet replaced
    ],
)
def test_a_kill_during_the_writes_loses_nothing(project: Path, inject: str) -> None:
    before = live_guids(project)
    package = (project / "dist" / "ai-study-notes.apkg").read_bytes()
    with (project / "notes" / "ml.md").open("a") as notes:
        notes.write(NEW_CARD)
    name = inject.split(":")[0]
    killed = cli(project, "build", strace=["-e", f"trace={name}", "-e", f"inject={inject}"])
    assert killed.returncode == -9 or killed.returncode == 137, killed.stderr
    if "when=1" in inject and name == "fsync":
        assert (project / "dist" / "ai-study-notes.apkg").read_bytes() == package
    assert_consistent(project, before)
    assert len(live_guids(project)) == len(before) + 1


@needs_strace
def test_a_failing_write_is_one_line_and_changes_nothing(project: Path) -> None:
    before = ledger_snapshot(project / "cards")
    package = (project / "dist" / "ai-study-notes.apkg").read_bytes()
    with (project / "notes" / "ml.md").open("a") as notes:
        notes.write(NEW_CARD)
    failed = cli(
        project, "build", strace=["-e", "trace=rename", "-e", "inject=rename:error=ENOSPC:when=1"]
    )
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert "error: cannot write: No space left on device" in failed.stderr
    assert ledger_snapshot(project / "cards") == before
    assert (project / "dist" / "ai-study-notes.apkg").read_bytes() == package
    assert [p.name for p in project.rglob(".build-deck-*")] == []


@needs_strace
def test_a_second_build_waits_for_the_first(project: Path) -> None:
    before = live_guids(project)
    with (project / "notes" / "ml.md").open("a") as notes:
        notes.write(NEW_CARD)
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1767225600"}
    assert STRACE is not None
    slow = subprocess.Popen(
        [
            *(STRACE, "-f", "-qq", "-o", os.devnull, "-e", "trace=fsync"),
            *("-e", "inject=fsync:delay_enter=3000000:when=1"),
            *(sys.executable, "-m", "build_deck", "build", "--no-cache"),
        ],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = project / "cards" / ".build-deck.lock"
    deadline = time.monotonic() + 60
    while not lock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = cli(project, "build")
    _, err = slow.communicate(timeout=120)
    assert slow.returncode == 0, err
    assert second.returncode == 1
    assert "error: another build (pid " in second.stderr
    assert "is writing the deck and the card ledger: wait for it to finish" in second.stderr
    assert_consistent(project, before)


def test_two_builds_at_once_leave_a_deck_that_matches_the_ledger(project: Path) -> None:
    before = live_guids(project)
    with (project / "notes" / "ml.md").open("a") as notes:
        notes.write(NEW_CARD)
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1767225600"}
    command = [sys.executable, "-m", "build_deck", "build", "--no-cache"]
    runs = [
        subprocess.Popen(command, cwd=project, env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(run.wait(timeout=120), run.communicate()[1]) for run in runs]
    assert any(code == 0 for code, _ in results)
    for code, err in results:
        assert "Traceback" not in err
        assert code == 0 or "another build (pid" in err
    assert apkg_guids(project / "dist" / "ai-study-notes.apkg") == live_guids(project)
    assert_consistent(project, before)


def test_a_notes_file_read_while_an_editor_saves_it_loses_no_identity(project: Path) -> None:
    before = live_guids(project)
    path = project / "notes" / "ml.md"
    text = path.read_text()
    # A real writer: truncates, writes a third, pauses, writes the rest.
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "path, text = sys.argv[1], open(sys.argv[1]).read()\n"
            "with open(path, 'w') as out:\n"
            "    out.write(text[: len(text) // 3]); out.flush()\n"
            "    print('half', flush=True); time.sleep(3)\n"
            "    out.write(text[len(text) // 3 :])\n",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    assert writer.stdout.readline() == "half\n"
    during = cli(project, "build")
    writer.wait(timeout=30)
    assert path.read_text() == text
    assert "Traceback" not in during.stderr
    if during.returncode == 0:
        assert "removed: notes/ml.md" in during.stdout  # listed, and kept as removed
    else:  # a card cut in half, or too many cards gone: stops and says so
        assert "error: " in during.stderr
    after = cli(project, "build")
    assert after.returncode == 0
    assert "+0 new" in after.stdout
    assert live_guids(project) == before


Damage = Callable[[str], str]
BAD_LEDGERS: dict[str, tuple[Damage, str]] = {
    "empty": (lambda t: "", ":1: error: the card ledger is empty (truncated?)"),
    "no end line": (
        lambda t: "".join(t.splitlines(keepends=True)[:-1]),
        "error: the card ledger is truncated (no end line)",
    ),
    "cut mid-line": (lambda t: t[: len(t) // 2], "error: the card ledger is truncated"),
    "wrong type": (
        lambda t: t.replace('"mtime": ', '"mtime": "x', 1).replace(', "text"', '", "text"', 1),
        ":2: error: malformed card entry: 'mtime' must be int, not str",
    ),
    "alias bomb": (
        lambda t: 'a: &a ["x","x"]\nb: &b [*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b]\n',
        ":1: error: not a JSON line",
    ),
    "huge line": (
        lambda t: t.replace('"text": "', '"text": "' + "x" * 70000, 1),
        ":2: error: line longer than 65536 characters",
    ),
}


@pytest.mark.parametrize("damage", sorted(BAD_LEDGERS))
def test_a_damaged_ledger_is_an_error_at_its_line_and_nothing_is_written(
    project: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = next(
        p for p in sorted((project / "cards" / "ledger").iterdir()) if p.stat().st_size > 200
    )
    damaged, message = BAD_LEDGERS[damage]
    bucket.write_text(damaged(bucket.read_text()))
    before = ledger_snapshot(project / "cards")
    package = (project / "dist" / "ai-study-notes.apkg").read_bytes()
    for command in ("check", "build"):
        assert main([command, "--no-cache"]) == 1
        err = capsys.readouterr().err
        assert f"cards/ledger/{bucket.name}" in err and message in err, err
    assert ledger_snapshot(project / "cards") == before
    assert (project / "dist" / "ai-study-notes.apkg").read_bytes() == package


def test_duplicate_guids_across_ledger_files_are_an_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = [p for p in sorted((project / "cards" / "ledger").iterdir()) if p.stat().st_size > 200]
    line = files[0].read_text().splitlines(keepends=True)[1]
    lines = files[1].read_text().splitlines(keepends=True)
    files[1].write_text("".join([lines[0], line, *lines[1:]]))
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert f"cards/ledger/{files[1].name}:2: error: duplicate GUID" in err
    assert f"also at cards/ledger/{files[0].name}:2" in err


def test_a_missing_ledger_file_is_an_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = next(
        p for p in sorted((project / "cards" / "ledger").iterdir()) if p.stat().st_size > 200
    )
    bucket.unlink()
    assert main(["build"]) == 1
    assert f"cards/ledger/{bucket.name}:1: error: missing from the card ledger" in (
        capsys.readouterr().err
    )


def test_a_broken_notetypes_ledger_is_an_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "cards" / "notetypes.jsonl"
    path.write_text(path.read_text().replace('"mtime": ', '"mtime": [', 1))
    assert main(["build"]) == 1
    assert "cards/notetypes.jsonl:2: error: not a JSON line" in capsys.readouterr().err


def test_an_empty_notes_folder_is_an_error_and_keeps_the_ledger(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ledger_snapshot(project / "cards")
    (project / "empty").mkdir()
    assert main(["build", "--notes", "empty"]) == 1
    assert "empty:0: error: no notes files (*.md) in the notes folder" in capsys.readouterr().err
    assert ledger_snapshot(project / "cards") == before


def test_a_notes_file_emptied_by_accident_stops_the_build(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "notes" / "stats.md").write_text("")
    assert main(["build"]) == 1
    assert (
        "notes/stats.md:1: error: this build would remove all 2 cards of this file"
        in capsys.readouterr().err
    )
    assert main(["build", "--allow-removals"]) == 0


def test_odd_files_in_the_notes_folder_are_diagnostics_not_tracebacks(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "notes" / "folder.md").mkdir()
    (project / "notes" / "dangling.md").symlink_to("nowhere.md")
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert "notes/dangling.md:0: error: cannot read: a broken symbolic link" in err
    assert "notes/folder.md:0: warning: a folder named like a notes file" in err
    (project / "notes" / "dangling.md").unlink()
    assert main(["build"]) == 0


def test_unwritable_outputs_are_one_line_errors(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ledger_snapshot(project / "cards")
    shutil.rmtree(project / "dist")
    (project / "dist").write_text("not a folder")
    with (project / "notes" / "ml.md").open("a") as notes:
        notes.write(NEW_CARD)
    assert main(["build"]) == 1
    assert "error: cannot write: " in capsys.readouterr().err
    assert ledger_snapshot(project / "cards") == before


def test_notes_named_like_tool_files_do_not_collide(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "notes" / "_notetypes.md").write_text("Q: A note named _notetypes?\nA: Yes.\n")
    (project / "notes" / "notetypes.md").write_text("Q: And one named notetypes?\nA: Yes.\n")
    (project / "notes" / "ledger.md").write_text("Q: And ledger?\nA: Yes.\n")
    assert main(["build"]) == 0
    assert main(["build", "--locked"]) == 0
    assert "+0 new, 0 changed" in capsys.readouterr().out


def test_a_build_from_another_folder_writes_the_same_ledger_and_deck(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    assert main(["build"]) == 0
    ledger = ledger_snapshot(project / "cards")
    package = (project / "dist" / "ai-study-notes.apkg").read_bytes()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    args = ["--notes", str(project / "notes"), "--cards", str(project / "cards")]
    assert main(["build", *args, "--out", str(project / "dist"), "--locked"]) == 0
    assert ledger_snapshot(project / "cards") == ledger
    assert (project / "dist" / "ai-study-notes.apkg").read_bytes() == package


def test_a_copied_ledger_file_is_an_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = next(
        p for p in sorted((project / "cards" / "ledger").iterdir()) if p.stat().st_size > 200
    )
    shutil.copy(bucket, project / "cards" / "ledger" / "copy.jsonl")
    assert main(["build"]) == 1
    assert "cards/ledger/copy.jsonl:1: error: not a file of the card ledger (a copy?)" in (
        capsys.readouterr().err
    )


def test_duplicate_guids_across_version_1_files_are_an_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(project / "cards")
    (project / "cards").mkdir()
    entry = (
        '- guid: "abc"\n  kind: "qa"\n  section: "S"\n  text: "T"\n  mtime: 1\n'
        '  content_hash: "h"\n  note_hash: "n"\n'
    )
    for name in ("a.yaml", "b.yaml"):
        (project / "cards" / name).write_text(f"version: 1\ncards:\n{entry}")
    assert main(["build"]) == 1
    assert "cards/b.yaml:3: error: duplicate GUID 'abc' (also in cards/a.yaml)" in (
        capsys.readouterr().err
    )
