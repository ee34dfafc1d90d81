"""Anki stage: the lines of a notes file that hold one field of a card, for ``pull``.

:class:`NotesFile` reads a file keeping each line's ending (``\\n`` or ``\\r\\n``) and
parses it with the build's own parser, so that the paragraph of a field is what the
build reads: it ends where the parser ends it (at a blank line, a check block or a
heading that follows with no blank line). :meth:`NotesFile.span` gives the lines of a
one-paragraph field (a question, an answer, a cloze paragraph or list item) and the
prefix its first line keeps (``Q:``, ``A:``, a list marker); :meth:`NotesFile.replaced`
gives the file with such lines replaced, each new line ending as the file's lines do.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from markdown_it.token import Token

from build_deck.model import Card, CardKind
from build_deck.parse.extract import extract_cards
from build_deck.parse.markdown import make_parser

_LIST_ITEM = re.compile(r"^(\s*(?:[-*+]|\d+[.)])\s+)")


@dataclass(frozen=True, slots=True)
class Span:
    """The lines of one field in a notes file."""

    start: int
    """First line (0-based)."""
    end: int
    """Line after the last one."""
    prefix: str
    """What the first line keeps before the field's text (``Q: ``, ``A: ``, ``- ``)."""


class NotesFile:
    """One notes file, its lines (with their endings) and its parse."""

    def __init__(self, path: Path) -> None:
        self.path = path
        """The file."""
        text = path.read_bytes().decode("utf-8")
        self.lines = text.split("\n")
        """Its lines, each without its ``\\n`` (a ``\\r`` stays)."""
        self.tokens = make_parser().parse(text.replace("\r\n", "\n"), {})
        """The build's parse of it."""

    @functools.cached_property
    def cards(self) -> list[Card]:
        """The cards the build reads from it, as :func:`cards_of` gives them."""
        return cards_of(self.text_lines, self.path.parent)

    @property
    def text_lines(self) -> list[str]:
        """Its lines without their endings."""
        return [line.removesuffix("\r") for line in self.lines]

    def _paragraph(self, line: int) -> int | None:
        """Index of the paragraph token that starts on ``line`` (0-based)."""
        for index, token in enumerate(self.tokens):
            if token.type == "paragraph_open" and token.map and token.map[0] == line:
                return index
        return None

    def _next_block(self, index: int) -> Token | None:
        """The block after the paragraph that opens at ``index``."""
        level = self.tokens[index].level
        for token in self.tokens[index + 1 :]:
            if token.type == "paragraph_close" and token.level == level:
                continue
            if token.level == level and token.nesting >= 0 and token.map:
                return token
            if token.level < level:
                return None
        return None

    def span(self, card: Card, field: str) -> Span | None:
        """Where a one-paragraph field of ``card`` is, or None if it is not one."""
        start = card.loc.line - 1
        index = self._paragraph(start)
        if index is None:
            return None
        lines = self.text_lines
        para = self.tokens[index].map
        assert para is not None
        if card.kind is CardKind.CLOZE and field == "Text":
            marker = _LIST_ITEM.match(lines[start])
            return Span(start, para[1], marker.group(1) if marker else "")
        if not card.kind.is_qa or not lines[start].startswith(card.kind.prefix):
            return None
        answer = next((k for k in range(start + 1, para[1]) if lines[k].startswith("A:")), None)
        if field == "Front":
            return Span(start, answer if answer is not None else para[1], card.kind.prefix + " ")
        if field != "Back":
            return None
        if answer is not None:
            return Span(answer, para[1], "A: ")
        following = self._next_block(index)
        if following is None or following.type != "paragraph_open" or not following.map:
            return None
        first = following.map[0]
        if not lines[first].startswith("A:"):
            return None
        return Span(first, following.map[1], "A: ")

    def replacement(self, span: Span, markdown: str) -> list[str]:
        """The lines (without endings) that would hold ``markdown`` at ``span``."""
        indent = " " * len(span.prefix) if span.prefix[:1] in tuple("-*+0123456789") else ""
        body = markdown.split("\n")
        return [span.prefix + body[0], *(indent + line for line in body[1:])]

    def replaced(self, changes: list[tuple[Span, list[str]]]) -> bytes:
        """The file's bytes with each span's lines replaced; a new line ends as the line
        it replaces did (``\\r\\n`` in a file written so)."""
        lines = list(self.lines)
        for span, new in sorted(changes, key=lambda change: change[0].start, reverse=True):
            ending = "\r" if lines[span.start].endswith("\r") else ""
            lines[span.start : span.end] = [line + ending for line in new]
        return "\n".join(lines).encode("utf-8")


def cards_of(lines: list[str], folder: Path) -> list[Card]:
    """The cards the build reads from a notes file's lines (without their endings), in
    ``folder``; their deck and path are placeholders, for comparing two versions."""
    cards, _ = extract_cards(make_parser(), "\n".join(lines), "f", folder, "d")
    return cards
