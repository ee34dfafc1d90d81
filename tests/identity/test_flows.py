"""What a semester does to the notes, tried with git and a real Anki collection.

Each test: build, import, review every card through the scheduler, tag every note in
Anki, edit the notes with git as a user does, rebuild, re-import with the default
options; then every reviewed card shows what it showed, with all its reviews, and no
note is duplicated or stale.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from anki.collection import Collection

from build_deck.cli import main
from tests.conftest import ledger_snapshot
from tests.flows import ML, NLP, STATS, Semester, git


@pytest.fixture
def semester(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collection: Collection
) -> Iterator[Semester]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # set by each build
    semester = Semester(tmp_path, collection)
    semester.start({"nlp.md": NLP, "ml.md": ML, "stats.md": STATS})
    yield semester


def rebuild_and_import(semester: Semester, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert semester.build() == 0
    out = capsys.readouterr().out
    semester.import_deck()
    return out


def test_git_mv_of_a_notes_file_keeps_every_card(
    semester: Semester, capsys: pytest.CaptureFixture[str]
) -> None:
    git(semester.root, "mv", "notes/nlp.md", "notes/language.md")
    out = rebuild_and_import(semester, capsys)
    assert "+0 new, 0 changed, 6 moved, 0 restored, 0 removed" in out
    assert "moved: notes/language.md:5: from nlp.md: Why do language models" in out
    semester.assert_history_kept()
    # Only the Source field would change: Anki keeps the notes, with the student's tags.
    marked = semester.col.find_notes("tag:marked")
    assert len(marked) == semester.col.note_count() == 13


def test_a_section_moved_to_another_file_keeps_its_cards(
    semester: Semester, capsys: pytest.CaptureFixture[str]
) -> None:
    nlp = semester.read("nlp.md")
    section = nlp[nlp.index("## Attention") :]
    semester.write("nlp.md", nlp.replace(section, ""))
    semester.write("ml.md", semester.read("ml.md") + "\n" + section)
    out = rebuild_and_import(semester, capsys)
    assert "+0 new, 0 changed, 3 moved, 0 restored, 0 removed" in out
    semester.assert_history_kept()


def test_a_shorthand_deletion_inserted_before_others_keeps_their_numbers(
    semester: Semester, capsys: pytest.CaptureFixture[str]
) -> None:
    semester.write(
        "nlp.md",
        semester.read("nlp.md").replace(
            "Byte-pair encoding merges", "Starting from {{single bytes}}, byte-pair encoding merges"
        ),
    )
    out = rebuild_and_import(semester, capsys)
    assert "+0 new, 1 changed, 0 moved, 0 restored, 0 removed" in out
    semester.assert_history_kept()  # per card: each shows the same deletion as before
    note = semester.col.get_note(semester.col.find_notes('"Text:*byte-pair*"')[0])
    assert "{{c3::single bytes}}" in note["Text"]
    assert "{{c1::most frequent}}" in note["Text"]
    assert "{{c2::adjacent symbols}}" in note["Text"]

    # Removing a deletion keeps the others' numbers and says how to clean up.
    semester.write("nlp.md", semester.read("nlp.md").replace("{{most frequent}}", "most frequent"))
    capsys.readouterr()
    assert semester.build() == 0
    err = capsys.readouterr().err
    assert "deletion c1 was removed: Anki keeps its card, now empty" in err
    assert "Tools > Empty Cards" in err


def test_a_card_deleted_then_pasted_back_gets_its_identity_back(
    semester: Semester, capsys: pytest.CaptureFixture[str]
) -> None:
    card = "Q: What is precision?\nA: The share of predicted positives that are right.\n"
    semester.write("ml.md", semester.read("ml.md").replace(card, ""))
    out = rebuild_and_import(semester, capsys)
    assert "0 restored, 1 removed" in out
    semester.commit("drop a card")
    semester.write("ml.md", semester.read("ml.md") + "\n" + card)
    out = rebuild_and_import(semester, capsys)
    assert "+0 new, 0 changed, 0 moved, 1 restored, 0 removed" in out
    semester.assert_history_kept()


def add_card(semester: Semester, name: str, card: str) -> None:
    semester.write(name, semester.read(name) + "\n" + card)


def test_two_branches_adding_cards_to_one_file_merge_without_conflict(
    semester: Semester, capsys: pytest.CaptureFixture[str]
) -> None:
    root = semester.root
    git(root, "checkout", "-q", "-b", "other")
    semester.write(
        "ml.md",
        semester.read("ml.md").replace(
            "## Metrics", "Q: What is an epoch?\nA: One pass over the training data.\n\n## Metrics"
        ),
    )
    assert semester.build() == 0
    semester.commit("epoch card")
    git(root, "checkout", "-q", "main")
    add_card(semester, "ml.md", "Q: What is the F1 score?\nA: The harmonic mean of both.\n")
    assert semester.build() == 0
    semester.commit("f1 card")
    merged = git(root, "merge", "-q", "--no-edit", "other", check=False)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    ledger = ledger_snapshot(root / "cards")
    assert semester.build("--locked") == 0  # both branches' identities, nothing to change
    assert ledger_snapshot(root / "cards") == ledger
    semester.import_deck()
    semester.assert_history_kept()
    assert semester.col.note_count() == 15


def test_a_card_edited_in_anki_keeps_the_edit_when_cards_are_inserted_above_it(
    semester: Semester, capsys: pytest.CaptureFixture[str]
) -> None:
    (nid,) = semester.col.find_notes('"Front:What is recall?"')
    note = semester.col.get_note(nid)
    note["Extra"] = "my own mnemonic"
    semester.col.update_note(note)
    semester.write(
        "ml.md",
        semester.read("ml.md").replace(
            "## Training\n",
            "## Training\n\nQ: What is a loss function?\nA: What training minimises.\n",
        ),
    )
    out = rebuild_and_import(semester, capsys)
    assert "+1 new, 0 changed, 0 moved, 0 restored, 0 removed" in out
    semester.assert_history_kept()
    note = semester.col.get_note(nid)
    assert note["Extra"] == "my own mnemonic" and "marked" in note.tags


def test_a_reverted_rewording_reaches_anki(
    semester: Semester, capsys: pytest.CaptureFixture[str]
) -> None:
    old = "A: The share of actual positives that the model finds."
    new = "A: The fraction of actual positives that the model finds."
    semester.write("ml.md", semester.read("ml.md").replace(old, new))
    rebuild_and_import(semester, capsys)
    semester.commit("reword recall")
    git(semester.root, "revert", "--no-edit", "HEAD")
    out = rebuild_and_import(semester, capsys)
    assert "0 changed" in out  # the ledger is back too: but Anki holds the newer wording
    (nid,) = semester.col.find_notes('"Front:What is recall?"')
    assert semester.col.get_note(nid)["Back"] == old.removeprefix("A: ")
    semester.assert_history_kept(touched=("What is recall?",))


def test_a_conflicted_ledger_is_an_error_and_resolve_keeps_both_sides(
    semester: Semester, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = next(
        p
        for p in sorted((semester.root / "cards" / "ledger").iterdir())
        if len(p.read_text().splitlines()) > 2
    )
    lines = bucket.read_text().splitlines(keepends=True)
    theirs = lines[1]
    ours = theirs.replace('"removed": 0', '"removed": 5')
    bucket.write_text(
        "".join(
            [lines[0], "<<<<<<< HEAD\n", ours, "=======\n", theirs, ">>>>>>> other\n", *lines[2:]]
        )
    )
    capsys.readouterr()
    assert semester.build() == 1
    err = capsys.readouterr().err
    shown = f"cards/ledger/{bucket.name}:2: error: the card ledger holds a git merge conflict"
    assert shown in err and "build-deck ledger resolve" in err
    assert main(["ledger", "resolve"]) == 0
    assert semester.build() == 0
    semester.import_deck()
    semester.assert_history_kept()
