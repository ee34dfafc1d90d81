r"""Verification, formula reader: names and their subscripts.

:class:`Names` reads what makes one name: a letter with a subscript (``w_{d2}`` is
``w_d2``, ``n_\text{in}`` is ``n_in``, ``R_{t+1}`` is ``R_tp1``, ``f'`` is ``f_prime``,
``D^*`` is ``D_star``, ``V^\pi`` is ``V_pi``) and the arguments a name is applied to
(``f(x)``, a call when the check binds ``f`` to a function; ``D(p \| q)``).
"""

from __future__ import annotations

import keyword
import re

from build_deck.verify.formula.scan import Cursor, Node
from build_deck.verify.formula.vocabulary import FUNCTIONS, GREEK, TEXT


class Names(Cursor):
    """Subscripts, names and their application to arguments."""

    def subscript(self) -> str:
        """The text of a subscript, as part of a name: ``{d2}`` -> ``d2``."""
        if self.peek() == "{":
            self.take()
            parts = []
            while self.peek() not in ("}", None):
                token = self.take()
                if token == ",":
                    parts.append("_")
                elif token in ("+", "-") and parts and re.fullmatch(r"\d+", self.peek() or ""):
                    parts.append("p" if token == "+" else "m")  # R_{t+1}: R_tp1
                elif re.fullmatch(r"[A-Za-z0-9]+", token):
                    parts.append(token)
                elif token.startswith("\\") and (token[1:] in GREEK or token[1:] in FUNCTIONS):
                    parts.append(token[1:])  # \\lambda_{\\max}: lambda_max
                elif token.startswith("\\") and token[1:] in TEXT and self.peek() == "{":
                    self.at -= 1
                    parts.append(self.subscript_word())
                else:
                    self.at -= 1
                    raise self.fail("cannot read this subscript")
            self.expect("}")
            if not parts:
                raise self.fail("empty subscript")
            return "".join(parts)
        token = self.take()
        if re.fullmatch(r"[A-Za-z0-9]", token) or re.fullmatch(r"\d+", token):
            return token
        if token.startswith("\\") and token[1:] in TEXT and self.peek() == "{":
            self.at -= 1
            return self.subscript_word()
        if token.startswith("\\") and token[1:] in GREEK:
            return token[1:]
        self.at -= 1
        raise self.fail("cannot read this subscript")

    def subscript_word(self) -> str:
        """``\\text{in}`` in a subscript (``n_\\text{in}``): the word."""
        self.take()
        return self.braced_word(r"[A-Za-z0-9]+", "cannot read this subscript")

    def braced_word(self, pattern: str, message: str) -> str:
        """The tokens of ``{...}`` joined into one word that matches ``pattern``, or
        fail with ``message`` where the word starts."""
        self.expect("{")
        start = self.at
        while self.peek() not in ("}", None):
            self.take()
        word = "".join(t.text for t in self.tokens[start : self.at])
        self.expect("}")
        if not re.fullmatch(pattern, word):
            self.at = start
            raise self.fail(message)
        return word

    def symbol(self, base: str) -> Node:
        """A name with an optional subscript; ``x_0``, ``w_{d2}``. A name that is a
        Python keyword gets a trailing ``_`` (``\\lambda`` is ``lambda_``), so that a
        check can define it."""
        sub = ""
        if self.peek() == "_":
            self.take()
            sub = self.subscript()
        if self.peek() == "'":  # f'(x): a name of its own, f_prime
            self.take()
            name = f"{base}_{sub}_prime" if sub else f"{base}_prime"
            return ("sym", name, name, "")
        if self.peek() == "^" and self.peek(1) in ("*", "\\star", "\\ast"):
            self.at += 2  # D^*: a name of its own, D_star
            name = f"{base}_{sub}_star" if sub else f"{base}_star"
            return ("sym", name, name, "")
        if len(base) == 1 and base.isupper() and self.policy_superscript():
            name = f"{base}_{sub}_pi" if sub else f"{base}_pi"  # V^\pi: V_pi
            return ("sym", name, name, "")
        if sub:
            return ("sym", f"{base}_{sub}", python_name(base), sub)
        return ("sym", python_name(base), python_name(base), sub)

    def policy_superscript(self) -> bool:
        """Move past ``^\\pi`` or ``^{\\pi}`` and say so; a capital letter with it names
        a value under a policy (``V^\\pi``, ``P^\\pi``), never a power."""
        if self.peek() != "^":
            return False
        if self.peek(1) == "\\pi":
            self.at += 2
            return True
        if self.peek(1) == "{" and self.peek(2) == "\\pi" and self.peek(3) == "}":
            self.at += 4
            return True
        return False

    def maybe_apply(self, node: Node) -> Node:
        """``f(x)``: applied if the check binds ``f`` to a function, else a product."""
        if self.peek() != "(":
            return node
        start = self.at
        self.take()
        self.norms += 1  # a bare \| separates two arguments, D(p \| q)
        try:
            args = [self.expression()]
            separator = "\\|" if self.peek() == "\\|" else ","
            while self.peek() == separator and (separator == "," or len(args) == 1):
                self.take()
                args.append(self.expression())
        finally:
            self.norms -= 1
        if self.peek() != ")":
            self.at = start
            return node
        self.take()
        return ("apply", node, *args)


def python_name(word: str) -> str:
    """``word`` as a check can name it: a Python keyword gets a trailing ``_``."""
    return f"{word}_" if keyword.iskeyword(word) else word
