"""Parse stage: small helpers over markdown-it token streams, for extraction.

- walking and grouping: :func:`walk`, :func:`blocks`, :func:`list_items`;
- what a block is: :func:`is_check`, :func:`starts_with` (``Q:``, ``A:``, ``Extra:``);
- text of tokens: :func:`plain_text`, :func:`block_source`, :func:`source_of`;
- clozes under tokens: :func:`cloze_bodies`, :func:`cloze_deletions`;
- a ``Q:`` paragraph cut in two: :func:`answer_split`, :func:`strip_prefix`,
  :func:`inline_like`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from markdown_it.token import Token

from build_deck.model import CardKind
from build_deck.parse.cloze import find_clozes
from build_deck.parse.markdown import CHECK_INFO

MATH_TYPES = ("math_inline", "math_inline_double", "math_block")
"""Token types of math, inline and displayed."""


def walk(tokens: Sequence[Token]) -> Iterator[Token]:
    """Every token of ``tokens`` and, depth first, of their children."""
    for token in tokens:
        yield token
        if token.children:
            yield from walk(token.children)


def cloze_bodies(tokens: Sequence[Token]) -> list[tuple[int, str]]:
    """Every cloze deletion under ``tokens`` as (number, source text), in order."""
    return [(number, body) for number, body, _ in cloze_deletions(tokens)]


def cloze_deletions(tokens: Sequence[Token]) -> list[tuple[int, str, bool]]:
    """Every cloze deletion as (number, source text, written as shorthand ``{{..}}``)."""
    bodies: list[tuple[int, str, bool]] = []
    for token in walk(tokens):
        if token.type == "cloze_open":
            bodies.append((token.meta["number"], token.content, token.meta["shorthand"]))
        elif token.type in (*MATH_TYPES, "code_inline") or (
            token.type == "fence" and not is_check(token)
        ):
            spans, _ = find_clozes(token.content, shorthand=False)
            bodies += [
                (span.number or 0, token.content[span.body_start : span.body_end], False)
                for span in spans
            ]
    return bodies


def is_check(token: Token) -> bool:
    """True for a fenced ``check`` block."""
    return token.type == "fence" and token.info.split(maxsplit=1)[:1] == [CHECK_INFO]


def blocks(tokens: Sequence[Token]) -> Iterator[list[Token]]:
    """Group a token stream into top-level blocks (open..close, or single tokens)."""
    i = 0
    while i < len(tokens):
        start = i
        if tokens[i].nesting == 1:
            depth = 0
            while True:
                depth += tokens[i].nesting
                i += 1
                if depth == 0:
                    break
        else:
            i += 1
        yield list(tokens[start:i])


def list_items(block: list[Token]) -> Iterator[list[Token]]:
    """The items of a list block, each with its open and close tokens."""
    inner = block[1:-1]
    yield from blocks(inner)


def plain_text(children: Sequence[Token]) -> str:
    """The text of inline children, without markup; line breaks become spaces."""
    parts = []
    for token in walk(children):
        if token.type in ("text", "code_inline", *MATH_TYPES):
            parts.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts).strip()


def strip_prefix(children: list[Token], prefix: str) -> list[Token]:
    """Drop ``prefix`` (``Q:``, ``A:``, ``Extra:``) from the start of inline children."""
    if not children or children[0].type != "text":
        return children
    first = children[0].copy()
    first.content = (
        first.content[len(prefix) :].lstrip() if first.content.startswith(prefix) else first.content
    )
    return [first, *children[1:]] if first.content else children[1:]


QUESTION_KINDS = (CardKind.REVERSED, CardKind.TYPED, CardKind.QA)
"""The kinds a question paragraph may start, by its prefix (``Q (reversed):``, ...)."""


def question_kind(block: list[Token]) -> CardKind | None:
    """The kind of card a paragraph starting with a question prefix begins, or None."""
    return next((kind for kind in QUESTION_KINDS if starts_with(block, kind.prefix)), None)


def starts_with(block: list[Token], prefix: str) -> bool:
    """True for a paragraph whose text starts with ``prefix``."""
    return (
        block[0].type == "paragraph_open"
        and block[1].content.startswith(prefix)
        and bool(block[1].children)
        and block[1].children[0].type == "text"  # type: ignore[index]
    )


def block_source(block: list[Token]) -> str:
    """The Markdown source of a block's inline text, code and displayed math."""
    return "\n".join(
        f"$${t.content.strip()}$$" if t.type == "math_block" else t.content
        for t in walk(block)
        if t.type in ("inline", "fence", "math_block")
    )


def answer_split(children: list[Token]) -> int | None:
    """Index of the child that starts an ``A:`` line inside a ``Q:`` paragraph."""
    for i in range(1, len(children)):
        if (
            children[i].type == "text"
            and children[i].content.startswith("A:")
            and children[i - 1].type in ("softbreak", "hardbreak")
        ):
            return i
    return None


def inline_like(inline: Token, children: list[Token]) -> Token:
    """A copy of an inline token holding other children."""
    copy = inline.copy()
    copy.children = children
    copy.content = source_of(children)
    return copy


def source_of(children: Sequence[Token]) -> str:
    """Approximate Markdown source of inline children (for value lookup)."""
    parts = []
    for token in children:
        if token.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif token.type == "math_inline":
            parts.append(f"${token.content}$")
        elif token.type == "math_inline_double":
            parts.append(f"$${token.content}$$")
        elif token.type == "code_inline":
            parts.append(f"`{token.content}`")
        else:
            parts.append(token.markup if token.nesting else token.content)
    return "".join(parts)
