"""Run-on answers: notes swallowed by the answer before them.

A Q/A answer ends only at a heading, a ``Q:``, a cloze, an ``Extra:`` or ``check``, or
``---`` (docs/notes-format.md). Notes written after an answer without one of these
become part of its back. In the shipped deck every answer is one block but one (an
answer and its display formula), so an answer of more than ``MAX_BLOCKS`` blocks, or
one holding a block that reads as notes, is most likely a run-on:

- an image, an HTML block or comment, a table or a block quote;
- a paragraph that opens like a note (``Note``, ``See``, ``TODO``, a bold title);
- a paragraph of more than ``NOTES_WORDS`` words: longer than any answer should be.
"""

from __future__ import annotations

import re

from build_deck.lint.text import word_tokens
from build_deck.model import Card

MAX_BLOCKS = 3
"""An answer of more blocks (paragraphs, formulas, lists, code) runs on."""
NOTES_WORDS = 40
"""A later paragraph of more words reads as notes (the longest answer allowed,
``length.MAX_WORDS``)."""

_NOTES_START = re.compile(
    r"^(?:!\[|<|\||>|\*\*[^*]+\*\*\s*$|\*\*[^*]+[.:]\*\*|(?:note|notes|see|todo|source|"
    r"example|aside|remember|summary|tip)\b)",
    re.IGNORECASE,
)


def _reads_as_notes(block: str) -> str | None:
    """Why a block of an answer (after its first) reads as notes, or None."""
    text = block.strip()
    if _NOTES_START.match(text):
        first = text.split("\n")[0]
        return f"it opens like notes ({first[:30]!r})"
    if text.startswith(("$$", "```", "~~~", "-", "*", "+")) or text[:1].isdigit():
        return None  # a formula, code or a list continues an answer
    words = len(word_tokens(text))
    if words > NOTES_WORDS:
        return f"it is a paragraph of {words} words"
    return None


def run_on(card: Card, lines: list[str]) -> list[str]:
    """A message when the answer of ``card`` runs on into notes; ``lines`` are the
    lines of its notes file."""
    if not card.kind.is_qa or len(card.answer_lines) < 2:
        return []
    blocks = ["\n".join(lines[a - 1 : b]) for a, b in card.answer_lines]
    end = None
    reason = ""
    for index, block in enumerate(blocks[1:], 1):
        why = _reads_as_notes(block)
        if why is not None:
            end, reason = index, f"line {card.answer_lines[index][0]} reads as notes: {why}"
            break
    if end is None and len(blocks) > MAX_BLOCKS:
        end = next(
            (i for i, b in enumerate(blocks[1:], 1) if not b.lstrip().startswith("$$")),
            1,
        )
        reason = f"it spans {len(blocks)} blocks (at most {MAX_BLOCKS})"
    if end is None:
        return []
    last = card.answer_lines[-1][1]
    stop = card.answer_lines[end - 1][1]
    return [
        f"the answer runs on to line {last}: {reason}; if it ends at line {stop}, put "
        f"'---' on a line of its own before line {card.answer_lines[end][0]} (after a blank "
        "line), so what follows stays notes"
    ]
