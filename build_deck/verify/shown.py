"""Verification: what a card's Markdown shows, as the Markdown parser reads it.

- :func:`shown_pieces` (and :func:`answer_pieces`, of a card): the math, **bold** and
  plain text a reader sees of Markdown, in reading order (:class:`Shown`), where values,
  formula checks and displayed arithmetic are read; :func:`visible_deletions` says
  which deletions a reader sees;
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
from markdown_it.token import Token

from build_deck.model import Card, CardKind
from build_deck.parse.cloze import find_clozes
from build_deck.parse.markdown import make_parser
from build_deck.parse.tokens import MATH_TYPES, is_check, walk

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


@functools.lru_cache(maxsize=64)
def _tokens(markdown: str) -> list[Token]:
    """The parser's tokens of ``markdown``, which the readers here only read: a card's
    answer is read several times (its pieces, its bold values, its deletions, its
    prompt's math), but parsed once."""
    return _parser().parse(markdown)


def shown_pieces(markdown: str) -> list[Shown]:
    """The math, bold and plain text of Markdown that a reader sees, in order, as the
    parser reads it.

    What a reader does not see is left out: raw HTML (a comment, a tag, and the text
    inside an element written in raw HTML, which CSS may hide), and struck-through
    text. Line breaks and the ends of blocks are a space of plain text.
    """
    pieces: list[Shown] = []
    if not any(mark in markdown for mark in "$*_<~&\\"):
        return [Shown("text", markdown)]
    for token in _tokens(markdown):
        if token.type == "math_block":
            pieces.append(Shown("math", token.content))
        if token.children is not None:
            _inline_pieces(token.children, pieces)
            pieces.append(Shown("text", " "))
    return pieces


MAX_READ_SOURCE = 64 * 1024
"""Characters of a card's answer or cloze text that are read for values and chains:
a longer one shows none (its checks cannot compare it)."""


def answer_pieces(card: Card) -> list[Shown]:
    """What a card's value source shows (:func:`shown_pieces`), read where it was
    written: a Q/A answer's first paragraph followed ``A:`` on its line, so that a line
    such as ``A: <!-- x --> **2**`` is read as a paragraph, not as an HTML block.
    Nothing, when the source is longer than :data:`MAX_READ_SOURCE`."""
    if len(card.value_source) > MAX_READ_SOURCE:
        return []
    if card.kind is CardKind.QA:
        return shown_pieces(f"A: {card.value_source}")
    return shown_pieces(card.value_source)


def _inline_pieces(children: list[Token], pieces: list[Shown]) -> None:
    """The pieces of one inline token's children, hidden ones left out."""
    bold: list[str] | None = None
    hidden = 0  # open raw HTML elements and strikethroughs
    for child in children:
        kind = child.type
        if kind == "html_inline":
            hidden = html_depth(child.content, hidden)
        elif kind in ("s_open", "s_close"):
            hidden = max(hidden + (1 if kind == "s_open" else -1), 0)
        elif hidden:
            continue
        elif kind == "strong_open":
            bold = []
        elif kind == "strong_close" and bold is not None:
            pieces.append(Shown("bold", "".join(bold)))
            bold = None
        elif kind in ("math_inline", "math_inline_double"):
            if bold is not None:
                bold.append(f"${child.content}$")
            else:
                pieces.append(Shown("math", child.content))
        elif kind in ("text", "code_inline", "softbreak", "hardbreak"):
            text = child.content if kind in ("text", "code_inline") else " "
            if bold is not None:
                bold.append(text)
            else:
                pieces.append(Shown("text", text))


_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_TAG_NAME = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")


def html_depth(tag: str, depth: int) -> int:
    """How many raw HTML elements are open after ``tag``, with ``depth`` open before it.

    A comment or a declaration changes nothing; a void element (``<br>``) or a
    self-closing tag neither; a closing tag closes one; any other tag opens one.
    """
    match = _TAG_NAME.match(tag)
    if match is None:
        return depth
    if match.group(1):
        return max(depth - 1, 0)
    if match.group(2).lower() in _VOID or tag.rstrip().endswith("/>"):
        return depth
    return depth + 1


def visible_deletions(markdown: str) -> list[bool]:
    """For each cloze deletion of Markdown, in the order the parser finds them
    (``parse.tokens.cloze_deletions``), whether a reader sees it: one inside raw HTML
    or struck through is hidden."""
    flags: list[bool] = []
    hidden = 0
    if len(markdown) > MAX_READ_SOURCE:
        return flags  # none is known to be seen
    for token in walk(_tokens(markdown)):
        kind = token.type
        if token.block:
            hidden = 0  # raw HTML inside a paragraph ends with it
        if kind == "html_inline":
            hidden = html_depth(token.content, hidden)
        elif kind in ("s_open", "s_close"):
            hidden = max(hidden + (1 if kind == "s_open" else -1), 0)
        elif kind == "cloze_open":
            flags.append(not hidden)
        elif kind in (*MATH_TYPES, "code_inline") or (kind == "fence" and not is_check(token)):
            flags += [not hidden] * len(find_clozes(token.content, shorthand=False)[0])
    return flags


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


def _math_spans(source: str, *, qa: bool = False) -> list[tuple[int, int, str]]:
    """Each math span of Markdown that a reader sees, as the parser reads it: start,
    end, and its TeX. ``qa``: a Q/A answer, read where it was written (after ``A:``)."""
    spans: list[tuple[int, int, str]] = []
    if len(source) > MAX_READ_SOURCE:
        return spans
    at = 0
    for piece in shown_pieces(f"A: {source}" if qa else source):
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
    from build_deck.verify.values import parse_value, visible_bolds

    source = card.value_source
    first = card.value_line or card.loc.line
    pieces: list[Piece] = []
    if len(source) > MAX_READ_SOURCE:
        return pieces
    deletions = _visible_deletion_spans(card) if card.kind is CardKind.CLOZE else []
    for start, end, tex in _math_spans(source, qa=card.kind.is_qa):
        if deletions and not any(s < end and start < e for s, e, _, _ in deletions):
            continue  # math of the cloze's prompt
        pieces.append(Piece("math", strip_cloze(tex), start, end, _line_of(first, source, start)))
    if card.kind is CardKind.CLOZE:
        for start, end, _, body in deletions:
            if "$" not in body and parse_value(body) is not None:
                pieces.append(Piece("value", body, start, end, _line_of(first, source, start)))
    else:
        for text, start, end in visible_bolds(card):
            if "$" not in text and parse_value(text) is not None:
                line = _line_of(first, source, start)
                pieces.append(Piece("value", text, start, end, line))
    return sorted(pieces, key=lambda p: p.start)


def _visible_deletion_spans(card: Card) -> list[tuple[int, int, int | None, str]]:
    """The deletions of a cloze (:func:`deletion_spans`) that a reader sees: one inside
    raw HTML or struck through is left out (:func:`visible_deletions`)."""
    spans = deletion_spans(card.value_source)
    visible = visible_deletions(card.value_source)
    if len(visible) != len(card.deletions):
        return []  # cannot tell which is shown: none is
    hidden: dict[str, int] = {}
    for (_, body), seen in zip(card.deletions, visible, strict=True):
        if not seen:
            hidden[body] = hidden.get(body, 0) + 1
    kept = []
    for span in spans:
        if hidden.get(span[3], 0):
            hidden[span[3]] -= 1
            continue
        kept.append(span)
    return kept


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
