"""The note types' shape is pinned: changing it makes Anki refuse to update notes."""

from __future__ import annotations

import colorsys

from pygments.styles import get_style_by_name
from pygments.token import STANDARD_TYPES, Whitespace

from build_deck.anki.notetypes import CLOZE, QA, card_css
from build_deck.parse.highlight import DARK_STYLE, LIGHT_STYLE


def test_field_lists_are_pinned() -> None:
    assert (QA.model_id, QA.name, QA.fields) == (
        1_734_006_201,
        "build_deck Q/A",
        ("Front", "Back", "Context", "Source", "Extra", "Verified"),
    )
    assert (CLOZE.model_id, CLOZE.name, CLOZE.fields) == (
        1_734_006_202,
        "build_deck Cloze",
        ("Text", "Context", "Source", "Extra", "Verified"),
    )


def test_templates_use_every_field() -> None:
    for note_type in (QA, CLOZE):
        templates = note_type.front + note_type.back
        for field in note_type.fields:
            assert field in templates, (note_type.name, field)
    assert "{{cloze:Text}}" in CLOZE.front and "{{cloze:Text}}" in CLOZE.back


def _luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (0, 2, 4))

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_code_colours_are_readable_in_light_and_night_mode() -> None:
    """Every token colour of each style against that style's background: WCAG AA for
    large text (3:1) at least, so no token disappears in night mode."""
    for name in (LIGHT_STYLE, DARK_STYLE):
        style = get_style_by_name(name)
        background = style.background_color.lstrip("#")
        for token in STANDARD_TYPES:
            if str(token).startswith(str(Whitespace)):
                continue  # invisible by nature
            colour = style.style_for_token(token)["color"]
            if colour:
                assert _contrast(colour, background) >= 3.0, (name, token, colour)
    night = get_style_by_name(DARK_STYLE).background_color.lstrip("#")
    _, lightness, _ = colorsys.rgb_to_hls(*(int(night[i : i + 2], 16) / 255 for i in (0, 2, 4)))
    assert lightness < 0.2  # the night style is dark
    css = card_css()
    assert f"background: #{night}" in css.lower()
    assert ".nightMode .highlight" in css and ".night_mode .highlight" in css
