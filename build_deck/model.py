"""Plain data passed between the stages of the build.

notes/*.md --parse--> tokens --extract--> Card --verify--> checked Card
          --ledger--> identity (GUID, mtime) --package--> .apkg
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from build_deck.files import printable

MAX_CLOZE_NUMBER = 999
"""The highest cloze number a deletion may have (``{{c999::..}}``); each number is a
card of its own."""
VERIFIED_TAG = "verified"
"""The tag of verified cards: build-deck gives it, the notes may not."""
RESERVED_TAGS = (VERIFIED_TAG, "build-deck")
"""Tags the build gives (with those under them, ``build-deck::removed``): a notes file
may not set them, so that no card carries them that did not earn them."""


def is_reserved_tag(tag: str) -> bool:
    """True for a tag of :data:`RESERVED_TAGS` or one under it, in any case (Anki
    compares tags without case)."""
    lower = tag.lower()
    return any(lower == name or lower.startswith(f"{name}::") for name in RESERVED_TAGS)


@dataclass(frozen=True, slots=True, order=True)
class SourceLoc:
    """A place in a notes file, as the user sees it."""

    path: str
    """The file's path as shown to the user, e.g. ``notes/maths.md``."""
    line: int
    """1-based line number."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


class Severity(Enum):
    """How serious a diagnostic is: errors stop the build, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in the notes, with the place to fix it."""

    loc: SourceLoc
    """Where the problem is."""
    message: str
    """What is wrong and what to do about it."""
    severity: Severity = Severity.ERROR
    """Errors fail the build; warnings are printed only."""

    def __str__(self) -> str:
        # One line, whatever the notes hold: escape sequences and line breaks escaped.
        return printable(f"{self.loc}: {self.severity.value}: {self.message}")


class CardKind(Enum):
    """The kinds of note the deck holds."""

    QA = "qa"
    """A question and its answer (``Q:``/``A:``)."""
    CLOZE = "cloze"
    """Text with deletions, one card per number."""
    REVERSED = "reversed"
    """A question and its answer, asked both ways (``Q (reversed):``/``A:``)."""
    TYPED = "typed"
    """A question whose answer is typed in and compared (``Q (typed):``/``A:``)."""

    @property
    def is_qa(self) -> bool:
        """True for the kinds with a question and an answer (every kind but cloze)."""
        return self is not CardKind.CLOZE

    @property
    def prefix(self) -> str:
        """What starts the card's question in the notes (``""`` for a cloze)."""
        return _PREFIXES.get(self, "")


_PREFIXES = {
    CardKind.QA: "Q:",
    CardKind.REVERSED: "Q (reversed):",
    CardKind.TYPED: "Q (typed):",
}


@dataclass(frozen=True, slots=True)
class Check:
    """A ``check`` block: code that recomputes a card's value."""

    loc: SourceLoc
    """The line of the opening fence."""
    code: str
    """The block's code, run in the sandbox."""
    target: str | None
    """``cN`` when the block names the cloze deletion it checks, else None."""


@dataclass(frozen=True, slots=True)
class Card:
    """One note of the deck, with its fields rendered to HTML."""

    kind: CardKind
    """Q/A or cloze."""
    loc: SourceLoc
    """Where the card starts (its ``Q:`` line, or the cloze block's first line)."""
    deck: str
    """Full Anki deck name, ``Root::Subdeck``."""
    section: tuple[str, ...]
    """The heading path above the card, as plain text."""
    tags: tuple[str, ...]
    """Anki tags, sorted, without duplicates."""
    content: str
    """Front (Q/A) or Text (cloze), as HTML."""
    back: str
    """Back of a Q/A card as HTML; empty for clozes."""
    extra: str
    """The Extra field as HTML (``Extra:`` paragraph and cited footnotes)."""
    context: str
    """The breadcrumb shown on the card, as HTML."""
    prompt_text: str
    """The card's source text with markup stripped: names the card in reports
    and is what rewording is measured against."""
    value_source: str
    """Markdown source of the part that holds the checked value (Q/A answer or
    cloze paragraph)."""
    cloze_numbers: tuple[int, ...] = ()
    """Cloze numbers used by a cloze note (one Anki card each)."""
    deletions: tuple[tuple[int, str], ...] = ()
    """Each cloze deletion as (number, Markdown source of the hidden text)."""
    shorthand: tuple[int, ...] = ()
    """Indexes into ``deletions`` of those written as shorthand ``{{text}}``: their
    numbers are given by the ledger, which remembers them."""
    checks: tuple[Check, ...] = ()
    """Checks that belong to this card."""
    media: tuple[tuple[str, str], ...] = field(default=())
    """Images the card shows, as (name in the deck, path on disk)."""
    answer_lines: tuple[tuple[int, int], ...] = ()
    """The first and last line (1-based) of each block of a Q/A answer, in order; the
    first block starts on the card's line when the answer shares the question's
    paragraph. Empty for a cloze."""
    value_line: int = 0
    """The line of the notes file ``value_source`` starts on (0 if unknown); its lines
    follow the file's, so that a piece of it can be named by its line."""

    @property
    def source(self) -> str:
        """Where to edit this card, as the Source field shows it: the file and the heading
        path, no line number (a card moving within its file changes nothing in Anki).
        The build writes the file relative to the notes folder's parent instead."""
        where = self.loc.path
        return f"{where} › {' > '.join(self.section)}" if self.section else where
