"""`build-deck sync` keeps the student's CSS, templates and fields of its note types."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from build_deck.anki import notetypes, styling
from build_deck.anki.notetypes import card_css
from build_deck.anki.styling import Styling, dump_bases, load_bases, merge_lines
from tests.anki.syncing import NOTES, edit_in_anki, note_by_front, opened, sync, sync_ok
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
        edit_in_anki(col, "optimizer.step()", "Mnemonic", "step = stride")
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
        edit_in_anki(col, "Which rate", "Mnemonic", "rate = pace")
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


REVERSED_NOTES = NOTES + "\nQ (reversed): la pomme\nA: the apple\n"


def build_second_template(monkeypatch: pytest.MonkeyPatch, front: str, back: str) -> None:
    """Make build-deck's own second template of the reversed note type ``front``/``back``."""
    changed = replace(notetypes.REVERSED, more_templates=(("Card 2", front, back),))
    monkeypatch.setattr(
        styling,
        "NOTE_TYPES",
        tuple(changed if nt is notetypes.REVERSED else nt for nt in notetypes.NOTE_TYPES),
    )


def test_the_students_edits_to_a_second_template_are_kept_and_merged(
    project: Project,
    col_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    project.write("ml.md", REVERSED_NOTES)
    sync_ok(project, col_path, capsys)
    (name, our_front, our_back) = notetypes.REVERSED.more_templates[0]
    answer = '<div class="answer">{{Front}}</div>'
    with opened(col_path) as col:
        reversed_type = col.models.by_name("build_deck Q/A reversed")
        assert reversed_type is not None and len(reversed_type["tmpls"]) == 2
        second = reversed_type["tmpls"][1]
        assert (second["qfmt"], second["afmt"]) == (our_front, our_back)
        second["qfmt"] += '\n<div class="mine">think in French</div>'
        second["afmt"] = second["afmt"].replace(answer, answer.replace("answer", "answer big"))
        col.models.update_dict(reversed_type)
        student_front, student_back = second["qfmt"], second["afmt"]

    # build-deck changes its CSS: written, and the second template stays the student's.
    original = notetypes._CARD_CSS
    build_css(monkeypatch, request, original.replace("color: #8e8e93", "color: #777777"))
    out = sync_ok(project, col_path, capsys)
    assert (
        "note type: update templates and CSS of build_deck Q/A reversed, keeping your edits "
        f"to its front template of {name}, back template of {name}" in out
    )
    with opened(col_path) as col:
        reversed_type = col.models.by_name("build_deck Q/A reversed")
        assert reversed_type is not None and "color: #777777" in reversed_type["css"]
        second = reversed_type["tmpls"][1]
        assert (second["qfmt"], second["afmt"]) == (student_front, student_back)
        (note_id,) = col.find_notes('"note:build_deck Q/A reversed"')
        card = next(c for c in col.get_note(note_id).cards() if c.ord == 1)
        assert "think in French" in card.question() and "answer big" in card.answer()
    assert "nothing to do" in sync_ok(project, col_path, capsys)

    # build-deck changes another line of its second template: merged with the student's.
    source = '<div class="source">{{Source}}</div>'
    new_back = our_back.replace(source, source.replace("{{Source}}", "from {{Source}}"))
    build_second_template(monkeypatch, our_front, new_back)
    out = sync_ok(project, col_path, capsys)
    assert (
        "note type: update templates and CSS of build_deck Q/A reversed, keeping your edits "
        f"to its front template of {name}, back template of {name}" in out
    )
    with opened(col_path) as col:
        reversed_type = col.models.by_name("build_deck Q/A reversed")
        assert reversed_type is not None
        first, second = reversed_type["tmpls"]
        assert (first["qfmt"], first["afmt"]) == (notetypes.REVERSED.front, notetypes.REVERSED.back)
        assert second["qfmt"] == student_front
        assert second["afmt"] == student_back.replace(source, source.replace("{{S", "from {{S"))
    assert "nothing to do" in sync_ok(project, col_path, capsys)

    # build-deck changes the line the student changed: a conflict named by its template.
    build_second_template(monkeypatch, our_front, our_back.replace(answer, answer + " "))
    code, out = sync(project, col_path, capsys)
    assert code == 1
    assert (
        "note type build_deck Q/A reversed: error: conflict: its back template of "
        f"{name} was edited in Anki" in out
    )


def collection_notetype(note_type: notetypes.NoteType, found: Styling) -> dict[str, Any]:
    """A note type as the collection holds it, with the styling ``found``."""
    return {
        "name": note_type.name,
        "flds": [{"name": name} for name in note_type.fields],
        "css": found.css,
        "tmpls": [{"qfmt": front, "afmt": back} for front, back in found.templates],
    }


def test_a_template_the_student_deleted_stays_deleted_and_one_build_deck_adds_is_added(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reversed_type = notetypes.REVERSED
    ours = Styling.of(reversed_type)
    first_only = Styling(ours.css, ours.templates[:1])
    present = {nt.model_id: collection_notetype(nt, Styling.of(nt)) for nt in notetypes.NOTE_TYPES}
    bases = {nt.model_id: Styling.of(nt) for nt in notetypes.NOTE_TYPES}
    # The student deleted the second card's template; build-deck changes its CSS.
    present[reversed_type.model_id] = collection_notetype(reversed_type, first_only)
    monkeypatch.setattr(styling, "card_css", lambda: ours.css + "b { color: red; }\n")
    plan = styling.plan_styling(present, bases, None)
    (update,) = [u for u in plan.updates if u.note_type is reversed_type]
    assert len(update.styling.templates) == 1 and update.styling.css.endswith("red; }\n")
    # build-deck adds the second template to a note type that had one: it is added.
    bases[reversed_type.model_id] = first_only
    plan = styling.plan_styling(present, bases, None)
    (update,) = [u for u in plan.updates if u.note_type is reversed_type]
    assert update.styling.templates == ours.templates


def test_bases_written_before_every_template_was_kept_still_load() -> None:
    reversed_type = notetypes.REVERSED
    front, back = reversed_type.front, reversed_type.back
    old = {
        "version": 1,
        "notetypes": {str(reversed_type.model_id): {"css": "x", "front": front, "back": back}},
    }
    (base,) = load_bases(old).values()
    assert base == Styling("x", Styling.of(reversed_type).templates)
    assert load_bases(dump_bases({1: base})) == {1: base}
