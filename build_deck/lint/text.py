"""What a card shows, as the lint compares it: words and TeX tokens.

A card's fields are HTML with MathJax delimiters (``\\(..\\)``, ``\\[..\\]``) and, in a
cloze note, Anki's ``{{cN::..}}`` deletions. ``cloze_fronts`` renders each cloze number's
front the way Anki shows it (the active deletion hidden, the others revealed);
``Shown`` splits a piece of shown text into normalised words (case, plurals and simple
inflections folded by ``stem``) and math (TeX tokens, by ``tex_tokens``).
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

from build_deck.parse.cloze import find_clozes

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_MATH = re.compile(r"\\\((.*?)\\\)|\\\[(.*?)\\\]", re.DOTALL)
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]?[\w'’]*[^\W_](?:[-–][\w'’]*[^\W_])*|[^\W\d_]")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|[^\W\d_a-zA-Z]+")
_TEX_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|\d+(?:\.\d+)?|[A-Za-z]|[^\s{}]")
_TEX_WORD = re.compile(
    r"\\(?:text|textrm|textit|textbf|mathrm|mathit|mathbf|mathsf|operatorname)\s*\{([^{}]*)\}"
)
_TEX_IGNORED = frozenset(
    (
        *r"\, \; \: \! \quad \qquad \left \right \big \Big \bigg \Bigg".split(),
        *r"\displaystyle \textstyle \limits \nolimits".split(),
        "\\ ",
    )
)

HIDDEN = "\x00"
"""Stands where the active deletion is hidden on a cloze card's front."""

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    either else few for from further had has have having he her here hers him his how i if
    in into is it its itself just may me might more most much must my neither no nor not
    now of off on once one only or other our ours out over own per same shall she should
    so some such than that the their theirs them then there these they this those through
    thus to too two under until up upon us very via was we were what when where whether
    every many several
    which while who whom whose why will with within without would yet you your e.g i.e
    etc vs get gets got make makes made use used uses using take takes one's it's""".split()
)
"""Function words: never a give-away on their own."""


_POSSESSIVE = re.compile(r"'s?$")
_SPLIT = re.compile(r"[-–_./]")
_KEEP = frozenset("bias alias atlas canvas gas lens plus minus bonus thus news series".split())


@functools.lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """``word`` with case, a possessive, plurals and simple inflections folded:
    ``Gradients`` and ``gradient``, ``unrolled`` and ``unrolls``, ``normalises`` and
    ``normalisation``, ``linearly`` and ``linear`` all give one stem."""
    if word[:1].isdigit():
        return word.replace(",", "")
    w = word.lower().replace("’", "'").replace("-", "").replace("–", "")
    w = _POSSESSIVE.sub("", w).replace("iz", "is")
    if len(w) <= 3 or not w.isalpha() or w in _KEEP:
        return w
    for suffix, repl in (
        ("isation", "is"),
        ("ality", "al"),
        ("arity", "ar"),
        ("ically", "ic"),
        ("ally", "al"),
        ("ies", "y"),
        ("sses", "ss"),
        ("xes", "x"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("ing", ""),
        ("ied", "y"),
        ("ed", ""),
        ("ly", ""),
        ("es", "e"),
        ("s", ""),
    ):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            if suffix == "s" and w.endswith(("ss", "us", "is")):
                break
            w = w[: len(w) - len(suffix)] + repl
            break
    if len(w) > 4 and w[-1] == w[-2] and w[-1] not in "lsz":
        w = w[:-1]  # stopped -> stop, transferred -> transfer
    return w[:-1] if len(w) > 4 and w.endswith("e") else w


def plain(html_text: str) -> str:
    """Field HTML as the text a reader sees (math delimiters kept)."""
    return html.unescape(_TAG.sub(" ", _COMMENT.sub(" ", html_text)))


def tex_tokens(tex: str) -> list[str]:
    """TeX as a list of tokens, without spacing, sizing and grouping braces:
    ``\\frac{a}{b}`` -> ``\\frac a b``; ``\\text{res}`` is the one token ``res``."""
    words: list[str] = []

    def keep_word(match: re.Match[str]) -> str:
        words.append(match.group(1).strip().lower())
        return f" \x01{len(words) - 1}\x01 "

    marked = _TEX_WORD.sub(keep_word, html.unescape(tex))
    out: list[str] = []
    for piece in re.split(r"\x01(\d+)\x01", marked):
        if piece.isdigit() and int(piece) < len(words) and piece == piece.strip():
            out.append(words[int(piece)])
            continue
        out += [t for t in _TEX_TOKEN.findall(piece) if t not in _TEX_IGNORED]
    return out


@functools.lru_cache(maxsize=1 << 16)
def _pieces(token: str) -> tuple[tuple[str, str], ...]:
    """The parts of a written word (``parts``), each with its stem."""
    return tuple((piece, stem(piece)) for piece in parts(token))


def word_tokens(text: str) -> list[str]:
    """The words and numbers of prose, as written (``50,000``, ``mini-batch``, ``it's``)."""
    return _TOKEN.findall(text)


def parts(token: str) -> list[str]:
    """A written word and the words it is made of: ``mini-batch`` -> mini, batch;
    ``BatchNorm`` -> Batch, Norm; ``set_to_none`` -> set, to, none."""
    found = [token]
    if token[:1].isdigit():
        return found
    for piece in _SPLIT.split(token):
        found += _CAMEL.findall(piece) if piece else []
    return found


@dataclass(frozen=True, slots=True)
class Shown:
    """A piece of shown text, ready for comparing."""

    text: str
    """The prose, math replaced by a space."""
    words: frozenset[str]
    """Stems of every word, number and part of a compound word (math names too)."""
    math: tuple[tuple[str, ...], ...]
    """Each formula, as TeX tokens."""
    acronyms: frozenset[str]
    """Words or parts of words written in capitals (``KV``, ``RMS`` of ``RMSProp``),
    lower-cased."""
    spelled: Mapping[str, str]
    """For each stem of ``words``, the word as first written."""

    @classmethod
    def of(cls, text: str) -> Shown:
        """Read plain text (``plain``) holding math delimiters."""
        math = tuple(
            tuple(tex_tokens(m.group(1) or m.group(2) or "")) for m in _MATH.finditer(text)
        )
        prose = _MATH.sub(" ", text)
        pieces = [piece for token in word_tokens(prose) for piece in _pieces(token)]
        spelled: dict[str, str] = {}
        for written, key in pieces:
            spelled.setdefault(key, written)
        for formula in math:
            for name in formula:
                if len(name) > 2 and name.isalpha():
                    spelled.setdefault(stem(name), name)
        acronyms = {p.lower() for p, _ in pieces if len(p) > 1 and p.isupper()}
        return cls(prose, frozenset(spelled), math, frozenset(acronyms), spelled)


def content_words(text: str) -> list[tuple[str, str]]:
    """The words of prose that carry meaning, as (written, stem): no function words, no
    single letters, no math."""
    found = []
    for token in word_tokens(_MATH.sub(" ", text)):
        key = stem(token)
        if (
            key not in STOPWORDS
            and token.lower() not in STOPWORDS
            and (len(key) > 1 or key.isdigit())
        ):
            found.append((token, key))
    return found


def formulas(text: str) -> list[tuple[str, ...]]:
    """Each formula of plain text, as TeX tokens."""
    return [tuple(tex_tokens(m.group(1) or m.group(2) or "")) for m in _MATH.finditer(text)]


@dataclass(frozen=True, slots=True)
class ClozeFront:
    """One cloze number's card: what its front shows and what it hides."""

    number: int
    """The cloze number."""
    front: str
    """The front as plain text, the hidden deletions as ``HIDDEN`` (or their hint)."""
    hidden: tuple[str, ...]
    """The text of each deletion with this number, as plain text (math delimited)."""


@functools.lru_cache(maxsize=1024)
def cloze_fronts(content: str) -> tuple[ClozeFront, ...]:
    """Every cloze number's front, as Anki renders ``{{cloze:Text}}``."""
    content = _COMMENT.sub(" ", content)
    spans, _ = find_clozes(content, shorthand=False)
    math_spans = [(m.start(), m.end()) for m in _MATH.finditer(content)]
    numbers = sorted({s.number for s in spans if s.number is not None})
    fronts = []
    for n in numbers:
        pieces: list[str] = []
        hidden: list[str] = []
        pos = 0
        for span in spans:
            body = content[span.body_start : span.body_end]
            pieces.append(content[pos : span.start])
            pos = span.end
            if span.number != n:
                pieces.append(body)
                continue
            in_math = any(a < span.start < b for a, b in math_spans)
            hidden.append(plain(f"\\({body}\\)" if in_math else body))
            pieces.append(f" {span.hint} " if span.hint else HIDDEN)
        pieces.append(content[pos:])
        front = "".join(pieces)
        if HIDDEN in front:  # a hidden deletion splits its formula in two
            front = _close_math_around_hidden(front)
        fronts.append(ClozeFront(n, plain(front), tuple(hidden)))
    return tuple(fronts)


def _close_math_around_hidden(front: str) -> str:
    """``\\(a = HIDDEN + b\\)`` -> ``\\(a = \\) HIDDEN \\( + b\\)``, so that the formula's
    visible parts stay formulas."""
    out = []
    open_math: list[str] = []
    for piece in re.split(r"(\\\(|\\\)|\\\[|\\\]|\x00)", front):
        if piece in ("\\(", "\\["):
            open_math.append(piece)
        elif piece in ("\\)", "\\]"):
            open_math = open_math[:-1]
        elif piece == HIDDEN and open_math:
            opener = open_math[-1]
            closer = "\\)" if opener == "\\(" else "\\]"
            piece = f"{closer}{HIDDEN}{opener}"
        out.append(piece)
    return "".join(out)
