"""Benchmark the build against genanki alone, in the same run: ``python bench/run.py [N ...]``.

For each N (default 1,000, 10,000 and 50,000 cards) it writes a synthetic notes tree
(``bench/make_corpus.py``) under ``build/bench/N`` and measures, each in a fresh
process as a user runs it:

- ``cold``: ``build-deck build`` with no cache and no ledger, on every core;
- ``genanki``: genanki alone writing the same notes (same fields, tags and GUIDs, read
  from the cold build's package beforehand, so no parsing is timed);
- ``no change``: a rebuild with nothing changed;
- ``one file``: a rebuild after one notes file changed (a checked card added to it);
- ``watch``: ``build-deck watch`` running, the time from saving a file with one card
  edited to the new ``.apkg`` (median of three saves);
- ``cold, 1 core``: the cold build again on a fresh copy, held to one core (Linux), for
  the speed-up against cores;

and prints wall times, CPU times (the process and its workers), their ratios, peak
memory (the process and its workers) and the machine's load average during each size.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_corpus import write_corpus  # noqa: E402

WATCH_EDITS = 3
"""Saves timed in ``watch``; the median is reported."""
BUDGET = ["--check-budget", "600"]
"""All builds get more time for their checks than the default 60 s, so that a machine
loaded by other work does not fail the 50,000-card build (10,000 checks)."""


def _child_build(folder: str) -> None:
    """Child process: one build of ``folder``, as ``build-deck build`` does it."""
    os.chdir(folder)
    from build_deck.cli import main

    code = main(["build", *BUDGET])
    if code != 0:
        raise SystemExit(code)


def _child_genanki(folder: str) -> None:
    """Child process: genanki alone writes the notes of ``folder/notes.json``."""
    import genanki

    from build_deck.anki.notetypes import NOTE_TYPES
    from build_deck.anki.package import genanki_model

    notes = json.loads((Path(folder) / "notes.json").read_text())
    started = time.perf_counter()
    models = {nt.model_id: genanki_model(nt) for nt in NOTE_TYPES}
    deck = genanki.Deck(2059400110, "AI Study Notes")
    for mid, guid, fields, tags in notes:
        deck.add_note(genanki.Note(model=models[mid], fields=fields, tags=tags, guid=guid))
    genanki.Package(deck).write_to_file(str(Path(folder) / "genanki.apkg"))
    print(json.dumps({"inner_seconds": time.perf_counter() - started}), file=sys.stderr)


def _measure(mode: str, folder: Path, *, cores: int = 0) -> dict[str, float]:
    """Wall seconds, CPU seconds and peak MiB of one child process (and its workers).

    ``cores``: hold the child (and what it starts) to that many cores; 0 for all.
    """
    pin = f"os.sched_setaffinity(0, set(range({cores})))\n" if cores else ""
    wrapper = (
        "import json, os, resource, sys\n"
        f"{pin}"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "import run\n"
        f"run._child_{mode}({str(folder)!r})\n"
        "own = resource.getrusage(resource.RUSAGE_SELF)\n"
        "kids = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime\n"
        "peak = own.ru_maxrss + kids.ru_maxrss\n"
        "print(json.dumps({'peak_kib': peak, 'cpu': cpu}), file=sys.stderr)\n"
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", wrapper],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "XDG_CACHE_HOME": str(folder / ".cache")},  # goes with the folder
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed in {folder}:\n{done.stdout}\n{done.stderr}")
    usage = json.loads(done.stderr.strip().splitlines()[-1])
    return {"wall": seconds, "cpu": usage["cpu"], "peak": usage["peak_kib"] / 1024}


def _export_notes(apkg: Path, out: Path) -> None:
    """Fields, tags and GUIDs of every note of a package, for the genanki run."""
    with zipfile.ZipFile(apkg) as archive, tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "c.anki2"
        db.write_bytes(archive.read("collection.anki2"))
        rows = sqlite3.connect(db).execute("SELECT mid, guid, flds, tags FROM notes").fetchall()
    notes = [[mid, guid, flds.split("\x1f"), tags.split()] for mid, guid, flds, tags in rows]
    out.write_text(json.dumps(notes))


class _Lines:
    """The lines a child process prints, read in a thread, each with its arrival time."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self.lines.append((time.perf_counter(), line))
                self._changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> tuple[float, str]:
        """The ``count``-th summary line (a build's last line) and when it came."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                summaries = [(t, s) for t, s in self.lines if " cards (" in s]
                if len(summaries) >= count:
                    return summaries[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"watch: no build {count} in {timeout} s: {self.lines}")
                self._changed.wait(left)


def _edit_one_card(path: Path, round_: int) -> None:
    """Change the words of one card of ``path`` (its first derivative question)."""
    text = path.read_text(encoding="utf-8")
    marker = "what is the derivative of"
    assert marker in text, path
    path.write_text(text.replace(marker, f"(edit {round_}) {marker}", 1), encoding="utf-8")


def _measure_watch(folder: Path) -> list[float]:
    """Seconds from a save to the new package, for each of :data:`WATCH_EDITS` saves."""
    process = subprocess.Popen(
        [sys.executable, "-m", "build_deck", "watch", *BUDGET],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines = _Lines(process)
    apkg = folder / "dist" / "ai-study-notes.apkg"
    files = sorted((folder / "notes").glob("*.md"))
    times = []
    try:
        lines.wait_for(1, 600)
        for round_ in range(1, WATCH_EDITS + 1):
            time.sleep(1.0)  # a quiet moment between saves
            before = apkg.stat().st_mtime_ns
            _edit_one_card(files[(round_ * len(files)) // (WATCH_EDITS + 1)], round_)
            saved = time.perf_counter()
            built, line = lines.wait_for(round_ + 1, 600)
            if "1 changed" not in line or apkg.stat().st_mtime_ns == before:
                raise SystemExit(f"watch: the edit was not built: {line}")
            times.append(built - saved)
    finally:
        process.send_signal(2)  # Ctrl-C
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return times


def _fresh(folder: Path, count: int) -> list[Path]:
    """A new corpus in ``folder``, a notes project of its own: without its own
    ``build-deck.toml`` the build would take the repository's, found above it."""
    shutil.rmtree(folder, ignore_errors=True)
    paths = write_corpus(count, folder / "notes")
    (folder / "build-deck.toml").write_text('deck = "AI Study Notes"\n', encoding="utf-8")
    return paths


def bench(count: int, root: Path, *, one_core: bool) -> dict[str, Any]:
    """Measure one corpus size; returns the figures."""
    loads = [os.getloadavg()[0]]
    folder = root / str(count)
    paths = _fresh(folder, count)
    cold = _measure("build", folder)
    loads.append(os.getloadavg()[0])
    _export_notes(folder / "dist" / "ai-study-notes.apkg", folder / "notes.json")
    genanki = _measure("genanki", folder)
    no_change = _measure("build", folder)
    changed = paths[len(paths) // 2]
    changed.write_text(
        changed.read_text() + "\nQ: A card added by the benchmark?\nA: **42**\n\n"
        "```check\nanswer = 6 * 7\n```\n"
    )
    one_file = _measure("build", folder)
    loads.append(os.getloadavg()[0])
    watch = _measure_watch(folder)
    loads.append(os.getloadavg()[0])
    figures = {
        "cards": count,
        "cold": cold["wall"],
        "cold_cpu": cold["cpu"],
        "genanki": genanki["wall"],
        "genanki_cpu": genanki["cpu"],
        "no_change": no_change["wall"],
        "no_change_cpu": no_change["cpu"],
        "one_file": one_file["wall"],
        "one_file_cpu": one_file["cpu"],
        "watch": statistics.median(watch),
        "watch_all": watch,
        "peak_mib": max(cold["peak"], one_file["peak"]),
        "cold_1core": 0.0,
    }
    if one_core and len(os.sched_getaffinity(0)) > 1:
        single = root / f"{count}-1core"
        _fresh(single, count)
        figures["cold_1core"] = _measure("build", single, cores=1)["wall"]
        loads.append(os.getloadavg()[0])
    figures["load_min"], figures["load_max"] = min(loads), max(loads)
    return figures


def _print(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'cards':>7} {'cold s':>7} {'genanki s':>9} {'cold/ga':>7} {'1 file s':>8} "
        f"{'1f/cold':>7} {'no chg s':>8} {'nc/cold':>7} {'watch s':>7} {'peak MiB':>8} "
        f"{'load':>9}"
    )
    for r in rows:
        print(
            f"{r['cards']:>7,.0f} {r['cold']:>7.2f} {r['genanki']:>9.2f} "
            f"{r['cold'] / r['genanki']:>7.2f} {r['one_file']:>8.2f} "
            f"{r['one_file'] / r['cold']:>7.3f} {r['no_change']:>8.2f} "
            f"{r['no_change'] / r['cold']:>7.3f} {r['watch']:>7.2f} {r['peak_mib']:>8.0f} "
            f"{r['load_min']:>4.1f}-{r['load_max']:<4.1f}"
        )
    print("CPU seconds (the process and its workers; less sensitive to the machine's load):")
    for r in rows:
        print(
            f"{r['cards']:>7,.0f} cold {r['cold_cpu']:.2f}, genanki {r['genanki_cpu']:.2f} "
            f"(cold/genanki {r['cold_cpu'] / r['genanki_cpu']:.2f}), one file "
            f"{r['one_file_cpu']:.2f}, no change {r['no_change_cpu']:.2f}; watch saves "
            + ", ".join(f"{s:.2f}" for s in r["watch_all"])
        )
        if r["cold_1core"]:
            print(
                f"{r['cards']:>7,.0f} cold on 1 core {r['cold_1core']:.2f} s, on "
                f"{len(os.sched_getaffinity(0))} cores {r['cold']:.2f} s: "
                f"speed-up {r['cold_1core'] / r['cold']:.2f}"
            )


def main(argv: list[str]) -> int:
    """Run the benchmark and print the table."""
    sizes = [int(a) for a in argv if a.isdigit()] or [1_000, 10_000, 50_000]
    root = Path("build/bench")
    rows = []
    for n in sizes:
        rows.append(bench(n, root, one_core=n <= 10_000))
        _print(rows[-1:])  # as each size is done; all together below
    _print(rows)
    by_size = {int(r["cards"]): r for r in rows}
    if 10_000 in by_size and 50_000 in by_size:
        ratio = by_size[50_000]["cold"] / by_size[10_000]["cold"]
        print(f"50,000 / 10,000 cold build time: {ratio:.2f} (linear would be 5.0)")
    cores = len(os.sched_getaffinity(0))
    print(
        f"python {sys.version.split()[0]}, {cores} cores; peak memory includes check "
        "workers; load: the 1-minute load average, lowest and highest seen during the size"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
