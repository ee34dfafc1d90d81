"""Parse stage: what a notes file says about the cards under it, besides the cards.

- :func:`read_front_matter`: the file's ``deck`` and ``tags`` (:class:`FileSettings`);
- :func:`enter_heading`: a heading sets the section (:class:`Heading`), and its
  section tags;
- :data:`INVISIBLE` and :func:`warn_invisible`: characters that show as nothing are
  dropped from both, with a warning;
- :func:`clean_tag`: a tag as Anki can hold it.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

import yaml
from markdown_it.token import Token

from build_deck.model import is_reserved_tag
from build_deck.parse.context import FileContext
from build_deck.parse.tokens import plain_text

FRONT_MATTER_KEYS = ("deck", "tags")
"""The keys a notes file's front matter may set."""

OBSIDIAN_KEYS = frozenset(
    {
        *("aliases", "alias", "cssclasses", "cssclass", "tag", "publish", "permalink"),
        *("created", "modified", "updated", "date", "title", "description", "author"),
        *("authors", "source", "url", "status", "type", "category", "categories", "id"),
        *("image", "cover", "banner"),
    }
)
"""Keys that Obsidian, its publishing and its common templates write: read as notes
about the file, not as settings. ``tag`` is Obsidian's old spelling of ``tags``."""

_TAG_WORD = re.compile(r"#[\w][\w:-]*")
_WORD = re.compile(r"\S+")
MAX_TAGS = 50
"""Tags a heading, or a file's front matter, may set."""

INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
"""Characters that show as nothing: soft hyphen, zero-width space, non-joiner and joiner,
the bidi marks, embeddings, overrides and isolates, word joiner, and BOM. Dropped from
headings and front matter, where they would make tags and decks that look alike."""

_TAG_BAD_CHARS = re.compile(r"[\s\"]+")


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


def warn_invisible(ctx: FileContext, line: int, text: str, where: str, dropped_from: str) -> None:
    """Warn that ``text`` holds characters of :data:`INVISIBLE`, naming each."""
    found = sorted(set(INVISIBLE.findall(text)))
    names = ", ".join(f"U+{ord(c):04X} ({unicodedata.name(c)})" for c in found)
    what, it = ("characters", "them") if len(found) > 1 else ("character", "it")
    message = (
        f"invisible {what} {names} in {where}: dropped from {dropped_from}; "
        f"delete {it} from the file"
    )
    ctx.warn(line, message)


def read_front_matter(ctx: FileContext, tokens: list[Token]) -> FileSettings:
    """The settings of the file's front matter; its problems go to ``ctx``."""
    if not tokens or tokens[0].type != "front_matter":
        return FileSettings()
    token = tokens[0]
    first = (token.map[0] if token.map else 0) + 2  # the line after the opening ---
    try:
        deep = _too_deep(token.content)
        if deep is not None:
            ctx.error(first + deep, f"front matter nested deeper than {MAX_YAML_DEPTH} levels")
            return FileSettings()
        data = yaml.safe_load(token.content)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first + (mark.line if mark is not None else 0)
        problem = getattr(exc, "problem", None) or str(exc)
        ctx.error(line, f"malformed YAML front matter: {problem}")
        return FileSettings()
    if data is None:
        return FileSettings()
    if not isinstance(data, dict):
        ctx.error(first, "front matter must be a mapping such as 'deck: Mathematics'")
        return FileSettings()
    lines = token.content.splitlines()
    for key in data:
        if key not in FRONT_MATTER_KEYS and key not in OBSIDIAN_KEYS:
            offset = next((i for i, text in enumerate(lines) if text.startswith(f"{key}:")), 0)
            ctx.warn(first + offset, _unknown_key(str(key)))
    deck = data.get("deck")
    tags = data.get("tags", data.get("tag", []))
    if isinstance(tags, str):
        tags = tags.replace(",", " ").split()
    elif tags is None:
        tags = []
    if deck is not None and not isinstance(deck, str):
        ctx.error(first, "front matter 'deck' must be text, e.g. 'deck: Mathematics'")
        deck = None
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        ctx.error(first, "front matter 'tags' must be a list of words, e.g. 'tags: [maths]'")
        tags = []
    shown = "".join([deck or "", *tags])
    if INVISIBLE.search(shown):
        offset = next((i for i, text in enumerate(lines) if INVISIBLE.search(text)), 0)
        warn_invisible(ctx, first + offset, shown, "the front matter", "its deck and tags")
        deck = INVISIBLE.sub("", deck) if deck is not None else None
        tags = [INVISIBLE.sub("", t) for t in tags]
    if len(tags) > MAX_TAGS:
        ctx.error(first, f"more than {MAX_TAGS} tags in the front matter: keep the few that help")
        tags = tags[:MAX_TAGS]
    cleaned = tuple(clean_tag(t.lstrip("#").replace("/", "::")) for t in tags)
    for tag, clean in zip(tags, cleaned, strict=True):
        if is_reserved_tag(clean):
            ctx.error(first, _reserved(tag))
    return FileSettings(deck, cleaned)


def _unknown_key(key: str) -> str:
    """The warning for a front matter key that is neither ours nor Obsidian's."""
    close = difflib.get_close_matches(key.lower(), FRONT_MATTER_KEYS, n=1, cutoff=0.6)
    if close:
        return f"unknown front matter key {key!r}: ignored; did you mean {close[0]!r}?"
    return (
        f"unknown front matter key {key!r}: ignored (the build reads "
        f"{' and '.join(FRONT_MATTER_KEYS)}; other keys are notes about the file)"
    )


MAX_YAML_DEPTH = 4
"""How deeply front matter may nest (``tags: [a, b]`` is two levels)."""


def _too_deep(text: str) -> int | None:
    """The line (from 0) where YAML nests deeper than :data:`MAX_YAML_DEPTH`, or None.

    Read as a stream of events, which does not recurse: loading such YAML would.
    """
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            depth += isinstance(event, yaml.CollectionStartEvent)
            depth -= isinstance(event, yaml.CollectionEndEvent)
            if depth > MAX_YAML_DEPTH:
                return event.start_mark.line if event.start_mark else 0
    except yaml.YAMLError:
        return None  # loading it reports the error, at no greater depth than read here
    return None


def enter_heading(ctx: FileContext, headings: list[Heading], block: list[Token]) -> None:
    """Make the heading ``block`` the last of the path ``headings``, below its parents."""
    level = int(block[0].tag[1:])
    inline = block[1]
    children = list(inline.children or [])
    content = inline.content
    if INVISIBLE.search(content):
        line = (block[0].map[0] if block[0].map else 0) + 1
        warn_invisible(ctx, line, content, "a heading", "its deck, tags and breadcrumb")
        content = INVISIBLE.sub("", content)
        children = [_without_invisible(child) for child in children]
    line = (block[0].map[0] if block[0].map else 0) + 1
    tags, _ = trailing_tags(content)
    if tags and children and children[-1].type == "text":
        last = children[-1].copy()
        last.content = last.content[: trailing_tags(last.content)[1]]
        children[-1] = last
    if len(tags) > MAX_TAGS:
        ctx.error(line, f"more than {MAX_TAGS} section tags on one heading: keep the few that help")
        tags = tags[:MAX_TAGS]
    for tag in tags:
        if is_reserved_tag(clean_tag(tag)):
            ctx.error(line, _reserved(tag))
    heading = Heading(level, plain_text(children), ctx.render_inline(children), tags)
    while headings and headings[-1].level >= level:
        headings.pop()
    headings.append(heading)
    if is_reserved_tag(clean_tag(headings[0].text)):
        ctx.error(
            line,
            f"the heading '{headings[0].text}' would give its cards the tag "
            f"'{clean_tag(headings[0].text)}', which build-deck reserves: rename the heading",
        )


def trailing_tags(text: str) -> tuple[tuple[str, ...], int]:
    """The section tags at the end of a heading's text (``# Heading #tag #other``),
    without their ``#``, and where the text before them ends. Linear in the text."""
    words = [(m.start(), m.group()) for m in _WORD.finditer(text)]
    first = len(words)
    while first and words[first - 1][0] and _TAG_WORD.fullmatch(words[first - 1][1]):
        first -= 1
    if first == len(words):
        return (), len(text)
    end = words[first][0]
    while end > 0 and text[end - 1].isspace():
        end -= 1
    return tuple(word[1:] for _, word in words[first:]), end


def _reserved(tag: str) -> str:
    """The error for a tag the notes may not set."""
    return (
        f"the tag '{tag}' is reserved: build-deck gives it (verified to cards whose "
        "checks verified them, build-deck::… to notes sync manages); rename the tag"
    )


def _without_invisible(token: Token) -> Token:
    """A copy of an inline token without the characters that show as nothing."""
    copy = token.copy()
    copy.content = INVISIBLE.sub("", token.content)
    return copy


def clean_tag(text: str) -> str:
    """A tag without spaces or quotes, which Anki's tags cannot hold."""
    return _TAG_BAD_CHARS.sub("_", text.strip())
