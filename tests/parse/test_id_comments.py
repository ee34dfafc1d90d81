"""The note-ID comments of Obsidian_to_Anki and inka2: read as hints, never on a card."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_deck.model import SourceLoc
from build_deck.parse.extract import extract_cards
from build_deck.parse.id_comments import hinted_cards, id_comments
from build_deck.parse.markdown import make_parser

NOTES = """\
# Cells

Q: Which organelle makes ATP?
A: The mitochondrion.
<!--ID: 1566052191670-->

<!--ID:1596371227545-->
Q: What do ribosomes make?
A: Proteins.

The membrane is a {{c1::lipid bilayer}}.
<!-- ID: 1566052191671 -->

Q: Inline? <!--ID: 77-->
A: Yes.

<!-- a comment of the student's own stays -->
Q: Last?
A: Yes, last.
"""


def test_id_comments_are_never_on_a_card(tmp_path: Path) -> None:
    md = make_parser()
    cards, problems = extract_cards(md, NOTES, "notes/bio.md", tmp_path, "Root")
    assert problems == []
    fields = [f for card in cards for f in (card.content, card.back, card.extra)]
    assert not any("ID:" in f for f in fields), fields
    assert [card.back for card in cards if card.back][:2] == ["The mitochondrion.", "Proteins."]
    assert (cards[3].content, cards[4].back) == ("Inline?", "Yes, last.")
    assert "a comment of the student's own stays" in cards[3].back  # only ID comments go
    assert id_comments(md, NOTES) == [
        (5, 1566052191670),
        (7, 1596371227545),
        (12, 1566052191671),
        (14, 77),
    ]


def test_each_id_comment_names_the_card_its_tool_wrote_it_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "bio.md").write_text(NOTES, encoding="utf-8")
    md = make_parser()
    cards, _ = extract_cards(md, NOTES, "notes/bio.md", tmp_path / "notes", "Root")
    assert hinted_cards(md, cards) == {
        SourceLoc("notes/bio.md", 3): 1566052191670,  # Obsidian_to_Anki: after the card
        SourceLoc("notes/bio.md", 8): 1596371227545,  # inka2: on the line before it
        SourceLoc("notes/bio.md", 11): 1566052191671,
        SourceLoc("notes/bio.md", 14): 77,  # at the end of the card's line
    }
