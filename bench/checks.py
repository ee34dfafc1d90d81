"""Benchmark: run 2,000 realistic checks and print checks per second and the total time.

A script, not a test::

    .venv/bin/python bench/checks.py [--checks 2000] [--formulas 300] [--repeat 3]

The mix follows the shipped notes: scalar answers, vectors and matrices, shapes,
numerical gradients (of a scalar and of an array argument) and assert-only checks.
Formula checks (the card's TeX read and compared with a ``numgrad`` reference at 3 or
6 points) are timed on their own afterwards, for their cost per formula.
Each check belongs to a card, and the whole of ``verify_cards`` is timed: reading the
card's value, starting the worker pool, running the checks in the sandbox, comparing.
Every check must pass, or the figures would be of errors: the script then exits 1.
The target is 1,000 checks per second on a 2-core machine.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections import Counter

from build_deck.model import Card, CardKind, Check, SourceLoc
from build_deck.verify.checks import verify_cards

SKIP_CONNECTION = """\
wc, bc, wd, bd, wd2, bd2, we, be, t = 0.7, 0.1, 1.5, -0.2, 0.4, 0.3, -0.8, 0.05, 1.0
def loss(xb):
    xc = wc * xb + bc
    xd = wd * xc + bd + wd2 * xb + bd2
    xe = we * xd + be
    return (xe - t) ** 2
xb = {a}
xe = we * (wd * (wc * xb + bc) + bd + wd2 * xb + bd2) + be
assert np.isclose(numgrad(loss, xb), 2 * (xe - t) * we * (wd * wc + wd2))
"""

# (kind, value shown on the card, check code). Placeholders vary with the card's number
# so that no two neighbouring checks are the same text; an empty value means the check
# only asserts.
TEMPLATES: list[tuple[str, str, str]] = [
    (
        "scalar",
        "**{dldw}**",
        "u = 0.5*{a} + (-1)*1 + 0.1\nanswer = -np.exp(u) / (1 + np.exp(u))**2 * {a}",
    ),
    ("scalar", "**{params:,}**", "answer = {a} * 768 * 4 + {a}"),
    ("scalar", "**0.2500**", "s = lambda x: 1 / (1 + np.exp(-x))\nanswer = s(0.0) * (1 - s(0.0))"),
    (
        "vector",
        "**[0.090, 0.245, 0.665]**",
        "z = np.array([1.0, 2.0, 3.0]) + {a}\nanswer = np.exp(z) / np.exp(z).sum()",
    ),
    (
        "matrix",
        "**[[17], [39]]**",
        "answer = np.dot(np.array([[1, 2], [3, 4]]), np.array([[5], [6]]))",
    ),
    ("shape", "**({a}, 2)**", "answer = np.dot(np.ones(({a}, 4)), np.ones((4, 2))).shape"),
    ("numgrad", "**{sig:.4f}**", "s = lambda x: 1 / (1 + np.exp(-x))\nanswer = numgrad(s, {a}.0)"),
    (
        "numgrad",
        "",
        "x = np.array([1.0, -2.0, 0.5])\nc = np.array([0.3, -1.0])\n"
        "L = lambda W: np.dot(c, np.dot(W, x))\n"
        "assert np.allclose(numgrad(L, np.full((2, 3), {a}.0)), np.outer(c, x))",
    ),
    ("numgrad", "", SKIP_CONNECTION),
    (
        "assert",
        "",
        "for x in [-2.0, 0.0, 0.5, {a}]:\n"
        "    assert np.isclose(numgrad(np.tanh, x), 1 - np.tanh(x)**2)",
    ),
    (
        "assert",
        "",
        "z = np.array([1.0, 2.0, {a}])\ns = np.exp(z) / np.exp(z).sum()\n"
        "assert np.isclose(s.sum(), 1)\nassert np.all(s > 0)",
    ),
]


# Formula checks: the card shows a formula, the check gives a reference.
FORMULA_TEMPLATES: list[tuple[str, str, str]] = [
    (
        "formula",
        "$(p - y)\\,x$",
        "# formula\nreference = lambda p, y, x: numgrad("
        "lambda w: -(y * np.log(1 / (1 + np.exp(-w)))"
        " + (1 - y) * np.log(1 - 1 / (1 + np.exp(-w)))) + {a}, np.log(p / (1 - p))) * x"
        "\npoints = [(0.3, 1, 2), (0.7, 0, -1), (0.5, 1, 0.{a})]",
    ),
    (
        "formula",
        "$w_d w_c + w_{{d2}}$",
        "# formula\nreference = lambda x_b, w_c, w_d, w_d2: numgrad(lambda u: w_d * (w_c * u + 0.3)"
        " + 0.2 + w_d2 * u - 0.{a}, x_b)",
    ),
]


def make_cards(
    count: int, templates: list[tuple[str, str, str]] = TEMPLATES
) -> tuple[list[Card], Counter[str]]:
    """``count`` Q/A cards with one check each, cycling through the templates."""
    cards = []
    kinds: Counter[str] = Counter()
    for i in range(count):
        kind, shown, code = templates[i % len(templates)]
        a = 2 + (i // len(templates)) % 5
        u = 0.5 * a - 1 + 0.1
        values = {
            "a": a,
            "dldw": f"{-math.exp(u) / (1 + math.exp(u)) ** 2 * a:.4f}",
            "params": a * 768 * 4 + a,
            "sig": math.exp(-a) / (1 + math.exp(-a)) ** 2,
        }
        line = 10 * i + 1
        value_source = shown.format(**values) if shown else "It holds."
        cards.append(
            Card(
                kind=CardKind.QA,
                loc=SourceLoc("bench.md", line),
                deck="Bench",
                section=(),
                tags=(),
                content=f"Question {i}?",
                back=value_source,
                extra="",
                context="",
                prompt_text=f"Question {i}?",
                value_source=value_source,
                checks=(Check(SourceLoc("bench.md", line + 3), code.format(**values), None),),
            )
        )
        kinds[kind] += 1
    return cards, kinds


def main() -> int:
    """Run the benchmark; exit 1 if any check failed."""
    parser = argparse.ArgumentParser(description="Run checks through verify_cards, timed.")
    parser.add_argument("--checks", type=int, default=2000, help="checks per run")
    parser.add_argument("--formulas", type=int, default=300, help="formula checks per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs")
    args = parser.parse_args()
    cards, kinds = make_cards(args.checks)
    mix = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    print(f"{len(cards)} checks ({mix}) on {os.cpu_count()} cores")
    # Cards that show a value earn the mark; assert-only ones ("It holds.") do not.
    shown = sum(bool(card.value_source) and card.value_source != "It holds." for card in cards)
    rates = []
    for run in range(1, args.repeat + 1):
        start = time.perf_counter()
        verified, problems = verify_cards(cards)
        elapsed = time.perf_counter() - start
        if problems or len(verified) != shown:
            for problem in problems[:5]:
                print(problem, file=sys.stderr)
            print(f"{len(problems)} checks failed: the figures would be wrong", file=sys.stderr)
            return 1
        rates.append(len(cards) / elapsed)
        print(f"run {run}: {elapsed:.2f} s total, {rates[-1]:,.0f} checks/s")
    print(f"median {statistics.median(rates):,.0f} checks/s, slowest {min(rates):,.0f} checks/s")

    formulas, _ = make_cards(args.formulas, FORMULA_TEMPLATES)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        verified, problems = verify_cards(formulas)
        times.append(time.perf_counter() - start)
        if problems or len(verified) != len(formulas):
            print("formula checks failed: the figures would be wrong", file=sys.stderr)
            return 1
    best = statistics.median(times)
    print(
        f"{len(formulas)} formula checks alone: median {best:.2f} s, "
        f"{1000 * best / len(formulas):.2f} ms per formula ({len(formulas) / best:,.0f}/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
