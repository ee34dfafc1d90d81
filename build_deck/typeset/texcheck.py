"""TeX validation: every distinct math expression of the deck read once by MathJax itself.

Anki typesets math with MathJax 3 on every client, so a TeX typo would otherwise be
found at review time, as a red error on the card. Here every ``\\(..\\)`` and
``\\[..\\]`` of the cards' fields is cut out the way MathJax finds it, stripped of
Anki's cloze markup, and read by MathJax's TeX parser (the npm package ``mathjax-full``)
in one Node.js process running ``js/texcheck.mjs``; no output is laid out, since every
TeX error comes from the parser. Each MathJax error becomes a diagnostic at the line of
the notes file that holds the math, with MathJax's own message.

The Node process is started before the notes are read (:meth:`TexChecker.start`), so
MathJax loads while Python parses. Expressions MathJax accepted are remembered in the
build cache by a hash that includes MathJax's version and the checker script; a cache
that does not validate is ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import re
import shutil
import subprocess
import sys
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from build_deck import cache as build_cache
from build_deck.model import Card, Diagnostic, Severity, SourceLoc
from build_deck.parse.cloze import find_clozes
from build_deck.typeset.mathjax import (
    MATHJAX_ENV,
    MATHJAX_PACKAGE,
    ensure_mathjax,
    find_mathjax,
)

__all__ = ["MATHJAX_ENV", "MATHJAX_PACKAGE", "TexChecker", "ensure_mathjax", "find_mathjax"]

SCRIPT = Path(__file__).resolve().parent.parent / "js" / "texcheck.mjs"
"""The Node.js script that typesets with MathJax."""

CACHE_NAME = "texcheck"
"""Name of the TeX checker's entry in the build cache (build_deck/cache.py)."""

INSTALL_HINT = (
    "install Node.js and npm (e.g. 'apt-get install nodejs npm', or from nodejs.org): "
    "build-deck then installs MathJax once, into its cache folder ('make' in build-deck's "
    "repository installs it with 'npm ci')"
)
"""What to do when the TeX cannot be validated."""

TIMEOUT_SECONDS = 300
"""How long MathJax may take for one deck before the check gives up."""

_SKIPPED = ("pre", "code", "script", "style", "textarea")
_SKIPPED_OPEN = re.compile(rf"<({'|'.join(_SKIPPED)})\b", re.IGNORECASE)
_SKIPPED_CLOSE = {name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in _SKIPPED}
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
_DEFINES = re.compile(r"\\(?:newcommand|renewcommand|def|let|require|newenvironment|Declare)")
_SHOWN_LENGTH = 60


@dataclass(frozen=True, slots=True)
class MathExpression:
    """One piece of math on a card, as MathJax will read it."""

    loc: SourceLoc
    """The line of the notes file that holds it."""
    source: str
    """The TeX as written, cloze markup included, HTML entities decoded."""
    display: bool
    """True for ``\\[..\\]``, False for ``\\(..\\)``."""
    tex: str = field(init=False)
    """What MathJax typesets: the TeX with Anki's cloze markup stripped (read once)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tex", strip_cloze_markup(self.source))

    @property
    def shown(self) -> str:
        """The expression as the notes write it, shortened for a message."""
        text = " ".join(self.source.split())
        if len(text) > _SHOWN_LENGTH:
            text = text[: _SHOWN_LENGTH - 1] + "…"
        return f"$${text}$$" if self.display else f"${text}$"


def math_in_html(field: str) -> list[tuple[str, bool]]:
    """The math of an HTML field as (TeX, display), the way MathJax finds it.

    Anki's delimiters only: ``\\(..\\)`` and ``\\[..\\]``. Code, ``pre`` and the
    other elements MathJax skips are skipped; a backslash escapes the next character;
    HTML entities are decoded, since MathJax reads the text of the page.
    """
    text = _without_skipped(field)
    found: list[tuple[str, bool]] = []
    pos = 0
    unclosed: set[str] = set()  # delimiters with no closing one left: linear, not quadratic
    while (opener := _ESCAPED.search(text, pos)) is not None:
        pos = opener.end()
        if opener.group(1) not in "([":
            continue
        close = ")" if opener.group(1) == "(" else "]"
        if close in unclosed:
            continue
        end = _ESCAPED.search(text, pos)
        while end is not None and end.group(1) != close:
            end = _ESCAPED.search(text, end.end())
        if end is None:
            unclosed.add(close)
            continue
        found.append((html.unescape(text[pos : end.start()]), opener.group(1) == "["))
        pos = end.end()
    return found


def _without_skipped(field: str) -> str:
    """``field`` with each element MathJax skips (``<pre>..</pre>``, code, scripts,
    styles, text areas) replaced by a space. One pass: the end of a tag and each
    element's closing tag are looked for once, not once per opening tag."""
    parts: list[str] = []
    kept = at = 0
    tag_end = -1
    closings: dict[str, re.Match[str]] = {}
    dead: set[str] = set()  # elements with no closing tag left
    while (opening := _SKIPPED_OPEN.search(field, at)) is not None:
        name = opening.group(1).lower()
        at = opening.end()
        if name in dead:
            continue
        if tag_end < at:
            tag_end = field.find(">", at)
            if tag_end < 0:
                break
        closing = closings.get(name)
        if closing is None or closing.start() <= tag_end:
            closing = _SKIPPED_CLOSE[name].search(field, tag_end + 1)
            if closing is None:
                dead.add(name)
                continue
            closings[name] = closing
        parts += [field[kept : opening.start()], " "]
        kept = at = closing.end()
    parts.append(field[kept:])
    return "".join(parts)


def strip_cloze_markup(tex: str) -> str:
    """``x = {{c1::\\frac{1}{2}::a fraction}}`` -> ``x = \\frac{1}{2}``; nested ones too."""
    while True:
        spans, _ = find_clozes(tex, shorthand=False)
        if not spans:
            return tex
        parts: list[str] = []
        pos = 0
        for span in spans:
            parts += [tex[pos : span.start], tex[span.body_start : span.body_end]]
            pos = span.end
        parts.append(tex[pos:])
        tex = "".join(parts)


class _SourceIndex:
    """A notes file without whitespace, to find where a piece of math was written."""

    def __init__(self, text: str) -> None:
        parts: list[str] = []
        self.starts: list[int] = []  # offset in ``compact`` where each line begins
        length = 0
        for line in text.split("\n"):
            self.starts.append(length)
            compact = _WHITESPACE.sub("", line)
            parts.append(compact)
            length += len(compact)
        self.compact = "".join(parts)

    def line_of(self, tex: str, near: int) -> int | None:
        """The line of the occurrence of ``tex`` at or after line ``near``, else the
        closest before it; None if the file does not hold it."""
        needle = _WHITESPACE.sub("", tex)
        if not needle:
            return None
        start = self.starts[min(max(near, 1), len(self.starts)) - 1]
        at = self.compact.find(needle, start)
        if at < 0:
            at = self.compact.rfind(needle, 0, start + len(needle) - 1)
        return bisect_right(self.starts, at) if at >= 0 else None


_WHITESPACE = re.compile(r"\s+")


def collect_math(cards: Sequence[Card]) -> list[MathExpression]:
    """Every math expression on the cards, in card order, each at its own line."""
    indexes: dict[str, _SourceIndex | None] = {}
    found: list[MathExpression] = []
    for card in cards:
        path = card.loc.path
        if path not in indexes:
            try:
                text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
                indexes[path] = _SourceIndex(text)
            except OSError:
                indexes[path] = None
        index = indexes[path]
        seen: set[tuple[int, str, bool]] = set()
        for html_field in (card.context, card.content, card.back, card.extra):
            for tex, display in math_in_html(html_field):
                line = index.line_of(tex, card.loc.line) if index else None
                line = line or card.loc.line
                if (line, tex, display) not in seen:
                    seen.add((line, tex, display))
                    found.append(MathExpression(SourceLoc(path, line), tex, display))
    return found


def distinct_math(cards: Sequence[Card]) -> list[tuple[str, bool]]:
    """Every distinct (TeX as MathJax reads it, display) on the cards, in the order it
    first appears: what :func:`collect_math` finds, without finding each one's line."""
    found: dict[tuple[str, bool], None] = {}
    stripped: dict[str, str] = {}
    for card in cards:
        for html_field in (card.context, card.content, card.back, card.extra):
            for source, display in math_in_html(html_field):
                tex = stripped.get(source)
                if tex is None:
                    tex = stripped[source] = strip_cloze_markup(source)
                found[(tex, display)] = None
    return list(found)


def _cache_salt(mathjax: Path) -> str:
    """What a cached verdict depends on besides the TeX: MathJax and the script."""
    digest = hashlib.sha256()
    digest.update((mathjax / "package.json").read_bytes())
    digest.update(b"\0")
    digest.update(SCRIPT.read_bytes())
    return digest.hexdigest()


def _expression_key(salt: str, tex: str, display: bool) -> str:
    text = f"{salt}\0{'display' if display else 'inline'}\0{tex}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load_cache(cache_dir: Path, salt: str) -> set[str]:
    """Keys of the expressions MathJax accepted before; empty unless the entry is
    intact (its checksum holds) and was written for the same MathJax and script."""
    keys, _ = build_cache.load_json(cache_dir, CACHE_NAME, salt)
    if not isinstance(keys, list) or not all(
        isinstance(k, str) and re.fullmatch(r"[0-9a-f]{32}", k) for k in keys
    ):
        return set()
    return set(keys)


def save_cache(cache_dir: Path, salt: str, keys: Iterable[str]) -> None:
    """Remember the accepted expressions; a cache that cannot be written is not an error."""
    build_cache.store_json(cache_dir, CACHE_NAME, salt, sorted(set(keys)))


NODE_FLAGS = ("--max-semi-space-size=8",)
"""V8's young generation at half its default size: MathJax makes short-lived objects by
the million, and with the default the process grew about 25 MB larger (150 against
126 MB at 16,771 expressions; 125 against 109 MB for the shipped deck's 2,806), in no
less time within the noise of alternating runs."""


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class TexChecker:
    """One MathJax process in Node.js, started early, that checks a deck's math once.

    Call :meth:`start` before reading the notes, then call the checker with the cards
    and later call what it returns: a diagnostic for every TeX error, or one warning
    (an error when ``strict``) when Node.js or MathJax is missing.
    """

    def __init__(
        self,
        *,
        notes_dir: Path,
        node: str | None,
        mathjax: Path | None,
        strict: bool = False,
        cache_dir: Path | None = None,
        early: bool = True,
    ) -> None:
        self.notes_dir = notes_dir
        """Where the notes are: named by the 'not validated' diagnostic."""
        self.strict = strict
        """Whether TeX that cannot be validated fails the build."""
        self.typeset = 0
        """Expressions MathJax typeset in this run."""
        self.cached = 0
        """Expressions found valid in the cache and not typeset again."""
        self.unavailable: str | None = None
        """Why the TeX cannot be validated, or None."""
        self.mathjax = mathjax
        """The ``mathjax-full`` folder used, if any."""
        self._cache_dir = cache_dir
        self._salt = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._command: list[str] = []
        self._used = False
        self._worker: threading.Thread | None = None
        if node is None:
            self.unavailable = "Node.js not found"
        elif mathjax is None:
            self.unavailable = f"the npm package {MATHJAX_PACKAGE} is not installed"
        else:
            try:
                self._salt = _cache_salt(mathjax)
            except OSError as exc:
                self.unavailable = f"cannot read MathJax's package.json: {exc}"
            self._command = [node, *NODE_FLAGS, str(SCRIPT), str(mathjax)]
            if early:
                self._launch()

    def _launch(self) -> None:
        """Start Node.js loading MathJax, if it is not running yet and can be started."""
        if self._process is not None or self.unavailable is not None:
            return
        try:
            self._process = subprocess.Popen(
                self._command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as exc:
            self.unavailable = f"cannot start Node.js: {exc}"

    @classmethod
    def start(
        cls,
        *,
        notes_dir: Path,
        strict: bool = False,
        cache_dir: Path | None = None,
        early: bool | None = None,
    ) -> TexChecker:
        """Find Node.js and MathJax (installing MathJax into the cache folder the first
        time, see build_deck/typeset/mathjax.py), and start loading MathJax right away when
        ``early``: by default when the cache knows no expression (a first build typesets all
        of them; a later one only those its edits brought, often none, and starts Node.js
        only then, sparing the build the CPU that loading MathJax takes)."""
        if early is None:
            early = cache_dir is None or not build_cache.entry_path(cache_dir, CACHE_NAME).is_file()
        mathjax, reason = ensure_mathjax(say=_say)
        checker = cls(
            notes_dir=notes_dir,
            node=shutil.which("node"),
            mathjax=mathjax,
            strict=strict,
            cache_dir=cache_dir,
            early=early,
        )
        if mathjax is None and reason is not None and checker.unavailable is not None:
            checker.unavailable = reason
        return checker

    @property
    def fingerprint(self) -> str:
        """What a verdict of this checker depends on (MathJax and the script), or why
        there is none: part of the build cache's key, so that files built without TeX
        validation are validated once it is possible."""
        return f"mathjax:{self._salt}" if self.unavailable is None else "tex:unchecked"

    def __call__(self, cards: list[Card]) -> Callable[[], list[Diagnostic]]:
        """Send the math of ``cards`` to MathJax; returns what waits for the diagnostics:
        one for each TeX error, or the warning that the TeX was not validated (given
        even for no cards, since cached cards were not validated either)."""
        if self._used:
            raise RuntimeError("a TexChecker checks one deck: start another")
        self._used = True
        if self.unavailable is not None:
            problem = self._not_validated(self.unavailable)
            return lambda: [problem]
        # Only the distinct expressions are kept while MathJax works; the line of each
        # is looked for only if MathJax finds errors.
        distinct = distinct_math(cards)
        if not distinct:
            self.close()
            return list

        cached = load_cache(self._cache_dir, self._salt) if self._cache_dir else set()
        jobs: dict[tuple[str, bool], str] = {}
        current: set[str] = set()
        for job in distinct:
            key = _expression_key(self._salt, *job)
            current.add(key)
            # Definitions (\newcommand, \require, ...) are always sent, in deck order,
            # since later expressions may depend on them.
            if key not in cached or _DEFINES.search(job[0]):
                jobs[job] = key
        self.cached = len(distinct) - len(jobs)
        if not jobs:
            self.close()
            return list
        self._launch()
        if self._process is None:
            problem = self._not_validated(self.unavailable or "no MathJax process")
            return lambda: [problem]

        self._send(list(jobs))
        answer: list[tuple[list[str | None], str | None]] = []
        worker = threading.Thread(target=lambda: answer.append(self._receive(len(jobs))))
        self._worker = worker
        worker.start()

        def diagnostics() -> list[Diagnostic]:
            worker.join()
            verdicts, failure = answer[0] if answer else ([], "MathJax process failed")
            if failure is not None:
                return [self._not_validated(failure)]
            self.typeset = len(jobs)
            errors = dict(zip(jobs, verdicts, strict=True))
            if self._cache_dir is not None:
                accepted = {key for job, key in jobs.items() if errors[job] is None}
                save_cache(self._cache_dir, self._salt, (current & cached) | accepted)
            if all(message is None for message in verdicts):
                return []
            return [
                Diagnostic(expression.loc, f"TeX error in {expression.shown}: {message}")
                for expression in collect_math(cards)
                if (message := errors.get((expression.tex, expression.display))) is not None
            ]

        return diagnostics

    def check(self, cards: list[Card]) -> list[Diagnostic]:
        """Typeset the math of ``cards`` and wait: a diagnostic for each TeX error."""
        return self(cards)()

    def _send(self, jobs: list[tuple[str, bool]]) -> None:
        """Write the jobs to MathJax and close its input, before the caller goes on:
        a process forked later (the sandbox's workers) would otherwise hold the pipe
        open, and MathJax would wait for them."""
        process = self._process
        assert process is not None and process.stdin is not None
        payload = json.dumps([[tex, display] for tex, display in jobs]).encode()
        with contextlib.suppress(OSError):  # a dead process: _receive reports why
            process.stdin.write(payload)
        with contextlib.suppress(OSError):
            process.stdin.close()
        process.stdin = None

    def _receive(self, count: int) -> tuple[list[str | None], str | None]:
        """MathJax's verdict on each of ``count`` jobs, or the reason there is none."""
        process = self._process
        assert process is not None
        try:
            out, err = process.communicate(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            return [], f"MathJax took longer than {TIMEOUT_SECONDS} s"
        except OSError as exc:
            process.kill()
            return [], f"MathJax process failed: {exc}"
        if process.returncode != 0:
            lines = err.decode(errors="replace").strip().splitlines()
            reason = lines[-1] if lines else f"exit code {process.returncode}"
            return [], f"MathJax failed in Node.js: {reason}"
        try:
            verdicts = json.loads(out)
        except ValueError:
            return [], "MathJax's answer was not JSON"
        if not isinstance(verdicts, list) or len(verdicts) != count:
            return [], "MathJax's answer did not match the expressions sent"
        if not all(v is None or isinstance(v, str) for v in verdicts):
            return [], "MathJax's answer held something other than messages"
        return verdicts, None

    def _not_validated(self, reason: str) -> Diagnostic:
        severity = Severity.ERROR if self.strict else Severity.WARNING
        strict = " (--strict)" if self.strict else ""
        loc = SourceLoc(self.notes_dir.as_posix(), 0)
        return Diagnostic(loc, f"TeX not validated{strict}: {reason}; {INSTALL_HINT}", severity)

    def close(self) -> None:
        """Stop the Node process if it still runs (nothing to typeset, or an error)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        if self._worker is not None:
            self._worker.join()  # it reads what is left and reaps the process
        else:
            process.communicate()
