"""Benchmark: ``build-deck check --mutate`` on the shipped notes, cold and warm.

A script, not a test::

    .venv/bin/python bench/mutate.py [--repeat 3]

Copies ``notes/`` to a temporary folder and runs the command there as a user does, in a
fresh process: first with an empty build cache (parsing, TeX, checks and every mutant),
then again with the cache the first run left (only unchanged cards: all from the
cache). Prints the wall time of each run and the share of mutants caught. The target is
under a minute cold.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed_run(folder: Path) -> tuple[float, str]:
    """Run ``check --mutate`` in ``folder``; its wall time and last line."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "build_deck", "check", "--mutate"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "XDG_CACHE_HOME": str(folder / ".cache")},  # removed for a cold run
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"check --mutate failed:\n{done.stderr}")
    return elapsed, done.stdout.strip().splitlines()[-1]


def main() -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description="Time check --mutate on the shipped notes.")
    parser.add_argument("--repeat", type=int, default=3, help="cold runs")
    args = parser.parse_args()
    cold, warm = [], []
    line = ""
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        shutil.copytree(ROOT / "notes", folder / "notes")
        for _ in range(args.repeat):
            shutil.rmtree(folder / ".cache", ignore_errors=True)
            seconds, line = timed_run(folder)
            cold.append(seconds)
            seconds, _ = timed_run(folder)
            warm.append(seconds)
    print(line)
    print(
        f"cold (empty build cache): {', '.join(f'{s:.2f}' for s in cold)} s; "
        f"median {statistics.median(cold):.2f} s"
    )
    print(
        f"warm (from the cache):    {', '.join(f'{s:.2f}' for s in warm)} s; "
        f"median {statistics.median(warm):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
