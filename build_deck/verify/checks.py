r"""Compare what a card shows with an independent computation.

Three things a card shows are verified:

- **its value**, read from the card's Markdown source: the first **bold** value of a
  Q/A answer (else its last value), or a cloze deletion, compared with the ``answer``
  its check computes. The tolerance comes from the digits shown: half a unit in the
  last digit, unless the check sets ``tol`` (absolute) or ``rtol`` (relative);
- **its formula**, when a check starts with ``# formula``: the TeX the card shows is
  read into an expression (:mod:`build_deck.verify.formula`), evaluated in the check's worker
  with the check's names bound, and compared with the check's ``reference`` at several
  points;
- **its arithmetic**: displayed math whose parts are all numbers
  (``$0.5 \cdot 2 + 0.1 = 1.1$``, ``$2 \cdot 3 =$ **6**``) is evaluated here, without
  running any user code, and each part compared, within the digits shown. A chain
  written with ``\sim`` is rough on purpose and is not checked.

A card is verified (and earns the mark) only when one of these was compared; checks
that only assert supporting facts must pass but do not earn it.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt

from build_deck.model import Card, CardKind, Check, Diagnostic, Severity, SourceLoc
from build_deck.parse.markdown import make_parser
from build_deck.verify import formula as tex
from build_deck.verify.sandbox import (
    CHECK_BUDGET,
    MAX_ANSWER_NUMBERS,
    MAX_MESSAGE_LENGTH,
    ConfinementUnavailable,
    Outcome,
    run_checks,
)

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
    """The value ``check`` compares against, or why there is none."""
    if card.kind.is_qa and check.target is not None:
        return f"a Q/A card has no deletion {check.target}: write the info string as just 'check'"
    if card.kind is CardKind.CLOZE:
        if check.target is not None:
            digits = re.fullmatch(r"[cC]([0-9]{1,6})", check.target)
            number = int(digits.group(1)) if digits else None
            bodies = [body for n, body in card.deletions if n == number]
            if not bodies:
                return f"the check names {check.target}, but the card has no such deletion"
            value = parse_value(bodies[0])
            return value or f"deletion {check.target} ({bodies[0]!r}) is not a value"
        for _, body in card.deletions:
            value = parse_value(body)
            if value:
                return value
        return "no deletion of the card is a value; name one with ```check c2"
    source = card.value_source
    first_bold = None
    for match in itertools.islice(_BOLD.finditer(source), MAX_BOLD_TRIED):
        text = match.group(1) or match.group(2)
        value = parse_value(text)
        if value:
            return value
        first_bold = text if first_bold is None else first_bold
    if first_bold is not None:
        return f"no bold text of the answer is a value ({first_bold!r}); write the value in bold"
    candidates = _value_candidates(source[-MAX_SCANNED_ANSWER:])
    for text in reversed(candidates):
        value = parse_value(text)
        if value:
            return value
    return "the answer shows no value: write it in bold, e.g. **-0.2494**"


def _value_candidates(source: str) -> list[str]:
    """Every value written in ``source``, left to right: ``[vectors]``, ``(tuples,)``
    and numbers, as ``re.finditer(f"{_VECTOR}|{_TUPLE}|{_NUMBER}")`` would find them,
    but in linear time: that expression tries a run of ``[`` without an end once per
    bracket. Between two brackets only numbers can be found, by ``finditer`` in C."""
    found: list[str] = []
    dead_until = 0  # a run of vector characters without a ']' ends here
    i = 0
    while i < len(source):
        if i < dead_until:
            opener = dead_until  # no '(' can be in the run, and no '[' starts a vector
        else:
            match = _OPENER.search(source, i)
            opener = match.start() if match else len(source)
        found += [m.group(0) for m in _NUMBER_AT.finditer(source, i, opener)]
        i = opener
        if i >= len(source) or i < dead_until or (i == dead_until and source[i] not in "[("):
            continue
        run = (_VECTOR_RUN if source[i] == "[" else _TUPLE_RUN).match(source, i + 1)
        end = run.end() if run else i + 1
        if source[i] == "[":
            close = source.rfind("]", i + 1, end)
            if close >= 0:
                found.append(source[i : close + 1])
                i = close + 1
                continue
            dead_until = end
        elif end < len(source) and source[end] == ")" and "," in source[i + 1 : end]:
            found.append(source[i : end + 1])
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


def _format(value: Any) -> str:
    """A computed answer as a message shows it: short, however large the answer."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        items = [_format(v) for v in value[:_SHOWN_ITEMS]]
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
        return f"card says {value.text}, check computes {_format(answer)} ({sizes})"
    if outcome.tol is not None:
        reason = f"tolerance ±{outcome.tol:g} set by the check"
    elif outcome.rtol is not None:
        reason = f"relative tolerance {outcome.rtol:g} set by the check"
    else:
        widest = max(n.tolerance for n in value.numbers)
        reason = f"tolerance ±{widest:g} from the digits shown"
    for shown, got in zip(value.numbers, computed, strict=True):
        if not isinstance(got, int | float):
            return f"check computes {_format(answer)}, which is not a number"
        if value.shape == "tuple" and shown.integer:
            ok = float(got) == shown.value
            reason = "tuples of whole numbers are compared exactly"
        elif outcome.tol is not None:
            ok = abs(got - shown.value) <= outcome.tol
        elif outcome.rtol is not None:
            ok = abs(got - shown.value) <= outcome.rtol * abs(shown.value)
        else:
            ok = abs(got - shown.value) <= shown.tolerance * (1 + 1e-9)
        if not ok:
            return f"card says {value.text}, check computes {_format(answer)} ({reason})"
    return None


def _short(message: str) -> str:
    """``message`` on one line of at most :data:`MAX_MESSAGE_LENGTH` characters."""
    message = " ".join(message[: MAX_MESSAGE_LENGTH * 2].split())
    if len(message) > MAX_MESSAGE_LENGTH:
        message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
    return message


VALUE = "value recomputed"
"""What the mark says of a card whose check recomputed its value."""
ARITHMETIC = "arithmetic checked"
"""What the mark says of a card whose displayed arithmetic was recomputed."""
FORMULA = "formula checked at {} points"
"""What the mark says of a card whose formula was compared with a reference."""

_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*formula\b[ \t]*(?::[ \t]*(.*?))?[ \t]*$", re.MULTILINE)
_CLOZE_OPEN = re.compile(r"\{\{c\d+::")
_FORMULA_RTOL = 1e-6
_FORMULA_ATOL = 1e-9


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


# -- formula checks ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Formula:
    """The formula a check verifies, read from the card."""

    source: str
    """The TeX as shown (spacing dropped), for messages."""
    parts: tuple[tex.Node, ...]
    """The trees of the parts compared with the reference."""
    texts: tuple[str, ...]
    """The TeX of each of those parts."""


def formula_directive(check: Check) -> str | None:
    """What ``# formula`` in a check names ('' for the default), or None."""
    match = _DIRECTIVE.search(check.code)
    if match is None:
        return None
    return (match.group(1) or "").strip()


def _formula_tex(card: Card, check: Check, named: str) -> str:
    """The TeX of the formula a check names on its card; raises FormulaError."""
    target = named if re.fullmatch(r"[cC]\d+", named) else check.target
    if named and target is not named:
        wanted = " ".join(named.strip("$").split())
        shown = (
            " ".join(card.value_source.split())
            + " "
            + " ".join(" ".join(body.split()) for _, body in card.deletions)
        )
        if wanted not in shown:
            raise tex.FormulaError(f"the card shows no formula ${wanted}$")
        return wanted
    if card.kind is CardKind.CLOZE:
        bodies = [
            (n, body) for n, body in card.deletions if target is None or f"c{n}" == target.lower()
        ]
        if not bodies:
            raise tex.FormulaError(f"the card has no deletion {target}")
        for number, body in bodies:
            maths = [p.text for p in shown_pieces(body) if p.kind == "math"]
            if maths:
                return maths[0]
            if target is not None:
                raise tex.FormulaError(f"deletion c{number} holds no math")
        raise tex.FormulaError("no deletion of the card holds math; name one with ```check c2")
    maths = [p.text for p in shown_pieces(card.value_source) if p.kind == "math"]
    if not maths:
        raise tex.FormulaError("the answer shows no formula")
    return strip_cloze(maths[-1])


def read_formula(card: Card, check: Check, named: str) -> Formula:
    """The formula a check verifies: the parts of its chain after a leading name
    (``\\frac{dL}{dw} =``), parsed. Raises FormulaError."""
    source = strip_cloze(_formula_tex(card, check, named))
    chain, relations = tex.split_chain(source)
    odd = [r for r in relations if r not in ("=", "≈")]
    if odd:
        raise tex.FormulaError(
            f"${tex.shown(source)}$ holds '{odd[0]}': name the part to verify, "
            "e.g. '# formula: $...$'"
        )
    trees = []
    for tokens in chain:
        if not tokens:
            continue
        try:
            trees.append((tex.parse_tokens(tokens, source), tex.part_text(tokens, source)))
        except tex.FormulaError as exc:
            raise tex.FormulaError(f"cannot read ${tex.shown(source)}$: {exc}") from None
    if len(trees) > 1 and tex.is_name(trees[0][0]):
        trees = trees[1:]
    if not trees:
        raise tex.FormulaError(f"${tex.shown(source)}$ has nothing to evaluate")
    return Formula(tex.shown(source), tuple(t for t, _ in trees), tuple(t for _, t in trees))


def _format_point(bindings: dict[str, Any]) -> str:
    return ", ".join(f"{name}={_format(value)}" for name, value in bindings.items())


def compare_formula(
    formula: Formula, outcome: Outcome, tol: float | None, rtol: float | None
) -> str | None:
    """None if every part of the formula matches the reference, else the message."""
    import numpy as np

    compared = 0
    for point in outcome.formula:
        reference = np.asarray(point.reference, dtype=float)
        if not np.all(np.isfinite(reference)):
            continue
        compared += 1
        for text, value in zip(formula.texts, point.shown, strict=True):
            shown = np.asarray(value, dtype=float)
            same = shown.shape == reference.shape or shown.size == reference.size == 1
            if same:
                same = bool(
                    np.allclose(
                        shown.reshape(reference.shape),
                        reference,
                        rtol=_FORMULA_RTOL if rtol is None else rtol,
                        atol=_FORMULA_ATOL if tol is None else tol,
                    )
                )
            if not same:
                where = _format_point(point.bindings)
                return (
                    f"formula {text} differs from the check's reference"
                    + (f" at {where}" if where else "")
                    + f": shows {_format(value)}, reference {_format(point.reference)}"
                )
    if compared < 2 and len(outcome.formula) >= 2:
        return (
            f"formula {formula.source}: the reference is not finite at the points; "
            "give 'points' where it is defined"
        )
    return None


# -- displayed arithmetic --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainPart:
    """One numeric part of a chain of displayed arithmetic."""

    text: str
    """Its TeX, as quoted in messages."""
    value: float
    """What it evaluates to."""
    tolerance: float
    """How far off it may be (see :func:`arithmetic_chains`)."""
    math: str
    """The TeX of the whole math span it is part of."""
    span: tuple[int, int] | None
    """Where it is in ``math``; None for a bold value after the math."""


def arithmetic_chains(card: Card) -> list[list[ChainPart]]:
    """Every chain of numbers the card displays, as its parts (TeX, value, tolerance);
    parts that are not plain numbers are left out.

    A number as written (``0.4167``, ``1.97 \\cdot 10^6``, a bold value right after a
    chain that ends in ``=``) has the tolerance of its digits; a computed part is exact,
    or, in a chain with ``\\approx``, may be off by what rounding its numbers moves it by.
    """
    if "=" not in card.value_source and "approx" not in card.value_source:
        return []  # no chain: spare the Markdown parser
    pieces = shown_pieces(card.value_source)
    chains = []
    for index, piece in enumerate(pieces):
        if piece.kind != "math":
            continue
        source = strip_cloze(piece.text)
        try:
            parts, relations = tex.split_chain(source)
        except tex.FormulaError:
            continue
        if not relations or any(r not in ("=", "≈") for r in relations):
            continue  # not a chain, or not one of equalities (\sim marks a rough one)
        bold: Number | None = None
        if not parts[-1]:
            following = [p for p in pieces[index + 1 :] if p.kind != "text" or p.text.strip()]
            if following and following[0].kind == "bold":
                bold = parse_number(following[0].text.replace("$", ""))
        values: list[ChainPart] = []
        for position, tokens in enumerate(parts):
            text = tex.part_text(tokens, source)
            number = parse_number(text) if text else bold
            if position == len(parts) - 1 and not tokens and bold is not None:
                text = bold.text
            if number is not None:
                value, tolerance = number.value, number.tolerance
            else:
                try:
                    tree = tex.parse_tokens(tokens, source)
                    value = float(tex.evaluate(tree, tex.numeric_lookup))
                except (tex.FormulaError, TypeError, ValueError, ArithmeticError):
                    continue
                # In a chain with \approx, the numbers a computed part is written with
                # may be rounded too (-\log 0.665 \approx 0.4076): it may be off by what
                # half a unit in each of their last digits moves it by.
                spread = 0.0
                rounded = tex.rounded_inputs(tree)[:20] if "≈" in relations else []
                for changed, _ in rounded:
                    with contextlib.suppress(tex.FormulaError, TypeError, ValueError):
                        spread += abs(float(tex.evaluate(changed, tex.numeric_lookup)) - value)
                tolerance = spread
            span = (tokens[0].start, tokens[-1].start + len(tokens[-1].text)) if tokens else None
            values.append(ChainPart(text, value, tolerance, source, span))
        if len(values) >= 2:
            chains.append(values)
    return chains


def check_arithmetic(card: Card) -> tuple[bool, list[Diagnostic]]:
    """Compare the parts of every numeric chain the card shows: whether any was
    compared, and the chains that do not hold."""
    problems = []
    compared = False
    for parts in arithmetic_chains(card):
        compared = True
        for first, second in itertools.pairwise(parts):
            left, a, ta = first.text, first.value, first.tolerance
            right, b, tb = second.text, second.value, second.tolerance
            broken = [p.text for p in (first, second) if not math.isfinite(p.value)]
            if broken:
                problems.append(
                    Diagnostic(card.loc, f"displayed arithmetic: {broken[0]} is not a number")
                )
                break
            # A number carries the tolerance of its digits; a computed part, in a chain
            # with \approx, that of the numbers it is computed from.
            allowed = abs(ta) + abs(tb)
            allowed += 1e-9 * max(abs(a), abs(b))
            # Half a unit is the edge: 1.5 is shown as 2, not as 1.
            if abs(a - b) > allowed or (allowed and abs(a - b) >= allowed * (1 - 1e-6)):
                problems.append(
                    Diagnostic(
                        card.loc,
                        f"displayed arithmetic does not hold: {left} is {_format(a)}, "
                        f"{right} is {_format(b)} (tolerance ±{allowed:.3g} from the "
                        "digits shown); write \\sim for a rough chain",
                    )
                )
                break
    return compared, problems


# -- judging -------------------------------------------------------------------------


def _judge(
    card: Card, check: Check, outcome: Outcome, formula: Formula | None
) -> tuple[list[str], Diagnostic | None]:
    """What one check verified of its card, and its failure if it failed."""
    if outcome.error is not None:
        lines = check.code.count("\n") + 1
        error_line = outcome.error_line if 0 < (outcome.error_line or 0) <= lines else None
        line = check.loc.line + (error_line or 1)
        message = _short(f"check failed: {outcome.error}")
        return [], Diagnostic(SourceLoc(check.loc.path, line), message)
    earned = []
    if formula is not None:
        problem = compare_formula(formula, outcome, outcome.tol, outcome.rtol)
        if problem:
            return [], Diagnostic(card.loc, _short(problem))
        earned.append(FORMULA.format(len(outcome.formula)))
    if not outcome.has_answer:
        if outcome.asserts or formula is not None:
            return earned, None
        return [], Diagnostic(check.loc, "the check sets no 'answer' and asserts nothing")
    value = card_value(card, check)
    if isinstance(value, str):
        return [], Diagnostic(check.loc, _short(f"cannot check this card: {value}"))
    problem = compare(value, outcome)
    if problem:
        return [], Diagnostic(card.loc, _short(problem))
    return [VALUE, *earned], None


def verify_cards(
    cards: Sequence[Card],
    *,
    budget: float = CHECK_BUDGET,
    trust_checks: bool = False,
    strict: bool = False,
) -> tuple[dict[SourceLoc, str], list[Diagnostic]]:
    """Run every check and compare every chain; returns the verified cards, each with
    what was verified, and the failures.

    All checks together may take ``budget`` seconds. Where checks cannot be confined
    they are run only with ``trust_checks``; otherwise the cards stay unverified by
    their checks, with one warning saying why (an error with ``strict``).
    """
    jobs: list[tuple[Card, Check, Formula | None]] = []
    diagnostics: list[Diagnostic] = []
    failed: set[SourceLoc] = set()
    for card in cards:
        for check in card.checks:
            named = formula_directive(check)
            formula = None
            if named is not None:
                try:
                    formula = read_formula(card, check, named)
                except tex.FormulaError as exc:
                    diagnostics.append(Diagnostic(check.loc, f"formula check: {exc}"))
                    failed.add(card.loc)
                    continue
            jobs.append((card, check, formula))
    codes = [check.code for _, check, _ in jobs]
    formulas = [list(f.parts) if f is not None else None for _, _, f in jobs]
    outcomes: list[Outcome] = []
    if jobs:
        try:
            outcomes = run_checks(codes, formulas=formulas, budget=budget)
        except ConfinementUnavailable as exc:
            if not trust_checks:
                diagnostics.append(_not_run([(c, k) for c, k, _ in jobs], str(exc), strict))
                # Cards that no check ran for stay unverified, whatever else they show.
                failed |= {card.loc for card, _, _ in jobs}
                jobs = []
            else:
                outcomes = run_checks(codes, formulas=formulas, budget=budget, confine=False)
    earned: dict[SourceLoc, list[str]] = {}
    for (card, check, formula), outcome in zip(jobs, outcomes, strict=True):
        if outcome.budget_exceeded:
            failed.add(card.loc)
            continue
        kinds, problem = _judge(card, check, outcome, formula)
        if problem is not None:
            diagnostics.append(problem)
            failed.add(card.loc)
        earned.setdefault(card.loc, []).extend(kinds)
    for card in cards:
        compared, problems = check_arithmetic(card)
        diagnostics += problems
        if problems:
            failed.add(card.loc)
        elif compared:
            earned.setdefault(card.loc, []).append(ARITHMETIC)
    cut = sum(outcome.budget_exceeded for outcome in outcomes)
    if cut:
        pairs = [(card, check) for card, check, _ in jobs]
        diagnostics.append(_budget_exceeded(pairs, outcomes, budget, cut))
    verified = {
        loc: "; ".join(dict.fromkeys(kinds))
        for loc, kinds in earned.items()
        if kinds and loc not in failed
    }
    return verified, diagnostics


def _not_run(jobs: Sequence[tuple[Card, Check]], why: str, strict: bool) -> Diagnostic:
    """The one line saying that no check ran because none could be confined."""
    message = (
        f"checks not run, {len(jobs)} checks left unverified: {why}; pass --trust-checks "
        "to run them unconfined, only for notes you trust"
    )
    severity = Severity.ERROR if strict else Severity.WARNING
    return Diagnostic(jobs[0][1].loc, _short(message), severity)


def _budget_exceeded(
    jobs: Sequence[tuple[Card, Check]], outcomes: Sequence[Outcome], budget: float, cut: int
) -> Diagnostic:
    """One error for a build whose checks ran out of time, at the file that took most."""
    seconds: dict[str, float] = {}
    slowest: dict[str, tuple[float, SourceLoc]] = {}
    for (_, check), outcome in zip(jobs, outcomes, strict=True):
        path = check.loc.path
        seconds[path] = seconds.get(path, 0.0) + outcome.seconds
        if outcome.seconds >= slowest.get(path, (-1.0, check.loc))[0]:
            slowest[path] = (outcome.seconds, check.loc)
    worst = max(seconds, key=lambda path: seconds[path])
    return Diagnostic(
        slowest[worst][1],
        f"checks stopped after {budget:g} s, the time all checks of a build may take; "
        f"this file's took longest ({seconds[worst]:.1f} s, all workers together); "
        f"{cut} checks were cut or not run, their cards unverified; make the slow checks "
        "faster or raise --check-budget",
    )
