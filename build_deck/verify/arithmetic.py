r"""Verification: displayed chains, every member compared with the next.

A chain is math with relations, ``$(n - 1)s - 2p + k = 27 \cdot 2 - 2 + 4 =$ **56**``.
Each member is read with :mod:`build_deck.verify.formula` and evaluated: a number as
written has the tolerance of its digits; a member with names is evaluated with the
values the card states (:mod:`build_deck.verify.stated`) here, or else with the names
the card's check binds, in the check's worker. Then each member is compared with the
next:

- ``=`` means equal: exactly, up to floating-point error (relative 1e-9);
- ``≈`` (``\approx``) means rounded: a number is compared to the digits shown, and a
  computed member may be off by what rounding its numbers of three or more
  significant digits moves it by (``-\log 0.665 \approx 0.4076``);
- ``<``, ``>``, ``\le``, ``\ge``, ``\ne`` must hold (for every element of a vector);
- ``\sim`` marks a rough chain, which is not compared; nor are ``\to``, ``\propto``...

A first member that only names the result (``L``, ``\frac{dL}{dw}``) and has no value
is its label, not compared. Any other member without a value is reported.

- :func:`read_chains` reads the chains of what a card asks to recall (:class:`Chain`);
- :class:`ChainValues` evaluates their members: here, or collects those that need a
  check's names (:meth:`~ChainValues.pending`) and takes their values back;
- :func:`judge_chains` compares them: which chains hold, and the diagnostics.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from build_deck.model import Card, Diagnostic, Severity, SourceLoc
from build_deck.verify import formula as tex
from build_deck.verify.shown import Piece, recalled_pieces
from build_deck.verify.stated import Stated
from build_deck.verify.values import CardValue, equal, format_value, parse_value

COMPARED = frozenset({"=", "≈", "<", ">", "≤", "≥", "≠"})
"""Relations a chain's members are compared by."""


@dataclass(frozen=True, slots=True)
class Member:
    """One member of a displayed chain."""

    text: str
    """Its TeX, as messages quote it."""
    tree: tex.Node | None
    """What it reads as; None for a value written after the math, or one not read."""
    written: CardValue | None
    """The number (or vector) it is, as written: compared to its digits."""
    span: tuple[int, int] | None
    """Where it is in the chain's math; None for a value after the math."""
    line: int
    """The line of the notes file it is on."""
    problem: str | None = None
    """Why it cannot be read, if it cannot."""


@dataclass(frozen=True, slots=True)
class Chain:
    """Math with relations that a card asks to recall."""

    piece: Piece
    """The math it is (its TeX is ``piece.text``)."""
    members: tuple[Member, ...]
    """Its members, in order."""
    relations: tuple[str, ...]
    """The relation between each member and the next."""
    value: Piece | None
    """The value written right after the math, when the chain ends with a relation
    (``$2 \\cdot 3 =$ **6**``): its last member."""


def _member(source: str, tokens: list[tex.Token], line: int) -> Member:
    text = tex.part_text(tokens, source)
    span = (tokens[0].start, tokens[-1].end)
    line += source.count("\n", 0, span[0])
    written = parse_value(text) if not text.startswith("(") else None
    try:
        tree = tex.parse_tokens(tokens, source)
    except tex.FormulaError as exc:
        if written is not None:
            return Member(text, None, written, span, line)
        return Member(text, None, None, span, line, str(exc))
    if written is None and tree[0] == "vec" and all(_plain_number(t) for t in tree[1:]):
        written = parse_value("[" + text.strip("()[]") + "]")  # (0.401, 0.198, 0.401)
    return Member(text, tree, written, span, line)


def names_result(tree: tex.Node | None) -> bool:
    """Whether a chain's first member only names what follows: ``L``, ``H(p, q)``,
    ``\\frac{dL}{dw}``, or a name's power such as ``R^2`` and ``\\sigma^2``."""
    if tree is None:
        return False
    if tree[0] == "pow" and tree[2][0] == "num":
        return tex.is_name(tree[1])
    return tex.is_name(tree)


def _plain_number(tree: Any) -> bool:
    return bool(tree[0] == "num" or (tree[0] == "neg" and tree[1][0] == "num"))


def _split_at_quads(parts: list[list[tex.Token]], relations: list[str]) -> list[Any]:
    """``a = 1 \\quad b = 2`` is two chains."""
    chains: list[tuple[list[list[tex.Token]], list[str]]] = [([parts[0]], [])]
    for relation, part in zip(relations, parts[1:], strict=True):
        if relation == " ":
            chains.append(([part], []))
        else:
            chains[-1][0].append(part)
            chains[-1][1].append(relation)
    return chains


def read_chains(card: Card, pieces: list[Piece] | None = None) -> list[Chain]:
    """The chains of the math a card asks to recall, each member read."""
    pieces = recalled_pieces(card) if pieces is None else pieces
    chains = []
    for index, piece in enumerate(pieces):
        if piece.kind != "math":
            continue
        try:
            all_parts, all_relations = tex.split_chain(piece.text)
        except tex.FormulaError:
            continue
        following = pieces[index + 1] if index + 1 < len(pieces) else None
        between = ""
        if following is not None and following.kind == "value":
            between = card.value_source[piece.end : following.start].strip(" $\n")
            if between in ("=", "≈") and all_parts[-1]:  # "$A$ = **[[4, 2], [2, 12]]**"
                all_parts, all_relations = [*all_parts, []], [*all_relations, between]
                between = ""
        for parts, relations in _split_at_quads(all_parts, all_relations):
            if not relations:
                continue
            value = None
            if not parts[-1] and following is not None and following.kind == "value":
                value = following if between == "" else None
            members = []
            for position, tokens in enumerate(parts):
                if tokens:
                    members.append(_member(piece.text, tokens, piece.line))
                elif position == len(parts) - 1 and value is not None:
                    written = parse_value(value.text)
                    members.append(Member(value.text, None, written, None, value.line))
                elif position == 0:
                    relations = relations[1:]  # "$= 64 \cdot 9 = 576$": starts with a relation
                else:
                    members.append(Member("", None, None, None, piece.line, "nothing here"))
            if len(members) >= 2:
                chains.append(Chain(piece, tuple(members), tuple(relations), value))
    return chains


@dataclass(slots=True)
class Evaluated:
    """A member's value, and how far off it may be when compared by ``≈``."""

    value: Any
    """A number or an array."""
    tolerance: Any
    """Half a unit in the last digit shown for a number as written; for a computed
    member, what rounding the numbers it is written with moves it by."""
    written: bool
    """Whether it is a number as written (its tolerance applies to ``=`` too)."""


@dataclass(slots=True)
class ChainValues:
    """The values of the members of a card's chains, as far as they are known."""

    chains: list[Chain]
    """The card's chains."""
    stated: Stated
    """What the card states."""
    values: dict[tuple[int, int], Evaluated] = field(default_factory=dict)
    """Each member evaluated so far, by (chain, member)."""
    missing: dict[tuple[int, int], str] = field(default_factory=dict)
    """Each member that needs a name no one gives, and which."""

    def evaluate_here(self) -> None:
        """Evaluate every member that needs no check: numbers, and the card's givens."""
        import numpy as np

        lookup = tex.given_lookup({}, self.stated.values, self.stated.first_index)
        for c, chain in enumerate(self.chains):
            for m, member in enumerate(chain.members):
                if member.written is not None:
                    value = np.asarray([n.value for n in member.written.numbers], dtype=float)
                    tolerance = np.asarray(
                        [n.tolerance for n in member.written.numbers], dtype=float
                    )
                    if member.written.dims:
                        value = value.reshape(member.written.dims)
                        tolerance = tolerance.reshape(member.written.dims)
                    else:
                        value, tolerance = value[0], tolerance[0]
                    self.values[(c, m)] = Evaluated(value, tolerance, True)
                elif (
                    member.tree is not None and m == 0 and _constant_name(member.tree, self.stated)
                ):
                    # \pi = (0.05, 0.95): a policy, unless the check binds pi
                    self.missing[(c, m)] = f"no value for '{member.tree[1]}'"
                elif member.tree is not None:
                    try:
                        found = _finite(tex.evaluate(member.tree, lookup))
                    except tex.FormulaError as exc:
                        self.missing[(c, m)] = str(exc)
                        continue
                    except (TypeError, ValueError, ArithmeticError, IndexError) as exc:
                        self.missing[(c, m)] = f"it is not a number ({exc})"
                        continue
                    spread = _spread(member.tree, found, lookup)
                    self.values[(c, m)] = Evaluated(found, spread, False)

    def pending(self) -> list[tuple[tuple[int, int], tex.Node]]:
        """The members that need names a check may bind, with their trees."""
        found = []
        for key in self.missing:
            tree = self.chains[key[0]].members[key[1]].tree
            if tree is not None and "no value" in self.missing[key]:
                found.append((key, tree))
        return found

    def take(self, key: tuple[int, int], ok: bool, value: Any) -> None:
        """A member's value from a check's worker (``ok``), or why it had none."""
        if key not in self.missing:
            return
        tree = self.chains[key[0]].members[key[1]].tree
        constant = tree is not None and key[1] == 0 and _constant_name(tree, self.stated)
        if ok and constant and tree is not None and value == tex.CONSTANTS[tree[1]]:
            return  # the constant, not a value the check gives: it names the result
        if ok:
            with contextlib.suppress(TypeError, ValueError):
                self.values[key] = Evaluated(_finite(value), 0.0, False)
                del self.missing[key]
                return
            self.missing[key] = "it is not a number"
        elif "no value" not in str(value) or "no value" in self.missing[key]:
            self.missing[key] = str(value)


def _constant_name(tree: tex.Node | None, stated: Stated) -> bool:
    """A first member that is only ``e`` or ``\\pi`` (a policy, say) names the result."""
    return (
        tree is not None
        and tree[0] == "sym"
        and tree[1] in tex.CONSTANTS
        and tree[1] not in stated.values
    )


def _finite(value: Any) -> Any:
    """A member's value as a float or an array of floats; raises ValueError if not."""
    import numpy as np

    array = np.asarray(value, dtype=float)
    if array.size == 0 or array.size > 10_000:
        raise ValueError("not a number")
    return float(array) if array.ndim == 0 else array


def _spread(tree: tex.Node, value: Any, lookup: Any) -> Any:
    """What moving each rounded-looking number of ``tree`` by half a unit in its last
    digit moves its value by, added up."""
    import numpy as np

    spread: Any = 0.0
    for changed, _ in tex.rounded_inputs(tree)[:20]:
        with contextlib.suppress(tex.FormulaError, TypeError, ValueError, ArithmeticError):
            moved = np.asarray(tex.evaluate(changed, lookup), dtype=float)
            spread = spread + np.abs(moved - value)
    return spread


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """What comparing one chain found."""

    compared: bool
    """Whether every relation between members with a value was compared and held, and
    there was at least one."""
    problems: list[Diagnostic]
    """Errors: relations that do not hold."""
    unevaluated: list[tuple[Member, str]]
    """Members without a value, and why (labels excepted)."""
    attempted: bool
    """Whether any relation of it was compared: the chain is displayed arithmetic, its
    members without a value are worth a warning."""


def judge_chain(card: Card, index: int, values: ChainValues) -> ChainVerdict:
    """Compare the members of chain ``index`` of a card with each other."""
    chain = values.chains[index]
    problems: list[Diagnostic] = []
    unevaluated = []
    for m, member in enumerate(chain.members):
        if (index, m) in values.values:
            continue
        why = member.problem or values.missing.get((index, m), "it was not evaluated")
        if m == 0 and names_result(member.tree):
            continue  # a label: L = ...
        unevaluated.append((member, why))
    compared = 0
    uncompared = 0
    for m, relation in enumerate(chain.relations):
        left, right = values.values.get((index, m)), values.values.get((index, m + 1))
        if left is None or right is None:
            uncompared += 1
            continue
        if relation not in COMPARED:
            uncompared += 1
            continue
        problem = compare_members(chain.members[m], left, chain.members[m + 1], right, relation)
        if problem is not None:
            line = chain.members[m + 1].line
            problems.append(Diagnostic(SourceLoc(card.loc.path, line), problem))
        compared += 1
    labelled = bool(chain.relations) and (index, 0) not in values.values
    holds = not problems and not unevaluated and compared > 0
    holds = holds and uncompared == (1 if labelled else 0)
    # A label names what follows it: L = ... or L ≈ ..., never L < ... or L ≠ ...
    holds = holds and not (labelled and chain.relations[0] not in ("=", "≈"))
    return ChainVerdict(holds, problems, unevaluated, compared > 0)


def _shown(value: Any) -> str:
    import numpy as np

    if isinstance(value, np.ndarray):
        return format_value(value.tolist())
    return format_value(float(value))


def compare_members(
    first: Member, a: Evaluated, second: Member, b: Evaluated, relation: str
) -> str | None:
    """None if ``first relation second`` holds for their values, else the message."""
    import numpy as np

    left, right = first.text, second.text
    first_value, second_value = np.asarray(a.value), np.asarray(b.value)
    if first_value.shape != second_value.shape and first_value.size == second_value.size:
        first_value, second_value = first_value.ravel(), second_value.ravel()  # [17, 39]
    try:
        x, y = np.broadcast_arrays(first_value, second_value)
    except ValueError:
        return f"displayed arithmetic: {left} and {right} differ in shape"
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        broken = left if not np.all(np.isfinite(x)) else right
        return f"displayed arithmetic: {broken} is not a number"
    facts = f"{left} is {_shown(a.value)}, {right} is {_shown(b.value)}"
    if relation in ("<", ">", "≤", "≥", "≠"):
        same = np.abs(x - y) <= 1e-9 * np.maximum(np.abs(x), np.abs(y)) + 1e-12
        holds = {
            "<": (x < y) & ~same,
            ">": (x > y) & ~same,
            "≤": (x < y) | same,
            "≥": (x > y) | same,
            "≠": ~same,
        }[relation]
        if bool(np.all(holds)):
            return None
        return f"displayed arithmetic does not hold: {left} {relation} {right} is false ({facts})"
    allowed = np.abs(a.tolerance) + np.abs(b.tolerance)
    allowed = allowed + 1e-9 * np.maximum(np.abs(x), np.abs(y))
    gap = np.abs(x - y)
    # Half a unit is the edge: 1.5 is shown as 2, not as 1.
    rounds = bool(np.all((gap <= allowed) & ~((allowed > 0) & (gap >= allowed * (1 - 1e-6)))))
    if relation == "=":
        if all(equal(float(p), float(q)) for p, q in zip(x.ravel(), y.ravel(), strict=True)):
            return None
        if rounds:
            quoted = right if len(right) <= 60 else right[:59] + "…"
            return f"write \\approx before {quoted}: it is rounded ('=' means equal, but {facts})"
        return f"displayed arithmetic does not hold: {facts}"
    if rounds:
        return None
    widest = float(np.max(allowed))
    return (
        f"displayed arithmetic does not hold: {facts} (tolerance ±{widest:.3g} from the "
        "digits shown); write \\sim for a rough chain"
    )


def unevaluated_warning(card: Card, member: Member, why: str, strict: bool) -> Diagnostic:
    """The warning (an error with ``--strict``) for a chain member without a value."""
    text = member.text if len(member.text) <= 60 else member.text[:59] + "…"
    message = (
        f"cannot evaluate {text} in a displayed chain ({why}): bind its names in the "
        "card's check or state them in the question (e.g. $n = 28$); the card is not "
        "marked verified"
    )
    severity = Severity.ERROR if strict else Severity.WARNING
    return Diagnostic(SourceLoc(card.loc.path, member.line), message, severity)
