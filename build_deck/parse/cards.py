"""Parse stage: cards being assembled from a notes file's blocks, and then finished.

- :class:`Draft`: a card while the blocks are read (an ``Extra:`` or a check may
  still attach to it);
- :func:`start_qa`: the draft of a ``Q:``/``A:`` card, when its answer starts;
- :func:`cloze_draft`: the draft of a block (or list item) holding clozes;
- :func:`finish_card`: a draft made a :class:`~build_deck.model.Card`: its answer
  rendered, its footnotes, deck, tags and media;
- :func:`collect_footnotes` and :func:`footnote_html`: footnotes, shown in the Extra
  field of the cards that cite them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from markdown_it.token import Token

from build_deck.model import Card, CardKind, Check
from build_deck.parse.context import FileContext
from build_deck.parse.sections import FileSettings, Heading, clean_tag
from build_deck.parse.tokens import (
    block_source,
    cloze_bodies,
    cloze_deletions,
    inline_like,
    plain_text,
    source_of,
    strip_prefix,
    walk,
)


@dataclass(slots=True)
class Draft:
    """A card being assembled while the blocks are read."""

    kind: CardKind
    """Q/A or cloze."""
    line: int
    """The line it starts on."""
    headings: tuple[Heading, ...]
    """The heading path above it."""
    content: str
    """HTML of the question, or of the cloze text."""
    prompt_text: str
    """The prompt as plain text."""
    value_source: str
    """Markdown source of the cloze text (empty for Q/A: its answer's source is used)."""
    cloze_numbers: tuple[int, ...] = ()
    """The cloze numbers used."""
    deletions: tuple[tuple[int, str], ...] = ()
    """Each deletion's number and source text."""
    shorthand: tuple[int, ...] = ()
    """Indexes in ``deletions`` of those written as shorthand ``{{..}}``."""
    answer_blocks: list[list[Token]] = field(default_factory=list)
    """The blocks of a Q/A card's answer."""
    answer_source: list[str] = field(default_factory=list)
    """Markdown source of the answer, a part per block."""
    answer_line: int = 0
    """The line a Q/A card's answer starts on (its ``A:``)."""
    extra: str = ""
    """HTML of its ``Extra:`` paragraph."""
    checks: list[Check] = field(default_factory=list)
    """The check blocks after it."""
    tokens: list[Token] = field(default_factory=list)
    """Every token of the card (to find its images and footnote references)."""


def start_qa(
    ctx: FileContext,
    headings: tuple[Heading, ...],
    line: int,
    question: list[Token],
    answer_children: list[Token],
) -> Draft:
    """The draft of a Q/A card whose answer starts with ``answer_children``."""
    if not plain_text(question) and not any(t.type == "image" for t in question):
        ctx.error(line, "empty question: write it after 'Q:'")
    if cloze_bodies(question) or cloze_bodies(answer_children):
        ctx.error(
            line,
            "a Q/A card cannot hold a cloze: remove the '{{...}}' or the 'Q:'/'A:'",
        )
    answer = strip_prefix(answer_children, "A:")
    draft = Draft(
        kind=CardKind.QA,
        line=line,
        headings=headings,
        content=ctx.render_inline(question),
        prompt_text=plain_text(question),
        value_source="",
        tokens=[*question, *answer],
    )
    draft.answer_source.append(source_of(answer))
    return draft


def cloze_draft(
    ctx: FileContext, headings: tuple[Heading, ...], block: list[Token], inner: list[Token]
) -> Draft:
    """The draft of a cloze card: ``inner`` is ``block`` without a list item's tokens."""
    line = (block[0].map[0] if block[0].map else 0) + 1
    found = cloze_deletions(inner)
    deletions = tuple((number, body) for number, body, _ in found)
    numbers = tuple(sorted({n for n, _ in deletions}))
    html = ctx.render_blocks([inner])
    if len(inner) == 3 and inner[0].type == "paragraph_open":
        html = ctx.render_inline(inner[1].children or [])
    source = block_source(inner)
    return Draft(
        kind=CardKind.CLOZE,
        line=line,
        headings=headings,
        content=html,
        prompt_text=" ".join(source.split()),
        value_source=source,
        cloze_numbers=numbers,
        deletions=deletions,
        shorthand=tuple(i for i, (_, _, short) in enumerate(found) if short),
        tokens=list(inner),
    )


def finish_card(
    ctx: FileContext,
    draft: Draft,
    *,
    settings: FileSettings,
    root_deck: str,
    footnotes: dict[str, list[Token]],
    media: dict[str, str],
) -> Card:
    """The card of a draft, once every block of the file was read."""
    back = ""
    if draft.kind.is_qa:
        blocks = draft.answer_blocks
        if len(blocks) == 1 and blocks[0][0].type == "paragraph_open":
            back = ctx.render_inline(strip_prefix(blocks[0][1].children or [], "A:"))
        else:
            first = blocks[0]
            rest = strip_prefix(first[1].children or [], "A:")
            # 'A:' alone on its line, then a table or a list: no empty paragraph first.
            stripped = [[first[0], inline_like(first[1], rest), first[2]]] if rest else []
            back = ctx.render_blocks([*stripped, *blocks[1:]])
        if not back:
            ctx.error(draft.line, "empty answer: write it after 'A:'")
        elif draft.kind is CardKind.TYPED and not _one_line_of_text(blocks):
            ctx.error(
                draft.line,
                "a typed answer must be one line of text (Anki compares what is typed "
                "with it): shorten it, or make the card 'Q:'",
            )
        draft.tokens += [t for b in blocks for t in b]
    extra = draft.extra
    notes = footnote_html(ctx, footnotes, draft.tokens)
    if notes:
        extra = f"{extra}\n{notes}" if extra else notes
    section = tuple(h.text for h in draft.headings)
    deck_leaf = settings.deck or (
        draft.headings[0].text if draft.headings and draft.headings[0].level == 1 else None
    )
    deck = f"{root_deck}::{deck_leaf}" if deck_leaf else root_deck
    tags = set(settings.tags)
    for heading in draft.headings:
        tags.update(clean_tag(t) for t in heading.tags)
    if section:
        tags.add("::".join(clean_tag(s) for s in section))
    context = " › ".join(h.html for h in draft.headings)
    if any(imitates_mark(field) for field in (draft.content, back, extra, context)):
        ctx.error(
            draft.line,
            "the card imitates the verified mark ('✓ verified', or raw HTML of class "
            "'verified'): only a passing check gives it; remove it",
        )
    names = {_media_name(t) for t in walk(draft.tokens)}
    card_media = sorted((name, media[name]) for name in names if name in media)
    value_source = draft.value_source or _answer_source(draft)
    return Card(
        kind=draft.kind,
        loc=ctx.loc(draft.line),
        deck=deck,
        section=section,
        tags=tuple(sorted(t for t in tags if t)),
        content=draft.content,
        back=back,
        extra=extra,
        context=context,
        prompt_text=draft.prompt_text,
        value_source=value_source,
        cloze_numbers=draft.cloze_numbers,
        deletions=draft.deletions,
        shorthand=draft.shorthand,
        checks=tuple(draft.checks),
        media=tuple(card_media),
        answer_lines=tuple(block_lines(b) for b in draft.answer_blocks),
        value_line=draft.answer_line if draft.kind.is_qa else draft.line,
    )


def block_lines(block: list[Token]) -> tuple[int, int]:
    """The first and last line (1-based) of a top-level block."""
    start, end = block[0].map or (0, 1)
    return start + 1, end


def _one_line_of_text(blocks: list[list[Token]]) -> bool:
    """True for an answer of one paragraph, on one line, with no image or sound."""
    if len(blocks) != 1 or blocks[0][0].type != "paragraph_open":
        return False
    children = strip_prefix(blocks[0][1].children or [], "A:")
    return not any(
        t.type in ("softbreak", "hardbreak", "image", "sound", "media_link_open")
        for t in walk(children)
    )


def _media_name(token: Token) -> str:
    """The media name a token shows (an image, a sound, a link made a sound), or ``""``."""
    if token.type == "image":
        return str(token.attrs.get("src"))
    if token.type == "sound":
        return token.content
    return str(token.meta.get("name", "")) if token.type == "media_link_open" else ""


def _answer_source(draft: Draft) -> str:
    """The answer's blocks, each starting as many lines after the answer's first line as
    it does in the file (blank lines between blocks kept)."""
    parts: list[str] = []
    line = draft.answer_line
    for number, (block, source) in enumerate(
        zip(draft.answer_blocks, draft.answer_source, strict=False)
    ):
        start = (block[0].map[0] + 1) if number and block[0].map else line
        if number:
            parts.append("\n" * max(1, start - line))
        parts.append(source)
        line = start + source.count("\n")
    return "".join(parts)


_CLASS = re.compile(r"""\bclass\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""", re.IGNORECASE)
_MARK_TEXT = re.compile(r"(?:\u2713|\u2714|&#0*1000[34];|&#x0*271[34];|&check;)\s*verified", re.I)


def imitates_mark(html: str) -> bool:
    """True when a field's HTML looks like the verified mark: an element of class
    ``verified`` (raw HTML; the mark's own markup) or the text ``✓ verified``.

    Tags are read one after the other, each from its ``<`` to the next ``>``, as a
    browser reads them: linear in the field.
    """
    if _MARK_TEXT.search(html):
        return True
    if "verified" not in html.lower():
        return False
    at = html.find("<")
    while at >= 0:
        end = html.find(">", at)
        tag = html[at : end if end >= 0 else len(html)]
        for match in _CLASS.finditer(tag):
            if "verified" in match.group(1).strip("\"'").lower().split():
                return True
        if end < 0:
            break
        at = html.find("<", end)
    return False


def collect_footnotes(tokens: list[Token]) -> dict[str, list[Token]]:
    """The tokens of each footnote's text, by label."""
    footnotes: dict[str, list[Token]] = {}
    label = None
    for token in tokens:
        if token.type == "footnote_reference_open":
            label = token.meta["label"]
            footnotes[label] = []
        elif token.type == "footnote_reference_close":
            label = None
        elif label is not None:
            footnotes[label].append(token)
    return footnotes


def footnote_html(
    ctx: FileContext, footnotes: dict[str, list[Token]], tokens: Sequence[Token]
) -> str:
    """HTML of the footnotes ``tokens`` cite, one ``div`` each, in the order cited."""
    cited = []
    for token in walk(tokens):
        if token.type == "footnote_ref":
            label = token.meta.get("label")
            if label in footnotes and (token.meta["id"], label) not in cited:
                cited.append((token.meta["id"], label))
    parts = []
    for number, label in cited:
        body = footnotes[label]
        if len(body) == 3 and body[0].type == "paragraph_open":
            html = ctx.render_inline(body[1].children or [])
        else:
            html = ctx.render_blocks([body])
        parts.append(f'<div class="footnote">[{number + 1}] {html}</div>')
    return "\n".join(parts)
