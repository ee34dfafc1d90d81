"""Verification, the check sandbox's wire: what passes between the build and a worker.

A check's outcome is plain data (:class:`Outcome`, :class:`FormulaPoint`), sent as JSON
(never pickle) in frames of a 4-byte length and the message. Here are the framing
(``_frame``, ``_send_frame``, ``_send_bytes``, ``_read_frame``), plain data to and from
JSON values (``_to_wire``, ``_from_wire``), outcomes to and from the wire, type-checked
field by field (``_outcome_to_wire``, ``_outcome_from_wire``, ``_formula_from_wire``), a
check's answer made plain data (``_plain``), the one-line messages (``_one_line``,
``_failure``) and the caps on sizes.

What it guarantees, and the tests that prove it:

- a worker, even one the attacker controls, can send the build nothing but a small
  outcome of plain data, each field of its annotated type, or the check fails:
  ``TestOnlyPlainDataComesBack`` in tests/verify/test_confinement.py (``test_a_pickle``,
  ``test_a_huge_length``, ``test_an_answer_that_is_an_object``, ``test_an_extra_field``,
  ``test_a_field_of_the_wrong_type``, ``test_an_answer_nested_very_deeply``,
  ``test_formula_points_holding_text_are_refused``,
  ``test_chain_members_that_are_not_plain_are_refused``, ``test_still_names_must_be_text``);
- an answer holds at most :data:`MAX_ANSWER_NUMBERS` numbers in :data:`MAX_RESULT_BYTES`:
  ``TestLimits.test_answer_too_large_to_send_back``, ``test_answer_nested_too_deeply``,
  ``test_answer_too_large_for_a_float`` in tests/verify/test_sandbox.py, and
  ``test_huge_mismatches_give_one_short_line`` in tests/verify/test_confinement.py;
- every message is one line of at most :data:`MAX_MESSAGE_LENGTH` characters, with no
  control characters or memory addresses:
  ``test_a_long_message_with_control_characters_and_addresses`` (test_confinement.py),
  ``TestLimits.test_messages_cannot_forge_lines_or_control_the_terminal``,
  ``test_long_error_messages_are_cut``, ``test_messages_echo_no_memory_addresses``
  (test_sandbox.py).
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

MAX_ANSWER_NUMBERS = 10_000
"""Numbers one ``answer`` may hold: a card shows a few, and this keeps the parent,
which has no memory limit, from receiving huge answers."""
MAX_MESSAGE_LENGTH = 300
"""Characters of an error message sent back from a worker, and of the build's message
about a check (the card's text or the answer may be huge)."""
MAX_RESULT_BYTES = 256 * 1024
"""Bytes of one result a worker may send back; more fails the check."""
_FRAME = struct.Struct(">I")
"""Every message is its length (4 bytes, big-endian) and then as many bytes of JSON."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What running one check produced; plain data, safe to send between processes."""

    answer: Any
    """The value of ``answer`` as plain Python (float, int, nested lists, tuple), or None."""
    has_answer: bool
    """Whether the check set ``answer``."""
    tol: float | None
    """The check's ``tol``, if set."""
    rtol: float | None
    """The check's ``rtol``, if set."""
    asserts: int
    """How many ``assert`` statements ran and held (one in a branch or loop that never
    runs does not count)."""
    error: str | None = None
    """What went wrong, or None."""
    error_line: int | None = None
    """1-based line of the check code where it went wrong, if known."""
    formula: tuple[FormulaPoint, ...] = ()
    """For a formula check: the formula and the check's reference at each point."""
    still: tuple[str, ...] = ()
    """For a formula check: the names its points hold still (``y: 1.0 at every point``)."""
    members: tuple[tuple[bool, Any], ...] = ()
    """Members of the card's displayed chains evaluated with the check's names: each
    ``(True, value)``, or ``(False, why not)``."""
    seconds: float = 0.0
    """Wall-clock seconds the check took, as the build measured it."""
    budget_exceeded: bool = False
    """Whether the check was cut or never started because the build's checks used up
    their time budget."""


@dataclass(frozen=True, slots=True)
class FormulaPoint:
    """A card's formula and the check's reference, evaluated at one point."""

    bindings: dict[str, Any]
    """The value of each name the formula reads, where it is a number or a vector."""
    shown: tuple[Any, ...]
    """The value of each part of the formula the card shows."""
    reference: Any
    """The reference's value."""


def _one_line(message: str) -> str:
    """A message fit for the user's terminal: one line, no control characters, no memory
    addresses, at most :data:`MAX_MESSAGE_LENGTH` characters."""
    message = message[: MAX_MESSAGE_LENGTH * 4]
    message = re.sub(r"\s*\n\s*", " ", message.strip())
    message = re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: repr(m.group())[1:-1], message)
    message = re.sub(r"\b0x[0-9a-fA-F]{5,}\b", "0x…", message)
    if len(message) > MAX_MESSAGE_LENGTH:
        message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
    return message


def _failure(asserts: int, message: str, line: int | None = None) -> Outcome:
    """An outcome for a check that went wrong, its message made one short line."""
    return Outcome(None, False, None, None, asserts, _one_line(message), line)


def _plain(value: Any) -> Any:
    """A check's answer as plain data, or raise TypeError.

    At most :data:`MAX_ANSWER_NUMBERS` numbers, nested at most 32 deep.
    """
    import numpy as np

    left = MAX_ANSWER_NUMBERS
    size = 0  # about the bytes it takes on the pipe: refused before it is encoded

    def take(count: int) -> None:
        nonlocal left
        if count > left:
            raise TypeError(f"answer holds more than {MAX_ANSWER_NUMBERS} numbers")
        left -= count
        grow(count * 24)

    def grow(count: int) -> None:
        nonlocal size
        size += count
        if size > MAX_RESULT_BYTES:
            raise TypeError(f"the answer is larger than {MAX_RESULT_BYTES // 1024} KiB")

    def convert(item: Any, depth: int) -> Any:
        if depth > 32:
            raise TypeError("answer is nested too deeply")
        if isinstance(item, tuple):
            take(len(item))
            return tuple(convert(v, depth + 1) for v in item)
        if isinstance(item, np.ndarray | list):
            array = np.asarray(item)
            if array.dtype.kind not in "biuf":
                raise TypeError("answer must hold numbers")
            take(array.size)
            if array.dtype.kind == "f" and array.dtype.itemsize > 8:
                array = array.astype(np.float64)  # long double: compared as a float
            return array.tolist()
        if isinstance(item, int) and not isinstance(item, bool):
            if abs(item) > 2**1023:
                raise TypeError("answer is too large a number to compare")
            grow(item.bit_length() // 3)  # its digits
        if isinstance(item, np.floating):
            return float(item)  # also a long double, which .item() keeps as it is
        if isinstance(item, bool | int | float | np.integer | np.bool_):
            return item.item() if isinstance(item, np.generic) else item
        raise TypeError(f"answer must be a number, a vector or a tuple, not {type(item).__name__}")

    return convert(value, 0)


# What a worker may send for each field of Outcome, by the field's annotation.
_FIELD_TYPES: dict[str, Callable[[Any], bool]] = {
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**63,
    "int | None": lambda v: v is None or _FIELD_TYPES["int"](v),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "float | None": lambda v: v is None or _FIELD_TYPES["float"](v),
    "str": lambda v: isinstance(v, str),
    "str | None": lambda v: v is None or isinstance(v, str),
}
_SPECIAL_FIELDS = frozenset({"formula", "still", "members"})
"""Fields of Outcome read by a function of their own."""
_PARENT_FIELDS = frozenset({"seconds", "budget_exceeded"})
"""Fields of Outcome the build sets; a worker never sends them."""


def _to_wire(value: Any) -> Any:
    """Plain data as JSON values: a tuple becomes ``{"tuple": [...]}``."""
    if isinstance(value, tuple):
        return {"tuple": [_to_wire(item) for item in value]}
    if isinstance(value, list):
        return [_to_wire(item) for item in value]
    if isinstance(value, dict):
        return {"dict": [[str(k), _to_wire(v)] for k, v in value.items()]}
    return value


def _from_wire(value: Any, *, text: bool, depth: int = 0) -> Any:
    """Undo :func:`_to_wire`, accepting only numbers, lists and tuples (and ``text``:
    strings and dicts); raise ValueError on anything else."""
    if depth > 40:
        raise ValueError("nested too deeply")
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list):
        return [_from_wire(item, text=text, depth=depth + 1) for item in value]
    if isinstance(value, dict) and set(value) == {"tuple"} and isinstance(value["tuple"], list):
        return tuple(_from_wire(item, text=text, depth=depth + 1) for item in value["tuple"])
    if text and isinstance(value, str):
        return value
    if text and isinstance(value, dict) and set(value) == {"dict"}:
        return {str(k): _from_wire(v, text=text, depth=depth + 1) for k, v in value["dict"]}
    raise ValueError(f"not plain data: {type(value).__name__}")


def _frame(payload: Any) -> bytes:
    data = json.dumps(payload, separators=(",", ":")).encode()
    return _FRAME.pack(len(data)) + data


def _send_frame(fd: int, payload: Any) -> None:
    """Write one message on a blocking file descriptor (in a worker)."""
    _send_bytes(fd, _frame(payload))


def _send_bytes(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_frame(fd: int) -> Any:
    """Read one message from a blocking file descriptor (in a worker); None at EOF."""
    header = _read_exactly(fd, _FRAME.size)
    if header is None:
        return None
    (length,) = _FRAME.unpack(header)
    body = _read_exactly(fd, length)
    return None if body is None else json.loads(body)


def _read_exactly(fd: int, count: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < count:
        chunk = os.read(fd, count - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def _outcome_to_wire(outcome: Outcome) -> dict[str, Any]:
    wire = {
        f.name: _to_wire(getattr(outcome, f.name))
        for f in fields(Outcome)
        if f.name not in _PARENT_FIELDS | _SPECIAL_FIELDS
    }
    wire["formula"] = [_to_wire((p.bindings, p.shown, p.reference)) for p in outcome.formula]
    wire["still"] = [str(name) for name in outcome.still]
    wire["members"] = [[ok, _to_wire(value)] for ok, value in outcome.members]
    return wire


def _still_from_wire(value: Any) -> tuple[str, ...]:
    """The names a formula check holds still: a list of one-line texts."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("bad still")
    return tuple(_one_line(v) for v in value[:50])


def _members_from_wire(value: Any) -> tuple[tuple[bool, Any], ...]:
    """Chain members as sent by a worker: ``[true, numbers]`` or ``[false, message]``."""
    if not isinstance(value, list):
        raise ValueError("bad members")
    members = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], bool)):
            raise ValueError("bad member")
        ok, data = item
        if ok:
            members.append((True, _from_wire(data, text=False)))
        elif isinstance(data, str):
            members.append((False, _one_line(data)))
        else:
            raise ValueError("bad member")
    return tuple(members)


def _formula_from_wire(value: Any) -> tuple[FormulaPoint, ...]:
    """A formula check's points as sent by a worker; ValueError unless each is a dict of
    names to numbers or vectors, a tuple of values and a value."""
    if not isinstance(value, list):
        raise ValueError("bad formula")
    points = []
    for item in value:
        point = _from_wire(item, text=True)
        if not (isinstance(point, tuple) and len(point) == 3):
            raise ValueError("bad formula point")
        bindings, shown, reference = point
        if not isinstance(bindings, dict) or not isinstance(shown, tuple):
            raise ValueError("bad formula point")
        # Names are text; values are numbers or lists of them, never text.
        _from_wire(_to_wire([list(bindings.values()), shown, reference]), text=False)
        points.append(FormulaPoint(bindings, shown, reference))
    return tuple(points)


def _outcome_from_wire(payload: Any) -> Outcome:
    """A worker's result as an Outcome; ValueError unless it is exactly the plain data
    an Outcome holds."""
    wanted = [f for f in fields(Outcome) if f.name not in _PARENT_FIELDS]
    if not isinstance(payload, dict) or set(payload) != {f.name for f in wanted}:
        raise ValueError("not an outcome")
    values: dict[str, Any] = {}
    for f in wanted:
        value = payload[f.name]
        if f.name == "formula":
            values[f.name] = _formula_from_wire(value)
        elif f.name == "still":
            values[f.name] = _still_from_wire(value)
        elif f.name == "members":
            values[f.name] = _members_from_wire(value)
        elif f.type == "Any":
            values[f.name] = _from_wire(value, text=False)
        elif isinstance(f.type, str) and _FIELD_TYPES[f.type](value):
            values[f.name] = float(value) if "float" in f.type and value is not None else value
        else:
            raise ValueError(f"bad {f.name}")
    if values.get("error") is not None:
        values["error"] = _one_line(values["error"])
    return Outcome(**values)
