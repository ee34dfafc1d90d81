r"""Verification, formula reader: the command table.

:class:`Commands` reads what follows a backslash command, once :meth:`Commands.command`
has picked the reading by its name:

- ``\frac``, ``\dfrac``, ``\tfrac`` (:meth:`~Commands.fraction`), where
  ``\frac{dL}{dx_b}`` is a Leibniz derivative, one name (:meth:`~Commands.leibniz`);
- ``\sqrt`` with or without a degree, accents (``\hat y``), ``\infty``, Greek letters;
- ``\text{...}`` and its kin, a name or a function (:meth:`~Commands.text_name`);
- functions such as ``\exp``, ``\log_2``, ``\tanh^2``, ``\max(a, b)``
  (:meth:`~Commands.function`, :meth:`~Commands.function_argument`), and ``\max_j z_j``
  over an index (:meth:`~Commands.extreme`);
- ``\sum`` and ``\prod`` with an index and optional bounds
  (:meth:`~Commands.big_operator`).
"""

from __future__ import annotations

import math

from build_deck.verify.formula.names import Names
from build_deck.verify.formula.scan import Node
from build_deck.verify.formula.vocabulary import ACCENTS, FUNCTIONS, GREEK, TEXT


def _index_letters(node: Node) -> set[str]:
    """The one-letter subscripts of the names in a tree (``x_i y_i``: ``{"i"}``)."""
    found = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple) and item:
            if item[0] == "sym" and len(item[3]) == 1 and item[3].isalpha():
                found.add(item[3])
            stack.extend(item[1:])
    return found


class Commands(Names):
    """The readings of backslash commands."""

    def command(self, name: str) -> Node:
        """What ``\\name`` (already taken) and its arguments mean."""
        if name in ("frac", "dfrac", "tfrac"):
            return self.fraction()
        if name == "sqrt":
            if self.peek() == "[":
                self.take()
                degree = self.group("]")
                return ("pow", self.argument(), ("div", ("num", 1.0), degree))
            return ("call", "sqrt", self.argument())
        if name in ACCENTS:
            braced = self.peek() == "{"
            if braced:
                self.take()
            letter = self.take()
            if braced:
                self.expect("}")
            if not (letter.isalpha() and len(letter) == 1) and letter[1:] not in GREEK:
                self.at -= 1
                raise self.fail(f"\\{name} is read only over a letter")
            return self.maybe_apply(self.symbol(letter.lstrip("\\") + ACCENTS[name]))
        if name in TEXT:
            return self.text_name(name)
        if name in ("sum", "prod"):
            return self.big_operator(name)
        if name in ("binom", "dbinom", "tbinom"):
            return ("call", "binom", self.argument(), self.argument())
        if name == "begin":
            return self.matrix()
        if name in FUNCTIONS:
            return self.function(name)
        if name in GREEK:
            return self.maybe_apply(self.symbol(name))
        if name == "infty":
            return ("num", math.inf)
        if name == "nabla":
            return self.gradient_name()
        self.at -= 1
        raise self.fail(f"\\{name} is not something a formula check can evaluate")

    def gradient_name(self) -> Node:
        """``\\nabla L`` (``\\nabla`` already taken): the one name ``nabla_L``, applied
        if arguments follow (``\\nabla L(\\theta_t)``); ``\\nabla_\\theta J`` is
        ``nabla_theta_J`` and ``\\nabla_\\theta \\log \\pi(a)`` applies ``nabla_theta_log_pi``."""
        prefix = "nabla_"
        if self.peek() == "_":
            self.take()
            prefix += self.subscript() + "_"
        if self.peek() in ("\\log", "\\ln"):
            prefix += self.take()[1:] + "_"  # a score, \nabla_\theta \log \pi(a)
        letter = self.peek() or ""
        if not ((len(letter) == 1 and letter.isalpha()) or letter[1:] in GREEK):
            raise self.fail("\\nabla is read only before a name")
        self.take()
        node = self.symbol(letter.lstrip("\\"))
        name = prefix + node[1]
        return self.maybe_apply(("sym", name, name, ""))

    def text_name(self, command: str) -> Node:
        """``\\text{word}`` and its kin: a function if ``word`` is one, else a name."""
        message = f"cannot read \\{command}{{...}} as a name"
        words = self.braced_word(r"[A-Za-z][A-Za-z0-9]*", message)
        if words in FUNCTIONS:
            return self.function(words)
        return self.maybe_apply(self.symbol(words))

    def fraction(self) -> Node:
        """``\\frac{a}{b}``, or a Leibniz derivative."""
        # \frac{dL}{dx_b} and \frac{\partial L}{\partial x_b} name a derivative.
        leibniz = self.leibniz()
        if leibniz is not None:
            return leibniz
        top = self.argument()
        bottom = self.argument()
        return ("div", top, bottom)

    def leibniz(self) -> Node | None:
        """``{dL}{dx_b}`` as the one name ``dL_dx_b``, or None (and nothing taken)."""
        start = self.at
        names = []
        for _ in range(2):
            if self.peek() != "{" or self.peek(1) not in ("d", "\\partial"):
                self.at = start
                return None
            self.at += 2
            if self.peek() is None or not (
                (len(self.peek() or "") == 1 and (self.peek() or "").isalpha())
                or (self.peek() or "")[1:] in GREEK
            ):
                self.at = start
                return None
            base = self.take().lstrip("\\")
            node = self.symbol(base)
            if self.peek() != "}":
                self.at = start
                return None
            self.take()
            names.append(node[1])
        name = f"d{names[0]}_d{names[1]}"
        return ("sym", name, name, "")

    def function(self, name: str) -> Node:
        """A call of the built-in function ``name`` on what follows."""
        if self.peek() == "^" and FUNCTIONS[name] == 1:
            # \tanh^2(x) is (\tanh x)^2
            self.take()
            exponent = self.argument()
            return ("pow", self.function(name), exponent)
        if self.peek() == "_" and name == "log":
            self.take()
            base = self.argument()
            inner = self.function_argument()
            return ("div", ("call", "log", inner), ("call", "log", base))
        if FUNCTIONS[name] == 0 and self.peek() == "_":
            return self.extreme(name)
        if FUNCTIONS[name] == 0:
            self.expect_open()
            args = [self.expression()]
            while self.peek() == ",":
                self.take()
                args.append(self.expression())
            self.expect(")")
            return ("call", name, *args)
        return ("call", name, self.function_argument())

    def extreme(self, name: str) -> Node:
        """``\\max_j z_j`` or ``\\min_i |x_i|`` (``name``): over the elements its
        one-letter index binds, as ``\\sum_i`` without bounds."""
        self.take()
        braced = self.peek() == "{"
        if braced:
            self.take()
        index = self.take()
        if not (len(index) == 1 and index.isalpha()) or (braced and self.peek() != "}"):
            self.at -= 1
            raise self.fail(f"\\{name} needs a one-letter index")
        if braced:
            self.take()
        self.bound.append(index)
        body = self.term()
        self.bound.pop()
        return (name, index, None, None, body)

    def expect_open(self) -> None:
        """Move past the ``(`` of a function's arguments, or fail."""
        if self.peek() != "(":
            raise self.fail("expected '(' after the function")
        self.take()

    def function_argument(self) -> Node:
        """``\\log(x)``, ``\\log x``, ``\\exp{x}``, ``\\log q_i``: one bracketed group or
        the product of plain factors that follows."""
        if self.peek() in ("(", "[", "{"):
            opener = self.take()
            return self.group({"(": ")", "[": "]", "{": "}"}[opener])
        node = self.power()
        while (token := self.peek()) is not None and (
            (token[0].isalnum() and token not in ("\\", "d")) or token[1:] in GREEK
        ):
            node = ("mul", node, self.power())
        return node

    def big_operator(self, name: str) -> Node:
        """``\\sum`` or ``\\prod`` (``name``) with its index, bounds and body."""
        index: str | None = None
        low: Node | None = None
        high: Node | None = None
        if self.peek() == "_":
            self.take()
            braced = self.peek() == "{"
            if braced:
                self.take()
            index = self.take()
            if not (len(index) == 1 and index.isalpha()):
                self.at -= 1
                raise self.fail(f"\\{name} needs a one-letter index")
            if braced:
                if self.peek() == "=":
                    self.take()
                    low = self.expression()
                self.expect("}")
        if self.peek() == "^":
            self.take()
            high = self.argument()
        if (low is None) != (high is None):
            raise self.fail(f"give \\{name} both bounds or none")
        if index is None:  # \sum x_i y_i: over the one index its body has
            start = self.at
            body = self.term()
            letters = _index_letters(body)
            if len(letters) != 1 or high is not None:
                self.at = start
                raise self.fail(f"\\{name} needs an index, e.g. \\{name}_i")
            return (name, letters.pop(), None, None, body)
        self.bound.append(index)
        body = self.term()
        self.bound.pop()
        return (name, index, low, high, body)

    def matrix(self) -> Node:
        """``\\begin{bmatrix} a & b \\\\ c & d \\end{bmatrix}`` (or ``pmatrix``...): a
        vector of rows; a matrix of one row or one column is a vector."""
        kind = self.braced_word(r"[pbvBV]?matrix", "only a matrix can be read here")
        rows: list[list[Node]] = [[]]
        while True:
            token = self.peek()
            if token == "\\end":
                self.take()
                if self.braced_word(r"[pbvBV]?matrix", "expected \\end{matrix}") != kind:
                    raise self.fail(f"expected \\end{{{kind}}}")
                break
            if token == "&":
                self.take()
            elif token == "\\\\":
                self.take()
                rows.append([])
            else:
                rows[-1].append(self.expression())
        rows = [row for row in rows if row]
        if not rows or len({len(row) for row in rows}) != 1:
            raise self.fail("a matrix needs rows of one length")
        if len(rows) == 1 or len(rows[0]) == 1:
            return ("vec", *(cell for row in rows for cell in row))
        return ("vec", *(("vec", *row) for row in rows))
