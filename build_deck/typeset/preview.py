"""The HTML preview: every card as Anki shows it, typeset by MathJax, in one page.

``build-deck preview`` writes ``dist/preview/index.html``. Each card is rendered from
the deck's own templates and CSS (``notetypes.py``) by a small renderer that does
what Anki's does for them: ``{{Field}}``, ``{{#Field}}..{{/Field}}``,
``{{FrontSide}}`` and ``{{cloze:Text}}``, including Anki's treatment of clozes
inside math. Every cloze number gets its front and back. MathJax 3 (the npm package
``mathjax-full``) is copied next to the page and configured like Anki's, so the page
works offline. The page groups the cards by deck and section and has a search box, a
light/night toggle, each card's ``notes/file.md:LINE`` and card-quality warnings
(:mod:`build_deck.lint`, with a filter that keeps the cards that have them), and a list of
the cards whose math MathJax could not typeset.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from build_deck.anki.note_record import NoteRecord, note_fields
from build_deck.anki.notetypes import card_css, note_type_of
from build_deck.files import UnsafeFile, inside
from build_deck.model import Card, CardKind, SourceLoc
from build_deck.report import slugify

MATHJAX_SCRIPT = "tex-chtml-full.js"
"""The MathJax component the page loads (the full TeX input, CommonHTML output)."""

MATHJAX_FONTS = Path("output") / "chtml" / "fonts" / "woff-v2"
"""The fonts of the CommonHTML output, relative to the MathJax component."""

_ASSETS = Path(__file__).resolve().parent.parent / "js"

# -- Anki's template renderer, for the two templates of the deck -----------------

_TAG = re.compile(r"\{\{\s*([#^/]?)\s*([^}]*?)\s*\}\}")
_FIELD_EMPTY = re.compile(r"^(?:\s|</?(?:br|div) ?/?>)*$", re.IGNORECASE | re.DOTALL)
_CLOZE_MARKER = re.compile(r"\{\{c(\d{1,9})::|\}\}")
_MATH_OPEN = re.compile(r"\\[(\[]")
_MATH_CLOSE = re.compile(r"\\[)\]]")
_HTML_TAG = re.compile(
    r"(<!--.*?-->)|(<style.*?>.*?</style>)|(<script.*?>.*?</script>)|(<.*?>)",
    re.IGNORECASE | re.DOTALL,
)
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}


def field_is_empty(text: str) -> bool:
    """Anki's test for ``{{#Field}}``: only whitespace, ``<br>`` and ``<div>`` tags."""
    return _FIELD_EMPTY.match(text) is not None


def encode_attribute(text: str) -> str:
    """Anki's attribute encoding (``htmlescape::encode_attribute``): every character
    below 256 but letters and digits becomes an entity."""
    out = []
    for char in text:
        code = ord(char)
        if char in _ENTITIES:
            out.append(_ENTITIES[char])
        elif code < 256 and (code > 127 or not char.isalnum()):
            out.append(f"&#x{code:02X};")
        else:
            out.append(char)
    return "".join(out)


@dataclass(slots=True)
class _Cloze:
    """A deletion as Anki's parser reads it."""

    ordinal: int
    nodes: list[str | _Cloze]
    hint: str | None = None


def _parse_clozes(text: str) -> list[str | _Cloze]:
    """Text and (nested) deletions, the way Anki's cloze tokenizer reads them."""
    output: list[str | _Cloze] = []
    open_clozes: list[_Cloze] = []

    def add_text(piece: str) -> None:
        if not piece:
            return
        if open_clozes:
            head, colons, tail = piece.partition("::")
            if colons:
                piece = head
                open_clozes[-1].hint = tail
            open_clozes[-1].nodes.append(piece)
        else:
            output.append(piece)

    pos = 0
    for marker in _CLOZE_MARKER.finditer(text):
        add_text(text[pos : marker.start()])
        pos = marker.end()
        if marker.group(1) is not None:
            if len(open_clozes) < 10:
                open_clozes.append(_Cloze(int(marker.group(1)), []))
        elif open_clozes:
            cloze = open_clozes.pop()
            (open_clozes[-1].nodes if open_clozes else output).append(cloze)
        else:
            output.append("}}")
    add_text(text[pos:])
    return output


def _reveal(cloze: _Cloze, ordinal: int, question: bool, buf: list[str]) -> bool:
    """Render one deletion into ``buf``; True if the active one was met."""
    active = cloze.ordinal == ordinal
    found = active
    if active and question:
        content: list[str] = []
        for node in cloze.nodes:
            if isinstance(node, str):
                content.append(node)
            else:
                found |= _reveal(node, ordinal, False, content)
        hint = cloze.hint if cloze.hint is not None else "..."
        buf.append(
            f'<span class="cloze" data-cloze="{encode_attribute("".join(content))}" '
            f'data-ordinal="{cloze.ordinal}">[{hint}]</span>'
        )
        return found
    css_class = "cloze" if active else "cloze-inactive"
    buf.append(f'<span class="{css_class}" data-ordinal="{cloze.ordinal}">')
    for node in cloze.nodes:
        if isinstance(node, str):
            buf.append(node)
        else:
            found |= _reveal(node, ordinal, question, buf)
    buf.append("</span>")
    return found


def cloze_filter(text: str, ordinal: int, *, question: bool) -> str:
    """Anki's ``{{cloze:Field}}`` for card ``ordinal`` (1-based).

    The active deletion becomes ``[...]`` (or ``[hint]``) on the front and is revealed
    on the back, inside ``<span class="cloze">``; the others show their text in
    ``<span class="cloze-inactive">``. Inside MathJax the tags are then stripped, so a
    deletion in math is plain TeX. Without the active deletion the result is empty.
    """
    buf: list[str] = []
    found = False
    for node in _parse_clozes(text):
        if isinstance(node, str):
            buf.append(node)
        else:
            found |= _reveal(node, ordinal, question, buf)
    if not found:
        return ""
    return _without_tags_in_math("".join(buf))


def _without_tags_in_math(text: str) -> str:
    """``text`` with the HTML tags inside each ``\\(..\\)`` and ``\\[..\\]`` removed, as
    Anki does. One pass: once no closer is left, no later opener can close."""
    parts: list[str] = []
    pos = 0
    while (opener := _MATH_OPEN.search(text, pos)) is not None:
        closer = _MATH_CLOSE.search(text, opener.end())
        if closer is None:
            break
        inner = _HTML_TAG.sub("", text[opener.end() : closer.start()])
        parts += [text[pos : opener.start()], opener.group(), inner, closer.group()]
        pos = closer.end()
    parts.append(text[pos:])
    return "".join(parts)


def render_template(
    template: str,
    fields: Mapping[str, str],
    *,
    ordinal: int,
    question: bool,
    front_side: str = "",
) -> str:
    """One side of a card: ``template`` filled from ``fields`` as Anki fills it."""
    out: list[str] = []
    pos = 0
    while (tag := _TAG.search(template, pos)) is not None:
        out.append(template[pos : tag.start()])
        kind, name = tag.groups()
        pos = tag.end()
        if kind in ("#", "^"):
            closing = re.compile(r"\{\{\s*/\s*" + re.escape(name) + r"\s*\}\}")
            end = closing.search(template, pos)
            if end is None:
                raise ValueError(f"template: {{{{{kind}{name}}}}} is never closed")
            shown = not field_is_empty(fields.get(name, ""))
            if shown == (kind == "#"):
                inner = template[pos : end.start()]
                out.append(
                    render_template(
                        inner, fields, ordinal=ordinal, question=question, front_side=front_side
                    )
                )
            pos = end.end()
        elif kind == "/":
            raise ValueError(f"template: {{{{/{name}}}}} closes nothing")
        elif name == "FrontSide":
            out.append(front_side)
        elif name.startswith("cloze:"):
            out.append(cloze_filter(fields[name[6:]], ordinal, question=question))
        elif name.startswith("type:"):  # Anki's box to type the answer in, and its answer
            typed = fields[name[5:]]
            out.append('<input id="typeans" disabled>' if question else f"<code>{typed}</code>")
        else:
            out.append(fields[name])
    out.append(template[pos:])
    return "".join(out)


@dataclass(frozen=True, slots=True)
class CardFace:
    """One Anki card of a note: its front and back as the reviewer shows them."""

    card: Card
    """The note it belongs to."""
    ordinal: int
    """The cloze number (1 for a Q/A card)."""
    front: str
    """The question side, as HTML."""
    back: str
    """The answer side, as HTML."""


def card_faces(card: Card, *, verified: bool | str = False) -> list[CardFace]:
    """Every Anki card of a note: one for Q/A, one per cloze number."""
    note_type = note_type_of(card)
    record = NoteRecord.of(card, verified=verified)
    fields = dict(zip(note_type.fields, note_fields(record), strict=True))
    if card.kind is CardKind.CLOZE:
        sides = [(n, note_type.front, note_type.back) for n in card.cloze_numbers]
    else:
        sides = [(i, front, back) for i, (_, front, back) in enumerate(note_type.templates, 1)]
    faces = []
    for ordinal, front_template, back_template in sides:
        front = render_template(front_template, fields, ordinal=ordinal, question=True)
        back = render_template(
            back_template, fields, ordinal=ordinal, question=False, front_side=front
        )
        faces.append(CardFace(card, ordinal, front, back))
    return faces


# -- the page -------------------------------------------------------------------


def _mathjax_config() -> str:
    return (_ASSETS / "preview-mathjax.js").read_text(encoding="utf-8")


_CLOZE_NUMBER = re.compile(r"\bc(\d+)\b")


def _face_warnings(face: CardFace, warnings: Sequence[str]) -> list[str]:
    """The warnings about one Anki card of a note: those that name no cloze number, or
    its own."""
    own = str(face.ordinal)
    return [w for w in warnings if own in _CLOZE_NUMBER.findall(w) or not _CLOZE_NUMBER.search(w)]


def _warning_list(warnings: Sequence[str]) -> str:
    """The warnings shown beside a card, each with its kind in bold."""
    items = []
    for warning in warnings:
        kind, _, message = warning.partition(": ")
        items.append(
            f'<li data-kind="{html.escape(kind)}"><b>{html.escape(kind)}</b>: '
            f"{html.escape(message)}</li>"
        )
    return f'<ul class="lint-messages tex2jax_ignore">{"".join(items)}</ul>' if items else ""


def _entry(face: CardFace, verified: bool, warnings: Sequence[str] = ()) -> str:
    card = face.card
    label = (
        {CardKind.QA: "Q/A", CardKind.REVERSED: f"Q/A reversed, card {face.ordinal}"}.get(
            card.kind, "Q/A typed"
        )
        if card.kind.is_qa
        else f"cloze c{face.ordinal} ({card.cloze_numbers.index(face.ordinal) + 1} "
        f"of {len(card.cloze_numbers)})"
    )
    loc = str(card.loc)
    anchor = f"{slugify(loc)}-c{face.ordinal}"
    words = " ".join(
        [loc, card.deck, " ".join(card.section), card.prompt_text, " ".join(card.tags)]
    )
    tags = " ".join(f'<span class="tag">{html.escape(t)}</span>' for t in card.tags)
    mark = ' <span class="mark">verified</span>' if verified else ""
    kinds = " ".join(dict.fromkeys(w.split(":", 1)[0] for w in warnings))
    e = html.escape
    return f"""<article class="entry{" linted" if warnings else ""}" id="{anchor}" \
data-source="{e(loc)}" data-text="{e(words.lower())}" data-lint="{e(kinds)}">
<header class="entry-head tex2jax_ignore"><a class="loc" href="#{anchor}">{e(loc)}</a>
<span class="kind">{label}</span>{mark} {tags}</header>
{_warning_list(warnings)}<div class="faces">
<figure class="face"><figcaption class="tex2jax_ignore">Front</figcaption>
<div class="card card{face.ordinal}">{face.front}</div></figure>
<figure class="face"><figcaption class="tex2jax_ignore">Back</figcaption>
<div class="card card{face.ordinal}">{face.back}</div></figure>
</div>
</article>"""


def preview_page(
    cards: Sequence[Card],
    verified: Mapping[SourceLoc, str],
    *,
    title: str,
    mathjax_src: str = f"mathjax/{MATHJAX_SCRIPT}",
    warnings: Mapping[SourceLoc, Sequence[str]] | None = None,
) -> str:
    """The whole page: cards grouped by deck, then section, in notes order; each with
    its card-quality ``warnings`` (``KIND: message``, by the card's place)."""
    groups: dict[str, dict[tuple[str, ...], list[str]]] = {}
    faces = 0
    kinds: dict[str, int] = {}
    for card in cards:
        sections = groups.setdefault(card.deck, {})
        entries = sections.setdefault(card.section, [])
        for face in card_faces(card, verified=verified.get(card.loc, False)):
            shown = _face_warnings(face, (warnings or {}).get(card.loc, ()))
            entries.append(_entry(face, card.loc in verified, shown))
            faces += 1
            for kind in dict.fromkeys(w.split(":", 1)[0] for w in shown):
                kinds[kind] = kinds.get(kind, 0) + 1
    body: list[str] = []
    for deck, sections in groups.items():
        body.append(
            f'<section class="group deck"><h2 class="tex2jax_ignore">{html.escape(deck)}</h2>'
        )
        for section, entries in sections.items():
            heading = " › ".join(section) or "(no heading)"
            body.append(
                f'<section class="group"><h3 class="tex2jax_ignore">{html.escape(heading)}</h3>'
            )
            body.extend(entries)
            body.append("</section>")
        body.append("</section>")
    css = (_ASSETS / "preview.css").read_text(encoding="utf-8")
    script = (_ASSETS / "preview.js").read_text(encoding="utf-8")
    e = html.escape
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} — preview</title>
<style>
{card_css()}
</style>
<style>
{css}
</style>
<script>
{_mathjax_config()}
</script>
<script defer src="{e(mathjax_src)}" onerror="document.getElementById('status').textContent = \
'MathJax could not be loaded: run build-deck preview again'"></script>
</head>
<body>
<header class="top tex2jax_ignore">
<h1>{e(title)}</h1>
<p class="counts"><span id="count">{faces} cards</span> from {len(cards)} notes</p>
<input id="search" type="search" placeholder="Search cards, sources, tags" autocomplete="off">
{_lint_filter(kinds)}
<button id="night" type="button" aria-pressed="false">Night</button>
<p id="status">Typesetting…</p>
<ul id="errors" hidden></ul>
</header>
<main>
{chr(10).join(body)}
</main>
<script>
{script}
</script>
</body>
</html>
"""


def _lint_filter(kinds: Mapping[str, int]) -> str:
    """The menu that keeps all cards, those with warnings, or those of one kind."""
    options = [
        '<option value="">All cards</option>',
        f'<option value="*">With warnings ({sum(kinds.values())})</option>',
        *(
            f'<option value="{html.escape(kind)}">{html.escape(kind)} ({n})</option>'
            for kind, n in sorted(kinds.items())
        ),
    ]
    return '<select id="lint" aria-label="Card-quality warnings">' + "".join(options) + "</select>"


def _write_file(path: Path, data: bytes) -> None:
    """Write ``path`` under a temporary name, then rename it into place: a link left
    at ``path`` (say in a ``dist/`` someone committed) is replaced, never followed."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    with open(temporary, "xb") as out:
        out.write(data)
    os.replace(temporary, path)


def _safe_folder(folder: Path, out_dir: Path) -> Path:
    """``folder``, made, once it is known to lie inside ``out_dir`` (links followed)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not inside(folder, out_dir):
        raise UnsafeFile(f"{folder} leads out of {out_dir} (a symbolic link): remove it")
    return folder


_MEDIA_NAME = re.compile(r"[^/\\\x00-\x1f.][^/\\\x00-\x1f]{0,254}")


def copy_mathjax(mathjax: Path, out_dir: Path) -> None:
    """Copy MathJax's full TeX/CommonHTML component and its fonts next to the page."""
    target = _safe_folder(out_dir / "mathjax", out_dir)
    fonts = _safe_folder(target / MATHJAX_FONTS, out_dir)
    _write_file(target / MATHJAX_SCRIPT, (mathjax / "es5" / MATHJAX_SCRIPT).read_bytes())
    for font in sorted((mathjax / "es5" / MATHJAX_FONTS).iterdir()):
        _write_file(fonts / font.name, font.read_bytes())


def write_preview(
    cards: Sequence[Card],
    verified: Mapping[SourceLoc, str],
    out_dir: Path,
    mathjax: Path,
    *,
    title: str,
    warnings: Mapping[SourceLoc, Sequence[str]] | None = None,
) -> Path:
    """Write ``index.html``, MathJax and the cards' images to ``out_dir``.

    Raises :class:`~build_deck.files.UnsafeFile` when a folder it writes to leads out
    of ``out_dir``, or an image is not a plain file name of the notes folder.
    """
    _safe_folder(out_dir, out_dir.parent)
    copy_mathjax(mathjax, out_dir)
    for name, path in sorted({m for card in cards for m in card.media}):
        if not _MEDIA_NAME.fullmatch(name):
            raise UnsafeFile(f"an image named {name!r}: not a plain file name")
        _write_file(out_dir / name, Path(path).read_bytes())
    page = out_dir / "index.html"
    _write_file(page, preview_page(cards, verified, title=title, warnings=warnings).encode("utf-8"))
    return page
