"""Parse stage: Obsidian's own Markdown, read by parser rules as Obsidian renders it.

- ``%% ... %%`` is a comment, inline or over several lines: nothing of it reaches a
  card, and a cloze inside it is no cloze (:func:`_comment_block`,
  :func:`_comment_inline`; the comments are cut from the inline source too, by
  :func:`_cut_comments`, so that no later stage reads them);
- ``[[Page]]``, ``[[Page|alias]]``, ``[[Page#Heading]]`` are shown as their text, and
  ``![[file]]`` embeds an image (``|300`` or ``|300x200`` sizes it) or a sound
  (:func:`_wikilink`); the files are found on disk by :mod:`.media`;
- ``[sound:file.mp3]``, Anki's own syntax, is a sound to pack (:func:`_sound_tag`);
- ``> [!note] Title`` starts a callout, shown as a titled box (:func:`_callouts`);
- ``==text==`` is highlighted: :mod:`.mark`.

Math and code are read before these rules run, so ``%%``, ``[[`` and ``==`` inside
them stay as written. Problems (a comment never closed, a note embedded) go to
``env["problems"]`` and ``env["warnings"]`` with their lines, as the other rules do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePosixPath

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from build_deck.parse.mark import mark_plugin

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"})
"""File name endings of the images an embed shows."""
SOUND_SUFFIXES = frozenset(
    {".mp3", ".ogg", ".oga", ".opus", ".wav", ".m4a", ".flac", ".aac"}
    | {".mp4", ".webm", ".mkv", ".mov", ".ogv", ".m4v"}
)
"""File name endings of audio and video, which Anki plays with ``[sound:...]``."""

_SIZE = re.compile(r"\s*(\d+)(?:\s*x\s*(\d+))?\s*")
_NUMBERS = re.compile(r"[\d\s.,+\-eE]*")
"""``[[1, 2]]`` is a matrix, not a link: no note is named so."""


def obsidian_plugin(md: MarkdownIt, *, after: str = "inline") -> None:
    """Add the rules and renderers of Obsidian's syntax to ``md``; the core rule that
    cuts comments from the inline source runs after the core rule ``after`` (a rule
    that finds inline tokens by the identity of their source must run before it)."""
    md.block.ruler.before(
        "paragraph",
        "obsidian_comment",
        _comment_block,
        {"alt": ["paragraph", "reference", "blockquote", "list"]},
    )
    md.inline.ruler.before("link", "obsidian_comment", _comment_inline)
    md.inline.ruler.before("link", "wikilink", _wikilink)
    md.inline.ruler.before("link", "sound_tag", _sound_tag)
    md.core.ruler.before("inline", "callouts", _callouts)
    md.core.ruler.after(after, "cut_comments", _cut_comments)
    mark_plugin(md)
    for name in ("obsidian_comment", "callout_title_close"):
        md.add_render_rule(name, _render_nothing if name == "obsidian_comment" else _close_div)
    md.add_render_rule("sound", _render_sound)
    md.add_render_rule("media_link_open", _render_nothing)
    md.add_render_rule("media_link_close", _render_media_link_close)
    md.add_render_rule("callout_open", _render_callout_open)
    md.add_render_rule("callout_close", _close_div)
    md.add_render_rule("callout_title_open", _render_callout_title)


# -- comments -----------------------------------------------------------------------


def _comment_block(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """Block rule: a line starting with ``%%`` opens a comment that ends at the line
    that closes it (with nothing after the closing ``%%``), or at the end."""
    if state.sCount[start_line] - state.blkIndent >= 4:
        return False
    pos = state.bMarks[start_line] + state.tShift[start_line]
    if not state.src.startswith("%%", pos):
        return False
    line, search = start_line, pos + 2
    closed = False
    while line < end_line:
        text_end = state.eMarks[line]
        close = state.src.find("%%", search, text_end)
        if close >= 0:
            if state.src[close + 2 : text_end].strip():
                return False  # text follows on the line: an inline comment's business
            closed = True
            break
        line += 1
        if line < end_line:
            if state.sCount[line] < state.blkIndent and not state.isEmpty(line):
                break  # the container (a quote, a list item) ends here
            search = state.bMarks[line] + state.tShift[line]
    if silent:
        return True
    last = line if closed else line - 1
    token = state.push("obsidian_comment", "", 0)
    token.block = True
    token.map = [start_line, last + 1]
    token.meta = {"text": state.getLines(start_line, last + 1, state.blkIndent, False)}
    if not closed:
        state.env.setdefault("warnings", []).append(
            (
                start_line + 1,
                "comment '%%' is never closed: it hides everything after it, as in "
                "Obsidian; close it with '%%'",
            )
        )
    state.line = last + 1
    return True


def _comment_inline(state: StateInline, silent: bool) -> bool:
    """Inline rule: ``%% ... %%`` inside a paragraph is a comment."""
    if not state.src.startswith("%%", state.pos):
        return False
    close = state.src.find("%%", state.pos + 2, state.posMax)
    if close < 0:
        if not silent:
            state.env.setdefault("open_comments", []).append((state.src, state.pos))
        return False
    if not silent:
        token = state.push("obsidian_comment", "", 0)
        token.meta = {"text": state.src[state.pos + 2 : close]}
        state.env.setdefault("comment_spans", []).append((state.src, state.pos, close + 2))
    state.pos = close + 2
    return True


_OPEN_COMMENT = (
    "'%%' opens a comment that does not close in its paragraph: shown as written; close "
    "it, or put a comment over several paragraphs on lines of their own, between '%%' lines"
)


def _cut_comments(state: StateCore) -> None:
    """Core rule: cut the inline comments out of each paragraph's source (keeping its
    line breaks, so lines still count right), and warn of a ``%%`` never closed."""
    spans: list[tuple[str, int, int]] = state.env.pop("comment_spans", [])
    open_comments: list[tuple[str, int]] = state.env.pop("open_comments", [])
    notes: list[tuple[str, int, str]] = state.env.pop("embedded_notes", [])
    warnings: list[tuple[int, str]] = state.env.setdefault("warnings", [])
    for token in state.tokens:
        if token.type != "inline":
            continue
        src = token.content
        first_line = (token.map[0] if token.map else 0) + 1
        for opened_in, at in open_comments:
            if opened_in is src:
                line = first_line + src.count("\n", 0, at)
                warnings.append((line, _OPEN_COMMENT))
        for embedded_in, at, target in notes:
            if embedded_in is src:
                line = first_line + src.count("\n", 0, at)
                suffix = PurePosixPath(target.partition("#")[0]).suffix.lower()
                what = "a note" if suffix in ("", ".md") else f"a {suffix[1:].upper()} file"
                warnings.append(
                    (
                        line,
                        f"![[{target}]] embeds {what}, which a card cannot show: shown as "
                        f"its name; write {link_text(target)!r} or copy the text you need",
                    )
                )
        mine = sorted((start, end) for owner, start, end in spans if owner is src)
        if not mine:
            continue
        parts, pos = [], 0
        for start, end in mine:
            if start >= pos:
                parts += [src[pos:start], "\n" * src.count("\n", start, end)]
                pos = end
        token.content = "".join([*parts, src[pos:]])


# -- links, embeds and sounds ---------------------------------------------------------


def _wikilink(state: StateInline, silent: bool) -> bool:
    """Inline rule: ``[[target|label]]`` as its text; ``![[file|size]]`` an embed."""
    src, pos = state.src, state.pos
    embed = src.startswith("![[", pos)
    if not embed and not src.startswith("[[", pos):
        return False
    start = pos + (3 if embed else 2)
    close = src.find("]]", start, state.posMax)
    if close < 0:
        return False
    inner = src[start:close]
    target, _, label = inner.partition("|")
    target = target.removesuffix("\\").strip()  # '[[a\|b]]' in a table cell
    if not target or "[" in inner or "]" in inner or "\n" in inner:
        return False
    if not embed and _NUMBERS.fullmatch(target):
        return False
    if not silent:
        if embed:
            _push_embed(state, target, label.strip(), pos)
        else:
            state.push("text", "", 0).content = label.strip() or link_text(target)
    state.pos = close + 2
    return True


def link_text(target: str) -> str:
    """What Obsidian shows for ``[[target]]``: the page, then ``> heading``."""
    page, _, heading = target.partition("#")
    heading = heading.split("#")[-1] if not heading.startswith("^") else ""
    return " > ".join(part.strip() for part in (page, heading) if part.strip())


def _push_embed(state: StateInline, target: str, option: str, pos: int) -> None:
    """The token of ``![[target|option]]``: an image, a sound, or (a note) its name."""
    suffix = PurePosixPath(target.partition("#")[0]).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        size = _SIZE.fullmatch(option)
        alt = "" if size else option
        token = state.push("image", "img", 0)
        token.attrs = {"src": target, "alt": ""}
        if size:
            token.attrs["width"] = size.group(1)
            if size.group(2):
                token.attrs["height"] = size.group(2)
        token.children = [Token("text", "", 0, content=alt)] if alt else []
        token.content = alt
        token.meta = {"embed": True}
    elif suffix in SOUND_SUFFIXES:
        token = state.push("sound", "", 0)
        token.content = target
        token.meta = {"embed": True}
    else:
        state.env.setdefault("embedded_notes", []).append((state.src, pos, target))
        state.push("text", "", 0).content = option or link_text(target)


def _sound_tag(state: StateInline, silent: bool) -> bool:
    """Inline rule: Anki's ``[sound:file]`` names a sound file to pack."""
    if not state.src.startswith("[sound:", state.pos):
        return False
    close = state.src.find("]", state.pos, state.posMax)
    name = state.src[state.pos + 7 : close].strip() if close > 0 else ""
    if not name or "\n" in name:
        return False
    if not silent:
        token = state.push("sound", "", 0)
        token.content = name
        token.meta = {"embed": False}
    state.pos = close + 1
    return True


def _render_sound(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return f"[sound:{escapeHtml(tokens[idx].content)}]"


def _render_media_link_close(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return f" [sound:{escapeHtml(tokens[idx].meta['name'])}]"


def _render_nothing(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return ""


# -- callouts -------------------------------------------------------------------------

_CALLOUT = re.compile(r"\[!([\w-]+)\][+-]?[ \t]*([^\n]*)(?:\n|$)")


def _callouts(state: StateCore) -> None:
    """Core rule (before inline): a quote whose first line is ``[!type] Title`` becomes
    a callout, with its title as a line of its own."""
    tokens = state.tokens
    i = 0
    while i < len(tokens):
        token = tokens[i]
        inline = tokens[i + 2] if i + 2 < len(tokens) else None
        found = (
            _CALLOUT.match(inline.content)
            if token.type == "blockquote_open"
            and tokens[i + 1].type == "paragraph_open"
            and inline is not None
            and inline.type == "inline"
            else None
        )
        if found is None or inline is None:
            i += 1
            continue
        kind = found.group(1).lower()
        token.type, token.tag, token.meta = "callout_open", "div", {"kind": kind}
        _close_of(tokens, i).type = "callout_close"
        title = Token("inline", "", 0, content=found.group(2).strip() or kind.capitalize())
        title.map, title.children = token.map, []
        inline.content = inline.content[found.end() :]
        title_tokens = [Token("callout_title_open", "div", 1), title]
        title_tokens.append(Token("callout_title_close", "div", -1))
        if inline.content.strip():
            if inline.map:
                inline.map = [inline.map[0] + 1, inline.map[1]]
            tokens[i + 1 : i + 1] = title_tokens
        else:
            tokens[i + 1 : i + 4] = title_tokens  # the paragraph held only the title
        i += 1


def _close_of(tokens: list[Token], opening: int) -> Token:
    """The token that closes ``tokens[opening]``."""
    depth = 0
    for token in tokens[opening:]:
        depth += token.nesting
        if depth == 0:
            return token
    return tokens[-1]


def _render_callout_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    kind = escapeHtml(tokens[idx].meta["kind"])
    return f'<div class="callout" data-callout="{kind}">\n'


def _render_callout_title(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return '<div class="callout-title">'


def _close_div(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return "</div>\n"
