"""A build with nothing changed says so and stops, without importing the heavy parts; any
change to what a build reads (notes, images, ledger, package, options, tool) builds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import build_deck.cache
from build_deck import freshness
from build_deck.freshness import RACY_SECONDS, UP_TO_DATE
from build_deck.typeset.texcheck import find_mathjax
from tests.conftest import Project

A = "# A\n\nQ: What is 6 times 7?\nA: **42**\n\n```check\nanswer = 6 * 7\n```\n"
B = "# B\n\nThe {{c1::chain rule}} multiplies derivatives.\n"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or find_mathjax(Path(__file__).parent) is None,
    reason="a stamp is written only after a build whose TeX MathJax validated",
)


def _build(project: Project, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run ``build``; its output (diagnostics first), after asserting it succeeded."""
    code = project.run("build", *args)
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.err + out.out


def _up_to_date(project: Project, capsys: pytest.CaptureFixture[str], *args: str) -> bool:
    out = _build(project, capsys, *args)
    return out.rstrip().endswith(UP_TO_DATE)


@pytest.fixture
def built(project: Project, capsys: pytest.CaptureFixture[str]) -> Project:
    """A project built once, with its stamp."""
    project.write("a.md", A)
    project.write("b.md", B)
    out = _build(project, capsys)
    assert UP_TO_DATE not in out
    return project


def test_nothing_changed_says_so_with_the_same_summary(
    built: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    package = built.apkg.read_bytes()
    out = _build(built, capsys)
    assert out == (
        "2 cards (1 Q/A, 1 cloze, 1 verified: 1 values, 0 formulas, 0 arithmetic; "
        "0 supporting-only) from 2 files -> dist/ai-study-notes.apkg; +0 new, 0 changed, "
        f"0 moved, 0 restored, 0 removed; {UP_TO_DATE}\n"
    )
    assert built.apkg.read_bytes() == package
    os.utime(built.notes / "a.md")  # saved again with the same bytes: nothing changed
    assert _up_to_date(built, capsys)


def test_a_no_change_build_imports_none_of_the_heavy_parts(built: Project) -> None:
    program = (
        "import sys\n"
        "from build_deck.cli import main\n"
        f"code = main(['build', '--notes', {str(built.notes)!r}, '--cards', "
        f"{str(built.cards)!r}, '--out', {str(built.root / 'dist')!r}])\n"
        "heavy = ('markdown_it', 'genanki', 'numpy', 'yaml', 'pygments', 'asteval',\n"
        "    'build_deck.pipeline', 'build_deck.verify.sandbox', 'build_deck.typeset',\n"
        "    'build_deck.identity', 'build_deck.anki.package')\n"
        "print(sorted(m for m in heavy if m in sys.modules), code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=built.root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith(UP_TO_DATE)
    assert lines[1] == "[] 0"


def test_an_edit_of_the_same_size_builds(
    built: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    path = built.notes / "a.md"
    stat = path.stat()
    path.write_text(A.replace("42", "24").replace("6 * 7", "4 * 6"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same time
    out = _build(built, capsys)
    assert "1 changed" in out and UP_TO_DATE not in out
    assert _up_to_date(built, capsys)


@pytest.mark.parametrize(
    "change",
    [
        "new notes file",
        "removed notes file",
        "image beside the notes",
        "ledger edited",
        "package deleted",
        "package edited",
        "state file deleted",
    ],
)
def test_a_changed_file_builds(
    built: Project, capsys: pytest.CaptureFixture[str], change: str
) -> None:
    ledger = [p for p in built.cards.rglob("*.jsonl") if b"6 times" in p.read_bytes()]
    if change == "new notes file":
        built.write("c.md", "# C\n\nQ: Why?\nA: Because.\n")
    elif change == "removed notes file":
        (built.notes / "b.md").unlink()
    elif change == "image beside the notes":
        (built.notes / "figure.png").write_bytes(b"\x89PNG")
    elif change == "ledger edited":
        ledger[0].write_bytes(ledger[0].read_bytes().replace(b"6 times", b"7 times"))
    elif change == "package deleted":
        built.apkg.unlink()
    elif change == "package edited":
        data = bytearray(built.apkg.read_bytes())
        data[-1] ^= 1
        built.apkg.write_bytes(bytes(data))
    else:
        (built.apkg.parent / ".ai-study-notes.state.json").unlink()
    code = built.run("build", "--allow-removals")
    out = capsys.readouterr()
    assert UP_TO_DATE not in out.out, change
    if change != "ledger edited":  # an edited ledger is the user's to repair
        assert code == 0, out.err
        assert _up_to_date(built, capsys, "--allow-removals")


def test_other_options_a_new_tool_or_environment_build(
    built: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _up_to_date(built, capsys, "--verbose")  # says nothing that would change
    assert not _up_to_date(built, capsys, "--check-budget", "30")
    assert not _up_to_date(built, capsys)  # back to the default budget
    monkeypatch.setattr(build_deck.cache, "tool_fingerprint", lambda: "another version")
    assert not _up_to_date(built, capsys)
    assert _up_to_date(built, capsys)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225601")
    assert not _up_to_date(built, capsys)
    assert not _up_to_date(built, capsys, "--no-cache")


def test_warnings_kept_with_the_notes_are_printed_again(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("a.md", "# A\u200b\n\nQ: Why?\nA: Because.\n")
    first = _build(project, capsys)
    assert "notes/a.md:1: warning: invisible character U+200B" in first
    again = _build(project, capsys)
    assert again.rstrip().endswith(UP_TO_DATE)
    assert [line for line in again.splitlines() if "warning" in line] == [
        line for line in first.splitlines() if "warning" in line
    ]


def test_a_package_written_just_now_is_compared_by_hash_then_trusted(
    built: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Written by the build a moment ago: its time could hide a change in the same tick.
    # (A window wider than a slow build's gap from writing the package to its stamp.)
    monkeypatch.setattr(freshness, "RACY_SECONDS", 60.0)
    data = bytearray(built.apkg.read_bytes())
    stat = built.apkg.stat()
    data[-1] ^= 1
    built.apkg.write_bytes(bytes(data))
    os.utime(built.apkg, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert not _up_to_date(built, capsys)
    good = built.apkg.read_bytes()
    assert good != bytes(data)
    monkeypatch.setattr(freshness, "RACY_SECONDS", RACY_SECONDS)
    time.sleep(RACY_SECONDS + 0.1)
    assert _up_to_date(built, capsys)  # compared by hash, the stamp refreshed
    assert _up_to_date(built, capsys)  # now its size and time tell
