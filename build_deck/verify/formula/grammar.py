r"""Verification, formula reader: the expression grammar, and the reader's entry points.

:class:`Reader` is a recursive descent over the tokens of one formula (no relations),
one method per rule: :meth:`~Reader.expression` (sums), :meth:`~Reader.term`
(products, written or implied), :meth:`~Reader.power` (exponents, ``^\top``, ``!``),
:meth:`~Reader.factor` (numbers, letters, brackets, ``|x|``, ``\|x\|``; a backslash
command goes to the command table, :class:`.commands.Commands`, and a name to
:class:`.names.Names`). :func:`parse_tokens` and :func:`parse_formula` run it.
"""

from __future__ import annotations

from build_deck.verify.formula.commands import Commands
from build_deck.verify.formula.scan import (
    MAX_DEPTH,
    FormulaError,
    Node,
    Token,
    split_chain,
)
from build_deck.verify.formula.vocabulary import OPEN, RELATIONS


class Reader(Commands):
    """Recursive descent over the tokens of one formula (no relations)."""

    def formula(self) -> Node:
        """The whole formula, or fail at the first part that is left over."""
        node = self.expression()
        if self.peek() is not None:
            raise self.fail("cannot read this part")
        return node

    def expression(self) -> Node:
        """Sums and differences."""
        self.nested()
        if self.peek() in ("-", "+"):
            sign = self.take()
            node = self.term()
            if sign == "-":
                node = ("neg", node)
        else:
            node = self.term()
        while self.peek() in ("+", "-"):
            op = "add" if self.take() == "+" else "sub"
            node = (op, node, self.term())
        self.depth -= 1
        return node

    def term(self) -> Node:
        """Products and quotients, written or implied by juxtaposition."""
        node = self.power()
        while True:
            token = self.peek()
            if token == "\\cdot":
                self.take()
                node = ("dot", node, self.power())
            elif token in ("\\times", "*"):
                self.take()
                node = ("mul", node, self.power())
            elif token == "/":
                self.take()
                node = ("div", node, self.power())
            elif token is not None and self.starts_factor(token):
                node = ("mul", node, self.power())
            else:
                return node

    def starts_factor(self, token: str) -> bool:
        """Whether ``token`` starts a factor multiplied by juxtaposition."""
        if token == "\\|" and self.norms:
            return False  # the norm's closing bar
        if token in ("(", "[", "\\{", "\\lceil", "\\lfloor", "\\|", "\\lVert", "{"):
            return True
        if token == "|":
            return not self.bars  # closing inside |...|, else opening: a |A|
        if token[0].isalnum() or token[0] == ".":
            return True
        if token.startswith("\\") and token[1:].isalpha():
            name = token[1:]
            closing = ("cdot", "times", "rceil", "rfloor", "rVert", "end")
            return not (name in RELATIONS or name in closing)
        return False

    def power(self) -> Node:
        """A factor with exponents, ``^\\top``, ``^+`` (a pseudo-inverse) and a factorial."""
        node = self.factor()
        while self.peek() in ("^", "!", "'"):
            token = self.take()
            if token == "!":
                node = ("fact", node)
            elif token == "'":
                raise self.fail("a prime (') cannot be evaluated; name the derivative")
            elif self.peek() == "+" or (
                self.peek() == "{" and self.peek(1) == "+" and self.peek(2) == "}"
            ):
                self.at += 1 if self.peek() == "+" else 3
                node = ("pinv", node)  # A^+: the pseudo-inverse
            elif self.peek() in ("\\top", "T", "\\intercal"):
                self.take()
                node = ("T", node)
            elif self.peek() == "{" and self.peek(1) in ("\\top", "T", "\\intercal"):
                if self.peek(2) == "}":
                    self.at += 3
                    node = ("T", node)
                else:
                    node = ("pow", node, self.argument())
            else:
                node = ("pow", node, self.argument())
        return node

    def norm_kind(self) -> str:
        """The norm a subscript after ``\\|x\\|`` names: ``norm_1``, ``norm_2``,
        ``norm_infty`` or ``norm_F`` (Frobenius); ``norm`` without one."""
        if self.peek() != "_":
            return "norm"
        self.take()
        braced = self.peek() == "{"
        if braced:
            self.take()
        order = self.take().lstrip("\\")
        if order not in ("1", "2", "infty", "F") or (braced and self.peek() != "}"):
            self.at -= 1
            raise self.fail("a norm's subscript is 1, 2, \\infty or F")
        if braced:
            self.take()
        return f"norm_{order}"

    def argument(self) -> Node:
        """A braced group, or one token (``x^2``, ``\\frac12``)."""
        if self.peek() == "{":
            self.take()
            node = self.expression()
            self.expect("}")
            return node
        token = self.take()
        if token.isdigit() and len(token) > 1:
            # \frac12: TeX takes one digit as the argument; the rest stays.
            rest = self.tokens[self.at - 1]
            self.tokens[self.at - 1] = Token(token[1:], rest.start + 1, rest.stop)
            self.at -= 1
            return ("num", float(token[0]))
        self.at -= 1
        return self.factor(simple=True)

    def group(self, close: str) -> Node:
        """An expression and the bracket ``close`` that ends it; in ``(...)`` and
        ``[...]``, a list of expressions separated by commas is a vector,
        ``(0.5, -1, 0.1)`` or ``[[1, 2], [3, 4]]``."""
        node = self.expression()
        if self.peek() == "," and close in (")", "]"):
            items = [node]
            while self.peek() == ",":
                self.take()
                items.append(self.expression())
            node = ("vec", *items)
        self.expect(close)
        return node

    def factor(self, *, simple: bool = False) -> Node:
        """A number, a name, a bracketed expression, a function or a big operator."""
        self.nested()
        try:
            return self._factor(simple)
        finally:
            self.depth -= 1

    def _factor(self, simple: bool) -> Node:
        token = self.take()
        if token[0].isdigit() or (token[0] == "." and len(token) > 1):
            return ("num", float(token.replace("{,}", "")), token)
        if token.isalpha() and len(token) == 1:
            return self.maybe_apply(self.symbol(token))
        if token == "{":
            return self.group("}")
        if token in OPEN:
            node = self.group(OPEN[token])
            if token == "\\lceil":
                return ("call", "ceil", node)
            if token == "\\lfloor":
                return ("call", "floor", node)
            return node
        if token == "|":
            self.bars += 1
            node = self.group("|")
            self.bars -= 1
            return ("call", "abs", node)
        if token in ("\\|", "\\lVert"):
            self.norms += 1
            node = self.expression()
            self.norms -= 1
            self.expect("\\rVert" if token == "\\lVert" else "\\|")
            return ("call", self.norm_kind(), node)
        if not token.startswith("\\"):
            self.at -= 1
            raise self.fail("cannot read this part")
        return self.command(token[1:])


def parse_tokens(tokens: list[Token], tex: str) -> Node:
    """The tree of one part of a formula (no relations), or raise FormulaError."""
    if not tokens:
        raise FormulaError("the formula is empty")
    try:
        return Reader(tokens, tex).formula()
    except RecursionError:
        raise FormulaError(f"the formula nests more than {MAX_DEPTH} deep") from None


def parse_formula(tex: str) -> Node:
    """The tree of a formula without relations, or raise FormulaError."""
    parts, relations = split_chain(tex)
    if relations:
        raise FormulaError(f"the formula holds a relation ({relations[0]})")
    return parse_tokens(parts[0], tex)
