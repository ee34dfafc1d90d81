"""A notes project in a real git repository, built and imported into a real Anki collection.

Used by the tests of what a semester does to the notes: each builds, imports, reviews
every card through Anki's scheduler, edits the notes with the git commands a user
types, rebuilds and re-imports with Anki's default options, then checks that every
reviewed card still shows what it showed, with its history.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import tempfile
import textwrap
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from anki.collection import Collection
from anki.decks import DeckId
from anki.notes import NoteId

from build_deck.cli import main
from tests.conftest import import_package

NLP = """
# NLP

## Tokenisation

Q: Why do language models tokenise into subwords?
A: A fixed vocabulary then covers rare and new words.

Byte-pair encoding merges the {{most frequent}} pair of {{adjacent symbols}}.

Q: What is the unknown-token problem?
A: Words outside a word vocabulary all map to one token.

## Attention

Q: What does an attention head compute?
A: A weighted sum of value vectors.

Scaled dot-product attention divides the scores by {{$\\sqrt{d_k}$}}.

Q: Why use several attention heads?
A: Each head can attend to a different kind of relation.
"""

ML = """
# Machine Learning

## Training

Q: Why call `optimizer.zero_grad()` before `backward()`?
A: PyTorch accumulates gradients across backward passes.

Q: What does `optimizer.step()` do?
A: It updates the parameters from their gradients.

The {{learning rate}} scales every step of {{gradient descent}}.

## Metrics

Q: What is recall?
A: The share of actual positives that the model finds.

Q: What is precision?
A: The share of predicted positives that are right.
"""

STATS = """
# Statistics

Q: What does a p-value measure?
A: How surprising the data are if the null hypothesis holds.

The mean of a sample is an {{unbiased}} estimator of the population mean.
"""


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git in ``root`` as a user would."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Student",
        "GIT_AUTHOR_EMAIL": "student@example.org",
        "GIT_COMMITTER_NAME": "Student",
        "GIT_COMMITTER_EMAIL": "student@example.org",
    }
    return subprocess.run(
        ["git", *args], cwd=root, env=env, check=check, capture_output=True, text=True
    )


def studied(col: Collection) -> dict[int, str]:
    """What each card asks: Q/A front and back, or the text of the card's own deletion."""
    shown: dict[int, str] = {}
    for cid in col.find_cards(""):
        card = col.get_card(cid)
        note = card.note()
        if "Text" in note:
            found = re.search(rf"\{{\{{c{card.ord + 1}::(.*?)(::[^}}]*)?\}}\}}", note["Text"])
            shown[cid] = found.group(1) if found else ""
        else:
            shown[cid] = f"{note['Front']}\x1f{note['Back']}"
    return shown


def apkg_guids(apkg: Path) -> set[str]:
    """The GUIDs of the notes in a package."""
    with zipfile.ZipFile(apkg) as archive, tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "c.anki2"
        db.write_bytes(archive.read("collection.anki2"))
        connection = sqlite3.connect(db)
        try:
            return {row[0] for row in connection.execute("SELECT guid FROM notes")}
        finally:
            connection.close()


@dataclass
class Semester:
    """A notes repository, the student's collection, and what was reviewed."""

    root: Path
    col: Collection
    day: int = 0
    start_time: int = field(default_factory=lambda: int(time.time()) - 100 * 86400)
    """Build k runs on day k after this (the clock a build reads is SOURCE_DATE_EPOCH)."""
    reviewed: dict[int, str] = field(default_factory=dict)
    """Each reviewed card and what it showed."""
    history: dict[int, int] = field(default_factory=dict)
    """Each reviewed card's number of reviews."""
    fields: dict[int, str] = field(default_factory=dict)
    """Each note's fields when the student tagged it."""

    @property
    def apkg(self) -> Path:
        """The package ``build`` writes."""
        return self.root / "dist" / "ai-study-notes.apkg"

    def write(self, name: str, text: str) -> None:
        """Write a notes file as an editor does."""
        path = self.root / "notes" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")

    def read(self, name: str) -> str:
        """A notes file's text."""
        return (self.root / "notes" / name).read_text(encoding="utf-8")

    def build(self, *args: str) -> int:
        """``build-deck build`` a day later than the previous build."""
        self.day += 1
        os.environ["SOURCE_DATE_EPOCH"] = str(self.start_time + self.day * 86400)
        return main(["build", *args])

    def commit(self, message: str) -> None:
        """``git add -A && git commit``."""
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", message)

    def import_deck(self) -> None:
        """Import the package with Anki's default options."""
        import_package(self.col, self.apkg)

    def review_everything(self) -> None:
        """Answer every due card through the scheduler; remember what each showed."""
        for deck in self.col.decks.all_names_and_ids():
            config = self.col.decks.config_dict_for_deck_id(DeckId(deck.id))
            config["new"]["perDay"] = 9999
            config["rev"]["perDay"] = 9999
            self.col.decks.update_config(config)
        root = self.col.decks.id_for_name("AI Study Notes")
        assert root is not None
        self.col.decks.set_current(root)
        while (card := self.col.sched.getCard()) is not None:
            card.start_timer()
            self.col.sched.answerCard(card, 3)
        self.reviewed = studied(self.col)
        db = self.col.db
        assert db is not None
        self.history = {
            int(r[0]): int(r[1]) for r in db.all("SELECT cid, count() FROM revlog GROUP BY cid")
        }
        assert set(self.history) == set(self.reviewed)

    def mark_everything(self) -> None:
        """The student's own edits: the tag ``marked`` on every note, half a day after
        the last build (Anki stamps an edit with the time it is made)."""
        for nid in self.col.find_notes(""):
            note = self.col.get_note(nid)
            note.tags.append("marked")
            self.col.update_note(note)
        db = self.col.db
        assert db is not None
        db.execute("UPDATE notes SET mod = ?", self.start_time + self.day * 86400 + 43200)
        self.fields = {int(r[0]): str(r[1]) for r in db.all("SELECT id, flds FROM notes")}

    def start(self, files: dict[str, str]) -> None:
        """Commit the notes, build, commit the ledger, import, review, mark."""
        git(self.root, "init", "-q", "-b", "main")
        (self.root / ".gitignore").write_text("dist/\n.cache/\n")
        for name, text in files.items():
            self.write(name, text)
        assert self.build() == 0
        self.commit("notes")
        self.import_deck()
        self.review_everything()
        self.mark_everything()

    def assert_history_kept(
        self,
        changed: dict[str, str] | None = None,
        gone: set[str] | None = None,
        touched: tuple[str, ...] = (),
    ) -> None:
        """After a rebuild and re-import: every reviewed card still exists, shows the same
        content (or the content ``changed`` says), with all its reviews; no duplicates,
        no stale notes; the student's tag kept on every note whose content is the same.
        """
        changed = changed or {}
        gone = gone or set()
        now = studied(self.col)
        db = self.col.db
        assert db is not None
        history = {
            int(r[0]): int(r[1]) for r in db.all("SELECT cid, count() FROM revlog GROUP BY cid")
        }
        for cid, shown in self.reviewed.items():
            assert cid in now, f"reviewed card {cid} ({shown[:40]!r}) is gone"
            assert now[cid] == changed.get(shown, shown), (shown, now[cid])
            assert history.get(cid) == self.history[cid]
        guids = db.list("SELECT guid FROM notes")
        assert len(guids) == len(set(guids))
        deck = apkg_guids(self.apkg)
        stale = set(guids) - deck
        assert {g for g in stale if g not in gone} == set(), "stale notes in Anki"
        assert deck <= set(guids)
        firsts = db.list("SELECT flds FROM notes")
        assert len(firsts) == len(set(firsts)), "two notes with the same content"
        fields_now = {int(r[0]): str(r[1]) for r in db.all("SELECT id, flds FROM notes")}
        for nid, fields in self.fields.items():
            if fields.startswith(touched) and touched:
                continue  # edited in the notes, then edited back
            if fields_now.get(nid) == fields:  # not edited in the notes: the student's edit stays
                assert "marked" in self.col.get_note(NoteId(nid)).tags, fields[:40]
