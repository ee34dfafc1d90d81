"""The TeX is validated by MathJax's TeX parser alone (``js/texcheck.mjs`` runs the TeX
input without its post-filters, and lays out no output): that finds every error
typesetting finds."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from build_deck.typeset.texcheck import SCRIPT, collect_math, find_mathjax
from tests.conftest import Project
from tests.typeset.test_texcheck import BROKEN, cards_of

NODE = shutil.which("node")
MATHJAX = find_mathjax(Path(__file__).parent)

TYPESET = r"""
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
const require = createRequire(import.meta.url);
const MathJax = await require(path.resolve(process.argv[2], "es5", "node-main.js")).init({
  loader: { load: ["input/tex-full", "output/chtml", "adaptors/liteDOM"] },
  tex: {
    packages: ["base", "action", "ams", "autoload", "configmacros", "mathtools", "mhchem",
               "newcommand", "require"],
    processEscapes: false, processEnvironments: false, processRefs: false,
    formatError: (jax, error) => { throw error; },
  },
  chtml: { fontURL: "." },
  startup: { typeset: false },
});
const error = (f) => { try { f(); return null; } catch (e) { return String(e.message || e); } };
const items = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(items.map(([tex, display]) => (
  error(() => MathJax.tex2chtml(tex, { display }))
))));
"""
"""Each expression typeset to CommonHTML as Anki shows it, with every stage of MathJax:
the error of each, or null."""

MORE = [
    r"\left( x",
    r"x \right)",
    r"\begin{foo} x \end{foo}",
    r"\begin{matrix} a \end{pmatrix}",
    r"x^^2",
    r"x__2",
    r"\sqrt[3",
    r"\frac{1}",
    r"}",
    r"\color{nocolor}{x}",
    r"\rule{1em}{}",
    r"\unicode{x1F600}",
    r"\ce{->}",
    r"\newcommand{\x}[1]{#2}\x{a}",
    r"\mathrm{\hbox{a}}",
    r"\operatorname{}",
    r"\text{\textbf{b}",
    r"\def\a{\a}\a",
    r"x \over y \over z",
    r"a \\ b",
    r"\begin{aligned} a &= b \\ c &= d \end{aligned}",
    r"\hspace{notalength}",
    r"\mmlToken{mi}{x}",
    r"\boldsymbol",
    r"\overbrace{a}^",
]
"""Errors and near-errors beyond the texcheck tests': unbalanced delimiters and
environments, double scripts, missing arguments, unknown colors, macros
that recurse, and well-formed TeX that only output could trip on."""


def test_the_tex_input_finds_every_error_typesetting_finds(project: Project) -> None:
    assert NODE is not None and MATHJAX is not None, "Node.js and mathjax-full are needed"
    project.write("broken.md", BROKEN)
    found = [(e.tex, e.display) for e in collect_math(cards_of(project))]
    expressions = found + [(tex, display) for tex in MORE for display in (False, True)]
    script = project.root / "typeset.mjs"
    script.write_text(TYPESET)
    verdicts = [_run([NODE, str(path), str(MATHJAX)], expressions) for path in (SCRIPT, script)]
    differ = [(e, *v) for e, *v in zip(expressions, *verdicts, strict=True) if v[0] != v[1]]
    assert differ == []
    errors = sum(v is not None for v in verdicts[0])
    assert errors >= 3 + 10  # the texcheck tests' three, and most of MORE


def _run(command: list[str], expressions: list[tuple[str, bool]]) -> list[str | None]:
    """The verdict of a script on each expression: MathJax's message, or None."""
    done = subprocess.run(
        command, input=json.dumps(expressions), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    verdicts: list[str | None] = json.loads(done.stdout)
    assert len(verdicts) == len(expressions)
    return verdicts
