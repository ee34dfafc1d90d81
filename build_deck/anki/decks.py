"""Anki stage: which Anki deck holds each deck of the notes, following the student's renames.

The notes name their decks (``AI Study Notes::Machine Learning``); in Anki the student may
rename the root deck (to ``Exam::AI Study Notes``) or a subdeck (to ``ML``), or move it
under another deck. The sync record remembers, for each deck of the notes below the
root (``Machine Learning``; ``""`` for the root itself), the id of the Anki deck that
held it at the last sync. :class:`DeckMap` gives the Anki deck to use now: the
remembered deck under its current name, or, for a deck the notes just made, the new
deck under its nearest remembered parent, or else the notes' own name.
"""

from __future__ import annotations

from collections.abc import Iterable


def relative_deck(deck: str, root: str) -> str:
    """``deck`` below the root deck: ``""`` for the root itself."""
    if deck == root:
        return ""
    prefix = root + "::"
    return deck[len(prefix) :] if deck.startswith(prefix) else deck


def deck_prefixes(relative: str) -> list[str]:
    """A relative deck and every deck above it, the root (``""``) first."""
    parts = relative.split("::") if relative else []
    return ["::".join(parts[:k]) for k in range(len(parts) + 1)]


class DeckMap:
    """Decks of the notes -> the Anki decks that hold them now."""

    def __init__(self, root: str, remembered: dict[str, int], names: dict[int, str]) -> None:
        self.root = root
        """The root deck the notes name."""
        self.remembered = remembered
        """Relative deck -> Anki deck id, from the sync record."""
        self.names = names
        """Anki deck id -> its current name, for every deck of the collection."""

    def resolve(self, relative: str) -> str:
        """The full name of the Anki deck for ``relative`` (which may not exist yet)."""
        parts = relative.split("::") if relative else []
        for k in range(len(parts), -1, -1):
            deck_id = self.remembered.get("::".join(parts[:k]))
            if deck_id is not None and deck_id in self.names:
                return "::".join([self.names[deck_id], *parts[k:]])
        return "::".join([self.root, *parts])

    def resolve_all(self, relatives: Iterable[str]) -> dict[str, str]:
        """Each relative deck and the decks above it -> the Anki deck's full name."""
        return {
            prefix: self.resolve(prefix)
            for relative in relatives
            for prefix in deck_prefixes(relative)
        }
