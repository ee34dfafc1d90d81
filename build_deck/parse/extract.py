"""Markdown source of one notes file -> cards with rendered fields.

The file is parsed once; the top-level blocks are then read in order, the way a
reader of the notes reads them: headings set the section, ``Q:``/``A:`` paragraphs
and blocks holding clozes make cards, ``Extra:`` paragraphs and ``check`` blocks
attach to the card right before them, and everything else stays notes.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

from build_deck.model import Card, CardKind, Check, Diagnostic, Severity, SourceLoc
from build_deck.parse.cloze import find_clozes
from build_deck.parse.markdown import CHECK_INFO

FRONT_MATTER_KEYS = ("deck", "tags")
"""The keys a notes file's front matter may set."""

_SECTION_TAGS = re.compile(r"(?:\s+#[\w][\w:-]*)+\s*$")

INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
"""Characters that show as nothing: soft hyphen, zero-width space, non-joiner and joiner,
the bidi marks, embeddings, overrides and isolates, word joiner, and BOM. Dropped from
headings and front matter, where they would make tags and decks that look alike."""

_TAG_BAD_CHARS = re.compile(r"[\s\"]+")
_MATH_TYPES = ("math_inline", "math_inline_double", "math_block")


@dataclass(frozen=True, slots=True)
class Heading:
    """One level of the heading path above a card."""

    level: int
    """1 for ``#``, 2 for ``##``, ..."""
    text: str
    """Plain text, without section tags."""
    html: str
    """Rendered inline HTML, without section tags."""
    tags: tuple[str, ...]
    """Section tags written at the end of the heading."""


@dataclass(frozen=True, slots=True)
class FileSettings:
    """What a file's front matter says."""

    deck: str | None = None
    """Subdeck for every card of the file."""
    tags: tuple[str, ...] = ()
    """Tags for every card of the file."""


@dataclass(slots=True)
class _Draft:
    """A card being assembled while the blocks are read."""

    kind: CardKind
    line: int
    headings: tuple[Heading, ...]
    content: str
    prompt_text: str
    value_source: str
    cloze_numbers: tuple[int, ...] = ()
    deletions: tuple[tuple[int, str], ...] = ()
    shorthand: tuple[int, ...] = ()
    answer_blocks: list[list[Token]] = field(default_factory=list)
    answer_source: list[str] = field(default_factory=list)
    extra: str = ""
    checks: list[Check] = field(default_factory=list)
    tokens: list[Token] = field(default_factory=list)


def _walk(tokens: Sequence[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children:
            yield from _walk(token.children)


def cloze_bodies(tokens: Sequence[Token]) -> list[tuple[int, str]]:
    """Every cloze deletion under ``tokens`` as (number, source text), in order."""
    return [(number, body) for number, body, _ in _cloze_bodies(tokens)]


def _cloze_bodies(tokens: Sequence[Token]) -> list[tuple[int, str, bool]]:
    """Every cloze deletion as (number, source text, written as shorthand ``{{..}}``)."""
    bodies: list[tuple[int, str, bool]] = []
    for token in _walk(tokens):
        if token.type == "cloze_open":
            bodies.append((token.meta["number"], token.content, token.meta["shorthand"]))
        elif token.type in (*_MATH_TYPES, "code_inline") or (
            token.type == "fence" and not _is_check(token)
        ):
            spans, _ = find_clozes(token.content, shorthand=False)
            bodies += [
                (span.number or 0, token.content[span.body_start : span.body_end], False)
                for span in spans
            ]
    return bodies


def _is_check(token: Token) -> bool:
    return token.type == "fence" and token.info.split(maxsplit=1)[:1] == [CHECK_INFO]


def _blocks(tokens: Sequence[Token]) -> Iterator[list[Token]]:
    """Group a token stream into top-level blocks (open..close, or single tokens)."""
    i = 0
    while i < len(tokens):
        start = i
        if tokens[i].nesting == 1:
            depth = 0
            while True:
                depth += tokens[i].nesting
                i += 1
                if depth == 0:
                    break
        else:
            i += 1
        yield list(tokens[start:i])


def _list_items(block: list[Token]) -> Iterator[list[Token]]:
    """The items of a list block, each with its open and close tokens."""
    inner = block[1:-1]
    yield from _blocks(inner)


def _plain_text(children: Sequence[Token]) -> str:
    parts = []
    for token in _walk(children):
        if token.type in ("text", "code_inline", *_MATH_TYPES):
            parts.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts).strip()


def _strip_prefix(children: list[Token], prefix: str) -> list[Token]:
    """Drop ``prefix`` (``Q:``, ``A:``, ``Extra:``) from the start of inline children."""
    if not children or children[0].type != "text":
        return children
    first = children[0].copy()
    first.content = (
        first.content[len(prefix) :].lstrip() if first.content.startswith(prefix) else first.content
    )
    return [first, *children[1:]] if first.content else children[1:]


def _starts_with(block: list[Token], prefix: str) -> bool:
    return (
        block[0].type == "paragraph_open"
        and block[1].content.startswith(prefix)
        and bool(block[1].children)
        and block[1].children[0].type == "text"  # type: ignore[index]
    )


def _block_source(block: list[Token]) -> str:
    return "\n".join(
        f"$${t.content.strip()}$$" if t.type == "math_block" else t.content
        for t in _walk(block)
        if t.type in ("inline", "fence", "math_block")
    )


class _FileExtractor:
    """Reads one parsed file; its ``run`` returns the cards and the problems."""

    def __init__(
        self,
        md: MarkdownIt,
        source: str,
        display_path: str,
        base_dir: Path,
        root_deck: str,
        notes_root: Path | None = None,
    ) -> None:
        self.md = md
        self.display_path = display_path
        self.base_dir = base_dir
        self.notes_root = (notes_root or base_dir).resolve()
        self.root_deck = root_deck
        self.env: dict[str, Any] = {}
        self.tokens = md.parse(source, self.env)
        self.diagnostics: list[Diagnostic] = []
        self.settings = FileSettings()
        self.headings: list[Heading] = []
        self.drafts: list[_Draft] = []
        self.media: dict[str, str] = {}
        self.footnotes: dict[str, list[Token]] = {}

    # -- helpers -------------------------------------------------------------

    def loc(self, line: int) -> SourceLoc:
        return SourceLoc(self.display_path, line)

    def error(self, line: int, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.loc(line), message))

    def warn_invisible(self, line: int, text: str, where: str, dropped_from: str) -> None:
        found = sorted(set(INVISIBLE.findall(text)))
        names = ", ".join(f"U+{ord(c):04X} ({unicodedata.name(c)})" for c in found)
        what, it = ("characters", "them") if len(found) > 1 else ("character", "it")
        message = (
            f"invisible {what} {names} in {where}: dropped from {dropped_from}; "
            f"delete {it} from the file"
        )
        self.diagnostics.append(Diagnostic(self.loc(line), message, Severity.WARNING))

    def render_inline(self, children: Sequence[Token]) -> str:
        renderer: RendererHTML = self.md.renderer  # type: ignore[assignment]
        return renderer.renderInline(children, self.md.options, self.env).strip()

    def render_blocks(self, blocks: Sequence[Sequence[Token]]) -> str:
        flat = [t for block in blocks for t in block]
        return str(self.md.renderer.render(flat, self.md.options, self.env)).strip()

    # -- file-level passes --------------------------------------------------

    def read_front_matter(self) -> None:
        if not self.tokens or self.tokens[0].type != "front_matter":
            return
        token = self.tokens[0]
        first = (token.map[0] if token.map else 0) + 2  # the line after the opening ---
        try:
            data = yaml.safe_load(token.content)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = first + (mark.line if mark is not None else 0)
            problem = getattr(exc, "problem", None) or str(exc)
            self.error(line, f"malformed YAML front matter: {problem}")
            return
        if data is None:
            return
        if not isinstance(data, dict):
            self.error(first, "front matter must be a mapping such as 'deck: Mathematics'")
            return
        lines = token.content.splitlines()
        for key in data:
            if key not in FRONT_MATTER_KEYS:
                offset = next((i for i, text in enumerate(lines) if text.startswith(f"{key}:")), 0)
                self.error(
                    first + offset,
                    f"unknown front matter key {key!r}: use one of {', '.join(FRONT_MATTER_KEYS)}",
                )
        deck = data.get("deck")
        tags = data.get("tags", [])
        if isinstance(tags, str):
            tags = tags.split()
        if deck is not None and not isinstance(deck, str):
            self.error(first, "front matter 'deck' must be text, e.g. 'deck: Mathematics'")
            deck = None
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            self.error(first, "front matter 'tags' must be a list of words, e.g. 'tags: [maths]'")
            tags = []
        shown = "".join([deck or "", *tags])
        if INVISIBLE.search(shown):
            offset = next((i for i, text in enumerate(lines) if INVISIBLE.search(text)), 0)
            self.warn_invisible(first + offset, shown, "the front matter", "its deck and tags")
            deck = INVISIBLE.sub("", deck) if deck is not None else None
            tags = [INVISIBLE.sub("", t) for t in tags]
        self.settings = FileSettings(deck, tuple(_clean_tag(t) for t in tags))

    def collect_problems(self) -> None:
        for line, message in self.env.get("problems", []):
            self.error(line, message)
        for line, message in self.env.get("warnings", []):
            self.diagnostics.append(Diagnostic(self.loc(line), message, Severity.WARNING))

    def collect_footnotes(self) -> None:
        label = None
        for token in self.tokens:
            if token.type == "footnote_reference_open":
                label = token.meta["label"]
                self.footnotes[label] = []
            elif token.type == "footnote_reference_close":
                label = None
            elif label is not None:
                self.footnotes[label].append(token)

    def resolve_images(self) -> None:
        shown_dir = Path(self.display_path).parent.as_posix()
        for token in self.tokens:
            if token.type != "inline":
                continue
            first_line = (token.map[0] if token.map else 0) + 1
            for child in _walk(token.children or []):
                if child.type != "image":
                    continue
                src = str(child.attrs.get("src", ""))
                if re.match(r"^[a-z][a-z0-9+.-]*:", src, re.IGNORECASE):
                    continue  # a URL: Anki loads it itself
                path = (self.base_dir / src).resolve()
                at = token.content.find(f"]({src}")
                line = first_line + token.content.count("\n", 0, max(at, 0))
                if not path.is_relative_to(self.notes_root):
                    # Checked first: whether a file outside exists is none of the notes' business.
                    self.error(
                        line,
                        f"image outside the notes folder: {src}; images must be files inside "
                        "it (after following links), so no other file can be packed into the deck",
                    )
                    continue
                if not path.is_file():
                    looked_in = Path(shown_dir, src).parent.as_posix()
                    self.error(
                        line,
                        f"image not found: {src} (looked for {path.name} in {looked_in}); "
                        "fix the path or add the file",
                    )
                    continue
                data = path.read_bytes()
                if image_type(data) is None:
                    self.error(
                        line,
                        f"not an image: {src}; an image must be a PNG, JPEG, GIF, WebP or SVG "
                        "file (its content is checked, not its name)",
                    )
                    continue
                digest = hashlib.sha1(data).hexdigest()[:10]
                name = f"{path.stem}-{digest}{path.suffix}"
                self.media[name] = str(path)
                child.attrs["src"] = name

    # -- the block walk -----------------------------------------------------

    def run(self) -> tuple[list[Card], list[Diagnostic]]:
        self.read_front_matter()
        self.collect_problems()
        self.collect_footnotes()
        self.resolve_images()

        pending_question: tuple[int, list[Token]] | None = None
        answering: _Draft | None = None
        last: _Draft | None = None  # the card a following Extra: or check attaches to

        for block in _blocks(self.tokens):
            first = block[0]
            line = (first.map[0] if first.map else 0) + 1
            if first.type in ("front_matter", "footnote_reference_open"):
                continue

            if pending_question is not None:
                q_line, q_children = pending_question
                pending_question = None
                if _starts_with(block, "A:"):
                    answering = self.start_answer(q_line, q_children, block[1].children or [])
                    answering.answer_blocks.append(block)
                    last = answering
                    continue
                self.error(
                    q_line,
                    "'Q:' without 'A:': start the answer with 'A:' on the next line "
                    "or in the next paragraph",
                )

            if answering is not None:
                if not self.ends_answer(block):
                    answering.answer_blocks.append(block)
                    answering.answer_source.append(_block_source(block))
                    continue
                answering = None
                if first.type == "hr":
                    last = None
                    continue

            if first.type == "heading_open":
                self.enter_heading(block)
                last = None
            elif _starts_with(block, "Q:"):
                inline = block[1]
                children = inline.children or []
                split = _answer_split(children)
                if split is None:
                    pending_question = (line, _strip_prefix(children, "Q:"))
                    last = None
                else:
                    question = _strip_prefix(children[: split - 1], "Q:")
                    answer = children[split:]
                    answering = self.start_answer(line, question, answer)
                    para = [block[0], _inline_like(inline, answer), block[2]]
                    answering.answer_blocks.append(para)
                    last = answering
            elif _starts_with(block, "A:"):
                self.error(line, "'A:' without 'Q:': put the question before it, starting 'Q:'")
                last = None
            elif _starts_with(block, "Extra:"):
                if last is None or last.extra:
                    self.error(
                        line, "'Extra:' must come directly after a card (its answer or cloze)"
                    )
                else:
                    children = _strip_prefix(block[1].children or [], "Extra:")
                    last.extra = self.render_inline(children)
                    last.tokens += block
            elif _is_check(first):
                if last is None:
                    self.error(
                        line,
                        "a check block must come directly after its card "
                        "(after the answer, the cloze or its Extra:)",
                    )
                else:
                    target = first.info.split()[1:2]
                    last.checks.append(
                        Check(self.loc(line), first.content, target[0] if target else None)
                    )
            elif first.type in ("bullet_list_open", "ordered_list_open"):
                last = None
                for item in _list_items(block):
                    if cloze_bodies(item):
                        last = self.cloze_card(item, item[1:-1])
            elif cloze_bodies(block):
                last = self.cloze_card(block, block)
            else:
                last = None

        if pending_question is not None:
            self.error(
                pending_question[0],
                "'Q:' without 'A:': start the answer with 'A:' on the next line "
                "or in the next paragraph",
            )
        return [self.finish(d) for d in self.drafts], self.diagnostics

    def ends_answer(self, block: list[Token]) -> bool:
        first = block[0]
        return (
            first.type in ("heading_open", "hr")
            or _starts_with(block, "Q:")
            or _starts_with(block, "Extra:")
            or _is_check(first)
            or bool(cloze_bodies(block))
        )

    def enter_heading(self, block: list[Token]) -> None:
        level = int(block[0].tag[1:])
        inline = block[1]
        children = list(inline.children or [])
        content = inline.content
        if INVISIBLE.search(content):
            line = (block[0].map[0] if block[0].map else 0) + 1
            self.warn_invisible(line, content, "a heading", "its deck, tags and breadcrumb")
            content = INVISIBLE.sub("", content)
            children = [_without_invisible(child) for child in children]
        match = _SECTION_TAGS.search(content)
        tags: tuple[str, ...] = ()
        if match:
            tags = tuple(t.lstrip("#") for t in match.group(0).split())
            if children and children[-1].type == "text":
                last = children[-1].copy()
                last.content = _SECTION_TAGS.sub("", last.content)
                children[-1] = last
        heading = Heading(level, _plain_text(children), self.render_inline(children), tags)
        while self.headings and self.headings[-1].level >= level:
            self.headings.pop()
        self.headings.append(heading)

    def start_answer(
        self, line: int, question: list[Token], answer_children: list[Token]
    ) -> _Draft:
        if not _plain_text(question) and not any(t.type == "image" for t in question):
            self.error(line, "empty question: write it after 'Q:'")
        if cloze_bodies(question) or cloze_bodies(answer_children):
            self.error(
                line,
                "a Q/A card cannot hold a cloze: remove the '{{...}}' or the 'Q:'/'A:'",
            )
        answer = _strip_prefix(answer_children, "A:")
        draft = _Draft(
            kind=CardKind.QA,
            line=line,
            headings=tuple(self.headings),
            content=self.render_inline(question),
            prompt_text=_plain_text(question),
            value_source="",
            tokens=[*question, *answer],
        )
        draft.answer_source.append(_source_of(answer))
        self.drafts.append(draft)
        return draft

    def cloze_card(self, block: list[Token], inner: list[Token]) -> _Draft:
        line = (block[0].map[0] if block[0].map else 0) + 1
        found = _cloze_bodies(inner)
        deletions = tuple((number, body) for number, body, _ in found)
        numbers = tuple(sorted({n for n, _ in deletions}))
        html = self.render_blocks([inner])
        if len(inner) == 3 and inner[0].type == "paragraph_open":
            html = self.render_inline(inner[1].children or [])
        source = _block_source(inner)
        draft = _Draft(
            kind=CardKind.CLOZE,
            line=line,
            headings=tuple(self.headings),
            content=html,
            prompt_text=" ".join(source.split()),
            value_source=source,
            cloze_numbers=numbers,
            deletions=deletions,
            shorthand=tuple(i for i, (_, _, short) in enumerate(found) if short),
            tokens=list(inner),
        )
        self.drafts.append(draft)
        return draft

    def finish(self, draft: _Draft) -> Card:
        back = ""
        if draft.kind is CardKind.QA:
            blocks = draft.answer_blocks
            if len(blocks) == 1 and blocks[0][0].type == "paragraph_open":
                back = self.render_inline(_strip_prefix(blocks[0][1].children or [], "A:"))
            else:
                first = blocks[0]
                stripped = [
                    first[0],
                    _inline_like(first[1], _strip_prefix(first[1].children or [], "A:")),
                    first[2],
                ]
                back = self.render_blocks([stripped, *blocks[1:]])
            if not back:
                self.error(draft.line, "empty answer: write it after 'A:'")
            draft.tokens += [t for b in blocks for t in b]
        extra = draft.extra
        notes = self.footnote_html(draft.tokens)
        if notes:
            extra = f"{extra}\n{notes}" if extra else notes
        section = tuple(h.text for h in draft.headings)
        deck_leaf = self.settings.deck or (
            draft.headings[0].text if draft.headings and draft.headings[0].level == 1 else None
        )
        deck = f"{self.root_deck}::{deck_leaf}" if deck_leaf else self.root_deck
        tags = set(self.settings.tags)
        for heading in draft.headings:
            tags.update(_clean_tag(t) for t in heading.tags)
        if section:
            tags.add("::".join(_clean_tag(s) for s in section))
        names = {str(t.attrs.get("src")) for t in _walk(draft.tokens) if t.type == "image"}
        media = sorted((name, self.media[name]) for name in names if name in self.media)
        value_source = draft.value_source or "\n".join(draft.answer_source)
        return Card(
            kind=draft.kind,
            loc=self.loc(draft.line),
            deck=deck,
            section=section,
            tags=tuple(sorted(t for t in tags if t)),
            content=draft.content,
            back=back,
            extra=extra,
            context=" › ".join(h.html for h in draft.headings),
            prompt_text=draft.prompt_text,
            value_source=value_source,
            cloze_numbers=draft.cloze_numbers,
            deletions=draft.deletions,
            shorthand=draft.shorthand,
            checks=tuple(draft.checks),
            media=tuple(media),
            answer_lines=tuple(_lines(b) for b in draft.answer_blocks),
        )

    def footnote_html(self, tokens: Sequence[Token]) -> str:
        cited = []
        for token in _walk(tokens):
            if token.type == "footnote_ref":
                label = token.meta.get("label")
                if label in self.footnotes and (token.meta["id"], label) not in cited:
                    cited.append((token.meta["id"], label))
        parts = []
        for number, label in cited:
            body = self.footnotes[label]
            if len(body) == 3 and body[0].type == "paragraph_open":
                html = self.render_inline(body[1].children or [])
            else:
                html = self.render_blocks([body])
            parts.append(f'<div class="footnote">[{number + 1}] {html}</div>')
        return "\n".join(parts)


def _lines(block: list[Token]) -> tuple[int, int]:
    """The first and last line (1-based) of a top-level block."""
    start, end = block[0].map or (0, 1)
    return start + 1, end


def _answer_split(children: list[Token]) -> int | None:
    """Index of the child that starts an ``A:`` line inside a ``Q:`` paragraph."""
    for i in range(1, len(children)):
        if (
            children[i].type == "text"
            and children[i].content.startswith("A:")
            and children[i - 1].type in ("softbreak", "hardbreak")
        ):
            return i
    return None


def _inline_like(inline: Token, children: list[Token]) -> Token:
    """A copy of an inline token holding other children."""
    copy = inline.copy()
    copy.children = children
    copy.content = _source_of(children)
    return copy


def _source_of(children: Sequence[Token]) -> str:
    """Approximate Markdown source of inline children (for value lookup)."""
    parts = []
    for token in children:
        if token.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif token.type == "math_inline":
            parts.append(f"${token.content}$")
        elif token.type == "code_inline":
            parts.append(f"`{token.content}`")
        else:
            parts.append(token.markup if token.nesting else token.content)
    return "".join(parts)


def _without_invisible(token: Token) -> Token:
    """A copy of an inline token without the characters that show as nothing."""
    copy = token.copy()
    copy.content = INVISIBLE.sub("", token.content)
    return copy


def _clean_tag(text: str) -> str:
    return _TAG_BAD_CHARS.sub("_", text.strip())


def extract_cards(
    md: MarkdownIt,
    source: str,
    display_path: str,
    base_dir: Path,
    root_deck: str,
    *,
    notes_root: Path | None = None,
) -> tuple[list[Card], list[Diagnostic]]:
    """All cards of one notes file, and every problem found in it.

    Images resolve against ``base_dir`` (the file's folder) and must lie inside
    ``notes_root`` (the notes folder; ``base_dir`` if not given).
    """
    return _FileExtractor(md, source, display_path, base_dir, root_deck, notes_root).run()


_SVG_START = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*"
    rb"(?:<!DOCTYPE[^>]*>\s*)?(?:<!--.*?-->\s*)*<svg[\s>/]",
    re.DOTALL | re.IGNORECASE,
)


def image_type(data: bytes) -> str | None:
    """``png``, ``jpeg``, ``gif``, ``webp`` or ``svg`` from a file's first bytes, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    if _SVG_START.match(data[:4096]):
        return "svg"
    return None
