r"""Verification: the value a card shows, read from its Markdown and compared with a check.

- :func:`parse_number` and :func:`parse_value` read a number as written (``-0.2494``,
  ``1,000``, ``6 \times 10^{23}``), a ``[vector]``/``[[matrix]]`` or a ``(tuple)``
  into a :class:`CardValue`, each number with the tolerance of its digits;
- :func:`card_value` finds the value a check compares against: a cloze deletion, the
  first **bold** value of a Q/A answer, else its last value (:func:`_value_candidates`);
- :func:`compare` compares it with the answer a check computed, and
  :func:`format_value` shows a computed answer in messages.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, replace
from typing import Any

from build_deck.model import Card, CardKind, Check
from build_deck.verify.sandbox import MAX_ANSWER_NUMBERS, Outcome
from build_deck.verify.shown import MAX_READ_SOURCE, Shown, answer_pieces, visible_deletions

_NUMBER = (
    r"[-+\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d*)?|\.\d+)(?:[eE][-+\u2212]?\d+)?"
    r"(?:\s*(?:\\times|\\cdot|×|·)\s*10\^\{?[-+\u2212]?\d+\}?)?"
)
_VECTOR = r"\[[\s\d.,eE+\-\u2212\[\]]*\]"
_TUPLE = r"\([\s\d.,eE+\-\u2212]*,[\s\d.,eE+\-\u2212]*\)"
_NUMBER_AT = re.compile(_NUMBER)
_VECTOR_RUN = re.compile(r"[\s\d.,eE+\-\u2212\[\]]*")
_TUPLE_RUN = re.compile(r"[\s\d.,eE+\-\u2212]*")
# A '[' or '(' that may start a vector or a tuple: the character after it must be able
# to follow (a run of '(' or of '[(' is skipped at the speed of the regex engine).
_OPENER = re.compile(r"\[(?=[\s\d.,eE+\-\u2212\[\]])|\((?=[\s\d.,eE+\-\u2212])")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__", re.DOTALL)
_NOISE = re.compile(r"\$|\\approx|\\,|≈|=|\\!|\\;")
_PARTS = re.compile(
    r"^([-+]?)(\d[\d,]*|)(?:\.(\d*))?(?:[eE]([-+]?\d+))?"
    r"(?:\s*(?:\\times|\\cdot|×|·)\s*10\^\{?([-+]?\d+)\}?)?$"
)


@dataclass(frozen=True, slots=True)
class Number:
    """A number as written on a card."""

    value: float
    """Its value."""
    tolerance: float
    """Half a unit in its last digit."""
    text: str
    """How it was written."""
    integer: bool
    """Whether it was written without a decimal point or exponent."""


@dataclass(frozen=True, slots=True)
class CardValue:
    """The value a card shows: a number, an array of numbers, or a tuple."""

    shape: str
    """``number``, ``array`` or ``tuple``."""
    numbers: tuple[Number, ...]
    """The numbers in reading order."""
    dims: tuple[int, ...]
    """The array's shape (``()`` for a number)."""
    text: str
    """How the value was written."""
    rounded: bool = False
    """Whether the card writes it as rounded, with ``≈`` (``\\approx``) before it; a
    value without is equal to what the check computes."""
    at: int = -1
    """Where the card shows it in ``value_source`` (a bold value: its ``**``; a deletion:
    its ``{{``), -1 if not known."""


EXACT_RTOL = 1e-9
"""How far a value written as equal (``=``, or no ``≈``) may be from what is computed,
relative: floating-point error, no rounding."""
EXACT_ATOL = 1e-12
"""The same near zero, absolute."""

_ROUNDED_BEFORE = re.compile(r"(?:\\approx|≈|\\simeq)\s*\$?\s*$")
_ROUNDED_INSIDE = re.compile(r"^\s*\$?\s*(?:\\approx|≈|\\simeq)")


def written_rounded(before: str, text: str = "") -> bool:
    """Whether a value written as ``text`` after ``before`` is marked as rounded: ``≈``
    or ``\\approx`` right before it, or at its start."""
    return bool(_ROUNDED_BEFORE.search(before[-60:]) or _ROUNDED_INSIDE.match(text))


def equal(a: float, b: float) -> bool:
    """Whether two numbers are equal up to floating-point error."""
    return abs(a - b) <= EXACT_RTOL * max(abs(a), abs(b)) + EXACT_ATOL


def parse_number(text: str) -> Number | None:
    """Read one number such as ``-0.2494``, ``1,000``, ``6e23`` or ``6 \\times 10^{23}``."""
    clean = text.strip().replace("\u2212", "-")
    match = _PARTS.match(clean)
    if not match or not (match.group(2) or match.group(3)):
        return None
    sign, whole, decimals, exponent, power = match.groups()
    if whole and "," in whole and not re.fullmatch(r"\d{1,3}(,\d{3})+", whole):
        return None
    if len(exponent or "") > 6 or len(power or "") > 6:
        return None
    scale = int(exponent or 0) + int(power or 0)
    places = len(decimals or "")
    digits = f"{sign}{(whole or '0').replace(',', '')}.{decimals or '0'}"
    value = float(f"{digits}e{scale}")
    tolerance = float(f"5e{scale - places - 1}")
    if not (math.isfinite(value) and 0 < tolerance < math.inf):
        return None  # beyond the range of a float: no check could compare it
    return Number(
        value=value,
        tolerance=tolerance,
        text=text.strip(),
        integer=decimals is None and exponent is None and power is None,
    )


def _split_items(text: str) -> list[str]:
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item.strip() for item in items]


MAX_ARRAY_DEPTH = 32
"""Deepest nesting of brackets a card's value may have (an answer may have no more)."""

_Parsed = tuple[list[Number], tuple[int, ...]]


def _parse_array(text: str) -> _Parsed | None:
    """Read ``[...]`` nested lists of numbers, all of one shape at each level, or a
    number; None if it is not one. One pass with an explicit stack: linear in the
    text, never recursive."""
    text = text.strip()
    if not text.startswith("["):
        number = parse_number(text)
        return ([number], ()) if number else None
    if text.count(",") >= MAX_ANSWER_NUMBERS:
        return None  # more numbers than any check may answer with
    stack: list[list[_Parsed]] = []  # the items of every list still open
    start = 0  # where the pending item's text starts
    closed: _Parsed | None = None  # a list just closed, the pending item
    for i, ch in enumerate(text):
        if ch not in "[],":
            continue
        pending = text[start:i]
        if ch == "[":
            if closed is not None or pending.strip() or len(stack) >= MAX_ARRAY_DEPTH:
                return None
            stack.append([])
        else:
            if not stack:
                return None  # text after the outermost list
            if closed is not None:
                if pending.strip():
                    return None
                item = closed
            else:
                number = parse_number(pending)
                if number is None:
                    return None
                item = ([number], ())
            stack[-1].append(item)
            closed = None
            if ch == "]":
                items = stack.pop()
                shapes = {shape for _, shape in items}
                if len(shapes) != 1:
                    return None
                closed = ([n for numbers, _ in items for n in numbers], (len(items), *shapes.pop()))
        start = i + 1
    if stack or closed is None or text[start:].strip():
        return None
    return closed


def parse_value(text: str) -> CardValue | None:
    """Read a whole value: number, ``[vector]``/``[[matrix]]`` or ``(tuple)``."""
    shown = _NOISE.sub(" ", text).strip()  # as written, for messages
    clean = shown.replace("\u2212", "-")
    if clean.startswith("(") and clean.endswith(")"):
        if clean.count(",") > MAX_ANSWER_NUMBERS:
            return None  # more numbers than any check may answer with
        items = _split_items(clean[1:-1])
        if len(items) > 1 and not items[-1]:
            items.pop()  # a one-element tuple such as the shape (3,)
        numbers = [parse_number(item) for item in items]
        if numbers and all(numbers):
            found = tuple(n for n in numbers if n)
            return CardValue("tuple", found, (len(found),), shown)
        return None
    if clean.startswith("["):
        array = _parse_array(clean)
        if array is None:
            return None
        return CardValue("array", tuple(array[0]), array[1], shown)
    number = parse_number(clean)
    return CardValue("number", (number,), (), shown) if number else None


def card_value(card: Card, check: Check) -> CardValue | str:
    """The value ``check`` compares against, or why there is none; marked ``rounded``
    when the card writes ``≈`` before it."""
    found = _card_value(card, check)
    if isinstance(found, str):
        return found
    value, at = found
    source = card.value_source
    inside = re.sub(r"^(?:\*\*|__|\{\{(?:c\d+::)?)", "", source[at : at + 60])
    return replace(value, rounded=written_rounded(source[:at], inside), at=at)


def _deletion_at(card: Card, number: int | None, body: str) -> int:
    """Where deletion ``number`` (whose text is ``body``) starts in the cloze text."""
    source = card.value_source
    opener = re.search(rf"\{{\{{(?:c{number or 0}::)?{re.escape(body)}", source)
    if opener is None:
        opener = re.search(r"\{\{(?:c\d+::)?" + re.escape(body), source)
    return opener.start() if opener else 0


def _card_value(card: Card, check: Check) -> tuple[CardValue, int] | str:
    """The value ``check`` compares against and where it is, or why there is none."""
    if card.kind.is_qa and check.target is not None:
        return f"a Q/A card has no deletion {check.target}: write the info string as just 'check'"
    if card.kind is CardKind.CLOZE:
        return _deletion_value(card, check)
    # The value is read from what the student sees: not from a comment, raw HTML or
    # struck-through text, which may hold another number than the one shown.
    source = card.value_source
    if len(source) > MAX_READ_SOURCE:
        return f"the answer is longer than {MAX_READ_SOURCE // 1024} KiB: no value is read from it"
    pieces = answer_pieces(card)
    first_bold = None
    bolds = visible_bolds(card, pieces)
    for text, start, _ in itertools.islice(bolds, MAX_BOLD_TRIED):
        value = parse_value(text)
        if value:
            return value, start
        first_bold = text if first_bold is None else first_bold
    if first_bold is not None:
        return f"no bold text of the answer is a value ({first_bold!r}); write the value in bold"
    shown = "".join(f"${p.text}$" if p.kind == "math" else p.text for p in pieces)
    scanned = shown[-MAX_SCANNED_ANSWER:]
    for _, text in reversed(_value_spans(scanned)):
        value = parse_value(text)
        if value:
            return value, max(source.rfind(text), 0)
    return "the answer shows no value: write it in bold, e.g. **-0.2494**"


def _deletion_value(card: Card, check: Check) -> tuple[CardValue, int] | str:
    """The deletion a check of a cloze card compares against: the one it names, else
    the first that is a value. A deletion the student does not see (inside raw HTML,
    struck through) is never one."""
    visible = visible_deletions(card.value_source)
    if len(visible) != len(card.deletions):
        visible = [False] * len(card.deletions)  # cannot tell which is shown: none is
    shown = [(n, body) for (n, body), seen in zip(card.deletions, visible, strict=True) if seen]
    if check.target is not None:
        digits = re.fullmatch(r"[cC]([0-9]{1,6})", check.target)
        number = int(digits.group(1)) if digits else None
        if not any(n == number for n, _ in card.deletions):
            return f"the check names {check.target}, but the card has no such deletion"
        bodies = [body for n, body in shown if n == number]
        if not bodies:
            return f"deletion {check.target} is not shown (it is inside raw HTML or struck through)"
        value = parse_value(bodies[0])
        if value is None:
            return f"deletion {check.target} ({bodies[0]!r}) is not a value"
        return value, _deletion_at(card, number, bodies[0])
    for deleted, body in shown:
        value = parse_value(body)
        if value:
            return value, _deletion_at(card, deleted, body)
    return "no deletion of the card is a value; name one with ```check c2"


def visible_bolds(card: Card, pieces: list[Shown] | None = None) -> list[tuple[str, int, int]]:
    """The bold texts of a Q/A answer that the student sees (:func:`answer_pieces`), each
    with where its ``**`` starts and ends in ``value_source``: a bold text in a comment,
    raw HTML or struck-through text is not one."""
    source = card.value_source
    if pieces is None:
        pieces = answer_pieces(card)
    shown = [piece.text for piece in pieces if piece.kind == "bold"]
    found: list[tuple[str, int, int]] = []
    matches = _BOLD.finditer(source)
    for text in shown:
        for match in matches:
            if (match.group(1) or match.group(2)) == text:
                found.append((text, match.start(), match.end()))
                break
        else:
            break  # a bold text not written as such (escaped): the rest cannot be placed
    return found


def _value_candidates(source: str) -> list[str]:
    """Every value written in ``source``, left to right: ``[vectors]``, ``(tuples,)``
    and numbers, as ``re.finditer(f"{_VECTOR}|{_TUPLE}|{_NUMBER}")`` would find them,
    but in linear time: that expression tries a run of ``[`` without an end once per
    bracket. Between two brackets only numbers can be found, by ``finditer`` in C."""
    return [text for _, text in _value_spans(source)]


def _value_spans(source: str) -> list[tuple[int, str]]:
    """What :func:`_value_candidates` finds, each with where it starts."""
    found: list[tuple[int, str]] = []
    dead_until = 0  # a run of vector characters without a ']' ends here
    i = 0
    while i < len(source):
        if i < dead_until:
            opener = dead_until  # no '(' can be in the run, and no '[' starts a vector
        else:
            match = _OPENER.search(source, i)
            opener = match.start() if match else len(source)
        found += [(m.start(), m.group(0)) for m in _NUMBER_AT.finditer(source, i, opener)]
        i = opener
        if i >= len(source) or i < dead_until or (i == dead_until and source[i] not in "[("):
            continue
        run = (_VECTOR_RUN if source[i] == "[" else _TUPLE_RUN).match(source, i + 1)
        end = run.end() if run else i + 1
        if source[i] == "[":
            close = source.rfind("]", i + 1, end)
            if close >= 0:
                found.append((i, source[i : close + 1]))
                i = close + 1
                continue
            dead_until = end
        elif end < len(source) and source[end] == ")" and "," in source[i + 1 : end]:
            found.append((i, source[i : end + 1]))
            i = end + 1
            continue
        i += 1
    return found


MAX_BOLD_TRIED = 1000
"""Bold texts of an answer tried as its value, from the first."""
MAX_SCANNED_ANSWER = 20_000
"""Characters at the end of an answer searched for its last value when none is bold."""

_SHOWN_ITEMS = 6
"""Items of a computed list or tuple a message shows; the rest are elided."""


def format_value(value: Any, digits: int = 6) -> str:
    """A computed answer as a message shows it: short, however large the answer, with
    ``digits`` significant digits."""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, list | tuple):
        items = [format_value(v, digits) for v in value[:_SHOWN_ITEMS]]
        if len(value) > _SHOWN_ITEMS:
            items.append(f"… {len(value) - _SHOWN_ITEMS} more")
        inner = ", ".join(items)
        if isinstance(value, tuple):
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        return f"[{inner}]"
    text = str(value)
    return text if len(text) <= 24 else f"{text[:10]}…({len(text)} digits)"


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return [x for item in value for x in _flatten(item)]
    return [value]


def _dims(value: Any) -> tuple[int, ...]:
    if isinstance(value, list | tuple):
        return (len(value), *(_dims(value[0]) if value else ()))
    return ()


def compare(value: CardValue, outcome: Outcome) -> str | None:
    """None if the recomputed answer matches the card's value, else the message."""
    answer = outcome.answer
    computed = _flatten(answer)
    if value.shape == "number" and len(computed) == 1:
        computed_dims: tuple[int, ...] = ()
    else:
        computed_dims = _dims(answer)
    if len(computed) != len(value.numbers) or (
        computed_dims != value.dims and value.shape != "tuple"
    ):
        if computed_dims == value.dims:
            sizes = f"{len(value.numbers)} numbers on the card, {len(computed)} computed"
        else:
            sizes = f"shape {value.dims} on the card, {computed_dims} computed"
        return f"card says {value.text}, check computes {format_value(answer)} ({sizes})"
    if outcome.tol is not None:
        reason = f"tolerance ±{outcome.tol:g} set by the check"
    elif outcome.rtol is not None:
        reason = f"relative tolerance {outcome.rtol:g} set by the check"
    elif value.rounded:
        widest = max(n.tolerance for n in value.numbers)
        reason = f"tolerance ±{widest:g} from the digits shown"
    else:
        reason = "no ≈ before it, so it must be equal"
    rounds = True  # whether the digits shown are the computed value, rounded
    for shown, got in zip(value.numbers, computed, strict=True):
        if not isinstance(got, int | float):
            return f"check computes {format_value(answer)}, which is not a number"
        rounds = rounds and abs(got - shown.value) <= shown.tolerance * (1 + 1e-9)
        if value.shape == "tuple" and shown.integer:
            ok = float(got) == shown.value
            reason = "tuples of whole numbers are compared exactly"
            rounds = False
        elif outcome.tol is not None:
            ok = abs(got - shown.value) <= outcome.tol
        elif outcome.rtol is not None:
            ok = abs(got - shown.value) <= outcome.rtol * abs(shown.value)
        elif value.rounded:
            ok = abs(got - shown.value) <= shown.tolerance * (1 + 1e-9)
        else:
            ok = equal(got, shown.value)
        if not ok:
            break
    else:
        return None
    exact = not value.rounded and outcome.tol is None and outcome.rtol is None
    if rounds and exact:
        found = format_value(answer, digits=12 if value.shape == "number" else 6)
        return (
            f"write \\approx before {_written(value)}: it is rounded, the check computes "
            f"{found} (a value without ≈ must be equal)"
        )
    return f"card says {value.text}, check computes {format_value(answer)} ({reason})"


def _written(value: CardValue) -> str:
    """How a suggestion quotes the value it is about."""
    return value.text if len(value.text) <= 40 else value.text[:39] + "…"
