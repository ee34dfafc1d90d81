"""Turn a field's HTML, as Anki's editor leaves it, back into this project's Markdown.

Only the constructs the build produces, or that Anki's editor makes of them, are turned
back: bold and italics, inline code, math delimiters (``\\(..\\)`` and ``\\[..\\]``),
clozes (Anki's syntax is the notes' syntax), lists, line breaks and the ``<div>`` and
``<br>`` of a line typed in Anki. Anything else (links, images, colours, tables,
highlighted code...) is kept as HTML and named in ``Converted.unknown``, so the caller
can show it and refuse to write it into the notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

_INLINE = {"b": "**", "strong": "**", "i": "*", "em": "*"}
_IGNORED = {"span"}  # a bare <span> (no attributes) carries nothing
_MATH = re.compile(r"\\\((.+?)\\\)|\\\[(.+?)\\\]", re.S)
_ESCAPE = re.compile(r"([*_`$\\<~])")
_ENTITY = re.compile(r"&(?=#?\w+;)")
# Also the notes' own line starts: "Q:", "A:" and "Extra:" (a card or a field of its
# own), "---" and "===" (a thematic break or a heading's underline), "%%" (a comment).
_LINE_START = re.compile(
    r"^(\s*)([#>]|[-+](?=\s)|\d+(?=[.)]\s)|(?:Q|A|Extra)(?=:)|-(?=-)|=|%(?=%))", re.MULTILINE
)
# The build writes a literal "{" as an entity so that Anki sees no cloze; the notes
# write it "\{". The placeholder keeps it apart from a real "{" through the parser.
_LITERAL_BRACE = re.compile(r"&#123;|&#x7[bB];|&lbrace;|&lcub;")
_BRACE_MARK = "\ue000"


@dataclass(frozen=True, slots=True)
class Converted:
    """The Markdown of a field, and what could not be turned back."""

    markdown: str
    """The Markdown (holding raw HTML where ``unknown`` is not empty)."""
    unknown: tuple[str, ...] = ()
    """The HTML tags left as they were, e.g. ``('a', 'img')``."""

    @property
    def exact(self) -> bool:
        """True when everything was turned into Markdown."""
        return not self.unknown


class _Converter(HTMLParser):
    """Writes Markdown while it parses the HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.unknown: list[str] = []
        self.lists: list[list[int]] = []  # [counter] per open list; 0 for bullets
        self.code = 0
        self.kept: list[str] = []  # tags written as HTML, still open

    def _newline(self) -> None:
        if self.out and not "".join(self.out[-2:]).endswith("\n"):
            self.out.append("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INLINE and not attrs:
            self.out.append(_INLINE[tag])
        elif tag == "code" and not attrs:
            self.out.append("`")
            self.code += 1
        elif tag == "br":
            self.out.append("\\\n")
        elif tag in ("div", "p") and not attrs:
            self._newline()
            if tag == "p" and self.out:
                self.out.append("\n")
        elif tag in ("ul", "ol") and not attrs:
            self._newline()
            self.lists.append([1 if tag == "ol" else 0])
        elif tag == "li" and self.lists:
            self._newline()
            counter = self.lists[-1]
            indent = "   " * (len(self.lists) - 1)
            self.out.append(f"{indent}{counter[0]}. " if counter[0] else f"{indent}- ")
            if counter[0]:
                counter[0] += 1
        elif tag in _IGNORED and not attrs:
            pass
        else:
            self.unknown.append(tag)
            self.out.append(self.get_starttag_text() or f"<{tag}>")
            if tag not in ("br", "img", "hr", "input", "wbr"):
                self.kept.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.kept and self.kept[-1] == tag:
            self.kept.pop()
            self.out.append(f"</{tag}>")
        elif tag in _INLINE:
            self.out.append(_INLINE[tag])
        elif tag == "code" and self.code:
            self.out.append("`")
            self.code -= 1
        elif tag in ("div", "p", "li"):
            if self.out and self.out[-1] == "\\\n":
                self.out[-1] = "\n"  # Anki's editor ends a line with <br></div>
            self._newline()
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
            self._newline()
        elif tag not in _IGNORED:
            self.unknown.append(f"/{tag}")
            self.out.append(f"</{tag}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        if self.code:
            self.out.append(data)
            return
        text = data.replace("\xa0", " ")
        if self.out and self.out[-1] == "\\\n" and text.startswith("\n"):
            text = text[1:]  # the build writes "<br />\n"
        pieces = []
        last = 0
        for match in _MATH.finditer(text):
            pieces.append(_escape(text[last : match.start()]))
            inline, display = match.group(1), match.group(2)
            pieces.append(f"${inline}$" if inline is not None else f"$${display}$$")
            last = match.end()
        pieces.append(_escape(text[last:]))
        joined = "".join(pieces)
        if not self.out or self.out[-1].endswith("\n"):
            # At the start of a line, a heading, quote or list marker would be read as one.
            joined = _LINE_START.sub(_escape_marker, joined)
        self.out.append(joined)


def _escape(text: str) -> str:
    """Text with the characters Markdown would read as markup escaped."""
    return _ENTITY.sub(r"\\&", _ESCAPE.sub(r"\\\1", text))


def _escape_marker(match: re.Match[str]) -> str:
    """A heading, quote or list marker at the start of a line, escaped."""
    indent, marker = match.group(1), match.group(2)
    return f"{indent}{marker}\\" if marker[0].isalnum() else f"{indent}\\{marker}"


def html_to_markdown(field_html: str) -> Converted:
    """The Markdown of one field's HTML; see the module docstring for what is turned back."""
    converter = _Converter()
    converter.feed(_LITERAL_BRACE.sub(_BRACE_MARK, field_html))
    converter.close()
    text = "".join(converter.out).replace(_BRACE_MARK, "\\{")
    text = re.sub(r"\\\n$", "", text.rstrip(" ")).strip("\n")
    text = re.sub(r"\n{3,}", "\n\n", text)
    return Converted(text, tuple(dict.fromkeys(converter.unknown)))
