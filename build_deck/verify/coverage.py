r"""Verification: what a card's mark covers, which is everything it asks to recall.

The ✓ vouches for the whole answer of a Q/A card and every deletion of a cloze card:
each piece of math there, and each value (**bold**, or a deletion that is a value),
must be compared with something independent, or the card is not marked.

A piece is covered when:

- it is a value a check recomputed, or the last member of a chain that holds;
- it is the formula a formula check compared (its whole TeX);
- it is a chain (math with relations) whose members all have a value and whose every
  relation was compared and holds, but for a first member that only names the result
  (``L =``), or one whose value is what a check recomputed (``$L \approx 0.4750$``);
- it is only a name (``$\gamma$``, ``$n_\text{in}$``): it states nothing.

What the card's Extra says, and the words of the answer, are not covered. A card
whose answer holds math that nothing compares is not marked; the build says which
(:func:`judge_coverage`).

:class:`CardReading` holds what the build reads of one card for this: the pieces
(:func:`build_deck.verify.shown.recalled_pieces`), its chains and their values
(:mod:`build_deck.verify.arithmetic`), and what its checks compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from build_deck.model import Card, Diagnostic, Severity, SourceLoc
from build_deck.verify import formula as tex
from build_deck.verify.arithmetic import (
    Chain,
    ChainValues,
    ChainVerdict,
    judge_chain,
    names_result,
    read_chains,
    unevaluated_warning,
)
from build_deck.verify.shown import Piece, deletion_spans, recalled_pieces
from build_deck.verify.stated import Stated, stated_values


def shown_tex(source: str) -> str:
    """TeX as compared between a piece and a formula check: spacing dropped."""
    return " ".join(tex.shown(source).split())


@dataclass(slots=True)
class CardReading:
    """What the build reads of one card to decide what its mark covers."""

    card: Card
    """The card."""
    pieces: list[Piece]
    """What it asks to recall."""
    chains: list[Chain]
    """The chains among those pieces, outside the formulas that checks read."""
    values: ChainValues
    """Their members' values, as far as known."""
    formulas: set[str] = field(default_factory=set)
    """The TeX of each formula a formula check of the card reads."""
    formulas_passed: set[str] = field(default_factory=set)
    """Those whose check compared them and passed."""
    checked_values: set[int] = field(default_factory=set)
    """Where the values that checks recomputed start in ``value_source``."""

    @classmethod
    def read(cls, card: Card, formulas: set[str]) -> CardReading:
        """Read a card: its pieces and chains, and its chain members evaluated with the
        values it states; ``formulas`` are the TeX its formula checks read."""
        pieces = recalled_pieces(card)
        chains = [
            chain
            for chain in read_chains(card, pieces)
            if shown_tex(chain.piece.text) not in formulas
        ]
        values = ChainValues(chains, stated_values(card, pieces) if chains else Stated())
        values.evaluate_here()
        return cls(card, pieces, chains, values, set(formulas))


def judge_coverage(
    reading: CardReading, earned: bool, strict: bool
) -> tuple[bool, list[Diagnostic]]:
    """Compare the card's chains, and decide whether its mark covers everything it asks to
    recall: (whether some chain was compared and held, diagnostics). A card that
    ``earned`` a mark from its checks or chains and holds a piece nothing covers is
    not marked: it gets a warning for each member without a value and one naming what
    else is not compared (errors with ``strict``)."""
    card = reading.card
    problems: list[Diagnostic] = []
    verdicts: list[ChainVerdict] = []
    for index in range(len(reading.chains)):
        verdict = judge_chain(card, index, reading.values)
        verdicts.append(verdict)
        problems += verdict.problems
    arithmetic = any(v.compared for v in verdicts)
    if problems or not (earned or any(v.attempted for v in verdicts)):
        return arithmetic and not problems, problems
    uncovered = _uncovered(reading, verdicts)
    if not uncovered:
        return arithmetic, problems
    warnings = []
    severity = Severity.ERROR if strict else Severity.WARNING
    for verdict in verdicts:
        for member, why in verdict.unevaluated:
            warnings.append(unevaluated_warning(card, member, why, strict))
    named = {d.loc.line for d in warnings}
    others = [p for p in uncovered if p.line not in named]
    if others or not warnings:
        first = (others or uncovered)[0]
        text = first.text if len(first.text) <= 60 else first.text[:59] + "…"
        shown = f"${text}$" if first.kind == "math" else text
        more = f" (and {len(others) - 1} more)" if len(others) > 1 else ""
        warnings.append(
            Diagnostic(
                SourceLoc(card.loc.path, first.line),
                f"not marked verified: {shown}{more} is not compared with anything; "
                "check it, or move it to Extra, which the mark does not cover",
                severity,
            )
        )
    return False, [*problems, *warnings]


def _uncovered(reading: CardReading, verdicts: list[ChainVerdict]) -> list[Piece]:
    """The pieces of the card that nothing covers."""
    by_piece: dict[int, list[tuple[Chain, ChainVerdict]]] = {}
    for chain, verdict in zip(reading.chains, verdicts, strict=True):
        by_piece.setdefault(chain.piece.start, []).append((chain, verdict))
    ends = {
        chain.value.start
        for chain, verdict in zip(reading.chains, verdicts, strict=True)
        if chain.value is not None and (verdict.compared or _only_checked(reading, chain))
    }
    uncovered = []
    for piece in reading.pieces:
        if piece.kind == "value":
            if piece.start not in reading.checked_values and piece.start not in ends:
                uncovered.append(piece)
            continue
        shown = shown_tex(piece.text)
        if shown in reading.formulas:
            if shown not in reading.formulas_passed:
                uncovered.append(piece)
            continue
        chains = by_piece.get(piece.start)
        if chains:
            if not all(v.compared or _only_checked(reading, c) for c, v in chains):
                uncovered.append(piece)
        elif not states_nothing(piece) and not _holds_checked_value(reading, piece):
            uncovered.append(piece)
    return uncovered


def states_nothing(piece: Piece) -> bool:
    """Math that is only a name, or a list of names, says nothing to compare."""
    try:
        parts, relations = tex.split_chain(piece.text)
        if not any(parts):
            return True  # only a relation, as in "$\approx$ **0.5**"
        if relations or not parts[0]:
            return False
        tree = tex.parse_tokens(parts[0], piece.text)
    except tex.FormulaError:
        return False
    return tex.is_name(tree) or (tree[0] == "vec" and all(tex.is_name(t) for t in tree[1:]))


def _holds_checked_value(reading: CardReading, piece: Piece) -> bool:
    """Math that holds the value a check recomputed (``$0.4750$``, no bold), or that a
    deletion the check recomputed holds (``{{c1::$6.02 \\times 10^{23}$}}``)."""
    if any(piece.start <= at < piece.end for at in reading.checked_values):
        return True
    return any(
        start in reading.checked_values and start <= piece.start and piece.end <= end
        for start, end, _, _ in deletion_spans(reading.card.value_source)
    )


def _only_checked(reading: CardReading, chain: Chain) -> bool:
    """A chain ``label ≈ value`` whose one member with a value is what a check
    recomputed (``$L \\approx 0.4750$``, or ``$L =$`` **0.4750**)."""
    if len(chain.members) != 2:
        return False
    label, value = chain.members
    if not names_result(label.tree) or value.problem is not None:
        return False
    if chain.value is not None:
        return chain.value.start in reading.checked_values
    if value.span is None:
        return False
    at = chain.piece.start + value.span[0]
    return any(abs(at - checked) <= 1 for checked in reading.checked_values)
