"""Write a synthetic notes tree for benchmarks: ``python bench/make_corpus.py N [DIR]``.

N cards over N/50 files, mixing Q/A and cloze cards, inline and display math, code
blocks, and about 20% numeric cards with a check. The same N gives the same tree.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

CARDS_PER_FILE = 50


def _card(rng: random.Random, n: int) -> str:
    """One card of one of six shapes, with its own numbers so no two are alike."""
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    kind = n % 10
    if kind in (0, 1):  # numeric, checked (20%)
        value = a * b / 7
        return (
            f"Q: Card {n}: what is ${a} \\cdot {b} / 7$?\n"
            f"A: $\\frac{{{a} \\cdot {b}}}{{7}} \\approx$ **{value:.3f}**\n\n"
            f"```check\nanswer = {a} * {b} / 7\n```\n"
        )
    if kind in (2, 3):
        return (
            f"Q: Card {n}: what is the derivative of $x_{{{a}}}^2$ with respect to "
            f"$x_{{{a}}}$?\nA: $2 x_{{{a}}}$, by the power rule; see also $w_{{{b}}} * x$.\n"
        )
    if kind in (4, 5):
        return (
            f"Card {n}: the {{{{c1::chain rule}}}} gives "
            f"$\\frac{{dL}}{{dw_{{{a}}}}} = "
            f"{{{{c2::\\frac{{dL}}{{du}} \\frac{{du}}{{dw_{{{a}}}}}}}}}$.\n"
        )
    if kind == 6:
        return (
            f"- Card {n}: {{{{Precision}}}} {a} is {{{{TP / (TP + FP)}}}} with *emphasis* "
            f"and `code_{b}`.\n"
        )
    if kind == 7:
        return (
            f"Card {n}, the loop:\n\n```python\n"
            f"{{{{c1::optimizer.zero_grad()}}}}  # card {n}, {a}\n"
            f"loss = criterion(model(x_{b}), y)\n{{{{c2::loss.backward()}}}}\n```\n"
        )
    if kind == 8:
        return (
            f"Q: Card {n}: which matrix identity holds?\n\nA: Display math:\n\n"
            f"$$\n(AB)^\\top = B^\\top A^\\top + {a} \\cdot 0_{{{b}}}\n$$\n\n---\n"
        )
    return f"Softmax {n}: $s_i =$ {{{{c1::$\\frac{{e^{{z_{a}}}}}{{\\sum_j e^{{z_j}}}}$}}}}.\n"


def write_corpus(count: int, folder: Path) -> list[Path]:
    """Write ``count`` cards into ``folder``; returns the files written."""
    rng = random.Random(count)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    files = max(1, count // CARDS_PER_FILE)
    for f in range(files):
        start, stop = f * count // files, (f + 1) * count // files
        lines = [f"---\ndeck: Area {f % 6}\n---\n# Topic {f}\n"]
        for n in range(start, stop):
            if (n - start) % 10 == 0:
                lines.append(f"## Section {n // 10} #bench #s{n % 7}\n")
            lines.append(_card(rng, n))
        path = folder / f"topic-{f:04d}.md"
        path.write_text("\n".join(lines), encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str]) -> int:
    """Entry point: ``make_corpus.py N [DIR]``."""
    if not argv or not argv[0].isdigit():
        print("usage: python bench/make_corpus.py N [DIR]", file=sys.stderr)
        return 2
    count = int(argv[0])
    folder = Path(argv[1]) if len(argv) > 1 else Path(f"build/corpus-{count}/notes")
    paths = write_corpus(count, folder)
    print(f"wrote {count} cards in {len(paths)} files under {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
