"""The note-ID comments other tools write into notes files, read and kept off the cards.

Obsidian_to_Anki writes ``<!--ID: 1566052191670-->`` after a card, inka2 writes
``<!--ID:1596371227545-->`` on the line before one: the id of the note they made in
Anki. A core rule of the parser takes each such comment out of the tokens, so that no
card shows it (not even in Anki's editor, where an HTML comment stays visible), and
keeps its line and id in ``env["id_comments"]``. ``build-deck adopt`` reads them as
hints: that note is this card (build_deck/anki/adopt.py).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token

from build_deck.model import Card, SourceLoc

ID_COMMENT = re.compile(r"<!--\s*ID:\s*(\d{1,19})\s*-->")
"""One note-ID comment; group 1 is the note id."""

ENV_KEY = "id_comments"
"""Where the parser's env keeps the comments found: a list of (line, note id)."""


def _drop_id_comments(state: StateCore) -> None:
    """Core rule: remove note-ID comments (blocks and inline), recording where they were."""
    found: list[tuple[int, int]] = state.env.setdefault(ENV_KEY, [])
    kept = []
    for token in state.tokens:
        if token.type == "html_block" and token.map is not None:
            comments = list(ID_COMMENT.finditer(token.content))
            if comments and not ID_COMMENT.sub("", token.content).strip():
                found += [(token.map[0] + 1, int(c.group(1))) for c in comments]
                continue
        if token.type == "inline" and token.children and token.map is not None:
            children: list[Token] = []
            for child in token.children:
                match = ID_COMMENT.fullmatch(child.content.strip())
                if child.type == "html_inline" and match:
                    offset = token.content.find(child.content)
                    line = token.map[0] + 1 + token.content.count("\n", 0, max(offset, 0))
                    found.append((line, int(match.group(1))))
                    if children and children[-1].type == "text":
                        children[-1].content = children[-1].content.rstrip()
                    continue
                children.append(child)
            token.children = children
        kept.append(token)
    state.tokens = kept


def id_comments_plugin(md: MarkdownIt) -> None:
    """Read note-ID comments into ``env["id_comments"]`` and keep them off the cards."""
    md.core.ruler.after("inline", "id_comments", _drop_id_comments)


def id_comments(md: MarkdownIt, text: str) -> list[tuple[int, int]]:
    """The note-ID comments of a notes file: (line, note id), in file order."""
    env: dict[str, list[tuple[int, int]]] = {}
    md.parse(text, env)
    return sorted(env.get(ENV_KEY, []))


def hinted_cards(md: MarkdownIt, cards: Sequence[Card]) -> dict[SourceLoc, int]:
    """The note id each card's ID comment names, by the card's place.

    A comment on the line right before a card names that card (inka2 writes it there);
    any other names the card above it (Obsidian_to_Anki writes it after the card's last
    line, or at the end of its line). A file that cannot be read gives no hints.
    """
    starts: dict[str, list[int]] = {}
    for card in cards:
        starts.setdefault(card.loc.path, []).append(card.loc.line)
    hints: dict[SourceLoc, int] = {}
    for path, lines in starts.items():
        lines.sort()
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            continue
        for line, note_id in id_comments(md, text):
            if line + 1 in lines and line not in lines:
                hints.setdefault(SourceLoc(path, line + 1), note_id)
                continue
            above = bisect_right(lines, line)
            if above:
                hints.setdefault(SourceLoc(path, lines[above - 1]), note_id)
    return hints
