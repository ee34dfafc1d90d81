"""`build-deck pull --apply` writes exactly the edited paragraph, and sync then agrees."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.anki.syncing import edit_in_anki, note_by_front, opened, pull, sync_ok
from tests.conftest import Project

TIGHT = """\
# Arithmetic

Q: What is 2 + 3?
A: It is **5**.
```check
answer = 2 + 3
```

The {{c1::softmax}} turns logits into probabilities.
# Python

Q: What does Python call to set up a new object?
A: The constructor.
"""


def test_apply_keeps_a_tight_check_block_and_heading_and_escapes_markdown(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("tight.md", TIGHT)
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        answer = col.get_note(note_by_front(col, "2 + 3"))  # type: ignore[arg-type]
        assert answer["Verified"].startswith("verified")
        answer["Back"] = "It is <b>5</b>, of course."
        col.update_note(answer)
        (cloze_id,) = col.find_notes('"Text:*softmax*"')
        cloze = col.get_note(cloze_id)
        cloze["Text"] = "The {{c1::softmax}} turns <i>logits</i> into probabilities."
        col.update_note(cloze)
        edit_in_anki(
            col, "set up a new object", "Back", "Its __init__ method, after __new__ made it."
        )

    out = pull(project, col_path, capsys, "--apply")
    assert "applied 3 of 3 fields edited in Anki to notes/tight.md" in out, out
    assert (project.notes / "tight.md").read_text(encoding="utf-8") == (
        TIGHT.replace("A: It is **5**.", "A: It is **5**, of course.")
        .replace("turns logits", "turns *logits*")
        .replace("A: The constructor.", r"A: Its \_\_init\_\_ method, after \_\_new\_\_ made it.")
    )
    out = sync_ok(project, col_path, capsys)
    assert "nothing to do" in out, out
    with opened(col_path) as col:
        answer = col.get_note(note_by_front(col, "2 + 3"))  # type: ignore[arg-type]
        assert answer["Verified"].startswith("verified")
        python = col.get_note(note_by_front(col, "set up a new object"))  # type: ignore[arg-type]
        assert python["Back"] == "Its __init__ method, after __new__ made it."
        decks = {col.decks.name(c.did) for c in (col.get_card(i) for i in col.find_cards(""))}
        assert decks == {"AI Study Notes::Arithmetic", "AI Study Notes::Python"}


def test_apply_keeps_crlf_endings_and_refuses_an_emptied_field(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "# Losses\r\n\r\nQ: Which loss for classes?\r\nA: Cross-entropy.\r\n\r\n"
    text += "Q: Which loss for values?\r\nA: Squared error.\r\n"
    path = project.notes / "losses.md"
    path.write_bytes(text.encode())
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        edit_in_anki(col, "for classes", "Back", "Cross-entropy (log loss).")
        edit_in_anki(col, "for values", "Back", "")

    out = pull(project, col_path, capsys, "--apply")
    assert (
        "notes/losses.md:6: Back edited in Anki\n"
        "  it is empty in Anki, and an empty Back does not build: not applied; delete "
        "the card from the notes if that is what you meant" in out
    ), out
    assert "applied 1 of 2 fields edited in Anki to notes/losses.md" in out
    assert path.read_bytes() == text.replace("Cross-entropy.", "Cross-entropy (log loss).").encode()


BLOCKS = """\
# Losses

Q: Which loss for classes?
A: Cross-entropy.

Q: Which loss for values?
A: Squared error.

Q: Which loss for ranks?
A: Hinge.
"""


def test_apply_writes_block_markup_of_an_anki_field_only_as_text(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A field holding the notes' own block syntax (a card, a heading, a check fence,
    a comment, a thematic break) never adds blocks to the notes: several paragraphs are
    refused, and one paragraph is written with its line starts escaped."""
    path = project.notes / "losses.md"
    path.write_text(BLOCKS, encoding="utf-8")
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        classes = col.get_note(note_by_front(col, "for classes"))  # type: ignore[arg-type]
        classes["Back"] = "<p>Fine.</p><p>Q: injected?</p><p># Heading</p><p>~~~check</p>"
        col.update_note(classes)
        values = col.get_note(note_by_front(col, "for values"))  # type: ignore[arg-type]
        values["Back"] = "Squared error.<br>Q: injected?<br>A: yes<br>---<br>%% hidden"
        col.update_note(values)

    out = pull(project, col_path, capsys, "--apply")
    assert "notes/losses.md:3: Back edited in Anki\n  it is more than one paragraph" in out, out
    assert "applied 1 of 2 fields edited in Anki to notes/losses.md" in out, out
    assert path.read_text(encoding="utf-8") == BLOCKS.replace(
        "A: Squared error.\n",
        "A: Squared error.\\\nQ\\: injected?\\\nA\\: yes\\\n\\---\\\n\\%% hidden\n",
    )
    out = sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        assert len(col.find_notes("")) == 3  # no card was injected
        values = col.get_note(note_by_front(col, "for values"))  # type: ignore[arg-type]
        lines = ["Squared error.", "Q: injected?", "A: yes", "---", "%% hidden"]
        assert values["Back"] == "<br />\n".join(lines)


def test_a_replacement_that_would_change_another_card_is_recognised(tmp_path: Path) -> None:
    """The last guard of ``--apply``: whatever got past the escaping, a write that would
    change the notes outside its field (here a line read as a new card) is refused."""
    from build_deck.anki.notes_file import NotesFile, Span
    from build_deck.anki.pull import _moves_other_text

    path = tmp_path / "losses.md"
    path.write_text(BLOCKS, encoding="utf-8")
    file = NotesFile(path)
    answer = Span(3, 4, "A: ")
    assert not _moves_other_text(file, answer, ["A: Cross-entropy, or log loss."], 3)
    assert _moves_other_text(file, answer, ["A: Cross-entropy.", "", "Q: New?", "A: Yes."], 3)
    assert _moves_other_text(file, answer, ["A: Cross-entropy.", "# Heading"], 3)
