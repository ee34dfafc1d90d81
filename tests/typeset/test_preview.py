"""The preview in a real browser (Debian's Chromium, driven by Playwright), and its
renderer against the real Anki backend."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from anki.collection import Collection
from playwright.sync_api import Browser, Page, sync_playwright

from build_deck.cli import main
from build_deck.model import Card, CardKind, SourceLoc
from build_deck.reading import collect_cards
from build_deck.report import BuildOptions, BuildReport
from build_deck.typeset.preview import card_faces, cloze_filter, encode_attribute, render_template
from build_deck.typeset.texcheck import find_mathjax
from build_deck.verify.checks import verify_cards
from tests.conftest import REPO, Project, import_package

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = REPO / "test-artifacts"
TYPESET_TIMEOUT_MS = 180_000


@dataclass
class Preview:
    """A preview written by ``build-deck preview`` from a notes folder."""

    root: Path
    exit_code: int
    stdout: str
    stderr: str

    @property
    def page(self) -> Path:
        return self.root / "dist" / "preview" / "index.html"


def run_preview(root: Path) -> Preview:
    """Run ``build-deck preview`` in ``root`` (which holds notes/)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        patch.chdir(root)
        code = main(["preview"])
    return Preview(root, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium from Debian, never a browser downloaded by Playwright."""
    assert CHROMIUM.is_file(), "no /usr/bin/chromium: run 'make test', which installs it"
    assert find_mathjax(REPO) is not None, "mathjax-full not installed: run 'make test'"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shipped_preview(tmp_path_factory: pytest.TempPathFactory) -> Preview:
    """The preview of a copy of the shipped notes, written a second time as a user's
    next ``make preview`` would write it (caches warm)."""
    root = tmp_path_factory.mktemp("shipped")
    shutil.copytree(REPO / "notes", root / "notes")
    if (REPO / "cards").is_dir():
        shutil.copytree(REPO / "cards", root / "cards")
    assert run_preview(root).exit_code == 0
    return run_preview(root)


@pytest.fixture(scope="module")
def shipped_cards(shipped_preview: Preview) -> tuple[list[Card], dict[SourceLoc, str]]:
    """The shipped notes' cards, and those whose checks pass."""
    report = BuildReport()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(shipped_preview.root)
        collect_cards(BuildOptions(), report)
    assert report.errors == []
    verified, _ = verify_cards(report.cards)
    return report.cards, verified


@dataclass
class Opened:
    """A preview open in the browser, with what the page asked the network for."""

    page: Page
    outside: list[str]
    failed: list[str]


def open_preview(browser: Browser, preview: Preview, width: int = 1200) -> Opened:
    """Open the page, wait until MathJax has typeset it; note any request that left
    the preview's folder or failed."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    folder = preview.page.parent.resolve().as_uri()
    outside: list[str] = []
    failed: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(folder) else outside.append(r.url))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto(preview.page.resolve().as_uri(), timeout=TYPESET_TIMEOUT_MS)
    page.wait_for_selector("html[data-typeset=done]", timeout=TYPESET_TIMEOUT_MS)
    return Opened(page, outside, failed)


# -- the shipped notes, in Chromium ------------------------------------------------


def test_every_shipped_card_typesets_without_a_mathjax_error(
    browser: Browser, shipped_preview: Preview, shipped_cards: tuple[list[Card], set[SourceLoc]]
) -> None:
    assert shipped_preview.exit_code == 0, shipped_preview.stderr
    opened = open_preview(browser, shipped_preview)
    page = opened.page
    cards, _ = shipped_cards
    faces = sum(len(c.cloze_numbers) if c.kind is CardKind.CLOZE else 1 for c in cards)
    assert page.locator(".entry").count() == faces
    assert page.locator("mjx-container").count() > 1000  # MathJax did run
    errors = page.locator("#errors li").all_inner_texts()
    assert page.locator("mjx-merror").count() == 0, errors
    assert page.get_attribute("html", "data-tex-errors") == "0", errors
    assert opened.outside == [] and opened.failed == []  # offline: all of it is local
    page.close()


def test_cards_show_their_source_and_group_by_deck_and_section(
    browser: Browser, shipped_preview: Preview
) -> None:
    page = open_preview(browser, shipped_preview).page
    decks = page.locator(".deck > h2").all_inner_texts()
    assert "AI Study Notes::Mathematics" in decks
    sources = page.locator(".entry .loc").all_inner_texts()
    assert all(re.fullmatch(r"notes/[\w-]+\.md:\d+", s) for s in sources)
    first = page.locator(".entry").first
    assert first.locator(".card").count() == 2  # front and back
    where = first.locator(".loc").inner_text().rsplit(":", 1)[0]
    assert first.locator(".source").inner_text().startswith(where)
    page.close()


def test_verified_cards_carry_the_mark_on_their_back(
    browser: Browser, shipped_preview: Preview, shipped_cards: tuple[list[Card], set[SourceLoc]]
) -> None:
    page = open_preview(browser, shipped_preview).page
    _, verified = shipped_cards
    marked = page.locator(".entry", has=page.locator(".verified"))
    assert set(marked.locator(".loc").all_inner_texts()) == {str(loc) for loc in verified}
    assert len(verified) > 100
    page.close()


def test_search_keeps_only_the_matching_cards(browser: Browser, shipped_preview: Preview) -> None:
    page = open_preview(browser, shipped_preview).page
    total = page.locator(".entry").count()
    page.fill("#search", "softmax jacobian")
    shown = page.locator(".entry:visible")
    assert 0 < shown.count() < total
    for text in shown.evaluate_all("(entries) => entries.map((e) => e.dataset.text)"):
        assert "softmax" in text and "jacobian" in text
    assert page.inner_text("#count") == f"{shown.count()} of {total} cards"
    page.fill("#search", "")
    assert page.locator(".entry:visible").count() == total
    page.close()


def test_screenshot_of_a_card_in_light_and_night(
    browser: Browser, shipped_preview: Preview
) -> None:
    page = open_preview(browser, shipped_preview, width=1000).page
    entry = page.locator(".entry", has=page.locator("mjx-container")).first
    card = entry.locator(".card").last
    ARTIFACTS.mkdir(exist_ok=True)
    light = entry.screenshot(path=str(ARTIFACTS / "preview-card-light.png"))
    assert card.evaluate("(c) => getComputedStyle(c).backgroundColor") == "rgb(255, 255, 255)"
    page.click("#night")
    assert "nightMode" in (card.get_attribute("class") or "")
    assert card.evaluate("(c) => getComputedStyle(c).backgroundColor") == "rgb(30, 30, 30)"
    night = entry.screenshot(path=str(ARTIFACTS / "preview-card-night.png"))
    assert light != night
    page.click("#night")
    assert "nightMode" not in (card.get_attribute("class") or "")
    page.set_viewport_size({"width": 1000, "height": 640})
    page.screenshot(path=str(ARTIFACTS / "preview-page.png"))
    page.close()


# -- a broken card -----------------------------------------------------------------

BROKEN = r"""
# Broken

Q: What is $\frac{a}{b$?
A: A typo: a brace is missing.

The sum is {{c1::$\sum_i x_i \undefinedmacro$}} here.

Q: A stray ampersand?
A: $a & b$

Fine: $x^2$ and {{c1::$\frac{1}{2}$}}.
"""


def test_a_broken_card_is_flagged_by_the_build_and_in_the_preview(
    browser: Browser, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("broken.md", BROKEN)
    assert project.run("build") == 1
    assert not project.apkg.exists()
    err = capsys.readouterr().err.splitlines()
    assert r"notes/broken.md:3: error: TeX error in $\frac{a}{b$: Missing close brace" in err
    assert (
        r"notes/broken.md:6: error: TeX error in $\sum_i x_i \undefinedmacro$: "
        r"Undefined control sequence \undefinedmacro"
    ) in err
    assert r"notes/broken.md:9: error: TeX error in $a & b$: Misplaced &" in err

    preview = run_preview(project.root)
    assert preview.exit_code == 1 and preview.page.exists()
    page = open_preview(browser, preview).page
    flagged = page.locator(".entry.tex-error .loc").all_inner_texts()
    assert flagged == ["notes/broken.md:3", "notes/broken.md:6", "notes/broken.md:8"]
    assert page.locator(".entry:not(.tex-error) .loc").all_inner_texts() == ["notes/broken.md:11"]
    assert page.locator("mjx-merror").count() == 2  # on the back of the cloze, and the &
    listed = page.locator("#errors li").all_inner_texts()
    assert any("Undefined control sequence \\undefinedmacro" in item for item in listed)
    assert any(item.startswith("notes/broken.md:3: math not typeset") for item in listed)
    assert page.inner_text("#status") == "3 cards with TeX errors"
    page.close()


LINTED = """
## Bias and Variance

More training data mainly reduces {{c1::variance}}.

## Adam

Adam's default $\\beta_1$ is {{c1::0.9}} and its $\\beta_2$ is {{c2::0.999}}, or 0.999 in Keras.

Q: What does `torch.no_grad()` disable?
A: Gradient tracking.

See also the autograd tutorial; it walks through the graph backward() uses and why
memory grows when it is kept, with the sections on hooks and on custom functions, which
are worth reading once before the exam even though we did not cover them in class.
"""


def test_each_cards_warnings_show_beside_it_and_filter_the_page(
    browser: Browser, project: Project
) -> None:
    project.write("linted.md", LINTED)
    preview = run_preview(project.root)
    assert preview.exit_code == 0, preview.stderr
    page = open_preview(browser, preview).page
    assert page.locator(".entry").count() == 4
    heading = page.locator(".entry[data-source='notes/linted.md:3'] .lint-messages")
    assert heading.inner_text().startswith(
        'give-away: "variance" (the deletion) is shown in the heading "Bias and Variance"'
    )
    # a cloze note's warnings sit beside the card of the deletion they name
    adam = page.locator(".entry[data-source='notes/linted.md:7']")
    assert [adam.nth(i).get_attribute("data-lint") for i in range(2)] == ["", "give-away"]
    assert '"0.999" (deletion c2)' in adam.nth(1).locator(".lint-messages").inner_text()
    run_on = page.locator(".entry[data-lint=run-on]")
    assert run_on.locator(".loc").all_inner_texts() == ["notes/linted.md:9"]
    assert "put '---' on a line of its own" in run_on.locator(".lint-messages").inner_text()

    options = page.locator("#lint option").all_inner_texts()
    assert options == ["All cards", "With warnings (3)", "give-away (2)", "run-on (1)"]
    page.select_option("#lint", "give-away")
    shown = page.locator(".entry:visible .loc").all_inner_texts()
    assert shown == ["notes/linted.md:3", "notes/linted.md:7"]
    assert page.inner_text("#count") == "2 of 4 cards"
    page.select_option("#lint", "*")
    assert page.locator(".entry:visible").count() == 3
    page.fill("#search", "torch")
    assert page.locator(".entry:visible .loc").all_inner_texts() == ["notes/linted.md:9"]
    page.fill("#search", "")
    page.select_option("#lint", "")
    assert page.locator(".entry:visible").count() == 4
    page.close()


# -- the renderer against the real Anki -------------------------------------------

EDGE_CASES = r"""
# Edge cases

$\frac{d}{du}\frac{1}{1+e^u} = \frac{-e^u}{ {{c1::(1+e^u)^2}} } + {{c2::a<b::a hint}}$
and {{c3::plain & <b>bold</b>}}

The derivative is {{c1::$\sigma(x)(1-\sigma(x))$::a product}},
and {{c2::é, "quotes" and 'apostrophes'}}.

```python
{{c1::optimizer.zero_grad()}}  # PyTorch accumulates gradients
loss = {{c2::criterion(prediction, target)}}
```

Q: Which is the answer?
A: Line one
$$\sum_i x_i$$

Extra: A remark with $x$.
"""


def anki_sides(col: Collection) -> dict[tuple[str, int], tuple[str, str]]:
    """Every card's question and answer as the Anki backend renders them, CSS removed."""
    sides = {}
    for cid in col.find_cards(""):
        card = col.get_card(cid)
        strip = re.compile(r"^<style>.*?</style>", re.DOTALL)
        key = (card.note().fields[0], card.ord + 1)
        sides[key] = (strip.sub("", card.question()), strip.sub("", card.answer()))
    return sides


def our_sides(project: Project) -> dict[tuple[str, int], tuple[str, str]]:
    report = BuildReport()
    options = BuildOptions(notes_dir=project.notes, cards_dir=project.cards)
    collect_cards(options, report)
    verified, _ = verify_cards(report.cards)
    return {
        (card.content, face.ordinal): (face.front, face.back)
        for card in report.cards
        for face in card_faces(card, verified=verified.get(card.loc, False))
    }


def test_the_edge_cases_render_exactly_as_anki_renders_them(
    project: Project, collection: Collection
) -> None:
    project.write("edge.md", EDGE_CASES)
    assert project.run("build") == 0
    import_package(collection, project.apkg)
    theirs, ours = anki_sides(collection), our_sides(project)
    assert len(theirs) == 8
    assert ours == theirs


def test_every_shipped_card_renders_exactly_as_anki_renders_it(
    shipped: Project, collection: Collection
) -> None:
    assert shipped.run("build") == 0
    import_package(collection, shipped.apkg)
    theirs, ours = anki_sides(collection), our_sides(shipped)
    assert ours.keys() == theirs.keys()
    differing = [key for key in theirs if ours[key] != theirs[key]]
    assert differing == []
    # The comparison covered what is hard: clozes in math, hints, several numbers.
    fronts = [front for front, _ in theirs.values()]
    math = [m for front in fronts for m in re.findall(r"\\\((.*?)\\\)", front, re.DOTALL)]
    assert any("[...]" in m for m in math)
    assert any('<span class="cloze-inactive"' in front for front in fronts)


def test_template_sections_follow_ankis_idea_of_an_empty_field() -> None:
    template = "{{#Extra}}[{{Extra}}]{{/Extra}}{{^Extra}}none{{/Extra}}"

    def render(extra: str) -> str:
        return render_template(template, {"Extra": extra}, ordinal=1, question=True)

    assert render("") == "none"
    assert render(" <br> <div></div>\n") == "none"
    assert render("x") == "[x]"


def test_cloze_filter_corner_cases() -> None:
    assert cloze_filter("{{c2::x}}", 1, question=True) == ""  # no card 1 in this note
    assert cloze_filter("a }} b {{c1::x}}", 1, question=False) == (
        'a }} b <span class="cloze" data-ordinal="1">x</span>'
    )
    nested = "{{c1::a {{c2::b}} c}}"
    assert cloze_filter(nested, 2, question=True) == (
        '<span class="cloze-inactive" data-ordinal="1">a <span class="cloze" '
        'data-cloze="b" data-ordinal="2">[...]</span> c</span>'
    )
    assert encode_attribute("a b&<é\n€") == "a&#x20;b&amp;&lt;&#xE9;&#x0A;€"
