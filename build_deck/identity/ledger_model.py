"""Identity stage: what the card ledger holds in memory.

- :class:`Entry`: one card, enough to recognise it when it moves or is reworded;
- :class:`NoteTypeEntry`: when one note type last changed;
- :class:`Ledger`: all of them, with what was read of each file.

The files they are read from and written to are :mod:`.ledger_format`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Entry:
    """One card in the ledger: enough to recognise it when it moves or is reworded."""

    guid: str
    """The Anki GUID: never changes once given."""
    file: str
    """Its notes file, relative to the notes folder (``nlp.md``)."""
    section: str
    """Heading path where it was last seen, ``A > B``."""
    deck: str
    """Deck it was last written to."""
    kind: str
    """``qa`` or ``cloze``."""
    content_hash: str
    """Hash of what the card says (matching by identical content)."""
    note_hash: str
    """Hash of everything written into the note (fields and tags)."""
    mtime: int
    """When the note last changed, seconds since the epoch; never goes backwards."""
    text: str
    """Its prompt when last built (shortened): names it, and rewording is measured on it."""
    answer: str
    """Its answer when last built (shortened; empty for clozes)."""
    clozes: tuple[tuple[str, int], ...] = ()
    """Shorthand deletions ``{{text}}`` and the number each was given, remembered."""
    cloze_max: int = 0
    """The highest cloze number the card ever used: new deletions take the next."""
    removed: int = 0
    """0 while the card exists; else when it disappeared from the notes (a tombstone)."""


@dataclass(frozen=True, slots=True)
class NoteTypeEntry:
    """When one note type last changed."""

    name: str
    """The note type's name."""
    model_id: int
    """Its Anki id."""
    fingerprint: str
    """Hash of its fields, templates and CSS."""
    mtime: int
    """When that hash last changed."""


@dataclass(slots=True)
class Ledger:
    """The whole ledger in memory."""

    entries: dict[str, Entry] = field(default_factory=dict)
    """Every entry, live or removed, by GUID."""
    notetypes: dict[str, NoteTypeEntry] = field(default_factory=dict)
    """Note type entries by name."""
    digests: dict[str, str] = field(default_factory=dict, compare=False)
    """A hash of each version 2 file as read (relative to ``cards/``): what a build
    compares its new text with."""
    lines: dict[str, str] = field(default_factory=dict, compare=False)
    """The line each entry was read from, by GUID: written again as it is while the
    entry is unchanged."""
