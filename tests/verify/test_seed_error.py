"""The error in the seed notes (issue 3), caught by a check.

The seed's skip-connection derivation, for

    x_c = w_c x_b + b_c
    x_d = w_d x_c + b_d + w_d2 x_b + b_d2
    x_e = w_e x_d + b_e
    L   = (x_e - t)^2

says dL/dx_b = dL/dx_e · dx_e/dx_d · (dx_c/dx_b + 1). That holds only when
w_d = w_d2 = 1; in general the last factor is (w_d · dx_c/dx_b + w_d2). Written as a
card with a check against the real network's numerical gradient, the seed's version
must fail the build with a message naming the file and line, and the corrected
formula must pass.
"""

from __future__ import annotations

import pytest

from tests.conftest import Project

NETWORK = """\
w_c, b_c, w_d, b_d, w_d2, b_d2, w_e, b_e, t = {weights}
def loss(x_b):
    x_c = w_c * x_b + b_c
    x_d = w_d * x_c + b_d + w_d2 * x_b + b_d2
    x_e = w_e * x_d + b_e
    return (x_e - t) ** 2
"""

# Weights of a real network: w_d and w_d2 are not 1.
WEIGHTS = "0.7, 0.1, 1.5, -0.2, 0.4, 0.3, -0.8, 0.05, 1.0"


VARIABLES = ("x_b", "w_c", "w_d", "w_d2", "w_e", "t")
"""What a formula check draws at each point: the input and the network's weights (its
biases are constants, which no formula of the card reads)."""


def formula_card(factor: str, fixed: str = "") -> str:
    """A card stating dL/dx_b with the last factor ``factor``, and a formula check that
    reads the formula as the card shows it and compares it with the network's numerical
    gradient at several points, the weights drawn too but for those ``fixed`` (such as
    ``w_d = w_d2 = 1.0``)."""
    held = {name.strip() for name in fixed.split("=")[:-1]}
    drawn = ", ".join(name for name in VARIABLES if name not in held)
    every = ", ".join(VARIABLES)
    return f"""\
# Backpropagation

## Skip connections

The network: $x_c = w_c x_b + b_c$, $x_d = w_d x_c + b_d + w_{{d2}} x_b + b_{{d2}}$,
$x_e = w_e x_d + b_e$ and $L = (x_e - t)^2$.

Q: What is $\\frac{{dL}}{{dx_b}}$ through the skip connection?
A: $\\frac{{dL}}{{dx_b}} = \\frac{{dL}}{{dx_e}} \\cdot \\frac{{dx_e}}{{dx_d}} \\cdot {factor}$

```check
# formula
b_c, b_d, b_d2, b_e = 0.1, -0.2, 0.3, 0.05
{fixed}
def loss({every}):
    x_c = w_c * x_b + b_c
    x_d = w_d * x_c + b_d + w_d2 * x_b + b_d2
    x_e = w_e * x_d + b_e
    return (x_e - t) ** 2
x_e = lambda {drawn}: w_e * (w_d * (w_c * x_b + b_c) + b_d + w_d2 * x_b + b_d2) + b_e
dL_dx_e = lambda {drawn}: 2 * (x_e({drawn}) - t)
dx_e_dx_d = lambda w_e: w_e
dx_c_dx_b = lambda w_c: w_c
reference = lambda {drawn}: numgrad(lambda u: loss(u, {", ".join(VARIABLES[1:])}), x_b)
```
"""


def value_card(value: str) -> str:
    """A card stating dL/dx_b at x_b = 0.5 as a number, rounded, checked by numgrad."""
    network = NETWORK.format(weights=WEIGHTS)
    return f"""\
Q: With the weights of the check, what is $\\frac{{dL}}{{dx_b}}$ at $x_b = 0.5$?
A: ≈ **{value}**

```check
{network}answer = numgrad(loss, 0.5)
```
"""


def run_check(project: Project, capsys: pytest.CaptureFixture[str], text: str) -> list[str]:
    """``build-deck check`` on notes/skip.md; its error lines and summary line."""
    project.write("skip.md", text)
    code = project.run("check")
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert code == (1 if lines else 0)
    return [*lines, out.strip()]


SEED = formula_card("\\left(\\frac{dx_c}{dx_b} + 1\\right)")
CORRECTED = formula_card("\\left(w_d \\frac{dx_c}{dx_b} + w_{d2}\\right)")
FORMULA_VERIFIED = "1 verified: 0 values, 1 formulas, 0 arithmetic; 0 supporting-only"


def test_the_seed_formula_fails_the_build(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    # The card is on line 8; the first point drawn is x_b = 0.71, w_c = 0.57, ...
    assert run_check(project, capsys, SEED) == [
        "notes/skip.md:8: error: formula \\frac{dL}{dx_e} \\cdot \\frac{dx_e}{dx_d} \\cdot "
        "(\\frac{dx_c}{dx_b} + 1) differs from the check's reference at dL_dx_e=1.08379, "
        "dx_e_dx_d=0.89, dx_c_dx_b=0.57, x_b=0.71, w_c=0.57, w_d=0.15, w_d2=0.8, w_e=0.89, "
        "t=0.17: shows 1.51439, reference 0.854133",
        "1 card (1 Q/A, 0 cloze, 0 verified) from 1 file; 1 error, nothing written",
    ]


def test_the_seed_formula_fails_build_and_writes_nothing(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("skip.md", SEED)
    assert project.run("build") == 1
    assert "notes/skip.md:8: error: formula " in capsys.readouterr().err
    assert not project.apkg.exists()


def test_the_corrected_formula_passes(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(project, capsys, CORRECTED) == [
        f"1 card (1 Q/A, 0 cloze, {FORMULA_VERIFIED}) from 1 file; no errors"
    ]


def test_the_seed_formula_holds_only_when_both_weights_are_one(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    # With w_d = w_d2 = 1 the seed is right: the failure above is the weights, not the test.
    seed_with_unit_weights = formula_card(
        "\\left(\\frac{dx_c}{dx_b} + 1\\right)", "w_d = w_d2 = 1.0"
    )
    assert run_check(project, capsys, seed_with_unit_weights) == [
        f"1 card (1 Q/A, 0 cloze, {FORMULA_VERIFIED}) from 1 file; no errors"
    ]


def test_the_seed_closed_form_is_caught(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    # The card may also show the closed form: each part of the chain is compared.
    seed = CORRECTED.replace("w_{d2}\\right)$", "w_{d2}\\right) = 2(x_e - t)\\, w_e\\, (w_c + 1)$")
    lines = run_check(project, capsys, seed)
    assert lines[0].startswith(
        "notes/skip.md:8: error: formula 2(x_e - t) w_e (w_c + 1) differs from the check's "
        "reference at "
    )
    right = seed.replace("(w_c + 1)$", "(w_d w_c + w_{d2})$")
    assert run_check(project, capsys, right) == [
        f"1 card (1 Q/A, 0 cloze, {FORMULA_VERIFIED}) from 1 file; no errors"
    ]


def test_the_seed_value_is_caught(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    # The seed's formula at x_b = 0.5 gives 2(x_e - t) w_e (w_c + 1) = 4.7056; the network's
    # gradient is 2(x_e - t) w_e (w_d w_c + w_d2) = 4.0136.
    assert run_check(project, capsys, value_card("4.7056")) == [
        "notes/skip.md:1: error: card says 4.7056, check computes 4.0136 "
        "(tolerance ±5e-05 from the digits shown)",
        "1 card (1 Q/A, 0 cloze, 0 verified) from 1 file; 1 error, nothing written",
    ]
    assert run_check(project, capsys, value_card("4.0136")) == [
        "1 card (1 Q/A, 0 cloze, 1 verified: 1 values, 0 formulas, 0 arithmetic; "
        "0 supporting-only) from 1 file; no errors"
    ]
