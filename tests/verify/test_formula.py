"""The TeX reader and evaluator of formula checks, and ``check --mutate``.

TeX comes from shared notes: reading it must never run it, must refuse what it does not
know with a message naming the part, and must stay bounded in time and size.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from build_deck.cache import default_cache_dir, entry_path
from build_deck.verify import formula as tex
from build_deck.verify.mutants import formula_mutants, same_meaning
from tests.conftest import Project


def value(source: str) -> float:
    """A numeric formula's value, evaluated in this process."""
    return float(tex.evaluate(tex.parse_formula(source), tex.numeric_lookup))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (r"2 \cdot 3 \cdot 4", 24.0),
        (r"0.5 \cdot 2 - (-1) \cdot 1 + 0.1", 2.1),
        (r"\frac{0.25 + 0 + 1}{3}", 1.25 / 3),
        (r"\frac12 \cdot 3^2", 4.5),
        (r"\lceil 10000 / 64 \rceil", 157.0),
        (r"-\log \frac{1}{10}", 2.302585092994046),
        (r"\sqrt{16} + \sqrt[3]{8}", 6.0),
        (r"\left(1 + \tfrac{1}{2}\right)^{2}", 2.25),
        (r"\sum_{i=1}^{4} i^2", 30.0),
        (r"\prod_{i=1}^{4} i", 24.0),
        (r"5!", 120.0),
        (r"\max(0, 1 - 0.3)", 0.7),
        (r"e^{0} + \pi - \pi", 1.0),
        (r"1 - \tanh^2(0)", 1.0),
        (r"6 \times 10^{23} / 10^{23}", 6.0),
    ],
)
def test_numeric_tex_is_evaluated(source: str, expected: float) -> None:
    assert value(source) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("source", "names"),
    [
        (r"(p - y)\,x", {"p", "y", "x"}),
        (r"w_d w_c + w_{d2}", {"w_d", "w_c", "w_d2"}),
        (r"\frac{dL}{dx_e} \cdot \frac{\partial x_e}{\partial x_d}", {"dL_dx_e", "dx_e_dx_d"}),
        (r"\frac{2}{n}(\hat y_i - y_i)", {"n", "yhat_i", "y_i"}),
        (r"-\sum_i p_i \log q_i", {"p_i", "q_i"}),
        (r"\sigma(w^\top x)", {"sigma", "w", "x"}),
        (r"\text{MSE} + \operatorname{softmax}(z)", {"MSE", "z"}),
        (r"\sigma_{\theta} + \bar x", {"sigma_theta", "xbar"}),
        (r"n_\text{in}\,n_\text{out} + n_{\text{out}}", {"n_in", "n_out"}),
    ],
)
def test_names_of_a_formula(source: str, names: set[str]) -> None:
    assert tex.symbols(tex.parse_formula(source)) == names


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (r"\mathbb{E}[x]", r"\mathbb is not something a formula check can evaluate at"),
        (r"(p + y", "expected ')'"),
        (r"p +", "the formula ends too early"),
        (r"x_{\alpha*1}", "cannot read this subscript at '*1}'"),
        (r"x_{t+s}", "cannot read this subscript at '+s}'"),
        (r"\nabla 2", r"\nabla is read only before a name at '2'"),
        (r"f'(x)", None),  # a prime makes a name of its own, f_prime
        (r"\int_0^1 x\,dx", r"\int is not something a formula check can evaluate"),
        (r"a \bmod b", r"\bmod is not something"),
        (r"\sum x_i y_j", r"\sum needs an index"),
        ("x" * 3000, "longer than 2000 characters"),
        ("(" * 200 + "x" + ")" * 200, "nests more than 60 deep"),
        (r"0.92\,0.92", "0.92 0.92 reads as 0.920.92, which is not a number"),
    ],
)
def test_unreadable_tex_names_the_part(source: str, message: str | None) -> None:
    if message is None:
        tex.parse_formula(source)
        return
    with pytest.raises(tex.FormulaError, match=None) as caught:
        tex.parse_formula(source)
    assert message in str(caught.value)


def test_bombs_stay_bounded() -> None:
    start = time.perf_counter()
    for source in (r"10^{10^{10}}", r"9^{9^{9^{9}}}", r"170.5!", r"\prod_{i=1}^{10^9} i"):
        with pytest.raises(tex.FormulaError):
            value(source)
    assert value(r"10^{400}") == float("inf")  # a float overflows; it does not grow
    assert time.perf_counter() - start < 2.0


def test_a_tree_is_plain_data() -> None:
    tree = tex.parse_formula(r"\sum_{i=1}^{n} \sigma(w^\top x_i) + \frac{dL}{dw} \cdot 2.5")
    assert json.loads(json.dumps(tree)) == json.loads(json.dumps(tree))

    def leaves(node: object) -> list[object]:
        if isinstance(node, tuple):
            return [leaf for child in node for leaf in leaves(child)]
        return [node]

    assert {type(leaf) for leaf in leaves(tree)} <= {str, float, type(None)}


TEX_PIECES = [
    *"xy12_^{}()[]|+-*/=.,!' \\",
    *r"\frac \sum \sigma \left( \right) \cdot \log \hat \sqrt \top \approx \text{a}".split(),
    r"\max",
]


@settings(derandomize=True, max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(TEX_PIECES),
        max_size=40,
    ).map("".join)
)
def test_any_text_reads_or_fails_with_our_error(source: str) -> None:
    try:
        parts, _ = tex.split_chain(source)
        for tokens in parts:
            if tokens:
                tree = tex.parse_tokens(tokens, source)
                with contextlib.suppress(tex.FormulaError, ArithmeticError, TypeError, ValueError):
                    tex.evaluate(tree, tex.numeric_lookup)
    except tex.FormulaError:
        pass


def test_mutants_that_mean_the_same_are_dropped() -> None:
    assert same_meaning(r"w_d w_c + w_{d2}", r"w_c w_d + w_{d2}")
    assert not same_meaning(r"w_d w_c + w_{d2}", r"w_d w_c - w_{d2}")
    operators = {kind for kind, _ in formula_mutants(r"\frac{2}{n}(\hat y_i - y_0)^2")}
    assert operators == {
        "sign",
        "exponent",
        "fraction",
        "index",
        "swap",
        "zero-one",
        "drop-term",
        "number",
    }
    changed = dict(formula_mutants(r"\max(0, 1 - y \cdot f)"))
    assert changed["function"] == r"\min(0, 1 - y \cdot f)"
    assert changed["operator"] == r"\max(0, 1 - y + f)"


@pytest.mark.parametrize(
    ("family", "source", "mutant"),
    [
        ("zero-one", r"(p - y)\,x", r"(p - {1})\,x"),
        ("swap", r"(n - 1)s - 2p + k", r"(s - 1)n - 2p + k"),
        ("drop-term", r"w^2 x_1 + w x_2 + x_3", r"w^2 x_1 + w x_2"),
        ("drop-root", r"\sqrt{w^\top x} + 1", r"{w^\top x} + 1"),
        ("drop-transpose", r"\sqrt{w^\top x} + 1", r"\sqrt{w x} + 1"),
        ("coefficient", r"h = 2 w x_1 + x_2", r"h = 3 w x_1 + x_2"),
        ("coefficient", r"h = w x_1 + x_2", r"h = 2w x_1 + x_2"),
        ("function", r"\tanh(z) + 1", r"\sigma(z) + 1"),
        ("function", r"\sigma(z) + 1", r"\tanh(z) + 1"),
        ("function", r"\cos x", r"\sin x"),
    ],
)
def test_each_operator_family_of_check_mutate(family: str, source: str, mutant: str) -> None:
    assert (family, mutant) in list(formula_mutants(source))


def test_a_name_alone_is_not_a_function_to_swap() -> None:
    # \sigma as a name (a standard deviation) is not the logistic function.
    assert not [m for f, m in formula_mutants(r"\sigma^2 + \mu") if f == "function"]


@pytest.mark.parametrize(
    ("source", "name"),
    [
        (r"\lambda", "lambda_"),
        (r"\text{in}", "in_"),
        (r"\lambda_1", "lambda_1"),
        (r"D^*", "D_star"),
        (r"\theta^\star", "theta_star"),
        (r"\lambda_{\max}", "lambda_max"),
        (r"R_{t+1}", "R_tp1"),
        (r"s_{t-1}", "s_tm1"),
        (r"\nabla L", "nabla_L"),
        (r"\nabla_\theta J", "nabla_theta_J"),
        (r"\nabla_\theta \log \pi", "nabla_theta_log_pi"),
    ],
)
def test_tex_names_that_python_cannot_hold(source: str, name: str) -> None:
    assert tex.symbols(tex.parse_formula(source)) == {name}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (r"(1, 2) \cdot (3, 4)", 11.0),
        (r"\operatorname{softmax}(0, 0)", [0.5, 0.5]),
        (r"[0.5, 1] - [0, 1]", [0.5, 0.0]),
        (r"\begin{bmatrix}2 & 2\\ 2 & 6\end{bmatrix}\begin{bmatrix}1\\ 1\end{bmatrix}", [4.0, 8.0]),
        (r"\begin{bmatrix}1 & 2\\ 3 & 4\end{bmatrix}^\top", [[1.0, 3.0], [2.0, 4.0]]),
        (r"\frac{2}{\|(3, 4)\|}", 0.4),
        (r"\binom{4}{2} / 2^4", 0.375),
        (r"84{,}934{,}656 + 1", 84934657.0),
        (r"\sum_i (1, 2, 3)", 6.0),
    ],
)
def test_vectors_and_matrices_are_read(source: str, expected: float | list[Any]) -> None:
    import numpy as np

    found = tex.evaluate(tex.parse_formula(source), tex.numeric_lookup)
    assert np.allclose(found, expected)


MUTATE_NOTES = """\
The gradient of the logistic loss with respect to one weight is {{c1::$(p - y)\\,x$}}.

```check
# formula
reference = lambda p, y, x: (p - y) * x
```

The same, with a check too loose to notice anything: {{c1::$(q - z)\\,v$}}.

```check
# formula
reference = lambda q, z, v: (q - z) * v
tol = 100
```
"""


def test_check_mutate_reports_checks_that_do_not_test_the_formula(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("m.md", MUTATE_NOTES)
    assert project.run("check", "--mutate") == 0
    out, err = capsys.readouterr()
    warnings = err.splitlines()
    assert warnings, "the loose check's mutants survive"
    assert all(
        line.startswith("notes/m.md:8: warning: the check passes when the card shows ")
        for line in warnings
    )
    assert (
        "notes/m.md:8: warning: the check passes when the card shows (q + z) v; it does "
        "not test the formula"
    ) in warnings
    last = out.splitlines()[-1]
    assert last.startswith("mutants: ") and last.endswith("%)")
    # Before the total, a line per operator family: "  sign: 2 of 3 caught".
    families = [line.split(":")[0].strip() for line in out.splitlines() if line.startswith("  ")]
    assert {"sign", "swap", "zero-one"} <= set(families)
    caught, total = (int(n) for n in last.split()[1:4:2])
    assert caught == total - len(warnings) and caught >= len(warnings)

    # The results are kept in the build cache; a second run reports the same.
    cache_dir = default_cache_dir(Path("notes"))
    assert entry_path(cache_dir, "mutate:notes/m.md:8").is_file()
    assert entry_path(cache_dir, "mutate:notes/m.md:1").is_file()
    assert project.run("check", "--mutate") == 0
    again_out, again_err = capsys.readouterr()
    assert again_err == err and again_out.splitlines()[-1] == last


@pytest.mark.parametrize(
    "source",
    [
        r"\text{__import__}(x)",
        r"x_{__class__}",
        r"\operatorname{__globals__}",
        r"\mathrm{os.system}",
        r"\verb|x|",
        r"\def\x{1}",
        r"\input{/etc/passwd}",
    ],
)
def test_tex_cannot_name_what_a_check_cannot(source: str) -> None:
    # A TeX name becomes a name of the check's own namespace, in its sandbox; names that
    # asteval refuses (dunders, dotted paths) cannot even be written.
    with pytest.raises(tex.FormulaError):
        tex.parse_formula(source)


def test_a_formula_is_evaluated_in_the_sandbox_with_the_checks_names() -> None:
    from build_deck.verify.sandbox import run_checks

    tree = tex.parse_formula(r"(p - y)\,x")
    code = "reference = lambda p, y, x: (p - y) * x\npoints = [dict(p=0.3, y=1, x=2)]"
    (outcome,) = run_checks([code], formulas=[[tree]])
    assert outcome.error is None
    (point,) = outcome.formula
    assert point.bindings == {"p": 0.3, "y": 1, "x": 2}
    assert point.shown == (pytest.approx(-1.4),)
    assert point.reference == pytest.approx(-1.4)
    # The worker gets plain data only; a check that reaches for more is stopped there.
    (outcome,) = run_checks(["reference = lambda x: x.__class__"], formulas=[[tree]])
    assert outcome.error is not None


@pytest.mark.parametrize(
    ("tex_source", "shown"),
    [
        (r"a {{c1::x_0}} + b", r"a x_0 + b"),
        (r"{{c1::x::the input}} = {{c2::2}}", r"x = 2"),
        (r"{{c1::x = {{c2::", r"{{c1::x = {{c2::"),
        ("{{c1::" * 1000, "{{c1::" * 1000),
    ],
)
def test_cloze_markup_is_taken_out_of_math(tex_source: str, shown: str) -> None:
    from build_deck.verify.shown import strip_cloze

    assert strip_cloze(tex_source) == shown


def _linear_algebra_names() -> dict[str, Any]:
    import numpy as np

    return {
        "A": np.array([[4.0, 7.0], [2.0, 6.0]]),
        "B": np.array([[1.0, 2.0], [3.0, 5.0]]),
        "X": np.array([[1.0, 0.5], [1.0, 1.5], [1.0, 3.0], [1.0, 4.0]]),
        "y": np.array([1.0, 2.0, 2.5, 4.5]),
        "v": np.array([1.0, -5.0, 2.0]),
        "w": np.array([1.0, 2.0]),
        "x": np.array([3.0, 4.0]),
        "s": 4.0,
    }


def matrix_value(source: str) -> Any:
    """A formula's value with the matrices and vectors above bound."""
    names = _linear_algebra_names()

    def lookup(name: str, base: str, sub: str, applied: bool) -> Any:
        if name not in names:
            raise tex.FormulaError(f"no value for '{name}'")
        return names[name]

    return tex.evaluate(tex.parse_formula(source), lookup)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # a power of a square matrix is a matrix power: -1 its inverse
        (r"(AB)^{-1}", lambda n, la: la.inv(n["A"] @ n["B"])),
        (r"B^{-1} A^{-1}", lambda n, la: la.inv(n["A"] @ n["B"])),
        (r"A^3", lambda n, la: n["A"] @ n["A"] @ n["A"]),
        (r"A^{-2}", lambda n, la: la.inv(n["A"] @ n["A"])),
        (r"A^0", lambda n, la: [[1.0, 0.0], [0.0, 1.0]]),
        (r"(X^\top X)^{-1} X^\top y", lambda n, la: la.lstsq(n["X"], n["y"], rcond=None)[0]),
        (r"X^+ y", lambda n, la: la.pinv(n["X"]) @ n["y"]),
        # a number and a vector stay element by element
        (r"s^{-1}", lambda n, la: 0.25),
        (r"v^2", lambda n, la: [1.0, 25.0, 4.0]),
        (r"v^{-1}", lambda n, la: [1.0, -0.2, 0.5]),
        # a transposed vector keeps its meaning through products
        (r"2 w^\top x", lambda n, la: 22.0),
        (r"w^\top A w", lambda n, la: n["w"] @ n["A"] @ n["w"]),
        (r"w w^\top", lambda n, la: [[1.0, 2.0], [2.0, 4.0]]),
        # \max and \min over an index, without parentheses
        (r"\max_i |v_i|", lambda n, la: 5.0),
        (r"\max_j v_j - \min_{j} v_j", lambda n, la: 7.0),
        (r"v_i - \max_j v_j", lambda n, la: [-1.0, -7.0, 0.0]),
        # norms with their subscripts
        (r"\|v\|_2", lambda n, la: 30**0.5),
        (r"\|v\|_2^2", lambda n, la: 30.0),
        (r"\|v\|_1", lambda n, la: 8.0),
        (r"\|v\|_\infty", lambda n, la: 5.0),
        (r"\|A\|_F", lambda n, la: 105**0.5),
        (r"\|A\|_2", lambda n, la: la.svd(n["A"])[1][0]),
        (r"\lVert v \rVert_1", lambda n, la: 8.0),
    ],
)
def test_linear_algebra_reads_as_a_reader_means_it(source: str, expected: Any) -> None:
    import numpy as np

    wanted = expected(_linear_algebra_names(), np.linalg)
    assert np.allclose(matrix_value(source), wanted), source


def test_a_wrong_inverse_of_a_product_differs() -> None:
    import numpy as np

    assert not np.allclose(matrix_value(r"A^{-1} B^{-1}"), matrix_value(r"(AB)^{-1}"))
    assert not np.allclose(matrix_value(r"w^\top A^{-1} w"), matrix_value(r"w^\top A w"))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (r"A^{0.5}", "a power of a square matrix needs a whole exponent"),
        (r"v^+", "a pseudo-inverse needs a matrix"),
        (r"\max_{ij} v_i", r"\max needs a one-letter index"),
        (r"\|v\|_3", r"a norm's subscript is 1, 2, \infty or F"),
    ],
)
def test_linear_algebra_it_cannot_read_is_refused(source: str, message: str) -> None:
    with pytest.raises(tex.FormulaError) as caught:
        matrix_value(source)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("source", "names"),
    [
        (r"(I - \gamma P^\pi)^{-1} R^\pi", {"I", "gamma", "P_pi", "R_pi"}),
        (r"Q^\pi(s, a) - V^{\pi}(s)", {"Q_pi", "V_pi", "s", "a"}),
        (r"\max_j z_j", {"z_j"}),
        (r"x^\pi", {"x", "pi"}),  # a lower-case letter to the power pi
    ],
)
def test_a_policy_superscript_names_a_value(source: str, names: set[str]) -> None:
    assert tex.symbols(tex.parse_formula(source)) == names


def test_an_identity_matrix_is_a_constant_not_a_name_held_still() -> None:
    import numpy as np

    reads = [{"I": np.eye(3), "x": 0.5}, {"I": np.eye(3), "x": -1.0}]
    assert tex.still_names(reads) == []
    ones = [{"J": np.ones((2, 2)), "x": 0.5}, {"J": np.ones((2, 2)), "x": -1.0}]
    assert tex.still_names(ones) == ["J: [[1.0, 1.0], [1.0, 1.0]] at every point"]
    one = [{"I": np.eye(1)}, {"I": np.eye(1)}]
    assert tex.still_names(one) == ["I: [[1.0]] at every point"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (r"\sum_i \sum_j a_{ij}^2", 30.0),
        (r"\sum_i \sum_j (a_{ij} - 1)^2", 14.0),
        (r"\max_i a_i^2", 16.0),
        (r"a_i^2", [[1.0, 4.0], [9.0, 16.0]]),
    ],
)
def test_a_power_of_an_element_stays_element_by_element(
    source: str, expected: float | list[Any]
) -> None:
    import numpy as np

    matrix = np.array([[1.0, 2.0], [3.0, 4.0]])

    def lookup(name: str, base: str, sub: str, applied: bool) -> Any:
        if name in ("a", "a_ij"):
            return matrix
        raise tex.FormulaError(f"no value for '{name}'")

    found = tex.evaluate(tex.parse_formula(source), lookup)
    assert np.allclose(found, expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # a matrix before brackets multiplies what follows, powers and all
        (r"X (X^\top X)^{-1} X^\top y", lambda n, la: n["X"] @ la.pinv(n["X"]) @ n["y"]),
        (r"A (A + B)^{-1}", lambda n, la: n["A"] @ la.inv(n["A"] + n["B"])),
        (r"s (w)^\top x", lambda n, la: 44.0),
        # |A| of a square matrix is its determinant; of an element, its absolute value
        (r"|A|^{1/2}", lambda n, la: 10**0.5),
        (r"|B|", lambda n, la: -1.0),
        (r"\sum_i |v_i|", lambda n, la: 8.0),
    ],
)
def test_a_matrix_before_brackets_and_between_bars(source: str, expected: Any) -> None:
    import numpy as np

    wanted = expected(_linear_algebra_names(), np.linalg)
    assert np.allclose(matrix_value(source), wanted), source


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (r"2 |{-3}|", 6.0),
        (r"|{-2}| |3|", 6.0),
        (r"|2 - |{-5}||", 3.0),
        (r"\frac{1}{2 |{-4}|^{1/2}}", 0.25),
    ],
)
def test_a_bar_after_a_factor_opens_an_absolute_value(source: str, expected: float) -> None:
    assert value(source) == pytest.approx(expected)


def test_a_divergence_takes_two_arguments_either_side_of_its_bars() -> None:
    tree = tex.parse_formula(r"D_{\mathrm{KL}}(p \,\|\, q)")
    assert tree == (
        "apply",
        ("sym", "D_KL", "D", "KL"),
        ("sym", "p", "p", ""),
        ("sym", "q", "q", ""),
    )
    assert tex.parse_formula(r"f(\|x\|_2, y)")[0] == "apply"
    # a gradient applied to its argument, as a function the check binds
    tree = tex.parse_formula(r"\theta_t - \eta \nabla L(\theta_t)")
    assert tex.symbols(tree) == {"theta_t", "eta", "nabla_L"}


def test_a_column_applied_to_a_matrix_broadcasts() -> None:
    import numpy as np

    s = np.array([0.2, 0.3, 0.5])
    names = {"s_i": s.reshape(3, 1), "s_j": s.reshape(1, 3), "delta_ij": np.eye(3)}

    def lookup(name: str, base: str, sub: str, applied: bool) -> Any:
        return names[name]

    found = tex.evaluate(tex.parse_formula(r"s_i(\delta_{ij} - s_j)"), lookup)
    assert np.allclose(found, np.diag(s) - np.outer(s, s))
