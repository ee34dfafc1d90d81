"""TeX validation: MathJax itself, in Node.js, typesets every math expression of the deck."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from build_deck.cache import entry_path
from build_deck.model import Card, Severity
from build_deck.reading import collect_cards
from build_deck.report import BuildOptions, BuildReport
from build_deck.typeset.texcheck import (
    CACHE_NAME,
    MATHJAX_ENV,
    TexChecker,
    collect_math,
    distinct_math,
    find_mathjax,
    math_in_html,
    strip_cloze_markup,
)
from tests.conftest import Project

NODE = shutil.which("node")
MATHJAX = find_mathjax(Path(__file__).parent)


@pytest.fixture(autouse=True)
def _needs_node_and_mathjax() -> None:
    """These tests are about MathJax: without it they fail, with what to do."""
    assert NODE is not None, "Node.js not found: install it (apt-get install nodejs npm)"
    assert MATHJAX is not None, "mathjax-full not installed: run 'make test' (npm ci)"


BROKEN = r"""
# Broken

Q: What is $\frac{a}{b$?
A: A typo: a brace is missing.

The sum is {{c1::$\sum_i x_i \undefinedmacro$}} here.

Q: A stray ampersand?
A: In display math:

$$
x = 1
a & b
$$

Fine: $x^2$, {{c1::$\frac{1}{2}$}} and \(\frac{d}{du} = {{c2::\frac{1}{2}::half}}\).
"""

BROKEN_ERRORS = [
    r"notes/broken.md:3: error: TeX error in $\frac{a}{b$: Missing close brace",
    r"notes/broken.md:6: error: TeX error in $\sum_i x_i \undefinedmacro$: "
    r"Undefined control sequence \undefinedmacro",
    r"notes/broken.md:12: error: TeX error in $$x = 1 a & b$$: Misplaced &",
]


def cards_of(project: Project) -> list[Card]:
    report = BuildReport()
    collect_cards(BuildOptions(notes_dir=project.notes, cards_dir=project.cards), report)
    assert report.errors == []
    return report.cards


# -- finding the math, as MathJax finds it ---------------------------------------


def test_math_is_found_with_ankis_delimiters_only() -> None:
    field = r"a \(x^2\) b \[\sum_i x_i\] c $y$ d \(p &lt; q &amp;&amp; r\)"
    assert math_in_html(field) == [("x^2", False), (r"\sum_i x_i", True), ("p < q && r", False)]


def test_math_in_code_is_not_math() -> None:
    field = r'<code>re.sub(r"\(x\)", s)</code> <pre>\[y\]</pre> and \(z\)'
    assert math_in_html(field) == [("z", False)]


def test_an_escaped_backslash_opens_no_math() -> None:
    assert math_in_html(r"a \\(not math) \(x \\ y\)") == [(r"x \\ y", False)]


def test_cloze_markup_is_stripped_from_math() -> None:
    tex = r"\frac{-e^u}{ {{c1::(1+e^u)^2}} } + {{c2::\frac{1}{2}::half}} + {{c3::a {{c4::b}} }}"
    assert strip_cloze_markup(tex) == r"\frac{-e^u}{ (1+e^u)^2 } + \frac{1}{2} + a b "


def test_every_expression_is_found_at_its_own_line(project: Project) -> None:
    project.write("broken.md", BROKEN)
    found = [(str(e.loc), e.source) for e in collect_math(cards_of(project))]
    assert found == [
        ("notes/broken.md:3", r"\frac{a}{b"),
        ("notes/broken.md:6", r"\sum_i x_i \undefinedmacro"),
        ("notes/broken.md:12", "x = 1\na & b"),
        ("notes/broken.md:16", "x^2"),
        ("notes/broken.md:16", r"\frac{1}{2}"),
        ("notes/broken.md:16", r"\frac{d}{du} = {{c2::\frac{1}{2} ::half}}"),
    ]


def test_mathjax_gets_each_expression_once_in_the_order_it_first_appears(
    project: Project,
) -> None:
    # What is sent while MathJax works; lines are looked for only when it finds errors.
    project.write("broken.md", BROKEN)
    project.write("again.md", "Q: $x^2$ and $\\frac{1}{2}$?\nA: $$x^2$$ and $y$\n")
    cards = cards_of(project)
    every = [(e.tex, e.display) for e in collect_math(cards)]
    assert len(every) > len(set(every))
    assert distinct_math(cards) == list(dict.fromkeys(every))


# -- the build, with MathJax in Node.js --------------------------------------------


def test_tex_errors_fail_check_with_file_line_and_mathjax_message(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("broken.md", BROKEN)
    assert project.run("check") == 1
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if "TeX" in line] == BROKEN_ERRORS


def test_a_tex_error_fails_build_and_writes_no_package(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("broken.md", BROKEN)
    assert project.run("build") == 1
    assert not project.apkg.exists()
    out, err = capsys.readouterr()
    assert BROKEN_ERRORS[1] in err.splitlines()
    assert "3 errors, nothing written" in out


def test_tex_errors_are_reported_with_the_other_errors(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("broken.md", BROKEN + "\nQ: A question without its answer\n")
    assert project.run("check") == 1
    err = capsys.readouterr().err.splitlines()
    assert set(BROKEN_ERRORS) <= set(err)
    assert any(line.startswith("notes/broken.md:18: error: 'Q:' without 'A:'") for line in err)


def test_good_math_passes(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write(
        "good.md",
        r"""
        # Good

        Q: Which TeX does Anki's MathJax know?
        A: $\operatorname{softmax}(z)_i$, $\mathbb{R}^{d}$, $\boldsymbol{\mu}$,
        $\cancel{x}$, $\ce{H2O}$, $\begin{bmatrix}1 & 2\\ 3 & 4\end{bmatrix}$ and
        $\text{a } x < y > z$.

        $\frac{d}{du}\frac{1}{1+e^u} = \frac{-e^u}{ {{c1::(1+e^u)^2}} }$ and {{c2::$\sigma$}}.
        """,
    )
    assert project.run("build", "--strict") == 0
    assert project.apkg.exists()
    assert "TeX" not in capsys.readouterr().err


def test_a_macro_defined_on_one_card_serves_later_cards_also_from_the_cache(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write(
        "macros.md",
        r"""
        Q: Define the reals.
        A: $\newcommand{\RR}{\mathbb{R}}\RR$

        Q: Use them.
        A: $x \in \RR$
        """,
    )
    assert project.run("check") == 0
    assert project.run("check") == 0
    assert "TeX" not in capsys.readouterr().err


# -- when Node.js or MathJax is missing --------------------------------------------


@pytest.mark.parametrize("missing", ["node", "mathjax"])
def test_without_node_or_mathjax_the_deck_is_built_with_a_warning(
    project: Project,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    missing: str,
) -> None:
    if missing == "node":
        empty = tmp_path / "empty-bin"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
    else:
        monkeypatch.setenv(MATHJAX_ENV, str(tmp_path / "no-mathjax"))
    project.write("broken.md", BROKEN)
    assert project.run("build") == 0
    assert project.apkg.exists()
    err = capsys.readouterr().err
    assert "notes:0: warning: TeX not validated: " in err
    assert "apt-get install nodejs npm" in err
    assert "Missing close brace" not in err


def test_strict_fails_when_the_tex_cannot_be_validated(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MATHJAX_ENV, str(project.root / "no-mathjax"))
    project.write("good.md", "Q: What is $x$?\nA: A variable.\n")
    assert project.run("build", "--strict") == 1
    assert not project.apkg.exists()
    err = capsys.readouterr().err
    assert "notes:0: error: TeX not validated (--strict): the npm package mathjax-full" in err


# -- the cache ---------------------------------------------------------------------


def _payload(text: str) -> list[str]:
    """The expression keys held by a cache entry's text."""
    keys: list[str] = json.loads(json.loads(text)["payload"])
    return keys


def checker(project: Project) -> TexChecker:
    return TexChecker.start(notes_dir=Path("notes"), cache_dir=project.root / ".cache")


def test_the_cache_spares_typesetting_but_never_hides_an_error(project: Project) -> None:
    project.write("broken.md", BROKEN)
    cards = cards_of(project)
    first = checker(project)
    errors = [str(d) for d in first.check(cards)]
    assert errors == BROKEN_ERRORS
    assert first.typeset == 6 and first.cached == 0

    second = checker(project)
    assert [str(d) for d in second.check(cards)] == errors
    assert second.typeset == 3 and second.cached == 3  # only the broken ones again


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],
        lambda text: "not json",
        lambda text: json.dumps({**json.loads(text), "key": "another MathJax"}),
        lambda text: json.dumps(
            {**json.loads(text), "payload": json.dumps([*_payload(text), "0" * 32])}
        ),
    ],
    ids=["truncated", "garbage", "other-mathjax", "entry-added"],
)
def test_a_damaged_cache_is_ignored(project: Project, damage: object) -> None:
    project.write("good.md", "Q: What is $x$ and $y$?\nA: Two variables.\n")
    cards = cards_of(project)
    first = checker(project)
    assert first.check(cards) == []
    path = entry_path(project.root / ".cache", CACHE_NAME)
    assert callable(damage)
    path.write_text(damage(path.read_text(encoding="utf-8")), encoding="utf-8")

    again = checker(project)
    assert again.check(cards) == []
    assert again.cached == 0 and again.typeset == 2
    third = checker(project)  # the cache was written afresh
    assert third.check(cards) == []
    assert third.cached == 2 and third.typeset == 0


def test_a_cache_claiming_a_broken_expression_is_ignored(project: Project) -> None:
    project.write("broken.md", BROKEN)
    cards = cards_of(project)
    checker(project).check(cards)
    path = entry_path(project.root / ".cache", CACHE_NAME)
    data = json.loads(path.read_text(encoding="utf-8"))
    broken = [r"\frac{a}{b", r"\sum_i x_i \undefinedmacro"]
    keys = [
        hashlib.sha256(f"{data['key']}\0inline\0{tex}".encode()).hexdigest()[:32] for tex in broken
    ]
    ok = json.loads(data["payload"])
    data["payload"] = json.dumps(sorted([*ok, *keys]))  # the checksum is left as it was
    path.write_text(json.dumps(data), encoding="utf-8")
    problems = checker(project).check(cards)
    assert len(problems) == 3
    assert all(p.severity is Severity.ERROR for p in problems)


def test_a_crashing_mathjax_is_reported_not_mistaken_for_valid_tex(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = project.root / "broken-mathjax"
    (fake / "es5").mkdir(parents=True)
    (fake / "package.json").write_text('{"version": "0.0.0"}', encoding="utf-8")
    (fake / "es5" / "node-main.js").write_text(
        'throw new Error("this MathJax is broken");\n', encoding="utf-8"
    )
    monkeypatch.setenv(MATHJAX_ENV, str(fake))
    project.write("broken.md", BROKEN)
    assert project.run("check", "--strict") == 1
    err = capsys.readouterr().err
    assert (
        "notes:0: error: TeX not validated (--strict): MathJax failed in Node.js: "
        "texcheck: this MathJax is broken;"
    ) in err
