"""Benchmark the card ledger at scale: ``python bench/ledger.py [N]`` (default 100,000).

Writes N cards (``bench/make_corpus.py`` for N - 1,000 of them, plus one file of 1,000
Q/A cards) under ``build/bench/ledger-N``, builds it once, then measures, each build in
a fresh process as a user runs it:

- ``no change``: a rebuild with nothing changed (wall seconds, peak MiB);
- ``reword 1,000``: every card of the 1,000-card file reworded, then a rebuild;
- ``match``: the ledger stage alone (``load_ledger`` and ``plan_identities``) for the
  no-change case and for the reworded file, timed inside one process;
- that every reworded card kept its GUID.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_corpus import write_corpus  # noqa: E402
from run import _measure  # noqa: E402

BIG = 1000


def _big_file(path: Path, reworded: bool) -> None:
    """One notes file of 1,000 Q/A cards; ``reworded`` changes a word in every one."""
    verb = "denote" if reworded else "mean"
    cards = [
        f"Q: What does symbol number {i} {verb} in the big glossary of section {i % 37}?\n"
        f"A: It stands for item {i}, defined in chapter {i % 11}.\n"
        for i in range(BIG)
    ]
    path.write_text("# Glossary\n\n" + "\n".join(cards))


def _child_match(folder: str) -> None:
    """Child process: time the ledger stage of a build of ``folder`` (cache warm)."""
    import os

    os.chdir(folder)
    from build_deck.cache import default_cache_dir
    from build_deck.identity.ledger import load_ledger
    from build_deck.identity.plan import plan_identities
    from build_deck.reading import collect_cards
    from build_deck.report import BuildOptions, BuildReport, build_time, without_cycle_collection

    options = BuildOptions(cache_dir=default_cache_dir(Path("notes")))
    report = BuildReport()
    files = collect_cards(options, report)
    with without_cycle_collection():  # as the build runs this stage
        started = time.perf_counter()
        ledger, problems = load_ledger(options.cards_dir, "cards")
        loaded = time.perf_counter()
        plan_identities(files, ledger, report, options, build_time())
        done = time.perf_counter()
    assert not problems
    figures = {
        "load_s": loaded - started,
        "plan_s": done - loaded,
        "new": report.new,
        "changed": report.changed,
    }
    print(json.dumps(figures), file=sys.stderr)


def _match(folder: Path) -> dict[str, float]:
    wrapper = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); import ledger; "
        f"ledger._child_match({str(folder)!r})"
    )
    done = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    result: dict[str, float] = json.loads(done.stderr.strip().splitlines()[-1])
    return result


def _guids(folder: Path) -> dict[str, str]:
    sys.path.insert(0, str(HERE.parent))
    from build_deck.identity.ledger import load_ledger

    ledger, _ = load_ledger(folder / "cards", "cards")
    return {e.text: g for g, e in ledger.entries.items() if e.file == "big.md" and not e.removed}


def main(argv: list[str]) -> int:
    """Run the benchmark; prints the figures."""
    count = int(argv[0]) if argv else 100_000
    folder = HERE.parent / "build" / "bench" / f"ledger-{count}"
    shutil.rmtree(folder, ignore_errors=True)
    write_corpus(count - BIG, folder / "notes")
    big = folder / "notes" / "big.md"
    _big_file(big, reworded=False)
    started = time.perf_counter()
    _measure("build", folder)
    print(f"{count:,} cards; first build {time.perf_counter() - started:.1f} s")
    _measure("build", folder)  # the first rebuild also fills caches the user has warm

    seconds, peak = _measure("build", folder)
    print(f"no change:     rebuild {seconds:6.2f} s, peak {peak:5.0f} MiB")
    still = _match(folder)
    print(f"               ledger load {still['load_s']:.2f} s, match {still['plan_s']:.2f} s")

    before = {text.replace(" mean ", " denote "): guid for text, guid in _guids(folder).items()}
    _big_file(big, reworded=True)
    reword = _match(folder)
    seconds, peak = _measure("build", folder)
    after = _guids(folder)
    kept = sum(after.get(text) == guid for text, guid in before.items())
    print(f"reword {BIG:,}:  rebuild {seconds:6.2f} s, peak {peak:5.0f} MiB")
    print(
        f"               ledger load {reword['load_s']:.2f} s, match {reword['plan_s']:.2f} s "
        f"({reword['changed']:.0f} changed, {reword['new']:.0f} new)"
    )
    print(f"               {kept:,} of {len(before):,} reworded cards kept their GUID")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
