r"""Read the TeX a card shows into a small expression tree, and evaluate such trees.

A card's math comes from shared notes, so it is never handed to ``eval`` or to a
computer-algebra system that evaluates while it parses. A recursive-descent reader
accepts a small, explicit subset of TeX (numbers, letters with subscripts, Greek
letters, ``+ - \cdot \times / ^``, ``\frac``, ``\sqrt``, brackets, ``|x|``,
``\exp \log \ln \max \min \sigma \tanh``..., ``\sum``/``\prod`` with or without bounds,
``^\top``, Leibniz derivatives ``\frac{dL}{dx_b}`` read as one name) and refuses
anything else, naming the part it could not read. Its result is plain data:

- ``("num", value)``
- ``("sym", name, base, sub)``: ``w_{d2}`` is ``("sym", "w_d2", "w", "d2")``;
  ``\hat y_i`` is ``yhat_i``; ``\frac{dL}{dx_b}`` is the name ``dL_dx_b``
- ``("neg", a)``, ``("add", a, b)``, ``("sub", a, b)``, ``("mul", a, b)``,
  ``("div", a, b)``, ``("pow", a, b)``, ``("T", a)`` (transpose), ``("fact", a)``
- ``("call", function, a, ...)`` for a built-in function such as ``exp``
- ``("apply", ("sym", ...), a, ...)``: ``f(x)``, a call when the check binds ``f`` to a
  function, else a product
- ``("sum", index, low, high, body)`` and ``("prod", ...)``, bounds None when not given

:func:`evaluate` walks such a tree with numpy. The build evaluates numeric chains
(``$0.5 \cdot 2 + 0.1 = 1.1$``) with it, where every leaf is a number; a check's worker
evaluates formulas with the check's names bound: :func:`formula_points`, which calls
the check's ``reference``, runs only there, called by :mod:`build_deck.verify.sandbox`.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_TEX_LENGTH = 2_000
"""Characters of TeX one formula may hold."""
MAX_DEPTH = 60
"""How deeply one formula may nest."""
MAX_RANGE = 10_000
"""Terms one ``\\sum`` or ``\\prod`` may have."""

Node = tuple[Any, ...]
"""One node of an expression tree (see the module docstring)."""


class FormulaError(Exception):
    """TeX that this reader does not accept, or a tree that cannot be evaluated."""


_GREEK = set(
    """alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa
    lambda mu nu xi pi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta
    Lambda Xi Pi Sigma Phi Psi Omega ell""".split()
)
_FUNCTIONS = {
    "exp": 1,
    "log": 1,
    "ln": 1,
    "sin": 1,
    "cos": 1,
    "tan": 1,
    "tanh": 1,
    "sinh": 1,
    "cosh": 1,
    "arctan": 1,
    "max": 0,
    "min": 0,
    "softmax": 1,
    "ReLU": 1,
    "relu": 1,
}
"""Functions written ``\\name`` or ``\\operatorname{name}``; 0 for any number of arguments."""
_SPACING = {",", ";", "!", " ", ":", "quad", "qquad", "displaystyle", "textstyle", "limits"}
_SIZES = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr"}
_ACCENTS = {"hat": "hat", "bar": "bar", "tilde": "tilde", "overline": "bar", "widehat": "hat"}
_TEXT = {"text", "mathrm", "operatorname", "mathit", "textrm", "mathbf", "boldsymbol", "bm"}
_RELATIONS = {"=": "=", "approx": "≈", "sim": "~", "simeq": "≈", "le": "≤", "leq": "≤",
              "ge": "≥", "geq": "≥", "lt": "<", "gt": ">", "ne": "≠", "neq": "≠",
              "to": "→", "propto": "∝", "equiv": "≡", "in": "∈", "mapsto": "→",
              "Rightarrow": "⇒", "iff": "⇔", "quad": " "}  # fmt: skip
_OPEN = {"(": ")", "[": "]", "\\{": "\\}", "\\lceil": "\\rceil", "\\lfloor": "\\rfloor"}
_TOKEN = re.compile(
    r"\s+|\\[A-Za-z]+|\\[^A-Za-z]|\d+(?:\.\d+)?|\.\d+|[A-Za-z]|[{}()\[\]^_+\-*/=|<>,!']|."
)


@dataclass(frozen=True, slots=True)
class Token:
    """One token of TeX: its text and where it starts."""

    text: str
    """The token as written (``\\frac``, ``x``, ``2.5``)."""
    start: int
    """Its offset in the TeX."""


def tokenize(tex: str) -> list[Token]:
    """Split TeX into tokens, dropping spaces and spacing commands."""
    if len(tex) > MAX_TEX_LENGTH:
        raise FormulaError(f"the formula is longer than {MAX_TEX_LENGTH} characters")
    tokens = []
    for match in _TOKEN.finditer(tex):
        text = match.group()
        if text.isspace() or (text.startswith("\\") and text[1:] in _SPACING):
            continue
        if text in ("\\left", "\\right") or text[1:] in _SIZES:
            continue  # \left( is just (
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


class _Reader:
    """Recursive descent over the tokens of one formula (no relations)."""

    def __init__(self, tokens: list[Token], tex: str) -> None:
        self.tokens = tokens
        self.tex = tex
        self.at = 0
        self.depth = 0
        self.bound: list[str] = []  # indices of the sums around the current point

    # -- helpers ---------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> str | None:
        index = self.at + ahead
        return self.tokens[index].text if index < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise self.fail("the formula ends too early")
        self.at += 1
        return token

    def expect(self, text: str) -> None:
        if self.peek() != text:
            found = self.peek()
            raise self.fail(f"expected '{text}'" + (f", found '{found}'" if found else ""))
        self.at += 1

    def fail(self, message: str) -> FormulaError:
        if self.at < len(self.tokens):
            start = self.tokens[self.at].start
            part = self.tex[start : start + 20].strip()
            return FormulaError(f"{message} at '{part}'")
        return FormulaError(message)

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"the formula nests more than {MAX_DEPTH} deep")

    # -- grammar ---------------------------------------------------------------------
    def formula(self) -> Node:
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
            if token in ("\\cdot", "\\times", "*"):
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
        if token in ("(", "[", "\\{", "\\lceil", "\\lfloor", "\\|", "\\lVert", "{"):
            return True
        if token == "|":
            return False  # a closing bar; an opening one needs an operator before it
        if token[0].isalnum() or token[0] == ".":
            return True
        if token.startswith("\\") and token[1:].isalpha():
            name = token[1:]
            return not (name in _RELATIONS or name in ("cdot", "times", "rceil", "rfloor", "rVert"))
        return False

    def power(self) -> Node:
        """A factor with exponents and a factorial."""
        node = self.factor()
        while self.peek() in ("^", "!", "'"):
            token = self.take()
            if token == "!":
                node = ("fact", node)
            elif token == "'":
                raise self.fail("a prime (') cannot be evaluated; name the derivative")
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
            self.tokens[self.at - 1] = Token(token[1:], rest.start + 1)
            self.at -= 1
            return ("num", float(token[0]))
        self.at -= 1
        return self.factor(simple=True)

    def subscript(self) -> str:
        """The text of a subscript, as part of a name: ``{d2}`` -> ``d2``."""
        if self.peek() == "{":
            self.take()
            parts = []
            while self.peek() not in ("}", None):
                token = self.take()
                if token == ",":
                    parts.append("_")
                elif re.fullmatch(r"[A-Za-z0-9]+", token):
                    parts.append(token)
                elif token.startswith("\\") and token[1:] in _GREEK:
                    parts.append(token[1:])
                elif token.startswith("\\") and token[1:] in _TEXT and self.peek() == "{":
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
        if token.startswith("\\") and token[1:] in _TEXT and self.peek() == "{":
            self.at -= 1
            return self.subscript_word()
        if token.startswith("\\") and token[1:] in _GREEK:
            return token[1:]
        self.at -= 1
        raise self.fail("cannot read this subscript")

    def subscript_word(self) -> str:
        """``\\text{in}`` in a subscript (``n_\\text{in}``): the word."""
        self.take()
        self.expect("{")
        start = self.at
        while self.peek() not in ("}", None):
            self.take()
        word = "".join(t.text for t in self.tokens[start : self.at])
        self.expect("}")
        if not re.fullmatch(r"[A-Za-z0-9]+", word):
            self.at = start
            raise self.fail("cannot read this subscript")
        return word

    def symbol(self, base: str) -> Node:
        """A name with an optional subscript; ``x_0``, ``w_{d2}``."""
        sub = ""
        if self.peek() == "_":
            self.take()
            sub = self.subscript()
        if self.peek() == "'":  # f'(x): a name of its own, f_prime
            self.take()
            name = f"{base}_{sub}_prime" if sub else f"{base}_prime"
            return ("sym", name, name, "")
        return ("sym", f"{base}_{sub}" if sub else base, base, sub)

    def group(self, close: str) -> Node:
        node = self.expression()
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
            return ("num", float(token), token)
        if token.isalpha() and len(token) == 1:
            return self.maybe_apply(self.symbol(token))
        if token == "{":
            return self.group("}")
        if token in _OPEN:
            node = self.group(_OPEN[token])
            if token == "\\lceil":
                return ("call", "ceil", node)
            if token == "\\lfloor":
                return ("call", "floor", node)
            return node
        if token == "|":
            return ("call", "abs", self.group("|"))
        if token in ("\\|", "\\lVert"):
            node = self.expression()
            self.expect("\\rVert" if token == "\\lVert" else "\\|")
            return ("call", "norm", node)
        if not token.startswith("\\"):
            self.at -= 1
            raise self.fail("cannot read this part")
        name = token[1:]
        if name in ("frac", "dfrac", "tfrac"):
            return self.fraction()
        if name == "sqrt":
            if self.peek() == "[":
                self.take()
                degree = self.group("]")
                return ("pow", self.argument(), ("div", ("num", 1.0), degree))
            return ("call", "sqrt", self.argument())
        if name in _ACCENTS:
            braced = self.peek() == "{"
            if braced:
                self.take()
            letter = self.take()
            if braced:
                self.expect("}")
            if not (letter.isalpha() and len(letter) == 1) and letter[1:] not in _GREEK:
                self.at -= 1
                raise self.fail(f"\\{name} is read only over a letter")
            return self.maybe_apply(self.symbol(letter.lstrip("\\") + _ACCENTS[name]))
        if name in _TEXT:
            return self.text_name(name)
        if name in ("sum", "prod"):
            return self.big_operator(name)
        if name in _FUNCTIONS:
            return self.function(name)
        if name in _GREEK:
            return self.maybe_apply(self.symbol(name))
        if name == "infty":
            return ("num", math.inf)
        self.at -= 1
        raise self.fail(f"\\{name} is not something a formula check can evaluate")

    def text_name(self, command: str) -> Node:
        self.expect("{")
        start = self.at
        while self.peek() not in ("}", None):
            self.take()
        words = "".join(t.text for t in self.tokens[start : self.at])
        self.expect("}")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", words):
            self.at = start
            raise self.fail(f"cannot read \\{command}{{...}} as a name")
        if words in _FUNCTIONS:
            return self.function(words)
        return self.maybe_apply(self.symbol(words))

    def fraction(self) -> Node:
        # \frac{dL}{dx_b} and \frac{\partial L}{\partial x_b} name a derivative.
        leibniz = self.leibniz()
        if leibniz is not None:
            return leibniz
        top = self.argument()
        bottom = self.argument()
        return ("div", top, bottom)

    def leibniz(self) -> Node | None:
        start = self.at
        names = []
        for _ in range(2):
            if self.peek() != "{" or self.peek(1) not in ("d", "\\partial"):
                self.at = start
                return None
            self.at += 2
            if self.peek() is None or not (
                (len(self.peek() or "") == 1 and (self.peek() or "").isalpha())
                or (self.peek() or "")[1:] in _GREEK
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
        if self.peek() == "^" and _FUNCTIONS[name] == 1:
            # \tanh^2(x) is (\tanh x)^2
            self.take()
            exponent = self.argument()
            return ("pow", self.function(name), exponent)
        if self.peek() == "_" and name == "log":
            self.take()
            base = self.argument()
            inner = self.function_argument()
            return ("div", ("call", "log", inner), ("call", "log", base))
        if _FUNCTIONS[name] == 0:
            self.expect_open()
            args = [self.expression()]
            while self.peek() == ",":
                self.take()
                args.append(self.expression())
            self.expect(")")
            return ("call", name, *args)
        return ("call", name, self.function_argument())

    def expect_open(self) -> None:
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
            (token[0].isalnum() and token not in ("\\", "d")) or token[1:] in _GREEK
        ):
            node = ("mul", node, self.power())
        return node

    def maybe_apply(self, node: Node) -> Node:
        """``f(x)``: applied if the check binds ``f`` to a function, else a product."""
        if self.peek() != "(":
            return node
        start = self.at
        self.take()
        args = [self.expression()]
        while self.peek() == ",":
            self.take()
            args.append(self.expression())
        if self.peek() != ")":
            self.at = start
            return node
        self.take()
        return ("apply", node, *args)

    def big_operator(self, name: str) -> Node:
        index: str | None = None
        low: Node | None = None
        high: Node | None = None
        if self.peek() == "_":
            self.take()
            if self.peek() == "{":
                self.take()
                index = self.take()
                if not (len(index) == 1 and index.isalpha()):
                    self.at -= 1
                    raise self.fail(f"\\{name} needs a one-letter index")
                if self.peek() == "=":
                    self.take()
                    low = self.expression()
                self.expect("}")
            else:
                index = self.take()
                if not (len(index) == 1 and index.isalpha()):
                    self.at -= 1
                    raise self.fail(f"\\{name} needs a one-letter index")
        if self.peek() == "^":
            self.take()
            high = self.argument()
        if index is None:
            raise self.fail(f"\\{name} needs an index, e.g. \\{name}_i")
        if (low is None) != (high is None):
            raise self.fail(f"give \\{name} both bounds or none")
        self.bound.append(index)
        body = self.term()
        self.bound.pop()
        return (name, index, low, high, body)


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
            text in ("=", "<", ">") or (text.startswith("\\") and name in _RELATIONS)
        ):
            relations.append(_RELATIONS.get(name, text))
            parts.append([])
            continue
        parts[-1].append(token)
    return parts, relations


def parse_tokens(tokens: list[Token], tex: str) -> Node:
    """The tree of one part of a formula (no relations), or raise FormulaError."""
    if not tokens:
        raise FormulaError("the formula is empty")
    try:
        return _Reader(tokens, tex).formula()
    except RecursionError:
        raise FormulaError(f"the formula nests more than {MAX_DEPTH} deep") from None


def parse_formula(tex: str) -> Node:
    """The tree of a formula without relations, or raise FormulaError."""
    parts, relations = split_chain(tex)
    if relations:
        raise FormulaError(f"the formula holds a relation ({relations[0]})")
    return parse_tokens(parts[0], tex)


def part_text(tokens: list[Token], tex: str) -> str:
    """The TeX of one part of a chain, as written."""
    if not tokens:
        return ""
    last = tokens[-1]
    return _clean(tex[tokens[0].start : last.start + len(last.text)])


def symbols(node: Node) -> set[str]:
    """The names a tree reads, apart from the indices of its sums."""
    found: set[str] = set()

    def walk(item: Any, bound: frozenset[str]) -> None:
        if not isinstance(item, tuple) or not item:
            return
        if item[0] == "sym":
            if item[1] not in bound:
                found.add(item[1])
            return
        if item[0] in ("sum", "prod"):
            inner = bound | {item[1]}
            walk(item[2], bound)
            walk(item[3], bound)
            walk(item[4], inner)
            return
        for child in item[1:]:
            walk(child, bound)

    walk(node, frozenset())
    return found


def rounded_inputs(node: Node) -> list[tuple[Node, float]]:
    """For each number written in a tree with three or more significant digits, so
    likely rounded (``0.665``, not ``0.5``), the tree with that number moved by half a
    unit in its last digit, and that half unit."""
    found: list[tuple[Node, float]] = []

    def variants(item: Any) -> list[tuple[Any, float]]:
        if not isinstance(item, tuple) or not item:
            return []
        if item[0] == "num":
            written = item[2] if len(item) > 2 else ""
            if "." not in written or len(written.replace(".", "").lstrip("0")) < 3:
                return []
            half = 0.5 * 10.0 ** -len(written.split(".")[1])
            return [(("num", item[1] + half, written), half)]
        out = []
        for position, child in enumerate(item):
            for changed, half in variants(child):
                out.append(((*item[:position], changed, *item[position + 1 :]), half))
        return out

    found.extend(variants(node))
    return found


def is_name(node: Node) -> bool:
    """True for a part that only names what follows: ``L``, ``\\frac{dL}{dw}``, ``H(p, q)``."""
    if node[0] == "sym":
        return True
    return node[0] == "apply" and all(n[0] == "sym" for n in node[1:])


# -- evaluation ------------------------------------------------------------------------


class _Row:
    """A transposed vector: ``w^\\top x`` is a dot product."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _sigmoid(z: Any) -> Any:
    import numpy as np

    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))


def _softmax(z: Any) -> Any:
    import numpy as np

    z = np.asarray(z, dtype=float)
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


def _builtin(name: str) -> Callable[..., Any]:
    import numpy as np

    table: dict[str, Callable[..., Any]] = {
        "exp": np.exp,
        "log": np.log,
        "ln": np.log,
        "sin": np.sin,
        "cos": np.cos,
        "tan": np.tan,
        "tanh": np.tanh,
        "sinh": np.sinh,
        "cosh": np.cosh,
        "arctan": np.arctan,
        "sqrt": np.sqrt,
        "abs": np.abs,
        "ceil": np.ceil,
        "floor": np.floor,
        "norm": lambda v: np.linalg.norm(np.asarray(v, dtype=float)),
        "max": lambda *a: a[0] if len(a) == 1 else np.maximum.reduce(np.broadcast_arrays(*a)),
        "min": lambda *a: a[0] if len(a) == 1 else np.minimum.reduce(np.broadcast_arrays(*a)),
        "softmax": _softmax,
        "relu": lambda z: np.maximum(0, z),
        "ReLU": lambda z: np.maximum(0, z),
        "sigma": _sigmoid,
    }
    return table[name]


CONSTANTS = {"e": math.e, "pi": math.pi}
"""Names a formula may use without the check binding them."""


def evaluate(node: Node, lookup: Callable[[str, str, str, bool], Any]) -> Any:
    """The value of a tree; ``lookup(name, base, sub, applied)`` gives each name's value
    (``applied`` when the formula applies the name to arguments, as in ``f(x)``).

    Sums over an index bind that index: inside ``\\sum_i``, ``x_i`` is the whole vector
    ``x`` and the sum adds up the elements of its body.
    """
    import numpy as np

    free: set[str] = set()  # letters of free indices, as in y_i

    def value(item: Any) -> Any:
        return item.value if isinstance(item, _Row) else item

    def walk(item: Node, bound: Mapping[str, Any]) -> Any:
        kind = item[0]
        if kind == "num":
            return item[1]
        if kind == "sym":
            name, base, sub = item[1], item[2], item[3]
            if name in bound:
                return bound[name]
            if sub and sub in bound:
                return lookup(base, base, "", False)  # x_i inside \sum_i: all of x
            try:
                return lookup(name, base, sub, False)
            except FormulaError:
                # y_i outside any sum: the formula holds for every i, so all of y at
                # once. Inside a sum over another index, y_i stays an error.
                if len(sub) == 1 and sub.isalpha() and not bound:
                    free.add(sub)
                    if len(free) > 1:
                        raise FormulaError(
                            f"free indices {' and '.join(sorted(free))} in one formula"
                        ) from None
                    return lookup(base, base, "", False)
                raise
        if kind == "neg":
            return -value(walk(item[1], bound))
        if kind in ("add", "sub"):
            left, right = value(walk(item[1], bound)), value(walk(item[2], bound))
            return left + right if kind == "add" else left - right
        if kind == "mul":
            left, right = walk(item[1], bound), walk(item[2], bound)
            if isinstance(left, _Row):
                return np.dot(left.value, value(right))
            if callable(left) or callable(right):
                raise FormulaError("a function is used as a number")
            return left * value(right)
        if kind == "div":
            return value(walk(item[1], bound)) / value(walk(item[2], bound))
        if kind == "pow":
            base, exponent = value(walk(item[1], bound)), value(walk(item[2], bound))
            if np.ndim(exponent) == 0 and abs(float(exponent)) > 1e4:
                raise FormulaError("an exponent is too large")
            return np.power(np.asarray(base, dtype=float), exponent)
        if kind == "T":
            return _Row(value(walk(item[1], bound)))
        if kind == "fact":
            n = value(walk(item[1], bound))
            if np.ndim(n) or not 0 <= n <= 170:
                raise FormulaError("a factorial needs a whole number up to 170")
            return math.gamma(float(n) + 1)
        if kind == "call":
            args = [value(walk(a, bound)) for a in item[2:]]
            return _builtin(item[1])(*args)
        if kind == "apply":
            target = item[1]
            try:
                function = lookup(target[1], target[2], target[3], True)
            except FormulaError:
                if target[1] != "sigma":
                    raise
                function = _sigmoid  # \sigma(z) is the logistic function unless bound
            args = [value(walk(a, bound)) for a in item[2:]]
            if callable(function):
                return function(*args)
            if len(args) != 1:
                raise FormulaError(f"{target[1]} is not a function")
            return function * args[0]
        if kind in ("sum", "prod"):
            index, low, high, body = item[1], item[2], item[3], item[4]
            if low is None:
                total = walk(body, {**bound, index: None})
            else:
                first, last = value(walk(low, bound)), value(walk(high, bound))
                if np.ndim(first) or np.ndim(last) or not (0 <= last - first < MAX_RANGE):
                    raise FormulaError(f"a \\{kind} runs over more than {MAX_RANGE} terms")
                steps = np.arange(int(first), int(last) + 1, dtype=float)
                total = walk(body, {**bound, index: steps})
            total = value(total)
            return np.sum(total) if kind == "sum" else np.prod(total)
        raise FormulaError(f"unknown node {kind!r}")

    with np.errstate(all="ignore"):  # inf and nan are results here, not warnings
        return value(walk(node, {}))


def numeric_lookup(name: str, base: str, sub: str, applied: bool) -> Any:
    """The lookup of a chain of plain numbers: only ``e`` and ``\\pi`` have a value."""
    if name in CONSTANTS:
        return CONSTANTS[name]
    raise FormulaError(f"'{name}' is not a number")


# -- a formula check, inside the check's worker ----------------------------------------

POINTS = 6
"""Points drawn when a check gives none."""
_SEED = 20_261_130


def _draw_points(names: list[str]) -> list[dict[str, Any]]:
    """Points for ``names``, the same on every run: three in (0, 1), then three of
    either sign, each value with two decimals so that messages stay readable."""
    import random

    rng = random.Random(_SEED)
    points = []
    for index in range(POINTS):
        point = {}
        for name in names:
            if index < POINTS // 2:
                point[name] = round(rng.uniform(0.1, 0.9), 2)
            else:
                point[name] = round(rng.uniform(0.2, 2.0) * rng.choice((-1, 1)), 2)
        points.append(point)
    return points


def _parameters(function: Any) -> list[str] | None:
    """The parameter names of a check's ``def`` or ``lambda``, or None."""
    names = getattr(function, "__argnames__", None)
    if names is None:
        return None
    keywords = getattr(function, "__kwargs__", None) or []
    return [*names, *(name for name, _ in keywords)]


def _points_of(given: Any, names: list[str]) -> list[dict[str, Any]]:
    if not isinstance(given, list | tuple) or not given:
        raise FormulaError("'points' must be a non-empty list")
    points = []
    for item in given:
        if isinstance(item, dict):
            points.append(dict(item))
        elif len(names) == 1:
            points.append({names[0]: item})
        elif isinstance(item, list | tuple) and len(item) == len(names):
            points.append(dict(zip(names, item, strict=True)))
        else:
            raise FormulaError(f"each point must give {', '.join(names)} (or be a dict)")
    return points


def formula_points(
    parts: Any, table: Mapping[str, Any], plain: Callable[[Any], Any]
) -> list[tuple[dict[str, Any], tuple[Any, ...], Any]]:
    """Evaluate a card's formula and the check's ``reference`` at several points.

    Runs in the check's worker: ``table`` holds the check's names after it ran, and
    calling ``reference`` or a function the formula names runs the check's code.
    ``plain`` turns a value into plain data (or raises TypeError).
    Returns, for each point, the numeric names the formula read, the value of each
    part of the formula, and the reference's value.
    """
    import numpy as np

    trees = list(parts)
    if "reference" not in table:
        raise FormulaError(
            "a formula check sets 'reference': a function of the formula's variables, "
            "or its values at 'points'"
        )
    reference = table["reference"]
    variables = _parameters(reference) if callable(reference) else None
    if callable(reference) and variables is None:
        raise FormulaError("'reference' must be a lambda or a def of the check")
    given = table.get("points")
    if variables is None:  # values at the given points
        if given is None:
            raise FormulaError("a reference given as values needs 'points'")
        first = given[0] if isinstance(given, list | tuple) and given else None
        names = sorted(first) if isinstance(first, dict) else []
        points = _points_of(given, names)
        values = list(reference) if isinstance(reference, list | tuple) else [reference]
        if len(values) != len(points):
            raise FormulaError(f"{len(values)} reference values for {len(points)} points")
    else:
        points = _points_of(given, variables) if given is not None else _draw_points(variables)
        values = []

    results = []
    for number, point in enumerate(points):
        read: dict[str, Any] = {}

        def lookup(
            name: str,
            base: str,
            sub: str,
            applied: bool,
            point: dict[str, Any] = point,
            read: dict[str, Any] = read,
        ) -> Any:
            if name in point:
                found = point[name]
            elif name in table and name not in ("reference", "points"):
                found = table[name]
                arguments = _parameters(found) if callable(found) else None
                if arguments is not None and not applied:
                    # a name the check defines as a function of the variables
                    missing = [a for a in arguments if a not in point]
                    if missing:
                        raise FormulaError(
                            f"'{name}' is a function of {', '.join(missing)}, "
                            "which the reference does not take"
                        )
                    found = found(**{a: point[a] for a in arguments})
            elif name in CONSTANTS:
                return CONSTANTS[name]
            elif sub.isdigit() and base in table and np.ndim(table[base]) >= 1:
                found = np.asarray(table[base])[int(sub)]  # x_0: element 0 of x
            else:
                raise FormulaError(f"the check defines no '{name}'")
            if not callable(found):
                read[name] = found
            return found

        shown = tuple(evaluate(tree, lookup) for tree in trees)
        expected = values[number] if variables is None else reference(**point)
        bindings = {}
        # in the order the formula reads them, then the reference's other variables
        for name, value in {**read, **point}.items():
            # only shown in messages: a value that is not plain data is left out
            with contextlib.suppress(TypeError, ValueError):
                if np.size(value) <= 8:
                    bindings[name] = plain(value)
        results.append((bindings, tuple(plain(v) for v in shown), plain(expected)))
    return results
