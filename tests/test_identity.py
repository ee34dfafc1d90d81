"""Stable identities: the ledger, reproducible packages, --locked."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from build_deck.ledger import Change, FileLedger, Fingerprint, reconcile
from tests.conftest import Project

NOTES = """
# Topic

Q: What is the derivative of $\\sigma(x)$?
A: $\\sigma(x)(1 - \\sigma(x))$

The sigmoid maps to {{c1::$(0, 1)$}}.
"""


def fingerprint(
    text: str, line: int = 1, answer: str = "an answer", section: str = "S"
) -> Fingerprint:
    return Fingerprint(
        "qa", line, section, text, answer, f"h:{text}:{answer}", f"n:{text}:{answer}"
    )


def test_two_builds_are_byte_identical(project: Project) -> None:
    project.write("a.md", NOTES)
    assert project.run("build") == 0
    first = project.apkg.read_bytes()
    ledger = (project.cards / "a.yaml").read_bytes()
    assert project.run("build") == 0
    assert project.apkg.read_bytes() == first
    assert (project.cards / "a.yaml").read_bytes() == ledger


def test_same_notes_and_ledger_give_same_bytes_at_another_time(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write("a.md", NOTES)
    assert project.run("build") == 0
    first = project.apkg.read_bytes()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1900000000")
    assert project.run("build") == 0
    assert project.apkg.read_bytes() == first


def test_locked_fails_when_the_ledger_would_change(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("a.md", NOTES)
    assert project.run("build", "--locked") == 1
    assert "card ledger out of date (--locked)" in capsys.readouterr().err
    assert not project.apkg.exists()
    assert project.run("build") == 0
    assert project.run("build", "--locked") == 0
    project.write("a.md", NOTES + "\nQ: New?\nA: Yes.\n")
    assert project.run("build", "--locked") == 1


def test_reworded_card_keeps_its_guid_and_gets_a_new_mtime() -> None:
    old = reconcile(FileLedger(), [fingerprint("Why call zero_grad frist?")], "n.md", 100)
    new = reconcile(old.ledger, [fingerprint("Why call zero_grad first?")], "n.md", 200)
    assert new.entries[0].guid == old.entries[0].guid
    assert new.changes == (Change.CHANGED,)
    assert new.entries[0].mtime == 200


def test_moved_card_keeps_guid_and_unchanged_content_keeps_mtime() -> None:
    cards = [fingerprint("First?", 1), fingerprint("Second?", 5)]
    old = reconcile(FileLedger(), cards, "n.md", 100)
    moved = [fingerprint("Second?", 1), fingerprint("First?", 9)]
    new = reconcile(old.ledger, moved, "n.md", 200)
    assert [e.guid for e in new.entries] == [old.entries[1].guid, old.entries[0].guid]
    assert [e.mtime for e in new.entries] == [100, 100]
    assert new.changes == (Change.UNCHANGED, Change.UNCHANGED)


def test_different_card_is_new_and_old_one_removed() -> None:
    old = reconcile(
        FileLedger(), [fingerprint("What does optimizer.step() do?", answer="updates")], "n.md", 1
    )
    new = reconcile(
        old.ledger,
        [fingerprint("What does model.eval() change?", answer="dropout and batch norm")],
        "n.md",
        2,
    )
    assert new.changes == (Change.NEW,)
    assert [e.text for e in new.removed] == ["What does optimizer.step() do?"]
    assert new.entries[0].guid != old.entries[0].guid
    assert new.ledger.next_serial == 3  # serials are never reused


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    st.text(alphabet="abcdefghij klmnop", min_size=20, max_size=80),
    st.integers(min_value=0, max_value=79),
    st.sampled_from(["", "x", "yz"]),
)
def test_identity_survives_a_small_edit(text: str, at: int, insert: str) -> None:
    at = min(at, len(text))
    edited = text[:at] + insert + text[at + 1 :]
    others = [fingerprint("A quite different question about eigenvalues", 30)]
    old = reconcile(FileLedger(), [fingerprint(text, 10), *others], "n.md", 1)
    new = reconcile(old.ledger, [fingerprint(edited, 11), *others], "n.md", 2)
    assert new.entries[0].guid == old.entries[0].guid
    assert new.entries[1].guid == old.entries[1].guid


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_ledger_text_round_trips_through_yaml(text: str, section: str) -> None:
    from pathlib import Path
    from tempfile import TemporaryDirectory

    from build_deck.ledger import Entry, dump_ledger, load_ledger

    ledger = FileLedger(2, (Entry("g", 1, "qa", 3, section, text, text[::-1], "h", "n", 7),))
    with TemporaryDirectory() as folder:
        path = Path(folder) / "l.yaml"
        path.write_text(dump_ledger(ledger, "notes/x.md"), encoding="utf-8")
        assert load_ledger(path) == ledger


def test_deleting_a_notes_file_reports_its_cards_and_drops_its_ledger(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("a.md", NOTES)
    project.write("b.md", "Q: Kept?\nA: Yes.\n")
    assert project.run("build") == 0
    assert project.run("build") == 0  # unchanged ledgers stay where they are
    assert (project.cards / "a.yaml").exists() and (project.cards / "b.yaml").exists()
    (project.notes / "a.md").unlink()
    capsys.readouterr()
    assert project.run("build") == 0
    out = capsys.readouterr().out
    assert "removed: notes/a.md: 'What is the derivative of \\\\sigma(x)?'" in out
    assert out.rstrip().endswith("+0 new, 0 changed, 2 removed")
    assert not (project.cards / "a.yaml").exists() and (project.cards / "b.yaml").exists()
