"""A build on several cores writes the same package, byte for byte, as a build on one."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

from build_deck import reading
from build_deck.cli import main
from tests.conftest import REPO, Project

_PIDS = "BUILD_DECK_TEST_PIDS"
_serial_parse = reading._parse_one


def _parse_recording_pid(job: Any) -> Any:
    """``_parse_one``, leaving a file named by the process that ran it."""
    (Path(os.environ[_PIDS]) / str(os.getpid())).touch()
    return _serial_parse(job)


def _write_corpus(cards: int, folder: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_corpus", REPO / "bench/make_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write_corpus(cards, folder)


def _build(project: Project, name: str, jobs: int) -> tuple[bytes, set[int]]:
    """A cold build (no cache, a new ledger) on ``jobs`` processes: the package and the
    processes that parsed."""
    pids = project.root / f"pids-{name}"
    pids.mkdir()
    os.environ[_PIDS] = str(pids)
    out = project.root / f"dist-{name}"
    code = main(
        [
            "build",
            "--jobs",
            str(jobs),
            "--no-cache",
            "--notes",
            str(project.notes),
            "--cards",
            str(project.root / f"cards-{name}"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return (out / "ai-study-notes.apkg").read_bytes(), {int(p.name) for p in pids.iterdir()}


def test_parallel_and_serial_builds_write_the_same_bytes(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reading, "_PARALLEL_FROM", 1)
    monkeypatch.setattr(reading, "_parse_one", _parse_recording_pid)
    monkeypatch.setenv(_PIDS, "")
    _write_corpus(300, project.notes)  # 6 files: Q/A, clozes, math, code, 60 checks

    serial, serial_pids = _build(project, "serial", 1)
    parallel, parallel_pids = _build(project, "parallel", 3)

    assert serial_pids == {os.getpid()}
    assert len(parallel_pids) >= 2 and os.getpid() not in parallel_pids
    assert parallel == serial
    ledgers = [project.root / f"cards-{name}" for name in ("serial", "parallel")]
    texts = [sorted((p.name, p.read_bytes()) for p in d.rglob("*.jsonl")) for d in ledgers]
    assert texts[0] == texts[1]
