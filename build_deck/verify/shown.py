"""Verification: what a card's Markdown shows, as the Markdown parser reads it.

- :func:`shown_pieces`: the math, **bold** and plain text of Markdown, in reading
  order (:class:`Shown`), where formula checks and displayed arithmetic find their TeX;
- :func:`strip_cloze`: TeX with cloze markup ``{{c1::x::hint}}`` replaced by what it
  hides.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt

from build_deck.parse.markdown import make_parser

_CLOZE_OPEN = re.compile(r"\{\{c\d+::")


@dataclass(frozen=True, slots=True)
class Shown:
    """One piece of what a card's Markdown shows, in reading order."""

    kind: str
    """``math`` (TeX), ``bold`` or ``text``."""
    text: str
    """Its source (TeX without dollars, or the text)."""


@functools.cache
def _parser() -> MarkdownIt:
    return make_parser()


def shown_pieces(markdown: str) -> list[Shown]:
    """The math, bold and plain text of Markdown, in order, as the parser reads it."""
    pieces: list[Shown] = []
    if "$" not in markdown and "*" not in markdown and "_" not in markdown:
        return [Shown("text", markdown)]
    for token in _parser().parse(markdown):
        if token.type == "math_block":
            pieces.append(Shown("math", token.content))
        bold: list[str] | None = None
        for child in token.children or []:
            if child.type == "strong_open":
                bold = []
            elif child.type == "strong_close" and bold is not None:
                pieces.append(Shown("bold", "".join(bold)))
                bold = None
            elif child.type in ("math_inline", "math_inline_double"):
                if bold is not None:
                    bold.append(f"${child.content}$")
                else:
                    pieces.append(Shown("math", child.content))
            elif child.type in ("text", "code_inline"):
                if bold is not None:
                    bold.append(child.content)
                else:
                    pieces.append(Shown("text", child.content))
    return pieces


def strip_cloze(tex: str) -> str:
    """TeX with cloze markup ``{{c1::x::hint}}`` replaced by what it hides.

    One pass: once no ``}}`` is left, no later ``{{c1::`` can close.
    """
    out: list[str] = []
    at = 0
    while True:
        match = _CLOZE_OPEN.search(tex, at)
        if match is None:
            break
        close = tex.find("}}", match.end())
        if close < 0:
            break
        body = tex[match.end() : close]
        hint = body.find("::")
        out += [tex[at : match.start()], body if hint < 0 else body[:hint]]
        at = close + 2
    return "".join([*out, tex[at:]])
