"""Two branches that change neighbouring ledger lines: git's conflict, the merge driver."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest

from build_deck.cli import main
from build_deck.identity.ledger import bucket_name, load_ledger
from tests.flows import git

A_CARDS = 80
B_CARDS = 80


def notes(prefix: str, count: int, reworded: int | None = None) -> str:
    cards = []
    for i in range(count):
        answer = f"The answer to {prefix} fact number {i}."
        if i == reworded:
            answer = f"The reworded answer to {prefix} fact number {i}."
        cards.append(f"Q: What is {prefix} fact number {i}?\nA: {answer}\n")
    return f"# {prefix}\n\n" + "\n".join(cards)


def neighbours(cards: Path) -> tuple[int, int]:
    """A card of a.md and one of b.md whose entries are on neighbouring lines of one file."""
    ledger, _ = load_ledger(cards, "cards")
    by_file: dict[str, list[str]] = {}
    for guid in sorted(ledger.entries):
        by_file.setdefault(bucket_name(guid), []).append(guid)
    for guids in by_file.values():
        for first, second in itertools.pairwise(guids):
            one, two = ledger.entries[first], ledger.entries[second]
            if {one.file, two.file} == {"a.md", "b.md"}:
                a, b = (one, two) if one.file == "a.md" else (two, one)
                return int(a.text.split()[-1][:-1]), int(b.text.split()[-1][:-1])
    raise AssertionError("no neighbouring entries")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / ".gitignore").write_text("dist/\n.cache/\n")
    (tmp_path / ".gitattributes").write_text(
        "cards/ledger/*.jsonl merge=build-deck-ledger\n"
        "cards/notetypes.jsonl merge=build-deck-ledger\n"
    )
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text(notes("alpha", A_CARDS))
    (tmp_path / "notes" / "b.md").write_text(notes("beta", B_CARDS))
    assert main(["build"]) == 0
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "notes")
    return tmp_path


def reword_on_two_branches(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = neighbours(repo / "cards")
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "notes" / "a.md").write_text(notes("alpha", A_CARDS, reworded=a))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767312000")
    assert main(["build"]) == 0
    git(repo, "commit", "-q", "-am", "reword a card of a.md")
    git(repo, "checkout", "-q", "main")
    (repo / "notes" / "b.md").write_text(notes("beta", B_CARDS, reworded=b))
    assert main(["build"]) == 0
    git(repo, "commit", "-q", "-am", "reword a card of b.md")


def test_without_the_driver_git_conflicts_and_resolve_keeps_both_sides(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    guids = set(load_ledger(repo / "cards", "cards")[0].entries)
    reword_on_two_branches(repo, monkeypatch)
    merged = git(repo, "merge", "--no-edit", "other", check=False)
    assert merged.returncode != 0 and "CONFLICT (content): Merge conflict in cards/ledger/" in (
        merged.stdout
    )
    capsys.readouterr()
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert "error: the card ledger holds a git merge conflict" in err
    assert main(["ledger", "resolve"]) == 0
    capsys.readouterr()
    assert main(["build"]) == 0
    assert "+0 new" in capsys.readouterr().out  # both reworded cards keep their identity
    assert set(load_ledger(repo / "cards", "cards")[0].entries) == guids


def test_the_merge_driver_merges_both_sides(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    guids = set(load_ledger(repo / "cards", "cards")[0].entries)
    git(
        repo,
        "config",
        "merge.build-deck-ledger.driver",
        f"{sys.executable} -m build_deck ledger merge %O %A %B",
    )
    reword_on_two_branches(repo, monkeypatch)
    merged = git(repo, "merge", "--no-edit", "other", check=False)
    assert merged.returncode == 0, merged.stdout
    capsys.readouterr()
    assert main(["build"]) == 0
    assert "+0 new" in capsys.readouterr().out
    assert set(load_ledger(repo / "cards", "cards")[0].entries) == guids
