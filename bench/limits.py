"""Benchmark: the limits that keep hostile notes from hanging or bloating a build.

A script, not a test::

    .venv/bin/python bench/limits.py [--only slow|huge|parse]

- **slow**: 400 cards whose checks each run ``sum(range(10**12))`` (stopped at the
  2 s limit of a check). The build must end within the check budget (default 60 s)
  plus start-up, exit non-zero, and name the file.
- **huge**: 400 cards whose checks each compute a huge answer that does not match
  (10,000 floats, which fit through the pipe, and 10,000 numbers of 308 digits, which
  do not). The build process must stay under 300 MB (its own peak RSS, workers apart).
- **parse**: 1 MB adversarial answers (``[`` repeated, digits and commas, nested
  brackets, ...), plain and in bold, read by the value parser (``card_value``); each
  must take under 1 s.

Each build runs in a fresh process so that its peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUILD = """
import json, resource, sys, time
from build_deck.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"code": code, "seconds": elapsed, "peak": peak}), file=sys.stderr)
"""


def notes_with(check: str, count: int = 400) -> str:
    """A notes file of ``count`` cards showing 4, each with ``check``."""
    card = "Q: What is 2+2 ({i})?\nA: **4**\n\n```check\n{check}\n```\n\n"
    return "# Hostile\n\n" + "".join(card.format(i=i, check=check) for i in range(count))


def build(notes: str) -> tuple[dict[str, float], list[str]]:
    """Build ``notes`` (one file) in a fresh process; its figures and error lines."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "notes").mkdir()
        (root / "notes" / "hostile.md").write_text(notes, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-c", BUILD, "build", "--no-cache"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
    lines = result.stderr.splitlines()
    figures: dict[str, float] = json.loads(lines[-1])
    return figures, lines[:-1]


def bench_slow() -> bool:
    """400 slow checks: within the budget, non-zero exit, the file named."""
    figures, errors = build(notes_with("answer = sum(range(10**12))"))
    named = [e for e in errors if "checks stopped" in e and e.startswith("notes/hostile.md:")]
    print(
        f"slow: 400 checks of sum(range(10**12)): build took {figures['seconds']:.1f} s, "
        f"exit {figures['code']:.0f}, {len(errors)} error lines, longest "
        f"{max(map(len, errors), default=0)} characters"
    )
    if named:
        print(f"  {named[0]}")
    return figures["code"] != 0 and bool(named) and figures["seconds"] < 75


def bench_huge() -> bool:
    """400 huge mismatches: the build process stays under 300 MB."""
    ok = True
    for check in ("answer = [1e300] * 10000", "answer = tuple([2**1023] * 10000)"):
        figures, errors = build(notes_with(check))
        peak = figures["peak"] / 2**20
        print(
            f"huge: 400 x `{check}`: build peak RSS {peak:.0f} MB, {figures['seconds']:.1f} s, "
            f"{len(errors)} error lines of at most {max(map(len, errors), default=0)} characters"
        )
        ok = ok and peak < 300 and figures["code"] != 0
    return ok


def bench_parse() -> bool:
    """1 MB adversarial values: each parsed in under 1 s."""
    from build_deck.model import Card, CardKind, Check, SourceLoc
    from build_deck.verify.values import card_value

    size = 1 << 20
    values = {
        "A: 4 then [ x 1 MB": "4 " + "[" * size,
        "[ x 1 MB": "[" * size,
        "[[[...4...]]] nested 512 K deep": "[" * (size // 2) + "4" + "]" * (size // 2),
        "digits and commas": ("1," * (size // 2))[:-1],
        "a 1 MB vector": "[" + ", ".join(["0.25"] * (size // 6)) + "]",
        "( x 1 MB": "(" * size,
        "1e-digits": "1e" + "-" * size,
        "spaces and x10^": "1" + " \\times 10^" * (size // 11),
        "(1, 1, ... without an end": "(" + "1, " * (size // 3),
        "** without an end": "**" + "4 " * (size // 2),
        "(1(1(1...": "(1" * (size // 2),
        "bold text that is no value, many times": "**x** " * (size // 6),
    }
    check = Check(SourceLoc("bench.md", 3), "answer = 4", None)
    ok = True
    for name, text in values.items():
        for where, shown in (("answer", text), ("bold value", f"**{text}**")):
            card = Card(
                kind=CardKind.QA,
                loc=SourceLoc("bench.md", 1),
                deck="Bench",
                section=(),
                tags=(),
                content="Q?",
                back=shown,
                extra="",
                context="",
                prompt_text="Q?",
                value_source=shown,
                checks=(check,),
            )
            start = time.perf_counter()
            card_value(card, check)
            elapsed = time.perf_counter() - start
            print(f"parse: {name}, as the {where}: {elapsed * 1000:.0f} ms")
            ok = ok and elapsed < 1.0
    return ok


def main() -> int:
    """Run the benchmarks; exit 1 if a limit did not hold."""
    parser = argparse.ArgumentParser(description="Measure the limits on hostile notes.")
    parser.add_argument("--only", choices=["slow", "huge", "parse"], help="one benchmark")
    args = parser.parse_args()
    benches = {"parse": bench_parse, "huge": bench_huge, "slow": bench_slow}
    results = [bench() for name, bench in benches.items() if args.only in (None, name)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
