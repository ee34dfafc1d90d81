"""Parse stage: what the parts of extraction share while they read one notes file.

:class:`FileContext` holds the parser and its env, the name the file is shown by, and
the problems found so far, in the order they were found; it renders tokens to HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

from build_deck.model import Diagnostic, Severity, SourceLoc


class FileContext:
    """One notes file being read: its parser, its name, and the problems found in it."""

    def __init__(self, md: MarkdownIt, display_path: str) -> None:
        self.md = md
        """The parser, whose renderer turns tokens into HTML."""
        self.display_path = display_path
        """The file as diagnostics name it (``notes/f.md``)."""
        self.env: dict[str, Any] = {}
        """The parser's env for this file (its plugins leave problems and footnotes there)."""
        self.diagnostics: list[Diagnostic] = []
        """Every problem found so far, in order."""

    def loc(self, line: int) -> SourceLoc:
        """A place in this file."""
        return SourceLoc(self.display_path, line)

    def error(self, line: int, message: str) -> None:
        """Report an error at ``line``."""
        self.diagnostics.append(Diagnostic(self.loc(line), message))

    def warn(self, line: int, message: str) -> None:
        """Report a warning at ``line``."""
        self.diagnostics.append(Diagnostic(self.loc(line), message, Severity.WARNING))

    def render_inline(self, children: Sequence[Token]) -> str:
        """HTML of inline tokens."""
        renderer: RendererHTML = self.md.renderer  # type: ignore[assignment]
        return renderer.renderInline(children, self.md.options, self.env).strip()

    def render_blocks(self, blocks: Sequence[Sequence[Token]]) -> str:
        """HTML of whole blocks, one after the other."""
        flat = [t for block in blocks for t in block]
        return str(self.md.renderer.render(flat, self.md.options, self.env)).strip()
