r"""Verification, formula reader: the token scanner, and what every part shares.

- :func:`tokenize` splits TeX into :class:`Token` s, dropping spacing and sizing;
- :func:`split_chain` cuts a chain ``a = b \approx c`` at its relations;
- :func:`shown` and :func:`part_text` give TeX as messages quote it;
- :class:`Cursor` is the reader's place in the tokens (``peek``, ``take``,
  ``expect``, ``fail``, ``nested``); it names the grammar rules that the names and
  commands read their arguments with, which :class:`.grammar.Reader` defines;
- :class:`FormulaError`, :data:`Node` and the limits on one formula.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from build_deck.verify.formula.vocabulary import RELATIONS, SIZES, SPACING

MAX_TEX_LENGTH = 2_000
"""Characters of TeX one formula may hold."""
MAX_DEPTH = 60
"""How deeply one formula may nest."""

Node = tuple[Any, ...]
"""One node of an expression tree (see :mod:`build_deck.verify.formula`)."""


class FormulaError(Exception):
    """TeX that this reader does not accept, or a tree that cannot be evaluated."""


_TOKEN = re.compile(
    r"\s+|\\[A-Za-z]+|\\[^A-Za-z]|\d{1,3}(?:\{,\}\d{3})+(?![\d.])|\d+(?:\.\d+)?|\.\d+"
    r"|[A-Za-z]|[{}()\[\]^_+\-*/=|<>,!']|."
)


@dataclass(frozen=True, slots=True)
class Token:
    """One token of TeX: its text and where it starts."""

    text: str
    """The token as written (``\\frac``, ``x``, ``2.5``)."""
    start: int
    """Its offset in the TeX."""
    stop: int = -1
    """The offset after it, when that is not ``start + len(text)`` (a number written
    with spaces, ``5 2``); see :attr:`end`."""

    @property
    def end(self) -> int:
        """The offset after the token in the TeX."""
        return self.stop if self.stop >= 0 else self.start + len(self.text)


_NUMERAL = re.compile(r"\d|\.\d")


def tokenize(tex: str) -> list[Token]:
    """Split TeX into tokens, dropping spaces and spacing commands.

    Digits with only spaces or spacing between them are one number, as MathJax shows
    them: ``5 2`` and ``5\\,2`` are 52, never 5 times 2.
    """
    if len(tex) > MAX_TEX_LENGTH:
        raise FormulaError(f"the formula is longer than {MAX_TEX_LENGTH} characters")
    tokens: list[Token] = []
    for match in _TOKEN.finditer(tex):
        text = match.group()
        if text.isspace() or (text.startswith("\\") and text[1:] in SPACING):
            continue
        if text in ("\\left", "\\right") or text[1:] in SIZES:
            continue  # \left( is just (
        if (
            tokens
            and _NUMERAL.match(text)
            and _NUMERAL.match(tokens[-1].text)
            and (len(tokens) < 2 or tokens[-2].text not in ("^", "_"))  # x_2 3 is x₂·3
        ):
            joined = tokens[-1].text + text
            if joined.count(".") > 1:
                raise FormulaError(
                    f"{_clean(tex[tokens[-1].start : match.end()])} reads as "
                    f"{joined}, which is not a number: write the operator"
                )
            tokens[-1] = Token(joined, tokens[-1].start, match.end())
            continue
        tokens.append(Token(text, match.start()))
    return tokens


def _clean(tex: str) -> str:
    """TeX as shown in a message: spacing commands dropped, spaces collapsed."""
    text = re.sub(r"\\[,;! :]|\\q?quad\b", " ", tex)
    text = re.sub(r"\\(?:left|right)\b\s*", "", text)
    return re.sub(r"\s+", " ", text).strip()


def shown(tex: str) -> str:
    """How a formula is quoted in messages."""
    return _clean(tex)


def split_chain(tex: str) -> tuple[list[list[Token]], list[str]]:
    """The parts of ``a = b \\approx c`` and the relations between them, split at
    relations outside any bracket."""
    tokens = tokenize(tex)
    parts: list[list[Token]] = [[]]
    relations: list[str] = []
    depth = 0
    for token in tokens:
        text = token.text
        if text in ("{", "(", "[", "\\{", "\\lceil", "\\lfloor"):
            depth += 1
        elif text in ("}", ")", "]", "\\}", "\\rceil", "\\rfloor"):
            depth -= 1
        name = text[1:] if text.startswith("\\") else text
        if depth == 0 and (
            text in ("=", "<", ">") or (text.startswith("\\") and name in RELATIONS)
        ):
            relations.append(RELATIONS.get(name, text))
            parts.append([])
            continue
        parts[-1].append(token)
    return parts, relations


def part_text(tokens: list[Token], tex: str) -> str:
    """The TeX of one part of a chain, as written."""
    if not tokens:
        return ""
    return _clean(tex[tokens[0].start : tokens[-1].end])


class Cursor:
    """The reader's place in the tokens of one formula, and how it fails."""

    def __init__(self, tokens: list[Token], tex: str) -> None:
        self.tokens = tokens
        self.tex = tex
        self.at = 0
        self.depth = 0
        self.bound: list[str] = []  # indices of the sums around the current point
        self.norms = 0  # norms \|x\| open around the current point
        self.bars = 0  # absolute values |x| open around the current point

    def peek(self, ahead: int = 0) -> str | None:
        """The text of the token ``ahead`` of the current one, or None past the end."""
        index = self.at + ahead
        return self.tokens[index].text if index < len(self.tokens) else None

    def take(self) -> str:
        """The current token's text, moving past it."""
        token = self.peek()
        if token is None:
            raise self.fail("the formula ends too early")
        self.at += 1
        return token

    def expect(self, text: str) -> None:
        """Move past ``text``, or fail if it is not the current token."""
        if self.peek() != text:
            found = self.peek()
            raise self.fail(f"expected '{text}'" + (f", found '{found}'" if found else ""))
        self.at += 1

    def fail(self, message: str) -> FormulaError:
        """The error to raise, naming the part of the TeX where reading stopped."""
        if self.at < len(self.tokens):
            start = self.tokens[self.at].start
            part = self.tex[start : start + 20].strip()
            return FormulaError(f"{message} at '{part}'")
        return FormulaError(message)

    def nested(self) -> None:
        """Count one level of nesting deeper, failing beyond :data:`MAX_DEPTH`."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"the formula nests more than {MAX_DEPTH} deep")

    # -- the grammar's rules, defined by grammar.Reader ------------------------------
    def expression(self) -> Node:
        """Sums and differences."""
        raise NotImplementedError

    def term(self) -> Node:
        """Products and quotients."""
        raise NotImplementedError

    def power(self) -> Node:
        """A factor with exponents and a factorial."""
        raise NotImplementedError

    def argument(self) -> Node:
        """A braced group, or one token."""
        raise NotImplementedError

    def group(self, close: str) -> Node:
        """An expression and the bracket ``close`` that ends it."""
        raise NotImplementedError
