"""Find cloze deletions in text, the way Anki's cloze parser reads them.

A deletion is ``{{c1::text}}`` or ``{{c1::text::hint}}``; in prose the shorthand
``{{text}}`` is accepted too. Braces inside the text are counted, so
``{{c1::\\frac{1}{2}}}`` closes after ``{2}``, and a backslash escapes the next
character (``\\{`` in LaTeX is not a group).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from build_deck.model import MAX_CLOZE_NUMBER

_NUMBERED = re.compile(r"\{\{c(\d+)::")


@dataclass(frozen=True, slots=True)
class ClozeSpan:
    """One cloze deletion found in a string; offsets index that string."""

    start: int
    """Offset of the opening ``{{``."""
    end: int
    """Offset just after the closing ``}}``."""
    number: int | None
    """The ``cN`` number, or None for the shorthand ``{{text}}``."""
    body_start: int
    """Offset of the deleted text."""
    body_end: int
    """Offset just after the deleted text (before ``::hint`` or ``}}``)."""
    hint: str | None
    """The hint after the second ``::``, if any."""


@dataclass(frozen=True, slots=True)
class ClozeProblem:
    """A malformed deletion: where it starts and what is wrong."""

    offset: int
    """Offset of the opening ``{{``."""
    message: str
    """What to fix."""


def _skip_code_span(text: str, pos: int, limit: int) -> int:
    """Return the offset after the code span opening at ``pos``, or ``pos + run``."""
    run = pos
    while run < limit and text[run] == "`":
        run += 1
    ticks = text[pos:run]
    close = text.find(ticks, run, limit)
    return run if close < 0 else close + len(ticks)


def match_cloze(
    text: str, pos: int, *, shorthand: bool, code_spans: bool = False, limit: int | None = None
) -> ClozeSpan | ClozeProblem | None:
    """Read the deletion that opens at ``pos``.

    Returns None when no deletion opens there, a :class:`ClozeProblem` when one opens
    but is malformed, else the :class:`ClozeSpan`. ``shorthand`` accepts ``{{text}}``;
    ``code_spans`` skips over backtick code spans while looking for the end.
    """
    end_limit = len(text) if limit is None else limit
    if not text.startswith("{{", pos):
        return None
    numbered = _NUMBERED.match(text, pos)
    if numbered:
        digits = numbered.group(1)
        if len(digits) > len(str(MAX_CLOZE_NUMBER)) or int(digits) > MAX_CLOZE_NUMBER:
            return ClozeProblem(
                pos,
                f"cloze number c{digits[:12]}{'…' if len(digits) > 12 else ''} is "
                f"too large: numbers go from c1 to c{MAX_CLOZE_NUMBER}",
            )
        number: int | None = int(digits)
        body_start = numbered.end()
        if number == 0:
            return ClozeProblem(pos, "cloze numbers start at c1, not c0")
    elif shorthand:
        number = None
        body_start = pos + 2
        if text.startswith("{", body_start):
            return None  # three braces: not a deletion
    else:
        return None

    depth = 0
    hint_at: int | None = None
    i = body_start
    while i < end_limit:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "`" and code_spans:
            i = _skip_code_span(text, i, end_limit)
            continue
        if ch == "{":
            if _NUMBERED.match(text, i):
                return ClozeProblem(
                    pos, "nested cloze: close the first deletion before opening another"
                )
            depth += 1
        elif ch == "}":
            if depth == 0 and text.startswith("}}", i):
                body_end = hint_at if hint_at is not None else i
                hint = text[hint_at + 2 : i] if hint_at is not None else None
                if not text[body_start:body_end].strip():
                    return ClozeProblem(
                        pos, "empty cloze: put the text to hide between '::' and '}}'"
                    )
                return ClozeSpan(pos, i + 2, number, body_start, body_end, hint)
            depth = max(depth - 1, 0)
        elif ch == ":" and depth == 0 and hint_at is None and text.startswith("::", i):
            hint_at = i
            i += 2
            continue
        i += 1
    return ClozeProblem(pos, "unclosed cloze: close it with '}}'")


def find_clozes(
    text: str, *, shorthand: bool, code_spans: bool = False
) -> tuple[list[ClozeSpan], list[ClozeProblem]]:
    """All deletions in ``text`` in order, and the malformed ones."""
    spans: list[ClozeSpan] = []
    problems: list[ClozeProblem] = []
    pos = text.find("{{")
    while pos >= 0:
        if pos > 0 and text[pos - 1] == "\\":
            pos = text.find("{{", pos + 2)
            continue
        found = match_cloze(text, pos, shorthand=shorthand, code_spans=code_spans)
        if isinstance(found, ClozeSpan):
            spans.append(found)
            pos = text.find("{{", found.end)
        else:
            if isinstance(found, ClozeProblem):
                problems.append(found)
            pos = text.find("{{", pos + 2)
    return spans, problems


_CLOSING_RUN = re.compile(r"\}(?=\})")


def split_closing_braces(tex: str) -> str:
    """Turn every ``}}`` of LaTeX into ``} }``: Anki ends a deletion at any ``}}``,
    even one inside math inside the deletion. In math mode the space changes nothing.
    """
    return _CLOSING_RUN.sub("} ", tex)


def guard_math_cloze_body(body: str) -> str:
    """Make deleted LaTeX safe for Anki: no ``}}`` inside, no ``}`` at the end.

    Anki closes a deletion at the first ``}}``, so ``{{c1::\\frac{a}{b}}}`` needs a
    space: ``{{c1::\\frac{a}{b} }}``. In TeX the space changes nothing.
    """
    body = split_closing_braces(body)
    if body.endswith("}"):
        body += " "
    return body


def count_openings(html: str) -> int:
    """How many deletions open in a field's HTML."""
    return len(_NUMBERED.findall(html))


def renumber_clozes(html: str, numbers: dict[int, int]) -> str:
    """Give the k-th deletion of a field's HTML the number ``numbers[k]`` (others kept).

    Literal braces in rendered text are HTML entities, so every ``{{cN::`` left in a
    field's HTML opens a deletion, in the order the deletions were found.
    """
    position = -1

    def number(match: re.Match[str]) -> str:
        nonlocal position
        position += 1
        new = numbers.get(position)
        return match.group(0) if new is None else f"{{{{c{new}::"

    return _NUMBERED.sub(number, html)
