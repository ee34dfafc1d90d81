"""Benchmark the build against genanki alone, in the same run: ``python bench/run.py [N ...]``.

For each N (default 1,000, 10,000 and 50,000 cards) it writes a synthetic notes tree
(``bench/make_corpus.py``) under ``build/bench/N`` and measures, each in a fresh
process as a user runs it:

- ``cold``: ``build-deck build`` with no cache and no ledger;
- ``genanki``: genanki alone writing the same notes (same fields, tags and GUIDs, read
  from the cold build's package beforehand, so no parsing is timed);
- ``warm``: a rebuild with nothing changed;
- ``one file``: a rebuild after one notes file changed;

and prints wall times, their ratios and peak memory (the process and its workers).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_corpus import write_corpus  # noqa: E402


def _child_build(folder: str) -> None:
    """Child process: one build of ``folder``, as ``build-deck build`` does it."""
    import os

    os.chdir(folder)
    from build_deck.cli import main

    code = main(["build"])
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


def _measure(mode: str, folder: Path) -> tuple[float, float]:
    """Wall seconds and peak MiB of one child process (and its workers)."""
    wrapper = (
        "import json, resource, sys\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "import run\n"
        f"run._child_{mode}({str(folder)!r})\n"
        "own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps({'peak_kib': own + kids}), file=sys.stderr)\n"
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
    peak = json.loads(done.stderr.strip().splitlines()[-1])["peak_kib"] / 1024
    return seconds, peak


def _export_notes(apkg: Path, out: Path) -> None:
    """Fields, tags and GUIDs of every note of a package, for the genanki run."""
    with zipfile.ZipFile(apkg) as archive, tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "c.anki2"
        db.write_bytes(archive.read("collection.anki2"))
        rows = sqlite3.connect(db).execute("SELECT mid, guid, flds, tags FROM notes").fetchall()
    notes = [[mid, guid, flds.split("\x1f"), tags.split()] for mid, guid, flds, tags in rows]
    out.write_text(json.dumps(notes))


def bench(count: int, root: Path) -> dict[str, float]:
    """Measure one corpus size; returns the figures."""
    folder = root / str(count)
    shutil.rmtree(folder, ignore_errors=True)
    paths = write_corpus(count, folder / "notes")
    cold, cold_peak = _measure("build", folder)
    _export_notes(folder / "dist" / "ai-study-notes.apkg", folder / "notes.json")
    genanki_seconds, genanki_peak = _measure("genanki", folder)
    warm, _ = _measure("build", folder)
    changed = paths[len(paths) // 2]
    changed.write_text(
        changed.read_text() + "\nQ: A card added by the benchmark?\nA: **42**\n\n"
        "```check\nanswer = 6 * 7\n```\n"
    )
    one_file, one_peak = _measure("build", folder)
    return {
        "cards": count,
        "cold": cold,
        "genanki": genanki_seconds,
        "warm": warm,
        "one_file": one_file,
        "peak_mib": max(cold_peak, one_peak),
        "genanki_peak_mib": genanki_peak,
    }


def main(argv: list[str]) -> int:
    """Run the benchmark and print the table."""
    sizes = [int(a) for a in argv] or [1_000, 10_000, 50_000]
    root = Path("build/bench")
    rows = [bench(n, root) for n in sizes]
    print(
        f"{'cards':>7} {'cold s':>8} {'genanki s':>10} {'cold/genanki':>13} "
        f"{'warm s':>7} {'1 file s':>9} {'1 file/cold':>12} {'peak MiB':>9}"
    )
    for r in rows:
        print(
            f"{r['cards']:>7,.0f} {r['cold']:>8.2f} {r['genanki']:>10.2f} "
            f"{r['cold'] / r['genanki']:>13.2f} {r['warm']:>7.2f} {r['one_file']:>9.2f} "
            f"{r['one_file'] / r['cold']:>12.2f} {r['peak_mib']:>9.0f}"
        )
    by_size = {int(r["cards"]): r for r in rows}
    if 10_000 in by_size and 50_000 in by_size:
        ratio = by_size[50_000]["cold"] / by_size[10_000]["cold"]
        print(f"50,000 / 10,000 cold build time: {ratio:.2f} (linear would be 5.0)")
    print(f"python {sys.version.split()[0]}, peak memory includes check workers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
