"""A version 1 ledger (one YAML file per notes file) is converted on the first build."""

from __future__ import annotations

import re
import tarfile

import pytest

from build_deck.identity.ledger import load_ledger
from tests.conftest import REPO, Project

V1 = REPO / "tests" / "identity" / "fixtures" / "v1-cards.tar.gz"
"""The ledger committed before version 2, with the shipped notes (an archive, so that git
never takes it for the old cards/ renamed). The notes are those of the conversion to the
mark that covers the whole answer: the notes committed then no longer build, and 97 of
their cards changed since, which the conversion keeps by their identity."""


def test_the_shipped_v1_ledger_converts_keeping_every_guid(project: Project) -> None:
    with tarfile.open(V1) as archive:
        archive.extractall(project.root, filter="data")
    old = {
        guid
        for path in project.cards.glob("*.yaml")
        for guid in re.findall(r'^- guid: "(.*)"$', path.read_text(), re.MULTILINE)
    }
    assert len(old) == 915
    assert project.run("build") == 0
    assert sorted(p.name for p in project.cards.iterdir()) == ["ledger", "notetypes.jsonl"]
    ledger, problems = load_ledger(project.cards, "cards")
    assert problems == []
    assert set(ledger.entries) == old
    assert all(entry.removed == 0 for entry in ledger.entries.values())
    assert project.run("build", "--locked") == 0


def test_alias_bomb_in_a_v1_ledger_is_refused_at_its_line(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("a.md", "Q: One?\nA: Yes.\n")
    project.cards.mkdir()
    bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    bomb += [
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    (project.cards / "a.yaml").write_text("\n".join(bomb) + "\n")
    assert project.run("build") == 1
    err = capsys.readouterr().err
    assert "cards/a.yaml:1: error: YAML anchors, aliases and tags are not allowed" in err
    assert not project.apkg.exists()
