"""Markdown source of one notes file -> cards with rendered fields.

The file is parsed once; the top-level blocks are then read in order, the way a
reader of the notes reads them: headings set the section, ``Q:``/``A:`` paragraphs
and blocks holding clozes make cards, ``Extra:`` paragraphs and ``check`` blocks
attach to the card right before them, and everything else stays notes.

The parts, in the order a file goes through them:

- :class:`~build_deck.parse.context.FileContext` (:mod:`.context`): the parser, the
  file's name and the problems found, shared by every part;
- :func:`~build_deck.parse.sections.read_front_matter` (:mod:`.sections`): the file's
  deck and tags;
- :func:`~build_deck.parse.media.resolve_media` (:mod:`.media`): images and sounds
  found on disk and named for the deck;
- :class:`_FileExtractor` (here): the block walk; :meth:`~_FileExtractor.read_block`
  sends each block to its part: headings to
  :func:`~build_deck.parse.sections.enter_heading`, Q/A blocks to
  :meth:`~_FileExtractor.read_question` and :meth:`~_FileExtractor.answer_question`,
  ``Extra:`` paragraphs to :meth:`~_FileExtractor.attach_extra`, check blocks to
  :meth:`~_FileExtractor.attach_check`, cloze blocks to :meth:`~_FileExtractor.read_cloze`;
- :mod:`.cards`: the drafts those make (:func:`~build_deck.parse.cards.start_qa`,
  :func:`~build_deck.parse.cards.cloze_draft`), finished into cards with their deck,
  tags, footnotes and media (:func:`~build_deck.parse.cards.finish_card`);
- :mod:`.tokens`: the helpers over tokens they all use.
"""

from __future__ import annotations

from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from build_deck.model import Card, CardKind, Check, Diagnostic
from build_deck.parse.cards import Draft, cloze_draft, collect_footnotes, finish_card, start_qa
from build_deck.parse.context import FileContext
from build_deck.parse.media import VaultIndex, resolve_media
from build_deck.parse.sections import FileSettings, Heading, enter_heading, read_front_matter
from build_deck.parse.tokens import (
    answer_split,
    block_source,
    blocks,
    cloze_bodies,
    inline_like,
    is_check,
    list_items,
    question_kind,
    starts_with,
    strip_prefix,
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
        vault: VaultIndex,
    ) -> None:
        self.ctx = FileContext(md, display_path)
        self.base_dir = base_dir
        self.vault = vault
        self.root_deck = root_deck
        self.tokens = md.parse(source, self.ctx.env)
        self.settings = FileSettings()
        self.headings: list[Heading] = []
        self.drafts: list[Draft] = []
        self.media: dict[str, str] = {}
        self.footnotes: dict[str, list[Token]] = {}
        self.pending_question: tuple[int, list[Token], CardKind] | None = None
        """A ``Q:`` paragraph whose answer should start in the next block, and its kind."""
        self.answering: Draft | None = None
        """The Q/A card whose answer the next blocks may continue."""
        self.last: Draft | None = None
        """The card a following ``Extra:`` or check attaches to."""

    def run(self) -> tuple[list[Card], list[Diagnostic]]:
        """Read the whole file: its cards, and every problem found in it."""
        self.settings = read_front_matter(self.ctx, self.tokens)
        self.collect_problems()
        self.footnotes = collect_footnotes(self.tokens)
        self.media = resolve_media(self.ctx, self.tokens, self.base_dir, self.vault)
        for block in blocks(self.tokens):
            if block[0].type not in ("front_matter", "footnote_reference_open", "obsidian_comment"):
                self.read_block(block)
        if self.pending_question is not None:
            self.no_answer(self.pending_question[0])
        cards = [
            finish_card(
                self.ctx,
                draft,
                settings=self.settings,
                root_deck=self.root_deck,
                footnotes=self.footnotes,
                media=self.media,
            )
            for draft in self.drafts
        ]
        return cards, self.ctx.diagnostics

    def collect_problems(self) -> None:
        """Report what the parser's plugins found wrong, errors first."""
        for line, message in self.ctx.env.get("problems", []):
            self.ctx.error(line, message)
        for line, message in self.ctx.env.get("warnings", []):
            self.ctx.warn(line, message)

    # -- the block walk -----------------------------------------------------

    def read_block(self, block: list[Token]) -> None:
        """Read one top-level block: send it to the part it belongs to."""
        first = block[0]
        line = (first.map[0] if first.map else 0) + 1
        pending, self.pending_question = self.pending_question, None
        if pending is not None and self.answer_question(pending, block):
            return
        if self.answering is not None:
            if not self.ends_answer(block):
                self.answering.answer_blocks.append(block)
                self.answering.answer_source.append(block_source(block))
                return
            self.answering = None
            if first.type == "hr":
                self.last = None
                return
        if first.type == "heading_open":
            enter_heading(self.ctx, self.headings, block)
            self.last = None
        elif (kind := question_kind(block)) is not None:
            self.read_question(block, line, kind)
        elif starts_with(block, "A:"):
            self.ctx.error(line, "'A:' without 'Q:': put the question before it, starting 'Q:'")
            self.last = None
        elif starts_with(block, "Extra:"):
            self.attach_extra(block, line)
        elif is_check(first):
            self.attach_check(first, line)
        elif first.type in ("bullet_list_open", "ordered_list_open"):
            self.last = None
            for item in list_items(block):
                if cloze_bodies(item):
                    self.read_cloze(item, item[1:-1])
        elif cloze_bodies(block):
            self.read_cloze(block, block)
        else:
            self.last = None

    def no_answer(self, line: int) -> None:
        """Report a ``Q:`` whose answer never started."""
        self.ctx.error(
            line,
            "'Q:' without 'A:': start the answer with 'A:' on the next line "
            "or in the next paragraph",
        )

    def answer_question(
        self, pending: tuple[int, list[Token], CardKind], block: list[Token]
    ) -> bool:
        """After a ``Q:`` paragraph: True when ``block`` starts its answer (and is read)."""
        q_line, q_children, kind = pending
        if starts_with(block, "A:"):
            answer = block[1].children or []
            self.answering = self.start_answer(q_line, q_children, answer, kind)
            self.answering.answer_line = (block[0].map[0] if block[0].map else q_line - 1) + 1
            self.answering.answer_blocks.append(block)
            self.last = self.answering
            return True
        self.no_answer(q_line)
        return False

    def ends_answer(self, block: list[Token]) -> bool:
        """True when ``block`` is not part of the answer before it."""
        first = block[0]
        return (
            first.type in ("heading_open", "hr")
            or question_kind(block) is not None
            or starts_with(block, "Extra:")
            or is_check(first)
            or bool(cloze_bodies(block))
        )

    def read_question(self, block: list[Token], line: int, kind: CardKind) -> None:
        """A ``Q:`` paragraph: its answer starts inside it (an ``A:`` line) or next."""
        inline = block[1]
        children = inline.children or []
        split = answer_split(children)
        if split is None:
            self.pending_question = (line, strip_prefix(children, kind.prefix), kind)
            self.last = None
        else:
            question = strip_prefix(children[: split - 1], kind.prefix)
            answer = children[split:]
            self.answering = self.start_answer(line, question, answer, kind)
            breaks = sum(c.type in ("softbreak", "hardbreak") for c in children[:split])
            self.answering.answer_line = line + breaks
            para = [block[0], inline_like(inline, answer), block[2]]
            self.answering.answer_blocks.append(para)
            self.last = self.answering

    def start_answer(
        self, line: int, question: list[Token], answer_children: list[Token], kind: CardKind
    ) -> Draft:
        """A new Q/A card, whose answer starts with ``answer_children``."""
        draft = start_qa(self.ctx, tuple(self.headings), line, question, answer_children)
        draft.kind = kind
        self.drafts.append(draft)
        return draft

    def read_cloze(self, block: list[Token], inner: list[Token]) -> None:
        """A block or list item holding clozes: a new cloze card."""
        draft = cloze_draft(self.ctx, tuple(self.headings), block, inner)
        self.drafts.append(draft)
        self.last = draft

    def attach_extra(self, block: list[Token], line: int) -> None:
        """An ``Extra:`` paragraph: the Extra field of the card before it."""
        if self.last is None or self.last.extra:
            self.ctx.error(line, "'Extra:' must come directly after a card (its answer or cloze)")
        else:
            children = strip_prefix(block[1].children or [], "Extra:")
            self.last.extra = self.ctx.render_inline(children)
            self.last.tokens += block

    def attach_check(self, fence: Token, line: int) -> None:
        """A check block: a check of the card before it."""
        if self.last is None:
            self.ctx.error(
                line,
                "a check block must come directly after its card "
                "(after the answer, the cloze or its Extra:)",
            )
        else:
            target = fence.info.split()[1:2]
            self.last.checks.append(
                Check(self.ctx.loc(line), fence.content, target[0] if target else None)
            )


def extract_cards(
    md: MarkdownIt,
    source: str,
    display_path: str,
    base_dir: Path,
    root_deck: str,
    *,
    notes_root: Path | None = None,
    vault: VaultIndex | None = None,
) -> tuple[list[Card], list[Diagnostic]]:
    """All cards of one notes file, and every problem found in it.

    Images and sounds resolve against ``base_dir`` (the file's folder) and must lie
    inside ``notes_root`` (the notes folder; ``base_dir`` if not given); embeds are
    also looked for by name in ``vault`` (the files of the notes folder).
    """
    if vault is None:
        vault = VaultIndex(notes_root or base_dir)
    return _FileExtractor(md, source, display_path, base_dir, root_deck, vault).run()
