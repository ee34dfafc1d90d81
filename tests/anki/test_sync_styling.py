"""`build-deck sync` keeps the student's CSS, templates and fields of its note types."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_deck.anki import notetypes
from build_deck.anki.notetypes import card_css
from build_deck.anki.styling import merge_lines
from tests.anki.syncing import NOTES, note_by_front, opened, sync, sync_ok
from tests.conftest import Project

MINE = ".card { font-size: 28px; }\n"
CONTEXT = ".context { font-size: 0.7em; color: #6e6e73; margin-bottom: 0.8em; }"
SOURCE = ".source { font-size: 0.6em; color: #8e8e93; margin-top: 1.2em;"


def test_merge_lines_takes_each_sides_own_changes_and_finds_conflicts() -> None:
    base = "a\nb\nc\nd\ne\n"
    ours = "a\nB\nc\nd\ne\n"  # build-deck changed b
    theirs = "a\nb\nc\nD\ne\nf\n"  # the student changed d and added f
    assert merge_lines(base, ours, theirs) == ("a\nB\nc\nD\ne\nf\n",) * 2 + (False,)
    assert merge_lines(base, base, theirs) == (theirs, theirs, False)
    assert merge_lines(base, ours, base) == (ours, ours, False)
    clash = "a\nb2\nc\nd\ne\n"
    assert merge_lines(base, ours, clash) == (ours, clash, True)
    assert merge_lines(base, ours, ours) == (ours, ours, False)


def build_css(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, css: str) -> None:
    """Make build-deck's own CSS ``css`` for the rest of the test."""
    monkeypatch.setattr(notetypes, "_CARD_CSS", css)
    card_css.cache_clear()
    request.addfinalizer(card_css.cache_clear)


def test_the_students_css_templates_and_field_are_kept_and_merged(
    project: Project,
    col_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        models = col.models
        qa = models.by_name("build_deck Q/A")
        assert qa is not None and CONTEXT in qa["css"]
        qa["css"] = qa["css"].replace(CONTEXT, CONTEXT.replace("#6e6e73", "#aa0000")) + MINE
        qa["tmpls"][0]["qfmt"] += '\n<div class="mine">{{Mnemonic}}</div>'
        models.add_field(qa, models.new_field("Mnemonic"))
        models.update_dict(qa)
        note = col.get_note(note_by_front(col, "optimizer.step()"))  # type: ignore[arg-type]
        note["Mnemonic"] = "step = stride"
        col.update_note(note)
        mine = col.models.by_name("build_deck Q/A")
        assert mine is not None
        student_css, student_front = mine["css"], mine["tmpls"][0]["qfmt"]

    # Nothing changed in build-deck's note types: the student's are left alone.
    project.write("ml.md", NOTES.replace("from their gradients.", "from the gradients."))
    out = sync_ok(project, col_path, capsys)
    assert "note type" not in out and "update: notes/ml.md:5: fields Back" in out
    with opened(col_path) as col:
        qa = col.models.by_name("build_deck Q/A")
        assert qa is not None
        assert (qa["css"], qa["tmpls"][0]["qfmt"]) == (student_css, student_front)
        note = col.get_note(note_by_front(col, "optimizer.step()"))  # type: ignore[arg-type]
        assert note["Mnemonic"] == "step = stride"
        assert note["Back"] == "It updates the parameters from the gradients."
        card = note.cards()[0]
        assert "step = stride" in card.question() and "#aa0000" in card.question()

    # build-deck changes another line of its CSS: merged, the student's edits kept.
    original = notetypes._CARD_CSS
    build_css(monkeypatch, request, original.replace("color: #8e8e93", "color: #777777"))
    out = sync_ok(project, col_path, capsys)
    assert (
        "note type: update templates and CSS of build_deck Q/A, keeping your edits to its "
        "CSS, front template" in out
    )
    assert "note type: update templates and CSS of build_deck Cloze\n" in out
    with opened(col_path) as col:
        qa = col.models.by_name("build_deck Q/A")
        assert qa is not None
        assert "color: #777777" in qa["css"] and "#aa0000" in qa["css"]
        assert qa["css"].endswith(MINE) and qa["tmpls"][0]["qfmt"] == student_front
        assert [f["name"] for f in qa["flds"]][-1] == "Mnemonic"
    assert "nothing to do" in sync_ok(project, col_path, capsys)

    # build-deck changes the line the student changed: a conflict, left alone...
    build_css(monkeypatch, request, original.replace("color: #6e6e73", "color: #555555"))
    code, out = sync(project, col_path, capsys)
    assert code == 1
    assert (
        "note type build_deck Q/A: error: conflict: its CSS was edited in Anki, and "
        "build-deck changed the same lines; left as it is: --theirs keeps your version, "
        "--ours takes build-deck's there" in out
    )
    with opened(col_path) as col:
        qa = col.models.by_name("build_deck Q/A")
        assert qa is not None and "#aa0000" in qa["css"] and "#555555" not in qa["css"]
    # ...until --ours takes build-deck's line there, and keeps the student's others.
    sync_ok(project, col_path, capsys, "--ours")
    with opened(col_path) as col:
        qa = col.models.by_name("build_deck Q/A")
        assert qa is not None and "#555555" in qa["css"] and "#aa0000" not in qa["css"]
        assert qa["css"].endswith(MINE) and qa["tmpls"][0]["qfmt"] == student_front
    assert "nothing to do" in sync_ok(project, col_path, capsys)


def test_a_field_of_the_students_that_a_change_of_note_type_would_drop_is_a_conflict(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        qa = col.models.by_name("build_deck Q/A")
        assert qa is not None
        col.models.add_field(qa, col.models.new_field("Mnemonic"))
        col.models.update_dict(qa)
        note = col.get_note(note_by_front(col, "Which rate"))  # type: ignore[arg-type]
        note["Mnemonic"] = "rate = pace"
        col.update_note(note)
    project.write(
        "ml.md",
        NOTES.replace(
            "Q: Which rate scales each step?\nA: The learning rate.",
            "The {{c1::learning rate}} scales each {{c2::step}}.",
        ),
    )
    code, out = sync(project, col_path, capsys, "--allow-removals")
    assert code == 1
    assert (
        "notes/ml.md:11: error: conflict: the note's field Mnemonic (yours) has no place in "
        "build_deck Cloze, so changing its note type would lose it" in out
    )
    with opened(col_path) as col:
        assert col.get_note(note_by_front(col, "Which rate"))["Mnemonic"] == "rate = pace"  # type: ignore[arg-type]
