"""Characters that show as nothing never reach Anki's tags and deck names: they are
dropped from headings and front matter, with a warning at the line that holds them."""

from __future__ import annotations

import pytest
from anki.collection import Collection

from tests.conftest import Project, import_package

ZWSP, ZWNJ, ZWJ, BOM = "\u200b", "\u200c", "\u200d", "\ufeff"
LRM, RLM, RLO, PDF, RLI, PDI = "\u200e", "\u200f", "\u202e", "\u202c", "\u2067", "\u2069"

NOTES = f"""\
# Mathe{ZWSP}matics

## Back{ZWNJ}propagation #back{ZWJ}prop

Q: What does backpropagation compute?
A: The gradient of the loss.

## Softmax {RLO}#softmax{PDF} #{BOM}probability{LRM}

Q: What does softmax return?
A: A probability distribution.

## Attention {RLI}#attention{PDI}{RLM}

Q: What scales the dot products?
A: $1/\\sqrt{{d_k}}$.
"""

FRONT_MATTER = f"""\
---
deck: Lin{ZWSP}ear Algebra
tags: [exam{BOM}-2026, matrices]
---
# Rank

Q: What is the rank of the identity matrix of size $n$?
A: $n$.
"""


def test_dropped_from_tags_and_decks_with_a_warning(
    project: Project, collection: Collection, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("maths.md", NOTES)
    project.write("linear.md", FRONT_MATTER)
    assert project.run("build") == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if ": warning: " in line]
    assert warnings == [
        "notes/linear.md:2: warning: invisible characters U+200B (ZERO WIDTH SPACE), "
        "U+FEFF (ZERO WIDTH NO-BREAK SPACE) in the front matter: dropped from its deck and "
        "tags; delete them from the file",
        "notes/maths.md:1: warning: invisible character U+200B (ZERO WIDTH SPACE) in a heading: "
        "dropped from its deck, tags and breadcrumb; delete it from the file",
        "notes/maths.md:3: warning: invisible characters U+200C (ZERO WIDTH NON-JOINER), "
        "U+200D (ZERO WIDTH JOINER) in a heading: dropped from its deck, tags and breadcrumb; "
        "delete them from the file",
        "notes/maths.md:8: warning: invisible characters U+200E (LEFT-TO-RIGHT MARK), "
        "U+202C (POP DIRECTIONAL FORMATTING), U+202E (RIGHT-TO-LEFT OVERRIDE), "
        "U+FEFF (ZERO WIDTH NO-BREAK SPACE) in a heading: dropped from its deck, tags and "
        "breadcrumb; delete them from the file",
        "notes/maths.md:13: warning: invisible characters U+200F (RIGHT-TO-LEFT MARK), "
        "U+2067 (RIGHT-TO-LEFT ISOLATE), U+2069 (POP DIRECTIONAL ISOLATE) in a heading: "
        "dropped from its deck, tags and breadcrumb; delete them from the file",
    ]
    assert project.run("build") == 0  # from the build cache: the same warnings
    again = [line for line in capsys.readouterr().err.splitlines() if ": warning: " in line]
    assert again == warnings

    import_package(collection, project.apkg)
    tags = set(collection.tags.all())
    assert tags == {
        "Mathematics::Backpropagation",
        "Mathematics::Softmax",
        "Mathematics::Attention",
        "Rank",
        "backprop",
        "softmax",
        "probability",
        "attention",
        "exam-2026",
        "matrices",
    }
    decks = {d.name for d in collection.decks.all_names_and_ids()}
    assert {"AI Study Notes::Mathematics", "AI Study Notes::Linear Algebra"} <= decks
    for cid in collection.find_cards(""):
        card = collection.get_card(cid)
        note = card.note()
        for text in (*note.tags, note["Context"], collection.decks.name(card.did)):
            assert not any(c in text for c in ZWSP + ZWNJ + ZWJ + BOM + LRM + RLM + RLO + RLI)


def test_clean_notes_give_no_warning(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write("plain.md", "# Mathematics\n\n## Softmax #softmax\n\nQ: Sum?\nA: One.\n")
    assert project.run("build") == 0
    assert capsys.readouterr().err == ""
