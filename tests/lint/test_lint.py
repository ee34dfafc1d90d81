"""The card-quality lint: each kind of warning, what stays quiet, silencing, ``--strict``,
and the warnings' place in the build (printed by check and build, kept by the cache)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from build_deck.lint import KINDS, as_errors, kind_of, lint_file
from build_deck.lint.text import Shown, stem, tex_tokens
from build_deck.model import Diagnostic, Severity, SourceLoc
from build_deck.parse.extract import extract_cards
from build_deck.parse.markdown import make_parser
from tests.conftest import Project
from tests.parse.test_properties import PIECES


def lint(source: str) -> list[str]:
    """The lint's messages for one notes file, as ``LINE: KIND: message``."""
    text = textwrap.dedent(source).lstrip("\n")
    cards, problems = extract_cards(make_parser(), text, "notes/t.md", Path("."), "Deck")
    assert [p for p in problems if p.severity is Severity.ERROR] == []
    return [f"{d.loc.line}: {d.message}" for d in lint_file(cards, text)]


def kinds(source: str) -> list[str]:
    return [message.split(": ")[1] for message in lint(source)]


# -- give-aways -------------------------------------------------------------------


def test_a_deletion_named_by_the_heading_is_a_give_away() -> None:
    found = lint(
        """
        ## Bias and Variance

        More training data mainly reduces {{c1::variance}}.
        """
    )
    assert found == [
        '3: give-away: "variance" (the deletion) is shown in the heading "Bias and Variance": '
        "rename the heading, or ask for something it does not name"
    ]


def test_the_deletions_words_elsewhere_on_the_front_are_a_give_away() -> None:
    found = lint("SARSA is {{c1::on-policy}}: it learns the policy it follows, that is, on-policy.")
    assert found == [
        '1: give-away: "on-policy" (the deletion) is shown on the front ("on-policy"): move '
        "those words to Extra:, or into the deletion"
    ]


def test_words_are_compared_after_folding_case_plurals_and_inflections() -> None:
    assert kinds(
        "Backpropagation through time {{c1::Unrolls}} the network; the unrolled graph is long."
    ) == ["give-away"]
    assert kinds("The sum of their {{c1::variances}}: each variance adds.") == ["give-away"]
    for a, b in [
        ("Gradients", "gradient"),
        ("normalises", "normalisation"),
        ("linearly", "linear"),
        ("stopped", "stops"),
        ("biases", "bias"),
        ("orthogonality", "orthogonal"),
    ]:
        assert stem(a) == stem(b), (a, b)
    assert stem("variance") != stem("variable")


def test_partner_deletions_reveal_each_other() -> None:
    found = lint("More flexible models have lower {{c1::bias}} and higher {{c2::variance}}.")
    assert [f.split(" (")[0] for f in found] == ['1: give-away: "bias"', '1: give-away: "variance"']
    assert all("partner" in f for f in found)
    assert kinds("A3C trains {{c1::asynchronously}}; A2C is its synchronous variant.") == [
        "give-away"
    ]


def test_a_question_that_holds_its_own_answer_is_a_give_away() -> None:
    found = lint(
        """
        Q: Which activation is called the logistic sigmoid?
        A: The **sigmoid**, $1/(1+e^{-x})$.
        """
    )
    assert [kind_of_message(f) for f in found] == ["give-away"]
    assert '"sigmoid" (the answer)' in found[0]


def test_initials_on_the_front_spell_the_deletion() -> None:
    found = lint("The KV cache holds {{c1::the keys and values}} of the previous tokens.")
    assert found and "spelled out by 'KV'" in found[0]


def test_math_is_compared_as_tex_tokens() -> None:
    assert tex_tokens(r"\frac{1}{\sqrt{d_k}}\, x") == ["\\frac", "1", "\\sqrt", "d", "_", "k", "x"]
    assert tex_tokens(r"SS_\text{res}") == ["S", "S", "_", "res"]
    assert Shown.of(r"a \(\lambda\) b").math == (("\\lambda",),)
    given = "Multiply the learning rate by {{c1::$k$}} when the batch is multiplied by $k$."
    assert kinds(given) == ["give-away"]
    # a name inside a larger formula is not the formula itself
    assert kinds(r"With $u = w_0 x_0 + w_1$: $\frac{du}{dw_0} =$ {{c1::$x_0$}}.") == []


def test_clean_cards_and_function_or_topic_words_stay_quiet() -> None:
    assert lint("The derivative of the sigmoid is {{c1::$\\sigma(x)(1-\\sigma(x))$}}.") == []
    assert lint("Adam keeps {{c1::a moving average}} of the gradients and of the squares.") == []
    # "the" is a function word, shown or not
    assert lint("Dropout is turned off by {{c1::the}} evaluation mode of the model.") == []
    topic = "\n\n".join(
        f"The gradient is used by method {n} for {{{{c1::step {n}}}}}." for n in range(12)
    )
    card = "The {{c1::gradient}} of the loss is the gradient we need."
    assert lint(card) != [], "a word rare in its file gives the deletion away"
    assert [m for m in lint(f"{topic}\n\n{card}") if m.startswith("25:")] == [], (
        "a topic word of the file does not fire alone"
    )


def kind_of_message(found: str) -> str:
    return found.split(": ")[1]


# -- length ---------------------------------------------------------------------


def test_an_answer_of_more_than_40_words_or_3_facts_is_too_long() -> None:
    forty = " ".join(["word"] * 40)
    assert lint(f"Q: What is it?\nA: {forty}.") == []
    found = lint(f"Q: What is it?\nA: {forty} more.")
    assert found == [
        "1: too-long: the answer has 41 words and 1 fact (at most 40 words and 2 facts): "
        "keep the one fact asked for and move the rest to Extra:, or split the card"
    ]
    assert kinds("Q: What does it do?\nA: It scales. It shifts. It clips.") == ["too-long"]
    assert kinds("Q: What does it do?\nA: It scales; it shifts.") == []
    assert kinds("Q: What does it do?\nA: It scales; it shifts; it clips.") == ["too-long"]


def test_a_long_deletion_and_a_hidden_set_are_too_long() -> None:
    long = " ".join(f"w{n}" for n in range(16))
    assert kinds(f"A block has {{{{c1::{long}}}}}.") == ["too-long"]
    assert kinds("Its parts: {{c1::a}}, {{c1::b}}, {{c1::c}} and {{c1::d}}.") == ["too-long"]
    assert kinds("Its parts: {{c1::a}}, {{c1::b}} and {{c1::c}}.") == []


def test_a_question_that_asks_two_things() -> None:
    for question in (
        "What does negative sampling replace, and how?",
        "Which pair merges first, and with what count?",
        "What are Adam's default betas and epsilon?",
        "What is perplexity? What is its lower bound?",
    ):
        assert kinds(f"Q: {question}\nA: Both.") == ["two-questions"], question
    for question in (
        "What is the difference between L1 and L2?",
        "Why do residual connections help, in deep networks?",
        "A tokeniser has 10 and 5 counts. Which pair merges first?",
    ):
        assert kinds(f"Q: {question}\nA: It.") == [], question


# -- run-on ---------------------------------------------------------------------


RUN_ON = """
    Q: What does `model.eval()` change?
    A: Dropout and batch normalisation switch to inference mode.

    **Notes from the lecture.** Forgetting it is a common bug.

    More notes.
    """


def test_an_answer_that_swallowed_notes_is_a_run_on_naming_where_to_end_it() -> None:
    assert lint(RUN_ON) == [
        "1: run-on: the answer runs on to line 6: line 4 reads as notes: it opens like notes "
        "('**Notes from the lecture.** Fo'); if it ends at line 2, put '---' on a line of "
        "its own before line 4 (after a blank line), so what follows stays notes"
    ]
    fixed = RUN_ON.replace("    **Notes", "    ---\n\n    **Notes")
    assert lint(fixed) == []


def test_an_answer_of_many_blocks_is_a_run_on() -> None:
    blocks = "\n\n".join(f"Paragraph {n}." for n in range(4))
    assert kinds(f"Q: What?\nA: An answer.\n\n{blocks}") == ["run-on"]
    formula = "Q: What is it?\nA: The Jacobian:\n\n$$J = \\operatorname{diag}(s) - s s^\\top$$"
    assert kinds(formula) == []


# -- silencing and strictness ---------------------------------------------------


def test_a_comment_on_the_cards_line_silences_one_kind() -> None:
    card = "More flexible models have lower {{c1::bias}} and higher {{c2::variance}}."
    assert kinds(card) == ["give-away", "give-away"]
    assert lint(f"{card} <!-- lint: allow give-away -->") == []
    long = " ".join(f"w{n}" for n in range(16))
    both = f"{card} And {{{{c3::{long}}}}}. <!-- lint: allow give-away -->"
    assert kinds(both) == ["too-long"]
    assert kinds(both.replace("allow give-away", "allow give-away, too-long")) == []
    # the comment belongs on the card's first line
    assert kinds(f"{card}\nMore. <!-- lint: allow give-away -->") == ["give-away", "give-away"]


def test_an_unknown_kind_in_the_comment_is_a_warning() -> None:
    found = lint("The answer is {{c1::42}}. <!-- lint: allow giveaway -->")
    assert found == [
        "1: unknown kind 'giveaway' in '<!-- lint: allow ... -->': name one or more of "
        + ", ".join(KINDS)
    ]


def test_strict_turns_only_lint_warnings_into_errors() -> None:
    loc = SourceLoc("notes/t.md", 3)
    lint_warning = Diagnostic(loc, "give-away: x", Severity.WARNING)
    other = Diagnostic(loc, "invisible character U+200B", Severity.WARNING)
    assert kind_of(lint_warning) == "give-away" and kind_of(other) is None
    assert [d.severity for d in as_errors([lint_warning, other])] == [
        Severity.ERROR,
        Severity.WARNING,
    ]


GIVE_AWAY = """
    ## Bias and Variance

    More training data mainly reduces {{c1::variance}}.
    """


def test_check_and_build_print_the_warnings_and_strict_fails_the_run(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", GIVE_AWAY)
    warning = (
        'notes/ml.md:3: warning: give-away: "variance" (the deletion) is shown in the heading '
        '"Bias and Variance"'
    )
    assert project.run("check") == 0
    assert warning in capsys.readouterr().err
    assert project.run("check") == 0  # from the build cache: the warning is kept
    assert warning in capsys.readouterr().err
    assert project.run("check", "--strict") == 1
    captured = capsys.readouterr()
    assert warning.replace("warning:", "error:") in captured.err
    assert "1 error, nothing written" in captured.out
    assert project.run("build", "--strict") == 1
    assert not project.apkg.exists()
    capsys.readouterr()
    assert project.run("build") == 0
    assert warning in capsys.readouterr().err
    assert project.apkg.exists()


def test_a_silenced_card_passes_strict(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", GIVE_AWAY.replace("}}.", "}}. <!-- lint: allow give-away -->"))
    assert project.run("check", "--strict") == 0
    assert "warning" not in capsys.readouterr().err


# -- robustness -------------------------------------------------------------------


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=40).map("".join))
def test_any_text_lints_to_warnings_only(text: str) -> None:
    cards, _ = extract_cards(make_parser(), text, "notes/p.md", Path("/nonexistent"), "Root")
    for diagnostic in lint_file(cards, text):
        assert diagnostic.severity is Severity.WARNING
        assert diagnostic.loc in {card.loc for card in cards}
        assert "\n" not in diagnostic.message
