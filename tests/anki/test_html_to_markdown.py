"""Anki's field HTML back to the notes' Markdown, for what the build produces."""

from __future__ import annotations

import html

import pytest

from build_deck.anki.html_to_markdown import html_to_markdown
from build_deck.parse.markdown import make_parser

ROUND_TRIP = [
    "It updates the parameters **using** their *gradients*.",
    "Call `optimizer.zero_grad()` first, then `loss.backward()`.",
    r"The derivative is $\sigma(x)(1-\sigma(x))$ and 2\*3 = 6.",
    "The {{c1::learning rate}} scales each {{c2::step::what?}}.",
    r"The sigmoid's slope is {{c1::$\frac{1}{4}$}} at zero.",
    "one line\\\nanother line",
    "snake_case_name & 3 < 4 > 2",
    r"costs \$5, not \$6",
    r"literal \{{braces}} are no cloze",
]


@pytest.mark.parametrize("markdown", ROUND_TRIP)
def test_build_html_turns_back_into_markdown_that_builds_the_same(markdown: str) -> None:
    md = make_parser()
    field = md.renderInline(markdown)
    converted = html_to_markdown(field)
    assert converted.exact
    assert md.renderInline(converted.markdown) == field


@pytest.mark.parametrize(
    ("anki_html", "markdown"),
    [
        ("It is <b>fast</b>&nbsp;now", "It is **fast** now"),
        ("<div>first line</div><div>second line<br></div>", "first line\nsecond line"),
        ("<ul><li>a <i>b</i></li><li>c</li></ul>", "- a *b*\n- c"),
        ("<ol><li>one</li><li>two</li></ol>", "1. one\n2. two"),
        (r"display \[x^2\] math", "display $$x^2$$ math"),
    ],
)
def test_what_ankis_editor_writes(anki_html: str, markdown: str) -> None:
    assert html_to_markdown(anki_html).markdown == markdown


def test_what_has_no_markdown_is_kept_as_html_and_named() -> None:
    converted = html_to_markdown(
        'See <a href="https://x.org">this</a> in <font color="red">red</font>'
    )
    assert not converted.exact
    assert converted.unknown == ("a", "font")
    assert (
        converted.markdown == 'See <a href="https://x.org">this</a> in <font color="red">red</font>'
    )


@pytest.mark.parametrize(
    "text",
    [
        "Python calls __init__ after __new__.",
        "# not a heading",
        "> not a quote",
        "- not a list",
        "1. not a list either",
        "<b> is a tag, ~~no strike~~",
        "&copy; is written out, and so is &#123;",
    ],
)
def test_text_that_looks_like_markdown_is_escaped(text: str) -> None:
    md = make_parser()
    field = html.escape(text, quote=False)
    converted = html_to_markdown(field)
    assert converted.exact
    assert md.renderInline(converted.markdown) == field
