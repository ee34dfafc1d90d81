"""The Markdown parser: markdown-it-py with the plugins and rules the notes need.

Math and code are cut out by the parser itself, never by a regex over the file:

- ``dollarmath`` reads ``$..$`` and ``$$..$$``; a rule of ours reads ``\\(..\\)`` and
  ``\\[..\\]``. Both render with Anki's MathJax delimiters.
- A ``cloze`` inline rule reads ``{{c1::..}}`` and ``{{..}}`` in prose and parses
  their content as Markdown, so a deletion can hold math, code or emphasis.
- Clozes inside math and code are handled by their renderers.

Problems the parser meets (a malformed cloze, a ``$`` that opens math and never
closes, nesting deeper than the parser follows) are collected into ``env["problems"]``
with line numbers; things that may lose cards silently (a code fence left open that
swallows card lines) into ``env["warnings"]``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.front_matter import front_matter_plugin

from build_deck.parse.cloze import (
    ClozeProblem,
    ClozeSpan,
    find_clozes,
    guard_math_cloze_body,
    match_cloze,
    split_closing_braces,
)
from build_deck.parse.highlight import render_code, render_code_block, shield_cloze_syntax
from build_deck.parse.id_comments import id_comments_plugin
from build_deck.parse.obsidian import obsidian_plugin

CHECK_INFO = "check"
"""Info string of a fenced block that holds a numeric check."""

_BRACKETS = {"(": ")", "[": "]"}


def render_math(tex: str, *, display: bool) -> str:
    """LaTeX to Anki's MathJax form, with clozes inside it made safe.

    ``<``, ``>`` and ``&`` are escaped for HTML; inline math stays on one line; no
    ``}}`` is left, so the math can sit inside a deletion, or hold one.
    """
    tex = tex.strip()
    if not display:
        tex = " ".join(tex.splitlines())
    spans, _ = find_clozes(tex, shorthand=False)
    parts: list[str] = []
    pos = 0
    for span in spans:
        parts.append(escapeHtml(split_closing_braces(tex[pos : span.body_start])))
        parts.append(escapeHtml(guard_math_cloze_body(tex[span.body_start : span.body_end])))
        if span.hint is not None:
            parts.append("::" + escapeHtml(span.hint))
        parts.append("}}")
        pos = span.end
    parts.append(escapeHtml(split_closing_braces(tex[pos:])))
    body = "".join(parts)
    return f"\\[{body}\\]" if display else f"\\({body}\\)"


def _bracket_math(state: StateInline, silent: bool) -> bool:
    r"""Inline rule: ``\(..\)`` is inline math and ``\[..\]`` display math."""
    src, pos = state.src, state.pos
    if src[pos] != "\\" or pos + 1 >= state.posMax or src[pos + 1] not in _BRACKETS:
        return False
    opener = src[pos + 1]
    closer = "\\" + _BRACKETS[opener]
    # Where the last closer is, is found once: a run of '\(' with none after it would
    # otherwise look for it once per '\(' (quadratic).
    last: dict[tuple[int, int, str], int] = state.env.setdefault("last_math_close", {})
    key = (id(src), state.posMax, closer)
    if key not in last:
        last[key] = src.rfind(closer, 0, state.posMax)
    if last[key] < pos + 2:
        return False
    close = src.find(closer, pos + 2, state.posMax)
    if not silent:
        token = state.push("math_inline" if opener == "(" else "math_inline_double", "math", 0)
        token.content = src[pos + 2 : close]
        token.markup = "\\" + opener
    state.pos = close + 2
    return True


def _unclosed_bracket(state: StateInline, silent: bool) -> bool:
    """Inline rule (before links): a ``[`` or ``![`` with no ``]`` after it is text.

    No link, image or footnote can start there, and markdown-it would look for one's
    end across the rest of the paragraph at every such bracket: a run of ``![``
    without a ``]`` took minutes per megabyte. Where the last ``]`` of each stretch
    of text is, is found once (``env["last_close"]``).
    """
    src, pos = state.src, state.pos
    width = 2 if src.startswith("![", pos) else 1 if src[pos] == "[" else 0
    if not width:
        return False
    cache: dict[tuple[int, int], int] = state.env.setdefault("last_close", {})
    key = (id(src), state.posMax)
    if key not in cache:
        cache[key] = src.rfind("]", 0, state.posMax)
    if cache[key] > pos:
        return False
    # From here to the end no bracket can open anything: take the run of plain text
    # and brackets in one step.
    end = _PLAIN_RUN.match(src, pos + width, state.posMax)
    stop = end.end() if end else pos + width
    if not silent:
        state.append_pending(src[pos:stop])
    state.pos = stop
    return True


_PLAIN_RUN = re.compile(
    r"[^\n!#$%&*+\-:<=>@\\^_`{}~\[\]]*(?:!?\[[^\n!#$%&*+\-:<=>@\\^_`{}~\[\]]*)*"
)


MAX_CLOZE_SCAN = 4_000_000
"""Characters the cloze rule may read of one notes file while looking for the ends of
deletions: an unclosed ``{{`` is read to the end of its paragraph, so a paragraph of
them would be read once per ``{{`` (quadratic)."""
MAX_PROBLEMS_PER_BLOCK = 20
"""Malformed deletions reported per paragraph; the rest are counted."""


def _cloze(state: StateInline, silent: bool) -> bool:
    """Inline rule: a cloze deletion, its content parsed as Markdown."""
    if not state.src.startswith("{{", state.pos):
        return False
    if state.pos > 0 and state.src[state.pos - 1] == "\\":
        return False
    budget = state.env.get("cloze_scan_left", MAX_CLOZE_SCAN)
    if budget <= 0:
        if not silent and not state.env.get("cloze_scan_spent"):
            state.env["cloze_scan_spent"] = True
            message = (
                "too many unclosed '{{' to read them all (each is read to the end of its "
                "paragraph): close the deletions, or write '\\{{' for literal braces"
            )
            state.env.setdefault("cloze_problems", []).append(
                (state.src, ClozeProblem(state.pos, message))
            )
        return False
    found = match_cloze(state.src, state.pos, shorthand=True, code_spans=True, limit=state.posMax)
    end = found.end if isinstance(found, ClozeSpan) else state.posMax
    state.env["cloze_scan_left"] = budget - (end - state.pos)
    if found is None:
        return False
    if isinstance(found, ClozeProblem):
        if not silent:
            state.env.setdefault("cloze_problems", []).append((state.src, found))
        return False
    if silent:
        state.pos = found.end
        return True
    number = found.number
    numbers: dict[int, int] = state.env.setdefault("cloze_numbers", {})
    if number is None:
        number = numbers.get(id(state.tokens), 0) + 1  # the next after those used so far
    numbers[id(state.tokens)] = max(numbers.get(id(state.tokens), 0), number)
    opening = state.push("cloze_open", "", 1)
    opening.meta = {"number": number, "shorthand": found.number is None}
    opening.content = state.src[found.body_start : found.body_end]
    old_max = state.posMax
    state.pos, state.posMax = found.body_start, found.body_end
    state.md.inline.tokenize(state)
    if found.hint is not None:
        hint = state.push("cloze_hint", "", 0)
        hint.content = found.hint
    state.push("cloze_close", "", -1)
    state.pos, state.posMax = found.end, old_max
    return True


MAX_NESTING = 100
"""How deep blocks (lists, quotes) and inline markup may nest. markdown-it stops
reading at its limit and drops the rest of the file; nesting close to it is an error."""
_NESTING_MARGIN = 4
_CARD_LINE = re.compile(r"^[ \t>]*(Q:|A:|#{1,6}[ \t])|\{\{", re.MULTILINE)


def _nesting_guard(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """Block rule (tried first): report nesting that markdown-it would cut off."""
    if state.level >= MAX_NESTING - _NESTING_MARGIN and not state.env.get("too_deep"):
        state.env["too_deep"] = True
        state.env.setdefault("problems", []).append(
            (
                start_line + 1,
                f"nested more than {MAX_NESTING - _NESTING_MARGIN} levels deep (lists or "
                "quotes): the parser would drop the rest of the file; flatten the nesting",
            )
        )
    return False


def _fence_is_closed(lines: list[str], token: Token) -> bool:
    """True when the last line of a fence's range is its closing fence."""
    if token.map is None:
        return True
    start, end = token.map
    if end - 1 <= start or end - 1 >= len(lines):
        return False
    closing = lines[end - 1].lstrip(" \t>")
    marker = token.markup
    return closing.startswith(marker) and not closing.rstrip().strip(marker[0])


def _unclosed_fences(state: StateCore) -> None:
    """Core rule: warn about a code fence left open that swallows card lines."""
    lines = state.src.split("\n")
    for token in state.tokens:
        if token.type != "fence" or _fence_is_closed(lines, token):
            continue
        swallowed = len(_CARD_LINE.findall(token.content))
        if swallowed and token.map is not None:
            state.env.setdefault("warnings", []).append(
                (
                    token.map[0] + 1,
                    f"code fence '{token.markup}' is never closed: it swallows the rest of "
                    f"the file ({swallowed} lines that look like cards); close it with "
                    f"'{token.markup}'",
                )
            )


_MATH_OPENER = re.compile(r"(?<![\\$])\$(\$?)(?=[^\s\d$])")


def _collect_problems(state: StateCore) -> None:
    """Core rule: turn what the inline rules met into located problems."""
    by_source: dict[int, list[ClozeProblem]] = {}
    for src, problem in state.env.pop("cloze_problems", []):
        by_source.setdefault(id(src), []).append(problem)
    problems: list[tuple[int, str]] = state.env.setdefault("problems", [])
    for token in state.tokens:
        if token.type != "inline" or token.map is None:
            continue
        first_line = token.map[0] + 1
        found = sorted(by_source.get(id(token.content), []), key=lambda p: p.offset)
        line, counted = first_line, 0
        for problem in found[:MAX_PROBLEMS_PER_BLOCK]:
            line += token.content.count("\n", counted, problem.offset)
            counted = problem.offset
            problems.append((line, problem.message))
        if len(found) > MAX_PROBLEMS_PER_BLOCK:
            more = len(found) - MAX_PROBLEMS_PER_BLOCK
            problems.append((line, f"and {more} more malformed deletions in this paragraph"))
        for breaks, text in _prose_runs(token.children or ()):
            for opener in _MATH_OPENER.finditer(text):
                delimiter = "$$" if opener.group(1) else "$"
                problems.append(
                    (
                        first_line + breaks,
                        f"unbalanced '{delimiter}': close the math with '{delimiter}', "
                        "or write '\\$' for a literal dollar sign",
                    )
                )


def _prose_runs(children: Sequence[Token]) -> list[tuple[int, str]]:
    """Runs of plain text among inline children, with escaped characters masked.

    Each run comes with the number of line breaks before it, so that its line in the
    paragraph is known.
    """
    runs: list[tuple[int, str]] = []
    current: list[str] = []
    breaks = 0
    for child in [*children, None]:
        if child is not None and child.type == "text":
            current.append(child.content)
            continue
        if child is not None and child.type == "text_special":
            escaped = child.info == "escape"
            current.append("\0" * len(child.content) if escaped else child.content)
            continue
        if current:
            runs.append((breaks, "".join(current)))
            current = []
        if child is not None and child.type in ("softbreak", "hardbreak"):
            breaks += 1
    return runs


def _render_math_inline(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return render_math(tokens[idx].content, display=False)


def _render_math_display(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return render_math(tokens[idx].content, display=True)


def _render_math_block(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return render_math(tokens[idx].content, display=True) + "\n"


def _render_text(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return shield_cloze_syntax(escapeHtml(tokens[idx].content))


def _render_code_inline(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return f"<code>{render_code(tokens[idx].content)}</code>"


def _render_fence(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    language = token.info.split(maxsplit=1)[0] if token.info.strip() else None
    if language == CHECK_INFO:
        return ""
    return render_code_block(token.content, language) + "\n"


def _render_cloze_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return f"{{{{c{tokens[idx].meta['number']}::"


def _render_cloze_hint(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return "::" + shield_cloze_syntax(escapeHtml(tokens[idx].content))


def _render_cloze_close(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return "}}"


def _render_footnote_ref(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return f'<sup class="footnote-ref">[{tokens[idx].meta["id"] + 1}]</sup>'


def make_parser() -> MarkdownIt:
    """A parser configured for notes: CommonMark, tables, strikethrough, front matter,
    footnotes, math, clozes and Obsidian's syntax (:mod:`.obsidian`)."""
    md = MarkdownIt("commonmark", {"typographer": False, "maxNesting": MAX_NESTING})
    md.enable(["table", "strikethrough"])
    md.use(front_matter_plugin)
    md.use(footnote_plugin, move_to_end=False, inline=False)
    md.use(
        dollarmath_plugin,
        allow_labels=False,
        allow_space=False,
        allow_digits=False,
        double_inline=True,
    )
    md.inline.ruler.before("escape", "bracket_math", _bracket_math)
    md.inline.ruler.before("escape", "cloze", _cloze)
    md.inline.ruler.before("link", "unclosed_bracket", _unclosed_bracket)
    md.core.ruler.after("inline", "collect_problems", _collect_problems)
    md.use(id_comments_plugin)  # note ids written by other tools: never on a card
    md.core.ruler.after("collect_problems", "unclosed_fences", _unclosed_fences)
    md.block.ruler.before("table", "nesting_guard", _nesting_guard)
    obsidian_plugin(md, after="unclosed_fences")
    rules: dict[str, Any] = {
        "math_inline": _render_math_inline,
        "math_inline_double": _render_math_display,
        "math_block": _render_math_block,
        "text": _render_text,
        "code_inline": _render_code_inline,
        "fence": _render_fence,
        "cloze_open": _render_cloze_open,
        "cloze_hint": _render_cloze_hint,
        "cloze_close": _render_cloze_close,
        "footnote_ref": _render_footnote_ref,
    }
    for name, rule in rules.items():
        md.add_render_rule(name, rule)
    return md
