"""The note types' CSS on real cards: the answer side Anki renders (``card.answer()``,
with the note type's CSS), shown in Chromium in day mode and in Anki's night mode."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from anki.collection import Collection
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import Project, import_package
from tests.typeset.test_preview import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

# The shipped cards that showed the problem (deep-learning.md and machine-learning.md),
# and a block whose deletion holds tokens that both Pygments styles colour.
NOTES = """\
# Code

Dropout layers are switched off in PyTorch by calling {{c1::`model.eval()`}}.

## PyTorch Training Loop

```python
{{c1::optimizer.zero_grad()}}  # PyTorch accumulates gradients by default
prediction = {{c2::model(data)}}
loss = {{c3::criterion(prediction, target)}}
{{c4::loss.backward()}}  # Compute gradients
{{c5::optimizer.step()}}  # Update parameters
```

Call `optimizer.{{c1::zero_grad}}()` first.

## Loops

```python
def total(xs):
    return {{c1::sum(x * 2 for x in xs if x > 0)}}
```
"""

# The line of each note of NOTES, told by a word only its text holds (the Source field
# names the file and heading, not the line).
LINES = {"Dropout": 3, "prediction": 7, "Call": 15, "total": 19}

# What Anki desktop puts on the reviewer's <body> (aqt.theme.body_classes_for_card_ord).
DAY = "card card{ord}"
NIGHT = "card card{ord} nightMode night_mode"


@dataclass
class Answer:
    """The answer side of one card, as Anki renders it (style included)."""

    html: str
    """``card.answer()``: the note type's CSS as Anki stored it, then the answer."""
    ordinal: int
    """The card's cloze number."""


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Answer]:
    """Answer sides by ``Source:ordinal``, from a deck imported into a real collection."""
    root = tmp_path_factory.mktemp("code-clozes")
    project = Project(root)
    project.write("code.md", NOTES)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("SOURCE_DATE_EPOCH", "1767225600")
        assert project.run("build", "--no-cache") == 0
    col = Collection(str(root / "collection.anki2"))
    try:
        import_package(col, project.apkg)
        found = {}
        for cid in col.find_cards(""):
            card = col.get_card(cid)
            html = card.answer()
            assert html.startswith("<style>")
            line = next(n for word, n in LINES.items() if word in card.note()["Text"])
            found[f"notes/code.md:{line}:c{card.ord + 1}"] = Answer(html, card.ord + 1)
        return found
    finally:
        col.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium from Debian."""
    assert CHROMIUM.is_file(), "no /usr/bin/chromium: run 'make test', which installs it"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def show(browser: Browser, answer: Answer, body_class: str) -> Page:
    """The answer on a page shaped like Anki's reviewer."""
    page = browser.new_page(viewport={"width": 900, "height": 400})
    classes = body_class.format(ord=answer.ordinal)
    page.set_content(
        f'<!doctype html><html><head><meta charset="utf-8"></head>'
        f'<body class="{classes}"><div id="qa">{answer.html}</div></body></html>'
    )
    return page


def rgb(css_colour: str) -> tuple[float, float, float]:
    """``rgb(r, g, b)`` as computed by the browser (opaque colours only)."""
    match = re.fullmatch(r"rgb\((\d+), (\d+), (\d+)\)", css_colour)
    assert match, f"not an opaque colour: {css_colour}"
    r, g, b = (int(c) / 255 for c in match.groups())
    return r, g, b


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two computed colours."""

    def luminance(colour: str) -> float:
        def channel(c: float) -> float:
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b = (channel(c) for c in rgb(colour))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


TRANSPARENT = "rgba(0, 0, 0, 0)"

# The colour and weight of every piece of text in the revealed deletion, and its
# background; the colour of every other piece of text in the code (and of plain inline
# code, added for the comparison), and the code's background.
MEASURE = """(code) => {
  const style = (e) => getComputedStyle(e);
  const texts = (root) => [root, ...root.querySelectorAll('*')].filter((e) =>
    [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()));
  const cloze = code.querySelector('.cloze') || code.closest('.cloze');
  const revealed = cloze.contains(code) ? [code] : texts(cloze);
  const plain = document.createElement('code');
  plain.textContent = 'plain';
  document.querySelector('.cloze-text').append(plain);
  return {
    revealed: revealed.map((e) => [style(e).color, style(e).fontWeight]),
    revealedBackground: style(revealed[0]).backgroundColor,
    around: [plain, ...texts(code)].filter((e) => !cloze.contains(e))
      .map((e) => style(e).color),
    codeBackground: style(code.closest('.highlight') || plain).backgroundColor,
  };
}"""


@pytest.mark.parametrize("mode", [DAY, NIGHT], ids=["day", "night"])
@pytest.mark.parametrize(
    ("card", "name"),
    [
        ("notes/code.md:3:c1", "inline"),
        ("notes/code.md:7:c1", "block-first-line"),
        ("notes/code.md:7:c2", "block-second-line"),
        ("notes/code.md:15:c1", "inside-inline-code"),
        ("notes/code.md:19:c1", "block-coloured-tokens"),
    ],
)
def test_revealed_code_stands_out_and_stays_readable(
    browser: Browser, answers: dict[str, Answer], card: str, name: str, mode: str
) -> None:
    page = show(browser, answers[card], mode)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = f"code-cloze-{name}-{'night' if 'night' in mode else 'day'}.png"
    page.locator("#qa").screenshot(path=str(ARTIFACTS / shot))
    code = page.locator(".cloze-text .highlight pre, .cloze-text code").first
    seen = code.evaluate(MEASURE)
    page.close()
    colours = {colour for colour, _ in seen["revealed"]}
    assert len(colours) == 1, seen  # the whole deletion in one colour,
    (revealed,) = colours
    assert all(int(weight) >= 700 for _, weight in seen["revealed"]), seen  # in bold,
    assert revealed not in seen["around"], seen  # unlike any code around it,
    backgrounds = {seen["codeBackground"], seen["revealedBackground"]} - {TRANSPARENT}
    for background in backgrounds:
        assert contrast(revealed, background) >= 4.5, (revealed, background)  # and legible
