"""A note ready to be written to a package or a collection: a card and its identity.

Apart from :mod:`build_deck.anki.package`, which writes them with genanki, so that
``sync`` reads and compares notes without importing genanki.
"""

from __future__ import annotations

from dataclasses import dataclass

from build_deck.anki.notetypes import VERIFIED_TAG, VERIFIED_TEXT
from build_deck.model import Card


@dataclass(frozen=True, slots=True)
class NoteRecord:
    """A card ready to be written: its content and its identity."""

    card: Card
    """The card."""
    guid: str
    """Its stable GUID from the ledger."""
    mtime: int
    """When its content last changed, from the ledger."""
    verified: str
    """Text of the Verified field: empty unless a check recomputed the card."""
    tags: tuple[str, ...]
    """Tags to write (the card's own plus build-given ones such as ``verified``)."""
    source: str = ""
    """The Source field: where to edit the card (file and heading path, no line number,
    so that a card moving within its file changes nothing in Anki); empty: the card's
    ``file:line``."""

    @classmethod
    def of(
        cls,
        card: Card,
        *,
        verified: bool | str,
        guid: str = "",
        mtime: int = 0,
        source: str = "",
    ) -> NoteRecord:
        """The note of ``card``, with the verified mark and tag when something it shows
        was verified; ``verified`` may say what (``value recomputed``)."""
        if not verified:
            return cls(card, guid, mtime, "", card.tags, source)
        text = f"{VERIFIED_TEXT}: {verified}" if isinstance(verified, str) else VERIFIED_TEXT
        tags = tuple(sorted({*card.tags, VERIFIED_TAG}))
        return cls(card, guid, mtime, text, tags, source)

    @property
    def fields(self) -> list[str]:
        """The note's field values, in the order of its note type's fields."""
        return note_fields(self)

    @property
    def deck(self) -> str:
        """The full name of the deck the note's cards go to."""
        return self.card.deck


def note_fields(record: NoteRecord) -> list[str]:
    """The note's field values, in the order of its note type's fields."""
    card = record.card
    source = record.source or card.source
    if card.kind.is_qa:
        return [card.content, card.back, card.context, source, card.extra, record.verified]
    return [card.content, card.context, source, card.extra, record.verified]
