"""Stable identities: the ledger, reproducible packages, --locked."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from build_deck.identity.ledger import (
    Change,
    Entry,
    Fingerprint,
    Ledger,
    dump_ledger,
    match_cards,
    next_mtime,
    parse_ledger,
    tombstone,
    updated_entry,
)
from tests.conftest import Project, ledger_snapshot

NOTES = """
# Topic

Q: What is the derivative of $\\sigma(x)$?
A: $\\sigma(x)(1 - \\sigma(x))$

The sigmoid maps to {{c1::$(0, 1)$}}.
"""


def fingerprint(
    text: str, answer: str = "an answer", section: str = "S", file: str = "n.md"
) -> Fingerprint:
    return Fingerprint(file, section, "qa", text, answer, f"h:{text}:{answer}")


def test_two_builds_are_byte_identical(project: Project) -> None:
    project.write("a.md", NOTES)
    assert project.run("build") == 0
    first = project.apkg.read_bytes()
    ledger = ledger_snapshot(project.cards)
    project.apkg.unlink()  # written afresh, not left as it was
    assert project.run("build") == 0
    assert project.apkg.read_bytes() == first
    assert ledger_snapshot(project.cards) == ledger


def test_same_notes_and_ledger_give_same_bytes_at_another_time(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write("a.md", NOTES)
    assert project.run("build") == 0
    first = project.apkg.read_bytes()
    project.apkg.unlink()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1900000000")
    assert project.run("build") == 0
    assert project.apkg.read_bytes() == first


def test_a_no_change_rebuild_leaves_the_package_but_repairs_an_altered_one(
    project: Project,
) -> None:
    project.write("a.md", NOTES)
    assert project.run("build") == 0
    first = project.apkg.read_bytes()
    before = project.apkg.stat()
    assert project.run("build") == 0
    after = project.apkg.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    project.apkg.write_bytes(first[:-1] + b"x")  # changed by hand: written again
    assert project.run("build") == 0
    assert project.apkg.read_bytes() == first

    project.write("a.md", NOTES + "\nQ: New?\nA: Yes.\n")  # a new card: written again
    assert project.run("build") == 0
    assert project.apkg.read_bytes() != first


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


def build_ledger(prints: list[Fingerprint], now: int, old: Ledger | None = None) -> Ledger:
    """What a build stores: the matched cards, and tombstones for the others."""
    old = old or Ledger()
    matches = match_cards(old, prints)
    entries = {
        m.guid: updated_entry(
            m.previous,
            p,
            guid=m.guid,
            deck="D",
            note_hash=p.content_hash,
            mtime=next_mtime(m.previous, p.content_hash, now),
            clozes=(),
            cloze_max=0,
        )
        for m, p in zip(matches, prints, strict=True)
    }
    for guid, entry in old.entries.items():
        entries.setdefault(guid, tombstone(entry, now))
    return Ledger(entries)


def guids(ledger: Ledger, prints: list[Fingerprint]) -> list[str]:
    return [m.guid for m in match_cards(ledger, prints)]


def test_reworded_card_keeps_its_guid_and_gets_a_newer_mtime() -> None:
    old = build_ledger([fingerprint("Why call zero_grad frist?")], 100)
    new = build_ledger([fingerprint("Why call zero_grad first?")], 50, old)
    assert list(new.entries) == list(old.entries)
    (entry,) = new.entries.values()
    assert entry.mtime == 101  # never backwards, even with an older clock


def test_card_moved_to_another_file_keeps_guid_and_mtime() -> None:
    cards = [fingerprint("First?"), fingerprint("Second?")]
    old = build_ledger(cards, 100)
    moved = [fingerprint("Second?", file="other.md"), fingerprint("First?", section="T")]
    new = build_ledger(moved, 200, old)
    assert guids(old, moved) == guids(old, cards)[::-1]
    assert sorted(e.mtime for e in new.entries.values()) == [100, 100]


def test_different_card_is_new_and_the_old_one_is_kept_as_removed() -> None:
    old = build_ledger([fingerprint("What does optimizer.step() do?", answer="updates")], 1)
    new_card = fingerprint("What does model.eval() change?", answer="dropout and batch norm")
    new = build_ledger([new_card], 2, old)
    (old_guid,) = old.entries
    assert new.entries[old_guid].removed == 2
    (match,) = match_cards(new, [fingerprint("What does optimizer.step() do?", answer="updates")])
    assert match.guid == old_guid and match.change is Change.RESTORED


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    st.text(alphabet="abcdefghij klmnop", min_size=20, max_size=80),
    st.integers(min_value=0, max_value=79),
    st.sampled_from(["", "x", "yz"]),
)
def test_identity_survives_a_small_edit(text: str, at: int, insert: str) -> None:
    at = min(at, len(text))
    edited = text[:at] + insert + text[at + 1 :]
    others = [fingerprint("A quite different question about eigenvalues")]
    old = build_ledger([fingerprint(text), *others], 1)
    assert guids(old, [fingerprint(edited), *others]) == guids(old, [fingerprint(text), *others])


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.text(max_size=60), st.text(max_size=60))
def test_ledger_text_round_trips(text: str, section: str) -> None:
    entry = Entry("g", "x.md", section, "D", "qa", "h", "n", 7, text, text[::-1], ((text, 2),), 3)
    ledger = Ledger({"g": entry})
    parsed, problems = parse_ledger(dump_ledger(ledger), "cards/ledger.jsonl")
    assert problems == [] and parsed == ledger


def test_deleting_a_notes_file_reports_its_cards_and_keeps_them_as_removed(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("a.md", NOTES)
    project.write("b.md", "Q: Kept?\nA: Yes.\n")
    assert project.run("build") == 0
    ledger = ledger_snapshot(project.cards)
    (project.notes / "a.md").unlink()
    capsys.readouterr()
    assert project.run("build") == 1  # two thirds of the deck: stops and explains
    assert "would remove 2 of the deck's 3 cards" in capsys.readouterr().err
    assert ledger_snapshot(project.cards) == ledger
    assert project.run("build", "--allow-removals") == 0
    out = capsys.readouterr().out
    assert "removed: notes/a.md › Topic: What is the derivative of \\sigma(x)?" in out
    assert out.rstrip().endswith("+0 new, 0 changed, 0 moved, 0 restored, 2 removed")
    project.write("a.md", NOTES)  # back again: the same identities
    assert project.run("build") == 0
    assert capsys.readouterr().out.rstrip().endswith("2 restored, 0 removed")
    assert ledger_snapshot(project.cards) == ledger


def test_a_cached_rebuild_remembers_shorthand_cloze_numbers(project: Project) -> None:
    project.write("a.md", "The {{first}} and the {{second}} deletion.\n")
    assert project.run("build") == 0
    project.write("b.md", "Q: Another file?\nA: Yes.\n")  # a.md now comes from the cache
    assert project.run("build") == 0
    ledger = ledger_snapshot(project.cards)
    project.write("a.md", "The {{zeroth}}, the {{first}} and the {{second}} deletion.\n")
    assert project.run("build") == 0
    project.write("b.md", "Q: Another file?\nA: Yes, two.\n")
    assert project.run("build") == 0
    assert project.run("build", "--locked") == 0
    assert ledger_snapshot(project.cards) != ledger
    from build_deck.identity.ledger import load_ledger

    entries = load_ledger(project.cards, "cards")[0].entries.values()
    (cloze,) = [e for e in entries if e.kind == "cloze"]
    assert dict(cloze.clozes) == {"first": 1, "second": 2, "zeroth": 3}
