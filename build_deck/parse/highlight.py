"""Code to HTML: Pygments highlighting that keeps cloze deletions working.

The code is lexed once with the deletions taken out, so that Pygments sees the real
program; the token stream is then cut at the deletions' edges and each piece is
formatted on its own, with Anki's ``{{cN::`` and ``}}`` placed between the pieces.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from functools import lru_cache

from markdown_it.common.utils import escapeHtml
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import Text, _TokenType
from pygments.util import ClassNotFound

from build_deck.parse.cloze import find_clozes

LIGHT_STYLE = "default"
"""Pygments style for Anki's day mode."""
DARK_STYLE = "monokai"
"""Pygments style for Anki's night mode."""

_Token = tuple[_TokenType, str]


def shield_cloze_syntax(html: str) -> str:
    """Hide literal ``{``, ``}`` and ``::`` from Anki's cloze parser.

    The entities look the same on the card, but Anki no longer reads them as the
    start, end or hint of a deletion.
    """
    return html.replace("{", "&#123;").replace("}", "&#125;").replace("::", ":&#58;")


@lru_cache(maxsize=64)
def _lexer(language: str) -> Lexer | None:
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


_FORMATTER = HtmlFormatter(nowrap=True)


def _format(tokens: list[_Token]) -> str:
    out = io.StringIO()
    _FORMATTER.format(tokens, out)
    html = out.getvalue()
    # The formatter ends every piece with a newline; keep only the code's own.
    if not (tokens and tokens[-1][1].endswith("\n")):
        html = html.removesuffix("\n")
    return html


def _split_at(tokens: Iterable[_Token], cuts: list[int]) -> Iterator[list[_Token]]:
    """Cut a token stream at character offsets; yields ``len(cuts) + 1`` pieces."""
    piece: list[_Token] = []
    offset = 0
    remaining = iter(cuts)
    cut = next(remaining, None)
    for ttype, value in tokens:
        while cut is not None and offset + len(value) >= cut:
            head, value = value[: cut - offset], value[cut - offset :]
            if head:
                piece.append((ttype, head))
            offset = cut
            yield piece
            piece = []
            cut = next(remaining, None)
        if value:
            piece.append((ttype, value))
            offset += len(value)
    yield piece
    while cut is not None:
        yield []
        cut = next(remaining, None)


def render_code(code: str, language: str | None = None) -> str:
    """Render code as HTML spans (no wrapper), with its numbered clozes kept.

    ``language`` picks the Pygments lexer; unknown or None means plain escaped text.
    """
    spans, _ = find_clozes(code, shorthand=False)
    plain_parts: list[str] = []
    cuts: list[int] = []
    pos = 0
    length = 0
    for span in spans:
        before = code[pos : span.start]
        body = code[span.body_start : span.body_end]
        plain_parts += [before, body]
        length += len(before)
        cuts.append(length)
        length += len(body)
        cuts.append(length)
        pos = span.end
    plain_parts.append(code[pos:])
    plain = "".join(plain_parts)

    lexer = _lexer(language) if language else None
    tokens: Iterable[_Token] = lexer.get_tokens(plain) if lexer else [(Text, plain)]
    render_piece = _format if lexer else (lambda piece: escapeHtml("".join(v for _, v in piece)))
    pieces = [shield_cloze_syntax(render_piece(piece)) for piece in _split_at(tokens, cuts)]

    html = [pieces[0]]
    for i, span in enumerate(spans):
        hint = "" if span.hint is None else "::" + shield_cloze_syntax(escapeHtml(span.hint))
        html.append(f"{{{{c{span.number}::{pieces[2 * i + 1]}{hint}}}}}{pieces[2 * i + 2]}")
    return "".join(html)


def render_code_block(code: str, language: str | None) -> str:
    """A fenced code block as Anki field HTML."""
    code = code.removesuffix("\n")
    return f'<div class="highlight"><pre>{render_code(code, language)}</pre></div>'


def pygments_css() -> str:
    """Token colours for day mode, and for Anki's night mode on every client."""
    light = HtmlFormatter(style=LIGHT_STYLE).get_style_defs(".highlight")  # type: ignore[no-untyped-call]
    night_scopes = [".nightMode .highlight", ".night_mode .highlight"]
    reset = ", ".join(f"{scope} span" for scope in night_scopes)
    dark = HtmlFormatter(style=DARK_STYLE).get_style_defs(night_scopes)  # type: ignore[no-untyped-call]
    return f"{light}\n{reset} {{ color: inherit; background: none; font-weight: inherit; }}\n{dark}"
