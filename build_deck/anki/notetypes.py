"""The deck's note types, as plain data: ids, fields, templates and CSS.

Anki refuses to update notes whose note type changed shape (fields or templates),
so the field lists below are fixed once for every planned feature, and a golden
test pins them. Change the CSS freely; never rename, reorder or drop a field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

from build_deck.model import VERIFIED_TAG as _VERIFIED_TAG
from build_deck.model import Card, CardKind
from build_deck.parse.highlight import pygments_css


@dataclass(frozen=True, slots=True)
class NoteType:
    """One Anki note type."""

    model_id: int
    """Hard-coded id: Anki matches note types across imports by it."""
    name: str
    """Name shown in Anki."""
    fields: tuple[str, ...]
    """Field names, in order."""
    front: str
    """Front template."""
    back: str
    """Back template."""
    is_cloze: bool
    """True for the cloze note type."""
    more_templates: tuple[tuple[str, str, str], ...] = ()
    """Templates after the first, as (name, front, back): one more card per note each."""

    @property
    def templates(self) -> tuple[tuple[str, str, str], ...]:
        """Every template, as (name, front, back), in Anki's order."""
        first = "Cloze" if self.is_cloze else "Card 1"
        return ((first, self.front, self.back), *self.more_templates)

    def fingerprint(self, css: str) -> str:
        """A hash of everything Anki stores for the note type."""
        more = [part for template in self.more_templates for part in template]
        text = "\x1f".join(
            (str(self.model_id), self.name, *self.fields, self.front, self.back, *more, css)
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


_BACK_FOOTER = """
{{#Extra}}<div class="extra">{{Extra}}</div>{{/Extra}}
{{#Verified}}<div class="verified">&#10003; {{Verified}}</div>{{/Verified}}
<div class="source">{{Source}}</div>"""

QA = NoteType(
    model_id=1_734_006_201,
    name="build_deck Q/A",
    fields=("Front", "Back", "Context", "Source", "Extra", "Verified"),
    front='<div class="context">{{Context}}</div>\n<div class="question">{{Front}}</div>',
    back='{{FrontSide}}\n<hr id="answer">\n<div class="answer">{{Back}}</div>' + _BACK_FOOTER,
    is_cloze=False,
)
"""Question and answer."""

CLOZE = NoteType(
    model_id=1_734_006_202,
    name="build_deck Cloze",
    fields=("Text", "Context", "Source", "Extra", "Verified"),
    front='<div class="context">{{Context}}</div>\n<div class="cloze-text">{{cloze:Text}}</div>',
    back='<div class="context">{{Context}}</div>\n<div class="cloze-text">{{cloze:Text}}</div>'
    + _BACK_FOOTER,
    is_cloze=True,
)
"""Cloze deletions, one card per number."""

_QA_FIELDS = ("Front", "Back", "Context", "Source", "Extra", "Verified")

REVERSED = NoteType(
    model_id=1_734_006_203,
    name="build_deck Q/A reversed",
    fields=_QA_FIELDS,
    front=QA.front,
    back=QA.back,
    is_cloze=False,
    more_templates=(
        (
            "Card 2",
            '<div class="context">{{Context}}</div>\n<div class="question">{{Back}}</div>',
            '{{FrontSide}}\n<hr id="answer">\n<div class="answer">{{Front}}</div>' + _BACK_FOOTER,
        ),
    ),
)
"""Question and answer, asked both ways: a card from the front, a card from the back."""

TYPED = NoteType(
    model_id=1_734_006_204,
    name="build_deck Q/A typed",
    fields=_QA_FIELDS,
    front='<div class="context">{{Context}}</div>\n<div class="question">{{Front}}</div>\n'
    "{{type:Back}}",
    back='<div class="context">{{Context}}</div>\n<div class="question">{{Front}}</div>\n'
    '<hr id="answer">\n<div class="answer">{{type:Back}}</div>' + _BACK_FOOTER,
    is_cloze=False,
)
"""A question whose answer is typed in; Anki compares it with the Back field."""

VERIFIED_TEXT = "verified"
"""The Verified field of a verified card starts so; what was verified follows."""
VERIFIED_TAG = _VERIFIED_TAG
"""The tag of a card whose check passed (reserved: a notes file may not set it)."""

_CARD_CSS = """
.card {
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  font-size: 20px;
  line-height: 1.45;
  text-align: left;
  color: #1d1d1f;
  background-color: #ffffff;
  max-width: 42em;
  margin: 0 auto;
  padding: 0 0.6em;
}
.context { font-size: 0.7em; color: #6e6e73; margin-bottom: 0.8em; }
.extra { font-size: 0.85em; color: #3a3a3c; margin-top: 1em; border-top: 1px solid #d2d2d7;
  padding-top: 0.5em; }
.verified { font-size: 0.7em; color: #1b7f3b; margin-top: 0.8em; }
.source { font-size: 0.6em; color: #8e8e93; margin-top: 1.2em;
  font-family: ui-monospace, monospace; }
.cloze { font-weight: bold; color: #0a58ca; }
code { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; font-size: 0.9em;
  background: #f2f2f5; padding: 0 0.2em; border-radius: 3px; }
.highlight { background: #f8f8f8; border-radius: 6px; padding: 0.4em 0.7em; overflow-x: auto; }
.highlight pre { margin: 0; font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace;
  font-size: 0.8em; }
/* A revealed deletion in code: above the code's and the tokens' own colours, tinted. */
.cloze code, code .cloze, .highlight .cloze, .highlight .cloze span {
  color: #0a58ca; font-weight: bold; background: #e4edfb; }
table { border-collapse: collapse; }
td, th { border: 1px solid #d2d2d7; padding: 0.2em 0.5em; }
img { max-width: 100%; }
mark { background: #fff3a3; color: inherit; padding: 0 0.1em; }
.callout { border-left: 4px solid #0a58ca; background: #f2f6fd; border-radius: 4px;
  padding: 0.3em 0.8em; margin: 0.6em 0; }
.callout-title { font-weight: bold; margin: 0.2em 0; }
.callout[data-callout="warning"], .callout[data-callout="caution"],
.callout[data-callout="danger"], .callout[data-callout="error"] {
  border-left-color: #c0392b; background: #fdf1f0; }
.callout[data-callout="tip"], .callout[data-callout="success"],
.callout[data-callout="check"], .callout[data-callout="done"] {
  border-left-color: #1b7f3b; background: #eff8f2; }
#typeans { font-family: inherit; font-size: 1em; width: 100%; }

.nightMode.card, .night_mode.card, .nightMode .card, .night_mode .card {
  color: #e5e5e7; background-color: #1e1e1e;
}
.nightMode .context, .night_mode .context { color: #a1a1a6; }
.nightMode .extra, .night_mode .extra { color: #d1d1d6; border-top-color: #48484a; }
.nightMode .verified, .night_mode .verified { color: #5fd38d; }
.nightMode .source, .night_mode .source { color: #98989d; }
.nightMode .cloze, .night_mode .cloze { color: #7cb7ff; }
.nightMode code, .night_mode code { background: #2c2c2e; color: #f2f2f7; }
.nightMode .highlight, .night_mode .highlight { background: #272822; color: #f8f8f2; }
.nightMode .cloze code, .night_mode .cloze code, .nightMode code .cloze, .night_mode code .cloze,
.nightMode .highlight .cloze, .night_mode .highlight .cloze,
.nightMode .highlight .cloze span, .night_mode .highlight .cloze span {
  color: #7cb7ff; font-weight: bold; background: #1d3557; }
.nightMode td, .nightMode th, .night_mode td, .night_mode th { border-color: #48484a; }
.nightMode mark, .night_mode mark { background: #6b5d00; color: #fff8d6; }
.nightMode .callout, .night_mode .callout { background: #1d2a3d; }
.nightMode .callout[data-callout="warning"], .night_mode .callout[data-callout="warning"],
.nightMode .callout[data-callout="danger"], .night_mode .callout[data-callout="danger"] {
  background: #3d1f1d; }
.nightMode .callout[data-callout="tip"], .night_mode .callout[data-callout="tip"] {
  background: #1b3324; }
"""


@cache
def card_css() -> str:
    """The CSS shared by every note type: layout, light and night colours, code."""
    return _CARD_CSS.strip() + "\n" + pygments_css()


NOTE_TYPES = (QA, CLOZE, REVERSED, TYPED)
"""Every note type the deck uses."""

_BY_KIND = {
    CardKind.QA: QA,
    CardKind.CLOZE: CLOZE,
    CardKind.REVERSED: REVERSED,
    CardKind.TYPED: TYPED,
}


def note_type_of(card: Card) -> NoteType:
    """The note type a card is written with."""
    return _BY_KIND[card.kind]
