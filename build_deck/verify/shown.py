"""Verification: what a card's Markdown shows, as the Markdown parser reads it.

- :func:`shown_pieces`: the math, **bold** and plain text of Markdown, in reading
  order (:class:`Shown`), where formula checks and displayed arithmetic find their TeX;
- :func:`strip_cloze`: TeX with cloze markup ``{{c1::x::hint}}`` replaced by what it
  hides;
- :func:`recalled_pieces`: the math and values of what a card asks to recall (a Q/A
  answer, a cloze's deletions), each with its line (:class:`Piece`), which the mark
  must cover; :func:`prompt_math`: the math of its prompt, where givens are stated.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt

from build_deck.model import Card, CardKind
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


_DELETION = re.compile(r"\{\{(?:c(\d+)::)?")


@dataclass(frozen=True, slots=True)
class Piece:
    """A piece of what a card asks to recall: math, or a value (bold, or a deletion)."""

    kind: str
    """``math`` (TeX) or ``value`` (a **bold** value, or a deletion that is a value)."""
    text: str
    """Its TeX without dollars or cloze markup, or the value as written."""
    start: int
    """Where it starts in the card's ``value_source`` (a value: its ``**`` or ``{{``)."""
    end: int
    """Where it ends there."""
    line: int
    """The line of the notes file it starts on."""


def deletion_spans(source: str) -> list[tuple[int, int, int | None, str]]:
    """Every cloze deletion of ``source``: start, end, number (None for ``{{...}}``)
    and the text it hides."""
    spans = []
    at = 0
    while (match := _DELETION.search(source, at)) is not None:
        close = source.find("}}", match.end())
        if close < 0:
            break
        body = source[match.end() : close]
        hint = body.find("::") if match.group(1) else -1
        number = int(match.group(1)) if match.group(1) else None
        spans.append((match.start(), close + 2, number, body if hint < 0 else body[:hint]))
        at = close + 2
    return spans


def _math_spans(source: str) -> list[tuple[int, int, str]]:
    """Each math span of Markdown as the parser reads it: start, end, and its TeX."""
    spans = []
    at = 0
    for piece in shown_pieces(source):
        if piece.kind == "bold":
            inner = re.findall(r"\$([^$]+)\$", piece.text)
        elif piece.kind == "math":
            inner = [piece.text]
        else:
            continue
        for tex in inner:
            found = source.find(tex, at)
            if found < 0:
                continue
            spans.append((found, found + len(tex), tex))
            at = found + len(tex)
    return spans


def _line_of(card_line: int, source: str, offset: int) -> int:
    return card_line + source.count("\n", 0, offset)


def recalled_pieces(card: Card) -> list[Piece]:
    """The math and the values of what a card asks to recall, in reading order: all of a
    Q/A answer; of a cloze, the deletions and the math that holds one."""
    from build_deck.verify.values import _BOLD, parse_value

    source = card.value_source
    first = card.value_line or card.loc.line
    pieces = []
    deletions = deletion_spans(source) if card.kind is CardKind.CLOZE else []
    for start, end, tex in _math_spans(source):
        if deletions and not any(s < end and start < e for s, e, _, _ in deletions):
            continue  # math of the cloze's prompt
        pieces.append(Piece("math", strip_cloze(tex), start, end, _line_of(first, source, start)))
    if card.kind is CardKind.CLOZE:
        for start, end, _, body in deletions:
            if "$" not in body and parse_value(body) is not None:
                pieces.append(Piece("value", body, start, end, _line_of(first, source, start)))
    else:
        for match in _BOLD.finditer(source):
            text = match.group(1) or match.group(2)
            if "$" not in text and parse_value(text) is not None:
                line = _line_of(first, source, match.start())
                pieces.append(Piece("value", text, match.start(), match.end(), line))
    return sorted(pieces, key=lambda p: p.start)


def prompt_math(card: Card) -> list[str]:
    """The TeX of the math a card's prompt shows: a Q/A card's question, a cloze's text
    outside its deletions. It states the givens (``$n = 28$``)."""
    if card.kind is CardKind.CLOZE:
        source = card.value_source
        deletions = deletion_spans(source)
        return [
            tex
            for start, end, tex in _math_spans(source)
            if not any(s < end and start < e for s, e, _, _ in deletions)
        ]
    return [html.unescape(m.group(1) or m.group(2)) for m in _HTML_MATH.finditer(card.content)]


_HTML_MATH = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
