"""Benchmark ``build-deck sync`` on the shipped deck: ``python bench/sync.py [RUNS]``.

Copies ``notes/``, ``cards/`` and ``build-deck.toml`` to ``build/bench/sync`` and
measures, each in a fresh process as a user runs it (``python -m build_deck sync
--collection ...``):

- ``cold``: no build cache, no TeX cache, an empty collection: every note is added
  (the note types too) and Anki's backup is written;
- ``first no change``: the same again right after (the build's ledger cache is
  refilled once);
- ``no change``: once more: nothing to do, the everyday case;
- ``one card``: after one card's answer changed in the notes.

Wall time and CPU time (user + system, of the sync process and its workers) are
printed; the load average too, since on a shared machine wall times follow it.

Each figure is the median of RUNS (default 3) runs, each with its own collection.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from anki.collection import Collection

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = REPO / "build" / "bench" / "sync"


def _sync(folder: Path, collection: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, the process and its children) of one sync."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "build_deck", "sync", "--collection", str(collection)],
        cwd=folder,
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_CACHE_HOME": str(folder / ".cache")},  # goes with the folder
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"sync failed:\n{done.stdout}{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


Timing = tuple[float, float]


def one_run(index: int) -> tuple[Timing, Timing, Timing, Timing, str]:
    """Cold, no-change (twice) and one-card sync times of a fresh copy; and a summary."""
    folder = WORK / str(index)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copytree(REPO / "notes", folder / "notes")
    shutil.copytree(REPO / "cards", folder / "cards")
    # A notes project of its own: without its own build-deck.toml, sync would take the
    # repository's, found above, and build the repository's notes with its cache.
    shutil.copy(REPO / "build-deck.toml", folder / "build-deck.toml")
    collection = folder / "profile" / "collection.anki2"
    collection.parent.mkdir()
    Collection(str(collection)).close()

    cold = _sync(folder, collection)
    first_unchanged = _sync(folder, collection)
    unchanged = _sync(folder, collection)
    notes = folder / "notes" / "machine-learning.md"
    text = notes.read_text(encoding="utf-8")
    first_answer = text.index("\nA: ") + 4
    notes.write_text(text[:first_answer] + "(edited) " + text[first_answer:], encoding="utf-8")
    one = _sync(folder, collection)
    col = Collection(str(collection))
    try:
        summary = f"{col.note_count()} notes, {col.card_count()} cards"
        if not col.find_notes('"(edited) *"'):
            raise SystemExit(f"the one-card sync did not write the answer edited in {notes}")
    finally:
        col.close()
    return cold, first_unchanged, unchanged, one, summary


def main(argv: list[str]) -> None:
    """Run the benchmark and print the medians."""
    runs = int(argv[0]) if argv else 3
    results = [one_run(i) for i in range(runs)]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"shipped deck ({results[0][4]}), median of {runs} runs:")
    print(f"  {'':<16} {'wall s':>7} {'CPU s':>7}   wall of each run")
    columns = ("cold", "first no change", "no change", "one card")
    for column, name in enumerate(columns):
        timings: list[Timing] = [r[column] for r in results]  # type: ignore[misc]
        wall = statistics.median(t[0] for t in timings)
        cpu = statistics.median(t[1] for t in timings)
        spread = ", ".join(f"{t[0]:.2f}" for t in timings)
        print(f"  {name:<16} {wall:7.2f} {cpu:7.2f}   ({spread})")
    print(f"load average at the end: {load} ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main(sys.argv[1:])
