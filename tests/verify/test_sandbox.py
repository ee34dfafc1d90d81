"""The check sandbox: attempts to break out, one per test, and the checks it must run.

Every attack goes through the public entry point, ``run_checks``, in a real worker
process. Each test asserts the specific refusal (so that a refusal by the wrong layer,
or an error for some other reason, does not count) and that nothing escaped: no
value came back, no file was written. Add a test whenever a new trick is found.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from build_deck.verify.sandbox import (
    MAX_ANSWER_NUMBERS,
    MEMORY_LIMIT,
    TIME_LIMIT,
    Outcome,
    run_checks,
)


def run_one(
    code: str, *, time_limit: float = TIME_LIMIT, memory_limit: int = MEMORY_LIMIT
) -> Outcome:
    """Run one check (dedented) in its own worker."""
    code = textwrap.dedent(code).strip("\n")
    [outcome] = run_checks([code], time_limit=time_limit, memory_limit=memory_limit)
    return outcome


def assert_refused(outcome: Outcome, *fragments: str, line: int | None = None) -> None:
    """The check failed with an error holding every fragment, and produced nothing."""
    assert outcome.error is not None, f"not refused: {outcome}"
    for fragment in fragments:
        assert fragment in outcome.error
    assert outcome.answer is None
    assert not outcome.has_answer
    assert "Traceback" not in outcome.error
    if line is not None:
        assert outcome.error_line == line


# -- Trying to break out ---------------------------------------------------------------


class TestTryingToBreakOut:
    """Attacks on the sandbox, after simpleeval's tests/test_security.py."""

    def test_dunder_class(self) -> None:
        assert_refused(
            run_one("answer = (1).__class__"), "access to attribute '__class__' is not allowed"
        )

    def test_subclasses_via_class(self) -> None:
        outcome = run_one("answer = len(().__class__.__bases__[0].__subclasses__())")
        assert_refused(outcome, "AttributeError", "'__class__' is not allowed", line=1)

    def test_subclasses_via_a_numpy_type(self) -> None:
        outcome = run_one("answer = len(np.float64.__subclasses__())")
        assert_refused(outcome, "access to attribute '__subclasses__' is not allowed")

    def test_globals_of_a_lambda(self) -> None:
        outcome = run_one(
            """
            f = lambda: 0
            answer = len(f.__globals__)
            """
        )
        assert_refused(outcome, "access to attribute '__globals__' is not allowed", line=2)

    def test_globals_of_numgrad(self) -> None:
        # numgrad is a real Python function: its globals hold the sandbox module.
        outcome = run_one("answer = len(numgrad.__globals__)")
        assert_refused(outcome, "access to attribute '__globals__' is not allowed")

    def test_builtins_name(self) -> None:
        assert_refused(
            run_one("answer = len(__builtins__)"), "NameError", "'__builtins__' is not defined"
        )

    def test_dunder_import(self) -> None:
        outcome = run_one("answer = __import__('os').getpid()")
        assert_refused(outcome, "NameError", "'__import__' is not defined")

    def test_getattr(self) -> None:
        outcome = run_one("answer = getattr(np, 'load')")
        assert_refused(outcome, "NameError", "'getattr' is not defined")

    def test_type(self) -> None:
        outcome = run_one("answer = type(1)")
        assert_refused(outcome, "NameError", "'type' is not defined")

    def test_type_with_three_arguments(self) -> None:
        outcome = run_one("Evil = type('Evil', (), {})")
        assert_refused(outcome, "NameError", "'type' is not defined")

    def test_eval_and_exec(self) -> None:
        assert_refused(run_one("answer = eval('1')"), "'eval' is not defined")
        assert_refused(run_one("exec('answer = 1')"), "'exec' is not defined")

    def test_import_os(self) -> None:
        assert_refused(run_one("import os"), "'import' is not allowed in a check", line=1)

    def test_from_os_import_system(self) -> None:
        outcome = run_one(
            """
            x = 1
            from os import system
            """
        )
        assert_refused(outcome, "'import' is not allowed in a check", line=2)

    def test_import_hidden_in_a_function_is_refused_before_running(self) -> None:
        outcome = run_one(
            """
            def never_called():
                import os
            answer = 1
            """
        )
        assert_refused(outcome, "'import' is not allowed in a check", line=2)

    def test_open_for_reading(self) -> None:
        outcome = run_one("answer = len(open('/etc/passwd').read())")
        assert_refused(outcome, "NameError", "'open' is not defined")

    def test_open_for_writing(self, tmp_path: Path) -> None:
        target = tmp_path / "pwned.txt"
        outcome = run_one(f"open({str(target)!r}, 'w').write('pwned')")
        assert_refused(outcome, "'open' is not defined")
        assert not target.exists()

    def test_np_load(self, tmp_path: Path) -> None:
        outcome = run_one(f"answer = np.load({str(tmp_path / 'x.npy')!r})")
        assert_refused(outcome, "access to attribute 'load' is not allowed")

    def test_np_save_writes_no_file(self, tmp_path: Path) -> None:
        target = tmp_path / "saved"
        outcome = run_one(f"np.save({str(target)!r}, np.ones(3))")
        assert_refused(outcome, "access to attribute 'save' is not allowed")
        assert list(tmp_path.iterdir()) == []

    def test_np_fromfile(self) -> None:
        outcome = run_one("answer = np.fromfile('/etc/passwd', dtype=np.int64)")
        assert_refused(outcome, "access to attribute 'fromfile' is not allowed")

    def test_np_memmap(self, tmp_path: Path) -> None:
        target = tmp_path / "mapped"
        outcome = run_one(f"m = np.memmap({str(target)!r}, mode='w+', shape=(3,))")
        assert_refused(outcome, "access to attribute 'memmap' is not allowed")
        assert not target.exists()

    def test_np_lib(self) -> None:
        outcome = run_one("answer = np.lib.stride_tricks.as_strided(np.ones(1), (10**6,))")
        assert_refused(outcome, "access to attribute 'lib' is not allowed")

    def test_np_ctypeslib(self) -> None:
        outcome = run_one("answer = np.ctypeslib.as_array(0, (1,))")
        assert_refused(outcome, "access to attribute 'ctypeslib' is not allowed")

    def test_np_linalg_has_only_the_vetted_functions(self) -> None:
        outcome = run_one("answer = np.linalg._umath_linalg")
        assert_refused(outcome, "access to attribute '_umath_linalg' is not allowed")

    def test_numpy_functions_outside_the_list_are_absent(self) -> None:
        outcome = run_one("answer = np.savetxt")
        assert_refused(outcome, "savetxt")

    def test_array_tofile_writes_no_file(self, tmp_path: Path) -> None:
        target = tmp_path / "array.bin"
        outcome = run_one(
            f"""
            x = np.arange(3.0)
            x.tofile({str(target)!r})
            """
        )
        assert_refused(outcome, "access to attribute 'tofile' is not allowed", line=2)
        assert not target.exists()

    def test_array_dump_writes_no_file(self, tmp_path: Path) -> None:
        target = tmp_path / "array.pickle"
        outcome = run_one(f"np.ones(2).dump({str(target)!r})")
        assert_refused(outcome, "access to attribute 'dump' is not allowed")
        assert not target.exists()

    def test_array_ctypes(self) -> None:
        outcome = run_one("answer = np.ones(2).ctypes.data")
        assert_refused(outcome, "access to attribute 'ctypes' is not allowed")

    def test_private_attribute_of_np(self) -> None:
        assert_refused(run_one("answer = np._x"), "access to attribute '_x' is not allowed")

    def test_private_attribute_of_an_array(self) -> None:
        outcome = run_one(
            """
            x = np.ones(2)
            answer = x._y
            """
        )
        assert_refused(outcome, "access to attribute '_y' is not allowed", line=2)

    def test_private_attribute_of_a_result(self) -> None:
        # eig returns a named tuple whose _asdict/_replace are private methods.
        outcome = run_one("answer = np.linalg.eig(np.eye(2))._asdict()")
        assert_refused(outcome, "access to attribute '_asdict' is not allowed")

    def test_format_string_attribute_lookup(self) -> None:
        outcome = run_one("""answer = len("{0.__class__}".format(1))""")
        assert_refused(outcome, "access to attribute 'format' is not allowed")

    def test_format_map(self) -> None:
        outcome = run_one("""answer = len("{x.__class__}".format_map({'x': 1}))""")
        assert_refused(outcome, "access to attribute 'format_map' is not allowed")

    def test_f_string_attribute_lookup(self) -> None:
        outcome = run_one("""answer = len(f"{(1).__class__.__subclasses__()}")""")
        assert_refused(outcome, "access to attribute '__class__' is not allowed")

    def test_attribute_of_a_function(self) -> None:
        outcome = run_one(
            """
            def f(x):
                return x
            answer = f.__code__
            """
        )
        assert_refused(outcome, "access to attribute '__code__' is not allowed", line=3)

    def test_plain_attribute_of_a_function(self) -> None:
        # Functions have no attributes a check needs: even harmless names are refused.
        outcome = run_one(
            """
            f = lambda x: x
            answer = f.anything
            """
        )
        assert_refused(outcome, "access to attribute 'anything' is not allowed")

    def test_attribute_of_a_numpy_function(self) -> None:
        outcome = run_one("answer = np.exp.reduce")
        assert_refused(outcome, "access to attribute 'reduce' is not allowed")

    def test_attribute_of_a_class(self) -> None:
        outcome = run_one("answer = np.float64.mro()")
        assert_refused(outcome, "access to attribute 'mro' is not allowed")

    def test_class_reached_from_an_array(self) -> None:
        outcome = run_one("answer = np.ones(2).dtype.type.__mro__")
        # A dtype offers no attributes at all: refused before the dunder is reached.
        assert_refused(outcome, "access to attribute 'type' is not allowed")

    def test_generator_frame(self) -> None:
        # A generator expression runs as a list comprehension: there is no frame to reach.
        outcome = run_one("answer = (x for x in [1]).gi_frame.f_globals")
        assert_refused(outcome, "access to attribute 'gi_frame' is not allowed")

    def test_class_definition(self) -> None:
        outcome = run_one(
            """
            class Evil:
                pass
            """
        )
        assert_refused(outcome, "'class' is not allowed in a check", line=1)

    def test_global_statement(self) -> None:
        outcome = run_one(
            """
            def f():
                global np
            """
        )
        assert_refused(outcome, "'global' is not allowed in a check", line=2)

    def test_with_statement(self) -> None:
        assert_refused(run_one("with np:\n    pass"), "'with' is not allowed in a check")

    def test_raise_statement(self) -> None:
        outcome = run_one("raise SystemExit(0)")
        assert_refused(outcome, "'raise' is not allowed in a check")

    def test_del_statement(self) -> None:
        assert_refused(run_one("del np"), "'del' is not allowed in a check")

    def test_print_is_not_available(self, capfd: pytest.CaptureFixture[str]) -> None:
        outcome = run_one("print('build succeeded, 0 errors')")
        assert_refused(outcome, "NameError", "'print' is not defined")
        assert capfd.readouterr() == ("", "")

    @pytest.mark.filterwarnings("error")
    def test_numpy_warnings_stay_quiet(self, capfd: pytest.CaptureFixture[str]) -> None:
        # Under "error" a warning would fail the check: the worker must ignore them
        # rather than print them on the user's terminal.
        outcome = run_one("answer = np.log(0.0)")
        assert outcome.error is None
        assert outcome.answer == float("-inf")
        assert capfd.readouterr() == ("", "")

    def test_replacing_a_numpy_function(self) -> None:
        outcome = run_one("np.exp = lambda x: 0")
        assert_refused(outcome, "assignment to attribute 'exp' is not allowed")

    def test_a_check_cannot_change_np_for_the_next_check(self) -> None:
        # One worker runs both checks, with the same namespaces.
        poison, victim = run_checks(
            ["np.sum = lambda x: 42\nmath.pi = 3", "answer = (np.sum([1, 2]), math.pi)"],
            workers=1,
        )
        assert_refused(poison, "assignment to attribute 'sum' is not allowed")
        assert victim.error is None
        assert victim.answer == (3, pytest.approx(3.14159265))

    def test_changing_an_arrays_memory_layout(self) -> None:
        outcome = run_one(
            """
            x = np.ones(4)
            x.strides = (10**9,)
            answer = x[3]
            """
        )
        assert_refused(outcome, "assignment to attribute 'strides' is not allowed", line=2)

    def test_loop_target_attribute(self) -> None:
        outcome = run_one("for np.exp in [0]:\n    pass")
        assert_refused(outcome, "assignment to attribute 'exp' is not allowed")

    def test_rebinding_a_builtin_name(self) -> None:
        outcome = run_one("abs = lambda x: 0")
        assert_refused(outcome, "NameError", "abs")


# -- Resource limits --------------------------------------------------------------------


class TestLimits:
    """Time, memory and size limits: each ends the check with a clear error."""

    def test_array_that_cannot_exist(self) -> None:
        outcome = run_one("answer = np.ones(10**11).sum()")
        assert_refused(outcome, "memory limit exceeded", line=1)

    def test_array_beyond_the_default_memory_limit(self) -> None:
        # 800 MB: the machine could allocate it, the 512 MB limit refuses it.
        outcome = run_one("answer = np.ones(10**8).sum()")
        assert_refused(outcome, "memory limit exceeded")

    def test_memory_limit_can_be_set(self) -> None:
        code = "answer = np.ones(10**7).sum()"  # 80 MB
        assert_refused(run_one(code, memory_limit=32 * 2**20), "memory limit exceeded")
        assert run_one(code).answer == 10**7

    def test_huge_list(self) -> None:
        assert_refused(run_one("answer = len([0] * 10**10)"), "memory limit exceeded")

    def test_power_tower(self) -> None:
        outcome = run_one("answer = 9**9**9")
        assert_refused(outcome, "RuntimeError", "max exponent is 10000")

    def test_huge_string(self) -> None:
        outcome = run_one("answer = len('a' * 10**9)")
        assert_refused(outcome, "String length exceeded")

    def test_huge_shift(self) -> None:
        assert_refused(run_one("answer = 1 << 10**10"), "max left shift is 1000")

    def test_infinite_loop(self) -> None:
        outcome = run_one("while True:\n    pass", time_limit=0.2)
        assert_refused(outcome, "time limit of 0.2 s exceeded")

    def test_infinite_loop_that_tries_to_swallow_the_timeout(self) -> None:
        outcome = run_one(
            """
            while True:
                try:
                    x = 1
                except Exception:
                    pass
            """,
            time_limit=0.2,
        )
        assert_refused(outcome, "'try' is not allowed in a check", line=2)

    def test_loop_inside_a_called_function(self) -> None:
        outcome = run_one(
            """
            def spin(n):
                while True:
                    n = n + 1
            answer = numgrad(spin, 1.0)
            """,
            time_limit=0.2,
        )
        assert_refused(outcome, "time limit of 0.2 s exceeded")

    def test_long_computation_in_c_is_killed(self) -> None:
        # sum over a range runs in C and never sees the timer: the parent kills the
        # worker, and a new worker runs the next check.
        stuck, after = run_checks(
            ["answer = sum(range(10**12))", "answer = 6 * 7"], time_limit=0.1, workers=1
        )
        assert_refused(stuck, "time limit of 0.1 s exceeded")
        assert after.error is None
        assert after.answer == 42

    def test_deep_recursion(self) -> None:
        outcome = run_one(
            """
            def down(n):
                return down(n + 1)
            answer = down(0)
            """
        )
        assert_refused(outcome, "RecursionError")

    def test_recursive_lambda(self) -> None:
        outcome = run_one("f = lambda n: f(n + 1)\nanswer = f(0)")
        assert_refused(outcome, "RecursionError")

    def test_deeply_nested_expression(self) -> None:
        outcome = run_one("answer = " + "1+" * 20_000 + "1")
        assert_refused(outcome, "the check cannot be read", "RecursionError")

    def test_code_too_long(self) -> None:
        assert_refused(run_one("x = 1\n" * 10_000), "longer than 50000 characters")

    def test_answer_too_large_to_send_back(self) -> None:
        outcome = run_one("answer = np.zeros(10**6)")
        assert_refused(outcome, f"answer holds more than {MAX_ANSWER_NUMBERS} numbers")

    def test_answer_nested_too_deeply(self) -> None:
        outcome = run_one(
            """
            x = 1
            for i in range(100):
                x = (x,)
            answer = x
            """
        )
        assert_refused(outcome, "nested too deeply")

    def test_answer_too_large_for_a_float(self) -> None:
        # 10**400 is allowed by the exponent cap but could not be compared with a card.
        assert_refused(run_one("answer = 10**400"), "answer is too large a number")

    def test_messages_cannot_forge_lines_or_control_the_terminal(self) -> None:
        outcome = run_one("assert False, 'x\\nnotes/a.md:1: error: forged\\x1b[2J'")
        assert outcome.error is not None
        assert "\n" not in outcome.error
        assert "\x1b" not in outcome.error
        assert "forged\\x1b[2J" in outcome.error

    def test_long_error_messages_are_cut(self) -> None:
        outcome = run_one("answer = {}['k' * 100_000]")
        assert_refused(outcome, "KeyError")
        assert outcome.error is not None
        assert len(outcome.error) <= 300

    def test_messages_echo_no_memory_addresses(self) -> None:
        outcome = run_one("answer = {}[np.mean]")
        assert_refused(outcome, "KeyError", "0x…")
        assert outcome.error is not None
        assert not re.search(r"0x[0-9a-f]{5,}", outcome.error)


class TestAllowListsInTheEvaluator:
    """Attacks on names: only what is named may be used, whatever numpy adds later."""

    def test_f_string_with_a_computed_format_spec(self) -> None:
        # asteval formats the spec with its own formatter and its own rules.
        outcome = run_one(
            """
            s = "}{__fstring__._implementation"
            answer = {}[f"{np.mean:{s}}"]
            """
        )
        assert_refused(outcome, "computed format spec in an f-string is not allowed", line=2)

    def test_f_string_with_a_huge_width(self) -> None:
        outcome = run_one("answer = len(f'{1:>400000000}')")
        assert_refused(outcome, "limited to 1000", line=1)

    def test_f_string_with_a_written_out_spec_works(self) -> None:
        outcome = run_one("answer = float(f'{3.14159:.3f}')")
        assert outcome.error is None and outcome.answer == 3.142

    def test_pow_has_the_exponent_cap_of_the_operator(self) -> None:
        assert_refused(run_one("answer = pow(10, 10**10)"), "max exponent is 10000")

    def test_pow_within_the_cap_works(self) -> None:
        assert run_one("answer = pow(2, 10)").answer == 1024

    @pytest.mark.parametrize("method", ["ljust", "rjust", "center", "zfill", "expandtabs"])
    def test_string_padding(self, method: str) -> None:
        outcome = run_one(f"answer = len('x'.{method}(4 * 10**8))")
        assert_refused(outcome, f"access to attribute '{method}' is not allowed")

    def test_percent_formatting_pads_without_a_cap(self) -> None:
        outcome = run_one("answer = len('%*d' % (4 * 10**8, 1))")
        assert_refused(outcome, "'%' formatting is not allowed")

    def test_modulo_of_numbers_still_works(self) -> None:
        assert run_one("answer = 17 % 5").answer == 2

    @pytest.mark.parametrize(
        "attribute", ["resize(10000, refcheck=False)", "view(np.int64)", "strides", "tobytes()"]
    )
    def test_array_methods_that_touch_memory(self, attribute: str) -> None:
        outcome = run_one(f"x = np.zeros(100)\nanswer = x.{attribute}")
        name = attribute.split("(")[0]
        assert_refused(outcome, f"access to attribute '{name}' is not allowed", line=2)

    def test_int_to_bytes(self) -> None:
        outcome = run_one("answer = (5).to_bytes(8, 'little')")
        assert_refused(outcome, "access to attribute 'to_bytes' is not allowed")

    def test_bytes_methods(self) -> None:
        outcome = run_one("answer = b''.join([b'a'])")
        assert_refused(outcome, "access to attribute 'join' is not allowed")

    @pytest.mark.parametrize(
        "code",
        [
            "answer = np.zeros(3, dtype='O')",
            "answer = np.ones(2).astype('O')",
            "answer = np.array([np.mean, np.sum])",
            "answer = np.sum([[np.mean], [np.sum]])",
            "answer = np.array([1, 'a'])",
            "answer = np.zeros(2, dtype=[('a', 'i8'), ('b', 'f8')])",
        ],
    )
    def test_arrays_that_are_not_numeric(self, code: str) -> None:
        outcome = run_one(code)
        assert outcome.error is not None and "TypeError" in outcome.error
        assert outcome.answer is None

    def test_long_double_answer_is_a_number(self) -> None:
        outcome = run_one("answer = np.ones(2, dtype='g').sum()")
        assert outcome.error is None and outcome.answer == 2.0
        outcome = run_one("answer = np.ones(2, dtype='g')")
        assert outcome.error is None and outcome.answer == [1.0, 1.0]

    def test_named_tuple_fields_of_numpy_results(self) -> None:
        outcome = run_one("answer = np.linalg.eigh(np.eye(2)).eigenvalues")
        assert outcome.error is None and outcome.answer == [1.0, 1.0]

    def test_array_methods_on_the_list_work(self) -> None:
        outcome = run_one("x = np.arange(6).reshape(2, 3)\nanswer = x.T.sum(axis=1).tolist()")
        assert outcome.error is None and outcome.answer == [3, 5, 7]


# -- Checks that must work -------------------------------------------------------------


class TestChecks:
    """What a check may do, and what comes back."""

    def test_scalar(self) -> None:
        outcome = run_one(
            """
            u = 0.5*2 + (-1)*1 + 0.1
            answer = -np.exp(u) / (1 + np.exp(u))**2 * 2
            """
        )
        assert outcome.error is None
        assert outcome.has_answer
        assert outcome.answer == pytest.approx(-0.4987521)
        assert isinstance(outcome.answer, float)

    def test_vector_comes_back_as_a_list(self) -> None:
        outcome = run_one(
            """
            z = np.array([1.0, 2.0, 3.0])
            answer = np.exp(z) / np.exp(z).sum()
            """
        )
        assert outcome.answer == pytest.approx([0.0900306, 0.2447285, 0.6652410])

    def test_matrix_comes_back_as_nested_lists(self) -> None:
        outcome = run_one("answer = np.dot(np.array([[1, 2], [3, 4]]), np.array([[5], [6]]))")
        assert outcome.answer == [[17], [39]]

    def test_shape_comes_back_as_a_tuple(self) -> None:
        outcome = run_one("answer = np.ones((3, 4)).dot(np.ones((4, 2))).shape")
        assert outcome.answer == (3, 2)

    def test_numgrad_of_a_scalar_function(self) -> None:
        outcome = run_one("answer = numgrad(lambda x: x**3, 2.0)")
        assert outcome.answer == pytest.approx(12.0, abs=1e-5)

    def test_numgrad_of_an_array_argument(self) -> None:
        outcome = run_one(
            """
            L = lambda w, x: np.sum(w * x) ** 2
            answer = numgrad(L, np.array([1.0, 2.0, -1.0]), np.array([0.5, 1.0, 2.0]))
            """
        )
        # L = (w.x)^2, dL/dw = 2 (w.x) x with w.x = 0.5.
        assert outcome.answer == pytest.approx([0.5, 1.0, 2.0], abs=1e-5)

    def test_numgrad_of_a_matrix_argument(self) -> None:
        outcome = run_one(
            """
            x = np.array([1.0, -2.0, 0.5])
            c = np.array([0.3, -1.0])
            L = lambda W: np.dot(c, np.dot(W, x))
            assert np.allclose(numgrad(L, np.ones((2, 3))), np.outer(c, x))
            """
        )
        assert outcome.error is None
        assert outcome.asserts == 1

    def test_tol_and_rtol_are_captured(self) -> None:
        tol, rtol = run_checks(["answer = 1.0\ntol = 1e-3", "answer = 2\nrtol = 0.01"])
        assert (tol.tol, tol.rtol) == (0.001, None)
        assert (rtol.tol, rtol.rtol) == (None, 0.01)

    def test_tol_must_be_a_number(self) -> None:
        outcome = run_one("answer = 1.0\ntol = np.ones(2)")
        assert outcome.error is not None
        assert outcome.error.startswith("tol must be a number")

    def test_asserts_that_ran_are_counted(self) -> None:
        outcome = run_one(
            """
            for x in [1.0, 2.0, 3.0]:
                assert x > 0
            assert np.isclose(np.exp(0.0), 1)
            """
        )
        assert outcome.error is None
        assert (outcome.asserts, outcome.has_answer) == (4, False)

    def test_asserts_that_never_run_do_not_count(self) -> None:
        outcome = run_one(
            """
            if False:
                assert 1 == 2
            for x in []:
                assert x
            """
        )
        assert outcome.error is None
        assert outcome.asserts == 0

    def test_failing_assert_names_its_line(self) -> None:
        outcome = run_one(
            """
            s = np.exp([1.0, 2.0]) / np.exp([1.0, 2.0]).sum()
            assert np.isclose(s.sum(), 1)
            assert s[0] > s[1], 'softmax keeps the order'
            """
        )
        assert outcome.error == (
            "assertion failed: assert s[0] > s[1], 'softmax keeps the order' "
            "(softmax keeps the order)"
        )
        assert outcome.error_line == 3
        assert outcome.asserts == 1

    def test_runtime_error_names_its_line(self) -> None:
        outcome = run_one("x = 1\n\ny = x / 0")
        assert outcome.error == "ZeroDivisionError: division by zero"
        assert outcome.error_line == 3

    def test_syntax_error_names_its_line(self) -> None:
        outcome = run_one("x = 1\nanswer = (x +")
        assert outcome.error is not None
        assert outcome.error.startswith("syntax error:")
        assert outcome.error_line == 2

    def test_answer_must_be_numeric(self) -> None:
        outcome = run_one("answer = 'forty-two'")
        assert outcome.error == "answer must be a number, a vector or a tuple, not str"

    def test_no_checks(self) -> None:
        assert run_checks([]) == []

    def test_outcomes_come_back_in_order_across_workers(self) -> None:
        # Uneven work, so that the workers finish out of order; every fifth check fails.
        codes = []
        for i in range(60):
            if i % 5 == 4:
                codes.append(f"x = {i}\nassert x < 0")
            else:
                codes.append(
                    f"s = 0\nfor k in range({(i % 7) * 300}):\n    s = s + 1\nanswer = {i}"
                )
        outcomes = run_checks(codes, workers=2)
        assert len(outcomes) == 60
        for i, outcome in enumerate(outcomes):
            if i % 5 == 4:
                assert outcome.error == "assertion failed: assert x < 0"
            else:
                assert (outcome.error, outcome.answer) == (None, i)

    def test_plain_data_symbols_reach_the_check(self) -> None:
        symbols = [{"x": 3.0, "shape": (2, 3), "w": [1, 2], "name": "loss", "d": {"k": 1}}]
        [outcome] = run_checks(
            ["assert name == 'loss' and d['k'] == 1\nanswer = (x * 2, shape[1], sum(w))"],
            symbols=symbols,
        )
        assert outcome.error is None and outcome.answer == (6.0, 3, 3)

    def test_symbols_of_one_check_are_not_seen_by_the_next(self) -> None:
        outcomes = run_checks(["answer = x", "answer = x"], symbols=[{"x": 1}, {}], workers=1)
        assert outcomes[0].answer == 1
        assert outcomes[1].error is not None and "NameError" in outcomes[1].error

    def test_checks_do_not_share_variables(self) -> None:
        first, second = run_checks(
            ["secret = 41\nanswer = secret", "answer = secret + 1"], workers=1
        )
        assert first.answer == 41
        assert second.error == "NameError: name 'secret' is not defined"
