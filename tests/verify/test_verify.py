"""Numeric checks: reading the value a card shows, and the build's verdict on it.

The parsing tests call ``parse_value`` directly; everything else goes through the real
CLI on notes written into a temporary project, and pins the exact messages.
"""

from __future__ import annotations

import re

import pytest
from anki.collection import Collection
from hypothesis import given, settings
from hypothesis import strategies as st

from build_deck.model import Card, CardKind, Check, SourceLoc
from build_deck.verify import values as verify
from build_deck.verify.values import CardValue, card_value, parse_number, parse_value
from tests.anki.test_anki_import import expected_cards
from tests.conftest import Project, import_package, ledger_snapshot

# -- Values and the tolerance their digits give ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "tolerance"),
    [
        ("-0.2494", -0.2494, 0.00005),
        ("20", 20.0, 0.5),
        ("0.090", 0.09, 0.0005),
        ("1,000", 1000.0, 0.5),
        ("12,345,678", 12345678.0, 0.5),
        ("-1,234.5", -1234.5, 0.05),
        ("6e23", 6e23, 0.5e23),
        ("1.5e-3", 0.0015, 0.00005),
        ("6 \\times 10^{23}", 6e23, 0.5e23),
        ("6.02 \\times 10^{23}", 6.02e23, 0.005e23),
        ("2.50 \\cdot 10^{-3}", 0.0025, 0.000005),
        ("6.02×10^23", 6.02e23, 0.005e23),
        ("\u22120.25", -0.25, 0.005),
        (".5", 0.5, 0.05),
        ("+3", 3.0, 0.5),
    ],
)
def test_number_and_tolerance_from_the_digits(text: str, value: float, tolerance: float) -> None:
    number = parse_number(text)
    assert number is not None
    assert number.value == pytest.approx(value)
    assert number.tolerance == pytest.approx(tolerance)


@pytest.mark.parametrize(
    "text",
    ["1,00", "1,0000", "abc", "0.5%", "10^{3}", "", "-", "1e400", "1e-400", "1e" + "9" * 5000],
)
def test_not_a_number(text: str) -> None:
    assert parse_value(text) is None


def test_math_and_approx_signs_around_a_value_are_ignored() -> None:
    value = parse_value("$\\approx -0.25$")
    assert value is not None
    assert (value.shape, value.numbers[0].value, value.text) == ("number", -0.25, "-0.25")


def test_unicode_minus_is_read_and_kept_for_messages() -> None:
    value = parse_value("\u22120.25")
    assert value is not None
    assert value.numbers[0].value == -0.25
    assert value.text == "\u22120.25"


def test_vector() -> None:
    value = parse_value("[0.090, 0.245, 0.665]")
    assert value is not None
    assert value.shape == "array"
    assert value.dims == (3,)
    assert [n.value for n in value.numbers] == [0.09, 0.245, 0.665]
    assert [n.tolerance for n in value.numbers] == pytest.approx([0.0005] * 3)


def test_matrix() -> None:
    value = parse_value("[[1, 2.5], [\u22123, 4]]")
    assert value is not None
    assert (value.shape, value.dims) == ("array", (2, 2))
    assert [n.value for n in value.numbers] == [1, 2.5, -3, 4]
    assert [n.tolerance for n in value.numbers] == [0.5, 0.05, 0.5, 0.5]


@pytest.mark.parametrize("text", ["[]", "[1, [2]]", "[[1, 2], [3]]", "[1, x]"])
def test_not_an_array(text: str) -> None:
    assert parse_value(text) is None


@pytest.mark.parametrize(
    ("text", "numbers"),
    [("(3, 1)", [3, 1]), ("(128, 784)", [128, 784]), ("(3,)", [3]), ("(1.5, 2)", [1.5, 2])],
)
def test_tuple(text: str, numbers: list[float]) -> None:
    value = parse_value(text)
    assert value is not None
    assert value.shape == "tuple"
    assert [n.value for n in value.numbers] == numbers
    assert value.dims == (len(numbers),)


# -- Through the build ------------------------------------------------------------------------


def errors(err: str) -> list[str]:
    """The error lines of what a run printed on stderr (warnings are not our subject)."""
    return [line for line in err.splitlines() if ": error: " in line]


def check(project: Project, capsys: pytest.CaptureFixture[str], notes: str) -> list[str]:
    """Write notes/x.md, run ``build-deck check``; returns its error lines and the summary."""
    project.write("x.md", notes)
    code = project.run("check")
    out, err = capsys.readouterr()
    lines = errors(err)
    assert code == (1 if lines else 0)
    return [*lines, out.strip()]


PASSING = """
# Checks

Q: With $u = 0.1$, what is $\\frac{dL}{du}$ for $L = \\frac{1}{1+e^u}$?
A: $\\frac{-e^u}{(1+e^u)^2} \\approx$ **-0.2494**

```check
u = 0.1
answer = -np.exp(u) / (1 + np.exp(u))**2
```

Q: What is the softmax of $(1, 2, 3)$?
A: ≈ **[0.090, 0.245, 0.665]**

```check
z = np.array([1.0, 2.0, 3.0])
answer = np.exp(z) / np.exp(z).sum()
```

Q: What is $\\begin{bmatrix}1 & 2\\\\ 3 & 4\\end{bmatrix}\\begin{bmatrix}5\\\\ 6\\end{bmatrix}$?
A: **[[17], [39]]**

```check
answer = np.dot(np.array([[1, 2], [3, 4]]), np.array([[5], [6]]))
```

Q: For $x$ of shape $(3, 1)$, what is the shape of $x x^\\top$?
A: **(3, 3)**

```check
x = np.ones((3, 1))
answer = np.dot(x, x.T).shape
```

Q: What is the shape of `np.ones((3, 4)).sum(axis=1)`?
A: **(3,)**

```check
answer = np.ones((3, 4)).sum(axis=1).shape
```

Q: Does softmax sum to one?
A: Yes, for every input.

```check
for z in [np.array([1.0, 2.0]), np.array([-5.0, 0.0, 5.0])]:
    s = np.exp(z) / np.exp(z).sum()
    assert np.isclose(s.sum(), 1)
```

The derivative of the sigmoid is {{c1::$\\sigma(x)(1 - \\sigma(x))$}}.

```check
s = lambda x: 1 / (1 + np.exp(-x))
for x in [-2.0, 0.0, 1.5]:
    assert np.isclose(numgrad(s, x), s(x) * (1 - s(x)))
```

Avogadro's number is ≈ {{c1::$6.02 \\times 10^{23}$}}.

```check
answer = 6.022e23
```
"""


def test_passing_checks_of_every_kind(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert check(project, capsys, PASSING) == [
        "8 cards (6 Q/A, 2 cloze, 6 verified: 6 values, 0 formulas, 1 arithmetic; "
        "2 supporting-only) from 1 file; no errors"
    ]


FAILING = [
    (
        "scalar outside the tolerance of its digits",
        """
        Q: With $u = 0.1$, what is $\\frac{dL}{du}$?
        A: ≈ **-0.24**

        ```check
        u = 0.1
        answer = -np.exp(u) / (1 + np.exp(u))**2
        ```
        """,
        "notes/x.md:1: error: card says -0.24, check computes -0.249376 "
        "(tolerance ±0.005 from the digits shown)",
    ),
    (
        "whole number",
        "Q: How many?\nA: About ≈ **20**.\n\n```check\nanswer = 20.6\n```\n",
        "notes/x.md:1: error: card says 20, check computes 20.6 "
        "(tolerance ±0.5 from the digits shown)",
    ),
    (
        "thousands separator",
        "Q: How many?\nA: ≈ **1,000**\n\n```check\nanswer = 1001\n```\n",
        "notes/x.md:1: error: card says 1,000, check computes 1001 "
        "(tolerance ±0.5 from the digits shown)",
    ),
    (
        "e notation",
        "Q: How many?\nA: ≈ **6e23**\n\n```check\nanswer = 6.6e23\n```\n",
        "notes/x.md:1: error: card says 6e23, check computes 6.6e+23 "
        "(tolerance ±5e+22 from the digits shown)",
    ),
    (
        "times ten to the power",
        "Q: How many?\nA: ≈ **$6.02 \\times 10^{23}$**\n\n```check\nanswer = 6.03e23\n```\n",
        "notes/x.md:1: error: card says 6.02 \\times 10^{23}, check computes 6.03e+23 "
        "(tolerance ±5e+20 from the digits shown)",
    ),
    (
        "Unicode minus",
        "Q: Value?\nA: ≈ **\u22120.25**\n\n```check\nanswer = 0.25\n```\n",
        "notes/x.md:1: error: card says \u22120.25, check computes 0.25 "
        "(tolerance ±0.005 from the digits shown)",
    ),
    (
        "vector",
        """
        Q: Softmax?
        A: ≈ **[0.090, 0.245, 0.665]**

        ```check
        z = np.array([3.0, 2.0, 1.0])
        answer = np.exp(z) / np.exp(z).sum()
        ```
        """,
        "notes/x.md:1: error: card says [0.090, 0.245, 0.665], check computes "
        "[0.665241, 0.244728, 0.0900306] (tolerance ±0.0005 from the digits shown)",
    ),
    (
        "matrix against a flat vector",
        "Q: M?\nA: **[[1, 2], [3, 4]]**\n\n```check\nanswer = np.arange(1, 5)\n```\n",
        "notes/x.md:1: error: card says [[1, 2], [3, 4]], check computes [1, 2, 3, 4] "
        "(shape (2, 2) on the card, (4,) computed)",
    ),
    (
        "vector of the wrong length",
        "Q: v?\nA: **[1, 2]**\n\n```check\nanswer = [1, 2, 3]\n```\n",
        "notes/x.md:1: error: card says [1, 2], check computes [1, 2, 3] "
        "(shape (2,) on the card, (3,) computed)",
    ),
    (
        "shape",
        "Q: Shape?\nA: **(3, 1)**\n\n```check\nanswer = np.ones((3, 1)).T.shape\n```\n",
        "notes/x.md:1: error: card says (3, 1), check computes (1, 3) "
        "(tuples of whole numbers are compared exactly)",
    ),
    (
        "tuple compared exactly, not within ±0.5",
        "Q: Pair?\nA: **(3, 1)**\n\n```check\nanswer = (3, 1.2)\n```\n",
        "notes/x.md:1: error: card says (3, 1), check computes (3, 1.2) "
        "(tuples of whole numbers are compared exactly)",
    ),
    (
        "tuple holding a list",
        "Q: Pair?\nA: **(1, 2)**\n\n```check\nanswer = (1, [2, 3])\n```\n",
        "notes/x.md:1: error: card says (1, 2), check computes (1, [2, 3]) "
        "(2 numbers on the card, 3 computed)",
    ),
    (
        "one-element shape",
        "Q: Shape?\nA: **(3,)**\n\n```check\nanswer = np.ones((3, 1)).shape\n```\n",
        "notes/x.md:1: error: card says (3,), check computes (3, 1) "
        "(shape (1,) on the card, (2,) computed)",
    ),
    (
        "failing assert, on its line",
        """
        Q: Does softmax sum to one?
        A: Yes.

        ```check
        s = np.exp([1.0, 2.0]) / np.exp([1.0, 2.0]).sum()
        assert np.isclose(s.sum(), 2)
        ```
        """,
        "notes/x.md:6: error: check failed: assertion failed: assert np.isclose(s.sum(), 2)",
    ),
    (
        "assert that never runs",
        "Q: Fact?\nA: Yes.\n\n```check\nif False:\n    assert 1 == 2\n```\n",
        "notes/x.md:4: error: the check sets no 'answer' and asserts nothing",
    ),
    (
        "absolute tolerance set by the check",
        "Q: v?\nA: **0.5**\n\n```check\nanswer = 0.56\ntol = 0.01\n```\n",
        "notes/x.md:1: error: card says 0.5, check computes 0.56 "
        "(tolerance ±0.01 set by the check)",
    ),
    (
        "relative tolerance set by the check",
        "Q: v?\nA: **100**\n\n```check\nanswer = 103\nrtol = 0.02\n```\n",
        "notes/x.md:1: error: card says 100, check computes 103 "
        "(relative tolerance 0.02 set by the check)",
    ),
    (
        "error in the check, on its line",
        "Q: v?\nA: **1**\n\n```check\nx = 1\ny = np.load('f.npy')\n```\n",
        "notes/x.md:6: error: check failed: AttributeError: access to attribute 'load' "
        "is not allowed",
    ),
    (
        "syntax error in the check, on its line",
        "Q: v?\nA: **1**\n\n```check\nx = 1\nanswer = (x +\n```\n",
        "notes/x.md:6: error: check failed: syntax error: '(' was never closed",
    ),
    (
        "import in the check",
        "Q: v?\nA: **1**\n\n```check\nimport os\nanswer = 1\n```\n",
        "notes/x.md:5: error: check failed: 'import' is not allowed in a check",
    ),
    (
        "check without answer or assert",
        "Q: v?\nA: **1**\n\n```check\nx = 1\n```\n",
        "notes/x.md:4: error: the check sets no 'answer' and asserts nothing",
    ),
    (
        "no value on the card",
        "Q: v?\nA: It is large.\n\n```check\nanswer = 1\n```\n",
        "notes/x.md:4: error: cannot check this card: the answer shows no value: "
        "write it in bold, e.g. **-0.2494**",
    ),
    (
        "bold text that is not a value",
        "Q: v?\nA: It is **large**, about 5.\n\n```check\nanswer = 5\n```\n",
        "notes/x.md:4: error: cannot check this card: no bold text of the answer is a value "
        "('large'); write the value in bold",
    ),
    (
        "cloze: the first deletion that is a value",
        "The values are ≈ {{c1::0.5}} and {{c2::0.25}}.\n\n```check\nanswer = 0.25\n```\n",
        "notes/x.md:1: error: card says 0.5, check computes 0.25 "
        "(tolerance ±0.05 from the digits shown)",
    ),
    (
        "cloze: the deletion the check names",
        "The values are {{c1::0.5}} and ≈ {{c2::0.25}}.\n\n```check c2\nanswer = 0.5\n```\n",
        "notes/x.md:1: error: card says 0.25, check computes 0.5 "
        "(tolerance ±0.005 from the digits shown)",
    ),
    (
        "cloze: the check names a deletion the card lacks",
        "The values are {{c1::0.5}} and {{c2::0.25}}.\n\n```check c3\nanswer = 0.5\n```\n",
        "notes/x.md:3: error: cannot check this card: the check names c3, "
        "but the card has no such deletion",
    ),
    (
        "cloze: no deletion is a value",
        "The {{c1::softmax}} of a vector.\n\n```check\nanswer = 0.5\n```\n",
        "notes/x.md:3: error: cannot check this card: no deletion of the card is a value; "
        "name one with ```check c2",
    ),
]


@pytest.mark.parametrize(
    ("notes", "message"), [case[1:] for case in FAILING], ids=[case[0] for case in FAILING]
)
def test_failing_check_names_file_and_line(
    project: Project, capsys: pytest.CaptureFixture[str], notes: str, message: str
) -> None:
    lines = check(project, capsys, notes)
    assert lines[0] == message
    assert len(lines) == 2
    assert lines[1].startswith("1 card (")
    assert lines[1].endswith(", 0 verified) from 1 file; 1 error, nothing written")


@pytest.mark.parametrize(
    ("answer", "computed"),
    [
        ("≈ **-0.2494**", "-0.24936"),  # within ±0.00005
        ("$\\approx$ **-0.2494**", "-0.24945"),  # at the edge of ±0.00005
        ("≈ **20**", "20.4"),
        ("≈ **1,000**", "999.6"),
        ("**≈ 6e23**", "6.4e23"),
        ("≈ **\u22120.25**", "-0.2499"),
        ("**(3, 1)**", "(3, 1)"),
        ("**(3, 1)**", "[3, 1]"),
        ("≈ **[0.5, 1]**", "np.array([0.54, 1.4])"),
        ("**0.25**", "0.1 + 0.15"),  # equal up to floating-point error
        ("**1,000**", "1e3"),
        ("**0.5**", "0.56\ntol = 0.1"),
        ("**100**", "101.9\nrtol = 0.02"),
    ],
)
def test_values_within_tolerance_pass(
    project: Project, capsys: pytest.CaptureFixture[str], answer: str, computed: str
) -> None:
    notes = f"Q: Value?\nA: {answer}\n\n```check\nanswer = {computed}\n```\n"
    assert check(project, capsys, notes) == [
        "1 card (1 Q/A, 0 cloze, 1 verified: 1 values, 0 formulas, 0 arithmetic; "
        "0 supporting-only) from 1 file; no errors"
    ]


def test_the_first_bold_value_is_checked(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = """
    Q: With $x_0 = 2$ and $w = 3$, what is the value?
    A: The **value** is ≈ **0.25**, and $7$ is not it.

    ```check
    answer = 7
    ```
    """
    assert check(project, capsys, notes)[0] == (
        "notes/x.md:1: error: card says 0.25, check computes 7 "
        "(tolerance ±0.005 from the digits shown)"
    )


def test_without_bold_the_last_value_is_checked(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = """
    Q: With $x_0 = 2$ and $w = 3$, what is the value?
    A: From 0.25 at $x_0 = 2$ it rises to ≈ 0.5.

    ```check
    answer = 0.25
    ```
    """
    assert check(project, capsys, notes)[0] == (
        "notes/x.md:1: error: card says 0.5, check computes 0.25 "
        "(tolerance ±0.05 from the digits shown)"
    )


def test_check_c2_selects_the_deletion(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = """
    The values are {{c1::0.5}} and {{c2::0.25}}; the {{c3::softmax}} is not a value.

    ```check c2
    answer = 0.25
    ```

    ```check c1
    answer = 1 / 2
    ```

    The {{c1::softmax}} of $(0, 0)$ is {{c2::[0.5, 0.5]}}.

    ```check
    z = np.zeros(2)
    answer = np.exp(z) / np.exp(z).sum()
    ```
    """
    assert check(project, capsys, notes) == [
        "2 cards (0 Q/A, 2 cloze, 2 verified: 2 values, 0 formulas, 0 arithmetic; "
        "0 supporting-only) from 1 file; no errors"
    ]


def test_every_failure_in_one_run(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write(
        "a.md",
        """
        Q: One?
        A: **1**

        ```check
        answer = 2
        ```

        Q: Fine?
        A: **3**

        ```check
        answer = 3
        ```

        Q: Load?
        A: Yes.

        ```check
        assert np.load
        ```
        """,
    )
    project.write(
        "b.md",
        "Q: Two?\nA: **2**\n\n```check\nanswer = 1\n```\n\n"
        "Q: Three?\nA: **(3, 3)**\n\n```check\nanswer = (3,)\n```\n",
    )
    assert project.run("check") == 1
    out, err = capsys.readouterr()
    assert errors(err) == [
        "notes/a.md:1: error: card says 1, check computes 2 (no ≈ before it, so it must be equal)",
        "notes/a.md:19: error: check failed: AttributeError: access to attribute 'load' "
        "is not allowed",
        "notes/b.md:1: error: card says 2, check computes 1 (no ≈ before it, so it must be equal)",
        "notes/b.md:8: error: card says (3, 3), check computes (3,) "
        "(shape (2,) on the card, (1,) computed)",
    ]
    assert out == "5 cards (5 Q/A, 0 cloze, 1 verified) from 2 files; 4 errors, nothing written\n"


def test_a_card_with_one_failing_check_is_not_verified(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = "Q: v?\nA: **1**\n\n```check\nanswer = 1\n```\n\n```check\nassert 1 == 2\n```\n"
    assert check(project, capsys, notes) == [
        "notes/x.md:9: error: check failed: assertion failed: assert 1 == 2",
        "1 card (1 Q/A, 0 cloze, 0 verified) from 1 file; 1 error, nothing written",
    ]


GOOD_DECK = """
# Checks

Q: What is $2 \\cdot 3 \\cdot 4$?
A: **24**

```check
answer = 2 * 3 * 4
```

Q: Who wrote the notes?
A: A student.

The derivative of $\\tanh$ is {{c1::$1 - \\tanh^2(x)$}}.

```check
# formula
reference = lambda x: numgrad(np.tanh, x)
```
"""


def test_build_refuses_a_failing_check_and_keeps_the_old_package(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("x.md", GOOD_DECK)
    assert project.run("build") == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "3 cards (2 Q/A, 1 cloze, 2 verified: 1 values, 1 formulas, 0 arithmetic; "
        "0 supporting-only) from 1 file -> dist/ai-study-notes.apkg; "
        "+3 new, 0 changed, 0 moved, 0 restored, 0 removed"
    )
    package = project.apkg.read_bytes()
    ledger = ledger_snapshot(project.cards)

    project.write("x.md", GOOD_DECK.replace("answer = 2 * 3 * 4", "answer = 2 * 3 * 5"))
    assert project.run("build") == 1
    out, err = capsys.readouterr()
    assert errors(err) == [
        "notes/x.md:3: error: card says 24, check computes 30 (no ≈ before it, so it must be equal)"
    ]
    assert out == "3 cards (2 Q/A, 1 cloze, 1 verified) from 1 file; 1 error, nothing written\n"
    assert project.apkg.read_bytes() == package
    assert ledger_snapshot(project.cards) == ledger
    written = sorted(p.name for p in project.apkg.parent.iterdir() if p.name[0] != ".")
    assert written == [project.apkg.name]


def test_check_writes_nothing(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert check(project, capsys, GOOD_DECK) == [
        "3 cards (2 Q/A, 1 cloze, 2 verified: 1 values, 1 formulas, 0 arithmetic; "
        "0 supporting-only) from 1 file; no errors"
    ]
    assert not project.apkg.exists()
    assert not project.cards.exists()


def test_verified_cards_carry_the_mark_and_the_tag(
    project: Project, capsys: pytest.CaptureFixture[str], collection: Collection
) -> None:
    project.write("x.md", GOOD_DECK)
    assert project.run("build") == 0
    import_package(collection, project.apkg)
    by_line = {
        f"notes/x.md:{card.loc.line}": collection.get_note(nid)
        for card in expected_cards(project)
        for nid in collection.find_notes("")
        if collection.get_note(nid).fields[0] == card.content
    }
    by_source = by_line
    assert sorted(by_source) == ["notes/x.md:10", "notes/x.md:13", "notes/x.md:3"]
    for source in ("notes/x.md:3", "notes/x.md:13"):
        note = by_source[source]
        what = "value recomputed" if source == "notes/x.md:3" else "formula checked at 6 points"
        assert note["Verified"] == f"verified: {what}"
        assert "verified" in note.tags
        card = note.cards()[0]
        assert f"verified: {what}" in card.answer()
        assert "verified:" not in card.question()
    unchecked = by_source["notes/x.md:10"]
    assert unchecked["Verified"] == ""
    assert "verified" not in unchecked.tags
    assert "verified:" not in unchecked.cards()[0].answer()
    assert sorted(collection.find_notes("tag:verified")) == sorted(
        by_source[s].id for s in ("notes/x.md:3", "notes/x.md:13")
    )


def test_check_naming_a_deletion_on_a_qa_card_is_an_error(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("qa.md", "Q: Six times seven?\nA: **42**\n\n```check c2\nanswer = 42\n```\n")
    assert project.run("check") == 1
    assert (
        "notes/qa.md:4: error: cannot check this card: a Q/A card has no deletion c2: "
        "write the info string as just 'check'" in capsys.readouterr().err
    )


# -- The value parser on hostile text ----------------------------------------------------

HOSTILE_PIECES = st.sampled_from(
    ["[", "]", "(", ")", ",", "1", "4", ".", "-", "e", " ", "**", "__", "\\times 10^", "x", "²"]
)


@st.composite
def hostile_answers(draw: st.DrawFn) -> str:
    """Up to 1 MB: a few pieces, each repeated up to 200,000 times."""
    parts = draw(st.lists(st.tuples(HOSTILE_PIECES, st.integers(1, 200_000)), max_size=6))
    return "".join(piece * count for piece, count in parts)[: 1 << 20]


def qa_card(answer: str) -> Card:
    """A Q/A card showing ``answer``, with one check."""
    check = Check(SourceLoc("notes/a.md", 3), "answer = 4", None)
    return Card(
        kind=CardKind.QA,
        loc=SourceLoc("notes/a.md", 1),
        deck="D",
        section=(),
        tags=(),
        content="Q?",
        back=answer,
        extra="",
        context="",
        prompt_text="Q?",
        value_source=answer,
        checks=(check,),
    )


@settings(derandomize=True, max_examples=40, deadline=None)
@given(hostile_answers())
def test_hostile_answers_up_to_a_megabyte_never_raise(answer: str) -> None:
    card = qa_card(answer)
    value = card_value(card, card.checks[0])
    assert isinstance(value, CardValue | str)


@settings(derandomize=True, max_examples=2000, deadline=None)
@given(st.text(alphabet="[](),. 1234567890eE+-\u2212x×·^{}\\times\u00a0٣", max_size=30))
def test_value_scanner_finds_what_the_regular_expression_finds(text: str) -> None:
    # The scanner replaces re.finditer over this expression, which is quadratic on '['.
    expression = re.compile(f"{verify._VECTOR}|{verify._TUPLE}|{verify._NUMBER}")
    assert verify._value_candidates(text) == [m.group(0) for m in expression.finditer(text)]


def test_a_run_of_brackets_after_the_value() -> None:
    # re.finditer took minutes over this; the value is still found.
    card = qa_card("4 " + "[" * (verify.MAX_SCANNED_ANSWER - 10))
    value = card_value(card, card.checks[0])
    assert isinstance(value, CardValue) and value.numbers[0].value == 4


def test_only_the_end_of_a_very_long_answer_is_searched() -> None:
    card = qa_card("4 " + "x" * verify.MAX_SCANNED_ANSWER)
    assert card_value(card, card.checks[0]) == (
        "the answer shows no value: write it in bold, e.g. **-0.2494**"
    )


def test_nesting_deeper_than_an_answer_can_be_is_no_value() -> None:
    deep = "[" * 1200 + "4" + "]" * 1200
    assert parse_value(deep) is None
    shallow = "[" * 32 + "4" + "]" * 32
    parsed = parse_value(shallow)
    assert parsed is not None and parsed.dims == (1,) * 32


@pytest.mark.parametrize(
    ("text", "dims"),
    [
        ("[1, 2, 3]", (3,)),
        ("[[1, 2], [3, 4]]", (2, 2)),
        ("[ [1] , [2] ]", (2, 1)),
        ("[[1, 2], [3]]", None),
        ("[[1], 2]", None),
        ("[1, [2]]", None),
        ("[1,]", None),
        ("[]", None),
        ("[[]]", None),
        ("[1] [2]", None),
        ("[[1]x]", None),
        ("[1]]", None),
        ("[[1]", None),
        ("[1, 2", None),
    ],
)
def test_arrays_are_read_as_before(text: str, dims: tuple[int, ...] | None) -> None:
    value = parse_value(text)
    assert (value.dims if value else None) == dims


def test_deep_nesting_on_a_card_is_one_line(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = "[" * 1200 + "4" + "]" * 1200
    project.write("deep.md", f"Q: What?\nA: **{deep}**\n\n```check\nanswer = 4\n```\n")
    assert project.run("check", "--no-cache") == 1
    err = capsys.readouterr().err
    assert "notes/deep.md:1: error: card says" not in err
    assert "Traceback" not in err
    [line] = err.splitlines()
    assert line.startswith("notes/deep.md:4: error: cannot check this card: no bold text")
    assert len(line) < 400


def test_check_target_with_a_superscript_digit(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("sup.md", "The value is {{c1::4}}.\n\n```check c²\nanswer = 4\n```\n")
    assert project.run("check", "--no-cache") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip() == (
        "notes/sup.md:3: error: cannot check this card: the check names c², "
        "but the card has no such deletion"
    )


@pytest.mark.parametrize(
    ("answer", "rounded"),
    [
        ("**0.4750**", False),
        ("$L =$ **0.4750**", False),
        ("$L \\approx$ **0.4750**", True),
        ("$\\approx$ **0.4750**", True),
        ("so ≈ **0.4750**", True),
        ("**≈ 0.4750**", True),
        ("**$\\approx 0.4750$**", True),
        ("about **0.4750**", False),
        ("it rises to ≈ 0.4750.", True),
        ("it rises to 0.4750.", False),
    ],
)
def test_a_value_is_rounded_only_when_written_with_approx(answer: str, rounded: bool) -> None:
    value = card_value(qa_card(answer), qa_card(answer).checks[0])
    assert isinstance(value, CardValue) and value.rounded is rounded


def test_what_the_mark_does_not_cover_is_an_error_with_strict(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = """
    Q: What is $2 \\cdot 3$?
    A: **6**, and $x = 2y$.

    ```check
    answer = 6
    ```
    """
    project.write("x.md", notes)
    assert project.run("check") == 0
    warning = (
        "notes/x.md:2: warning: cannot evaluate 2y in a displayed chain (no value for 'y'): "
        "bind its names in the card's check or state them in the question (e.g. $n = 28$); "
        "the card is not marked verified"
    )
    out, err = capsys.readouterr()
    assert err.splitlines() == [warning]
    assert ", 0 verified:" in out
    assert project.run("check", "--strict") == 1
    assert errors(capsys.readouterr().err) == [warning.replace(": warning: ", ": error: ")]
