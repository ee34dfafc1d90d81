"""Anki stage: what a note in the collection says, as plain text, to compare and name it.

A field may come from a shared ``.apkg`` and hold anything: every function here is
linear in the field.

- :func:`plain_text`: a field's HTML as plain text, clozes opened;
- :func:`first_words`: the words a report names a note by;
- :func:`note_text`: a note's question and answer, or its cloze text;
- :func:`source_place`: the file and line a Source field names.
"""

from __future__ import annotations

import html
import re

from build_deck.verify.shown import strip_cloze

__all__ = ["MAX_COMPARED", "first_words", "note_text", "plain_text", "source_place"]


def plain_text(html_text: str) -> str:
    """Text of an HTML field, for comparing and naming notes (linear in the field: a
    field from a shared ``.apkg`` may hold anything)."""
    text = _TAG.sub(" ", html_text)
    text = strip_cloze(text)
    return " ".join(html.unescape(text).split())


_TAG = re.compile(r"<[^<>]+>")
MAX_COMPARED = 2000
"""Characters of two notes' texts compared to pair a retyped card (difflib is
quadratic: a 100 KB card took minutes)."""


def first_words(fields: dict[str, str]) -> str:
    """The first words of a note's Front or Text, to name it in reports."""
    return plain_text(fields.get("Front") or fields.get("Text") or "")[:60]


def source_place(source: str) -> tuple[str, int]:
    """The file and line of a Source field: ``notes/f.md:LINE``, or ``notes/f.md ›
    Heading`` (line 0: the field names no line)."""
    if " › " in source:
        return source.partition(" › ")[0], 0
    path, _, line = source.rpartition(":")
    if line.isascii() and line.isdigit() and len(line) <= 9:
        return path, int(line)
    return source, 0


def note_text(fields: dict[str, str]) -> str:
    """The plain text of a note's question and answer, or of its cloze text."""
    if "Text" in fields:
        return plain_text(fields["Text"])
    return plain_text(fields.get("Front", "") + " " + fields.get("Back", ""))
