"""Attacks on everything around the check sandbox, one per test, after simpleeval's
tests/test_security.py ("TestTryingToBreakOut").

The threat: a student builds, previews, syncs or merges notes they did not write (a
classmate's repository, a pull request, a shared ``.apkg``). Each test plays one attack
through the real command or the real reader and asserts the specific refusal, and that
nothing escaped: no file written or read outside the project, no card marked verified
that is wrong, no note of another project touched, no traceback, no run past its time.
Attacks that could hang or eat memory on a build without the defence run in a child
process with a time limit (``run_limited``). Add a test whenever a new trick is found.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from anki.collection import Collection
from anki.notes import NoteId

from build_deck import cache
from build_deck.anki.notetypes import QA
from build_deck.cli import main
from build_deck.identity.ledger import Entry, ledger_files, load_ledger
from build_deck.model import Card, CardKind, Check, SourceLoc
from build_deck.verify.sandbox import check_mode
from tests.anki.syncing import opened
from tests.conftest import Project, import_package, review_deck
from tests.test_errors import PNG

ROOT = "AI Study Notes"
TWO_PLUS_TWO = "Q: What is 2 + 2?\nA: **4**\n\n```check\nanswer = 2 + 2\n```\n"


def run_limited(
    project: Project, *args: str, seconds: float = 60, stdin: int | None = None
) -> tuple[int, str, int]:
    """``build-deck ARGS`` in a child process, in the project, killed after ``seconds``
    and unable to write a file over 64 MiB; returns the exit code, the output (stdout
    and stderr) and the child's peak memory in bytes."""
    command = [sys.executable, "-m", "build_deck", *args]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}

    def limits() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))

    child = subprocess.Popen(
        command,
        cwd=project.root,
        env=env,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=limits,
    )
    try:
        out, _ = child.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail(f"build-deck {' '.join(args)} ran past {seconds} s")
    _, _, usage = os.wait4(child.pid, os.WNOHANG) if child.returncode is None else (0, 0, None)
    peak = usage.ru_maxrss * 1024 if usage is not None else 0
    return child.returncode, out.decode("utf-8", "replace"), peak


def assert_one_line_errors(output: str) -> None:
    """No traceback; every diagnostic is one line."""
    assert "Traceback" not in output, output[-2000:]
    assert "\x1b" not in output


# -- Committed state is not trusted ------------------------------------------------------


def committed_cache_entry(project: Project, shown: str, payload: dict[str, object]) -> Path:
    """What an attacker commits: an entry of the old in-repository cache
    (``.cache/build-deck``), for the key anyone with the same version computes."""
    from build_deck.typeset.texcheck import TexChecker

    checker = TexChecker.start(notes_dir=Path("notes"))
    try:
        tex_state = checker.fingerprint
    finally:
        checker.close()
    data = (project.notes / shown.removeprefix("notes/")).read_bytes()
    key = cache.cache_key(data, shown, ROOT, tex_state, check_mode(trust_checks=False))
    text = json.dumps(payload)
    envelope = {
        "format": 1,
        "key": key,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "payload": text,
    }
    path = cache.entry_path(project.root / ".cache" / "build-deck", shown)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(envelope))
    return path


def forged_card(shown: str, **fields: object) -> dict[str, object]:
    """A card as a cache entry holds it."""
    card: dict[str, object] = {
        "kind": "qa",
        "loc": [shown, 1],
        "deck": ROOT,
        "section": [],
        "tags": [],
        "content": "What is 2 + 2?",
        "back": "<strong>4</strong>",
        "extra": "",
        "context": "",
        "prompt_text": "What is 2 + 2?",
        "value_source": "A: **4**",
        "cloze_numbers": [],
        "deletions": [],
        "shorthand": [],
        "checks": [],
        "media": [],
        "answer_lines": [],
        "value_line": 0,
    }
    card.update(fields)
    return card


def answers(apkg: Path, col: Collection) -> list[str]:
    """The answer side of every card of a package, imported into a real collection."""
    import_package(col, apkg)
    return [col.get_card(card_id).answer() for card_id in col.find_cards("")]


class TestCommittedStateIsNotTrusted:
    """A cache entry or a ledger line is data from whoever wrote the repository."""

    def test_a_committed_cache_entry_cannot_write_a_pth_file_through_the_preview(
        self, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from build_deck.typeset.texcheck import find_mathjax

        if find_mathjax() is None:
            pytest.skip("MathJax is not installed (npm ci)")
        project.write("a.md", "Q: What is shown?\nA: ![plot](evil.png)\n")
        (project.notes / "evil.png").write_bytes(PNG)
        (project.root / "outside").mkdir()
        digest = hashlib.sha1(PNG).hexdigest()[:10]
        name = f"../../outside/zz-{digest}.pth"
        card = forged_card("notes/a.md", media=[[name, str(project.notes / "evil.png")]])
        committed_cache_entry(
            project, "notes/a.md", {"cards": [card], "verified": [], "warnings": []}
        )
        project.run("preview")
        err = capsys.readouterr().err
        assert list((project.root / "outside").iterdir()) == []
        assert ".cache/build-deck:0: warning: ignored: a build cache inside the project" in err

    def test_a_committed_cache_entry_cannot_mark_a_wrong_value_verified(
        self, project: Project, collection: Collection
    ) -> None:
        project.write("a.md", TWO_PLUS_TWO)
        card = forged_card("notes/a.md", back="<strong>5</strong>", value_source="A: **5**")
        payload = {"cards": [card], "verified": [["notes/a.md", 1, "value recomputed"]]}
        committed_cache_entry(project, "notes/a.md", {**payload, "warnings": []})
        assert project.run("build") == 0
        [answer] = answers(project.apkg, collection)
        assert "<strong>4</strong>" in answer and "<strong>5</strong>" not in answer
        assert "verified: value recomputed" in answer  # earned by the real check

    def test_a_cache_entry_without_this_machines_key_is_ignored_with_a_warning(
        self, project: Project, capsys: pytest.CaptureFixture[str], collection: Collection
    ) -> None:
        project.write("a.md", TWO_PLUS_TWO)
        assert project.run("build") == 0
        entry = cache.entry_path(cache.default_cache_dir(Path("notes")), "notes/a.md")
        envelope = json.loads(entry.read_text())
        payload = json.loads(envelope["payload"])
        payload["cards"][0]["back"] = "<strong>5</strong>"
        envelope["payload"] = json.dumps(payload)
        # Everything an attacker can compute; only the key is missing.
        wrong = hashlib.sha256(b"guessed key").digest()
        message = "\x1f".join(("notes/a.md", envelope["key"], envelope["payload"])).encode()
        envelope["mac"] = __import__("hmac").new(wrong, message, "sha256").hexdigest()
        entry.write_text(json.dumps(envelope))
        project.write("a.md", TWO_PLUS_TWO)  # same bytes: the entry's key still matches
        project.write("b.md", "Q: Another?\nA: Yes.\n")  # not up to date: a.md is read
        capsys.readouterr()
        assert project.run("build") == 0
        err = capsys.readouterr().err
        assert "notes/a.md:1: warning: ignoring corrupt build cache entry" in err
        assert "HMAC does not hold" in err
        answer = next(a for a in answers(project.apkg, collection) if "Yes." not in a)
        assert "<strong>4</strong>" in answer

    @pytest.mark.parametrize(
        ("change", "complaint"),
        [
            ({"loc": ["/tmp/outside.md", 1]}, "a location outside notes/a.md"),
            ({"media": [["../../x.pth", "/etc/hostname"]]}, "not a plain file name"),
            ({"tags": ["verified"]}, "a tag the notes may not set"),
            ({"deletions": [[10**30, "x"]]}, "a cloze number"),
        ],
    )
    def test_even_an_authentic_entry_is_read_as_an_attackers(
        self, project: Project, change: dict[str, object], complaint: str
    ) -> None:
        project.write("a.md", TWO_PLUS_TWO)
        folder = cache.default_cache_dir(Path("notes"))
        card = forged_card("notes/a.md", **change)
        data = {"cards": [card], "verified": [], "warnings": []}
        cache.store_json(folder, "notes/a.md", "key", data)
        hit, warning = cache.load(folder, "notes/a.md", "key", project.notes)
        assert hit is None and warning is not None and complaint in warning

    def test_a_mark_the_checks_do_not_give_is_refused(self, project: Project) -> None:
        project.write("a.md", TWO_PLUS_TWO)
        folder = cache.default_cache_dir(Path("notes"))
        card = forged_card("notes/a.md")
        data = {"cards": [card], "verified": [["notes/a.md", 1, "proven by hand"]], "warnings": []}
        cache.store_json(folder, "notes/a.md", "key", data)
        hit, warning = cache.load(folder, "notes/a.md", "key", project.notes)
        assert hit is None and warning is not None and "a mark the checks do not give" in warning


# -- Ledger entries are strangers' data --------------------------------------------------

OTHER = "Biology"
OTHER_NOTES = "Q: Which organelle makes ATP?\nA: The mitochondrion.\n"


def other_project_synced(project: Project, col_path: Path) -> tuple[NoteId, str]:
    """The student's other notes project (root deck ``Biology``) synced into the
    collection and reviewed: its note's id and GUID."""
    other = project.root / "other"
    (other / "notes").mkdir(parents=True)
    (other / "notes" / "bio.md").write_text(OTHER_NOTES)
    args = ["sync", "--collection", str(col_path), "--deck", OTHER]
    paths = ["--notes", str(other / "notes"), "--cards", str(other / "cards")]
    assert main([*args, *paths, "--out", str(other / "dist")]) == 0
    with opened(col_path) as col:
        assert review_deck(col, OTHER) == 1
        [note_id] = col.find_notes(f'"deck:{OTHER}"')
        return note_id, col.get_note(note_id).guid


def add_ledger_entry(project: Project, entry: Entry) -> None:
    """What an attacker commits: one more line in the card ledger."""
    ledger, problems = load_ledger(project.cards, "cards")
    assert problems == []
    ledger.entries[entry.guid] = entry
    for name, text in ledger_files(ledger).items():
        (project.cards / name).write_text(text)


def rename_guid(project: Project, old: str, new: str) -> None:
    """What an attacker commits: a card of the ledger under another GUID."""
    ledger, problems = load_ledger(project.cards, "cards")
    assert problems == []
    ledger.entries[new] = replace(ledger.entries.pop(old), guid=new)
    for name, text in ledger_files(ledger).items():
        (project.cards / name).write_text(text)


def reviews(col: Collection, note_id: NoteId) -> int:
    """How many reviews the cards of a note have."""
    db = col.db
    assert db is not None
    return int(
        db.scalar(
            "SELECT count() FROM revlog WHERE cid IN (SELECT id FROM cards WHERE nid = ?)", note_id
        )
    )


class TestLedgerEntriesAreStrangersData:
    """Every field of a ledger line is checked, and a GUID is this project's only when
    this project's syncs wrote it."""

    @pytest.mark.parametrize("prune", [False, True])
    def test_a_ledger_line_cannot_make_sync_tag_or_delete_another_projects_note(
        self,
        project: Project,
        col_path: Path,
        capsys: pytest.CaptureFixture[str],
        prune: bool,
    ) -> None:
        note_id, guid = other_project_synced(project, col_path)
        project.write("ml.md", "Q: What does `optimizer.step()` do?\nA: It updates the weights.\n")
        assert project.run("build") == 0
        entry = Entry(guid, "ml.md", "", ROOT, "qa", "0" * 16, "0" * 16, 1, "gone", "card")
        add_ledger_entry(project, entry)  # a card "removed" by this build, with that GUID
        capsys.readouterr()
        flags = ["--prune", "--yes", "--allow-removals"] if prune else ["--allow-removals"]
        project.run("sync", "--collection", str(col_path), *flags)
        out = capsys.readouterr()
        assert_one_line_errors(out.out + out.err)
        with opened(col_path) as col:
            note = col.get_note(note_id)  # still there
            assert note.tags == [] and "build-deck::removed" not in note.tags
            assert reviews(col, note_id) == 1

    def test_a_ledger_guid_cannot_make_sync_overwrite_or_move_another_projects_note(
        self, project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        note_id, guid = other_project_synced(project, col_path)
        project.write("ml.md", "Q: What does `optimizer.step()` do?\nA: It updates the weights.\n")
        assert project.run("build") == 0
        ledger, _ = load_ledger(project.cards, "cards")
        [mine] = [g for g, e in ledger.entries.items() if not e.removed]
        rename_guid(project, mine, guid)  # the attacker's card under the other note's GUID
        capsys.readouterr()
        code = project.run("sync", "--collection", str(col_path))
        out = capsys.readouterr()
        assert code == 1
        assert "its GUID belongs to a note of the notes project with root deck 'Biology'" in (
            out.err + out.out
        )
        with opened(col_path) as col:
            note = col.get_note(note_id)
            assert "mitochondrion" in note["Back"]
            assert col.decks.name(col.get_card(note.card_ids()[0]).did) == OTHER

    def test_a_version_1_entry_cannot_give_a_cards_guid_to_other_content(
        self, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project.write("a.md", TWO_PLUS_TWO)
        assert project.run("build") == 0
        ledger, _ = load_ledger(project.cards, "cards")
        [guid] = ledger.entries
        project.write("evil.md", "Q: Which is the best editor?\nA: Mine.\n")
        (project.cards / "evil.yaml").write_text(
            "version: 1\ncards:\n"
            f'- guid: "{guid}"\n  kind: "qa"\n  section: ""\n  text: "Which is the best editor?"\n'
            "  mtime: 4102444800\n"
        )
        capsys.readouterr()
        assert project.run("build") == 1
        err = capsys.readouterr().err
        assert f"cards/evil.yaml:3: error: GUID '{guid}' belongs to another card" in err

    @pytest.mark.parametrize(
        ("field", "value", "complaint"),
        [
            ("mtime", "100000000000000000000", "'mtime' must be between 0 and"),
            ("removed", "100000000000000000000", "'removed' must be between 0 and"),
            ("mtime", "-5", "'mtime' must be between 0 and"),
            ("cloze_max", "1000000", "'cloze_max' must be between 0 and"),
            ("guid", '"\\ud800"', "lone surrogate"),
            ("guid", '"a\\u001bb"', "control character"),
            ("text", '"\\udfff"', "lone surrogate"),
        ],
    )
    def test_ledger_values_out_of_range_are_an_error_at_their_line(
        self,
        project: Project,
        capsys: pytest.CaptureFixture[str],
        field: str,
        value: str,
        complaint: str,
    ) -> None:
        project.write("a.md", TWO_PLUS_TWO)
        assert project.run("build") == 0
        [path] = [p for p in (project.cards / "ledger").iterdir() if '"guid"' in p.read_text()]
        lines = path.read_text().split("\n")
        data = json.loads(lines[1])
        data[field] = "PLACEHOLDER"
        lines[1] = json.dumps(data).replace('"PLACEHOLDER"', value)
        path.write_text("\n".join(lines))
        capsys.readouterr()
        assert project.run("build") == 1
        err = capsys.readouterr().err
        assert_one_line_errors(err)
        assert f"cards/ledger/{path.name}:2: error: malformed card entry: " in err
        assert complaint in err

    def test_a_lone_surrogate_in_the_merge_driver_is_one_line(
        self, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project.write("a.md", TWO_PLUS_TWO)
        assert project.run("build") == 0
        [path] = [p for p in (project.cards / "ledger").iterdir() if '"guid"' in p.read_text()]
        theirs = project.root / "theirs.jsonl"
        text = path.read_text()
        guid = json.loads(text.split("\n")[1])["guid"]
        theirs.write_text(text.replace(json.dumps(guid), '"\\ud800"'))
        ours = project.root / "ours.jsonl"
        ours.write_text(text)
        assert main(["ledger", "merge", str(path), str(ours), str(theirs)]) == 1
        err = capsys.readouterr().err
        assert "theirs.jsonl:2: error: malformed card entry: 'guid' holds a lone surrogate" in err
        assert ours.read_text() == text  # git keeps the conflict

    def test_a_version_1_note_type_id_that_is_not_a_number_is_one_line(
        self, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project.write("a.md", TWO_PLUS_TWO)
        project.cards.mkdir()
        (project.cards / "_notetypes.yaml").write_text(
            "build_deck Q/A:\n  fingerprint: abc\n  id: not-a-number\n  mtime: 1\n"
        )
        assert project.run("build") == 1
        err = capsys.readouterr().err
        assert "cards/_notetypes.yaml:1: error: malformed note type entry 'build_deck Q/A'" in err


# -- The mark reads what the student sees --------------------------------------------------


def check_output(project: Project, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``build-deck check`` on the project: its exit code and everything it printed."""
    capsys.readouterr()
    code = project.run("check")
    out = capsys.readouterr()
    return code, out.out + out.err


class TestTheMarkReadsWhatTheStudentSees:
    """A value, a deletion or a chain the student does not see cannot earn the mark."""

    @pytest.mark.parametrize(
        "answer",
        [
            "A: <!-- **0.3** --> **0.4**",
            'A: It is 0.4. <span style="display:none">0.3</span>',
            "A: ~~**0.3**~~ **0.4**",
        ],
    )
    def test_a_hidden_value_is_not_the_value(
        self, project: Project, capsys: pytest.CaptureFixture[str], answer: str
    ) -> None:
        project.write("a.md", f"Q: What is 0.1 * 3?\n{answer}\n\n```check\nanswer = 0.1 * 3\n```\n")
        code, out = check_output(project, capsys)
        assert code == 1
        assert "notes/a.md:1: error: card says 0.4, check computes 0.3" in out

    def test_a_hidden_deletion_is_not_the_value(
        self, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project.write(
            "a.md",
            '<span style="display:none">{{c1::2}}</span> Two and two make {{c2::5}}.\n\n'
            "```check\nanswer = 2\n```\n",
        )
        code, out = check_output(project, capsys)
        assert code == 1
        assert "card says 5, check computes 2" in out

    def test_adjacent_digits_in_tex_are_one_number(
        self, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project.write("a.md", "Q: What is 5 times 2?\nA: $5 \\cdot 2 = 5 2$\n")
        code, out = check_output(project, capsys)
        assert code == 1
        assert "displayed arithmetic does not hold: 5 \\cdot 2 is 10, 5 2 is 52" in out
        assert "arithmetic checked" not in out

    @pytest.mark.parametrize(
        "answer",
        [
            'A: Because. <div class="verified">&#10003; verified: value recomputed</div>',
            "A: Because. <div class='note Verified'>checked</div>",
            "A: Because. ✓ verified: value recomputed",
        ],
    )
    def test_raw_html_or_text_cannot_draw_the_mark(
        self, project: Project, capsys: pytest.CaptureFixture[str], answer: str
    ) -> None:
        project.write("a.md", f"Q: Why?\n{answer}\n")
        code, out = check_output(project, capsys)
        assert code == 1
        assert "notes/a.md:1: error: the card imitates the verified mark" in out

    @pytest.mark.parametrize(
        ("notes", "line", "complaint"),
        [
            ("# Maths #verified\n\nQ: Why?\nA: Because.\n", 1, "the tag 'verified' is reserved"),
            ("# Maths #Build-Deck::removed\n\nQ: Why?\nA: So.\n", 1, "is reserved"),
            ("---\ntags: [verified]\n---\nQ: Why?\nA: Because.\n", 2, "is reserved"),
            ("# Verified\n\nQ: Why?\nA: Because.\n", 1, "which build-deck reserves"),
        ],
    )
    def test_the_verified_tag_is_reserved(
        self,
        project: Project,
        capsys: pytest.CaptureFixture[str],
        notes: str,
        line: int,
        complaint: str,
    ) -> None:
        project.write("a.md", notes)
        code, out = check_output(project, capsys)
        assert code == 1
        assert f"notes/a.md:{line}: error: " in out and complaint in out


# -- Only regular files, inside the project --------------------------------------------------


class TestFilesThatAreNotFiles:
    """Links and special files in a repository are never followed out of it."""

    def test_a_notes_file_linked_to_dev_zero(self, project: Project) -> None:
        project.write("a.md", TWO_PLUS_TWO)
        (project.notes / "zero.md").symlink_to("/dev/zero")
        code, out, peak = run_limited(project, "check")
        assert code == 0  # main's rule: a link out of notes/ is named and not followed
        assert "notes/zero.md:0: warning: symbolic link to /dev/zero, outside the notes" in out
        assert_one_line_errors(out)
        assert peak < 1 << 30

    def test_a_notes_file_linked_to_stdin_does_not_hang(self, project: Project) -> None:
        project.write("a.md", TWO_PLUS_TWO)
        (project.notes / "stdin.md").symlink_to("/dev/stdin")
        read, write = os.pipe()  # a standard input that never ends
        try:
            code, out, _ = run_limited(project, "check", seconds=60, stdin=read)
        finally:
            os.close(read)
            os.close(write)
        assert code == 1
        assert "notes/stdin.md:0: error: cannot read: " in out

    def test_a_fifo_in_the_notes_folder_is_not_opened(self, project: Project) -> None:
        project.write("a.md", TWO_PLUS_TWO)
        os.mkfifo(project.notes / "pipe.md")
        code, out, _ = run_limited(project, "check", seconds=60)
        assert code == 1
        assert "notes/pipe.md:0: error: cannot read: not a regular file" in out

    def test_a_ledger_file_linked_to_dev_zero(self, project: Project) -> None:
        project.write("a.md", TWO_PLUS_TWO)
        assert project.run("build") == 0
        bucket = project.cards / "ledger" / "00.jsonl"
        bucket.unlink()
        bucket.symlink_to("/dev/zero")
        code, out, peak = run_limited(project, "check")
        assert code == 1
        assert "cards/ledger/00.jsonl:1: error: cannot read: a symbolic link to a file" in out
        assert peak < 1 << 30

    @pytest.mark.parametrize("where", ["notes/zero.bin", "cards/zero", "notes/pipe.bin"])
    def test_the_up_to_date_stamp_hashes_only_regular_files(
        self, project: Project, where: str
    ) -> None:
        """The stamp that lets a build with nothing changed stop early hashes the files of
        notes/ and cards/: a link to /dev/zero or a FIFO there must not hang the build,
        neither when the stamp is made nor when it is compared."""
        project.write("a.md", TWO_PLUS_TWO)
        (project.root / "cards").mkdir(exist_ok=True)
        empty = project.root / "notes" / "empty.bin"
        empty.write_bytes(b"")
        assert project.run("build") == 0
        if where.endswith("pipe.bin"):
            os.mkfifo(project.root / where)
        else:
            (project.root / where).symlink_to("/dev/zero")
        for _ in range(2):
            code, out, _ = run_limited(project, "build", seconds=60)
            assert code == 0, out
            assert_one_line_errors(out)
        (project.root / where).unlink()
        empty.unlink()
        empty.symlink_to("/dev/zero")  # the same size as the stamp recorded
        code, out, _ = run_limited(project, "build", seconds=60)
        assert code == 0, out
        assert "nothing changed since the last build" not in out

    def test_sync_dry_run_copies_only_the_ledgers_own_files(
        self, project: Project, col_path: Path
    ) -> None:
        project.write("a.md", TWO_PLUS_TWO)
        assert project.run("build") == 0
        (project.cards / "zero").symlink_to("/dev/zero")
        (project.cards / "huge.bin").write_bytes(bytes(1 << 20))
        code, out, _ = run_limited(project, "sync", "--dry-run", "--collection", str(col_path))
        assert code == 0, out
        assert "dry run, nothing written" in out

    def test_sync_dry_run_refuses_a_ledger_file_that_is_not_a_file(
        self, project: Project, col_path: Path
    ) -> None:
        project.write("a.md", TWO_PLUS_TWO)
        assert project.run("build") == 0
        bucket = project.cards / "ledger" / "00.jsonl"
        bucket.unlink()
        bucket.symlink_to("/dev/zero")
        code, out, _ = run_limited(project, "sync", "--dry-run", "--collection", str(col_path))
        assert code == 1
        assert "cards/ledger/00.jsonl:1: error: cannot read: " in out

    def test_a_notes_file_linked_outside_the_project_is_not_read(
        self, tmp_path: Path, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        private = tmp_path.parent / f"{tmp_path.name}-private-notes.md"
        private.write_text("Q: What is my PIN?\nA: 4321\n")
        project.write("a.md", TWO_PLUS_TWO)
        (project.notes / "shared.md").symlink_to(private)
        assert project.run("build") == 0  # main's rule: named, not followed
        err = capsys.readouterr().err
        assert "notes/shared.md:0: warning: symbolic link to " in err
        assert "outside the notes folder: not followed" in err
        assert not project.cards.exists() or "4321" not in json.dumps(
            {p.name: p.read_text() for p in project.cards.rglob("*.jsonl")}
        )

    @pytest.mark.parametrize("folder", ["cards", "notes", "dist"])
    def test_a_project_folder_linked_outside_the_project_is_refused(
        self,
        tmp_path: Path,
        project: Project,
        capsys: pytest.CaptureFixture[str],
        folder: str,
    ) -> None:
        outside = tmp_path.parent / f"{tmp_path.name}-outside" / ".config"
        outside.mkdir(parents=True)
        if folder == "notes":
            (outside / "a.md").write_text(TWO_PLUS_TWO)
            project.notes.rmdir()
        else:
            project.write("a.md", TWO_PLUS_TWO)
        (project.root / folder).symlink_to(outside)
        assert project.run("build") == 1
        err = capsys.readouterr().err
        assert f"{folder}:0: error: a symbolic link to {outside}, outside the folder" in err
        assert [p.name for p in outside.iterdir()] == (["a.md"] if folder == "notes" else [])

    def test_a_committed_dist_cannot_redirect_the_preview(
        self, tmp_path: Path, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from build_deck.typeset.texcheck import find_mathjax

        if find_mathjax() is None:
            pytest.skip("MathJax is not installed (npm ci)")
        outside = tmp_path.parent / f"{tmp_path.name}-site-packages"
        outside.mkdir()
        project.write("a.md", TWO_PLUS_TWO)
        (project.root / "dist").mkdir()
        (project.root / "dist" / "preview").symlink_to(outside)
        assert project.run("preview") == 1
        assert "dist/preview:0: error: no preview: " in capsys.readouterr().err
        assert list(outside.iterdir()) == []

    def test_an_image_linked_to_dev_zero(
        self, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project.write("a.md", "Q: What is shown?\nA: ![plot](zero.png)\n")
        (project.notes / "zero.png").symlink_to("/dev/zero")
        assert project.run("check") == 1
        assert "notes/a.md:2: error: image outside the notes folder: zero.png" in (
            capsys.readouterr().err
        )

    def test_watch_survives_a_link_loop(self, project: Project) -> None:
        from build_deck.watch import snapshot, watch

        project.write("a.md", TWO_PLUS_TWO)
        (project.notes / "loop").symlink_to("loop")
        assert list(snapshot(project.notes)) == [project.notes / "a.md"]
        builds: list[int] = []
        polls = iter([True, False])
        watch(project.notes, lambda: builds.append(1), keep_going=lambda: next(polls))
        assert builds == [1]


# -- Inputs under 1 MB finish in time ---------------------------------------------------------

MEGABYTE = 1 << 20


def megabyte_of(unit: str, head: str = "") -> str:
    """``head``, then ``unit`` repeated up to 1 MB."""
    return head + unit * ((MEGABYTE - len(head)) // len(unit))


@contextmanager
def finishes_within(seconds: float) -> Iterator[None]:
    """The block must finish within ``seconds`` of CPU time (CPU time, so that a loaded
    machine does not fail it; the attacks it guards against took minutes)."""
    start = time.process_time()
    yield
    spent = time.process_time() - start
    assert spent < seconds, f"took {spent:.1f} s of CPU, more than {seconds} s"


def answer_card(value_source: str) -> Card:
    """A Q/A card of ``notes/a.md`` whose answer's source is ``value_source``."""
    loc = SourceLoc("notes/a.md", 1)
    return Card(CardKind.QA, loc, ROOT, (), (), "Q", "A", "", "", "Q", value_source)


class TestInputsUnderOneMegabyte:
    """Every scan of user text is linear or capped: each reader gets 1 MB of the worst
    text for it and must finish in time (2 s for build-deck's own scanners; the
    Markdown parser, markdown-it-py, reads adversarial text at about 100 KB/s at best,
    so a whole file gets more)."""

    def test_a_run_of_unclosed_image_brackets(self) -> None:
        from build_deck.parse.markdown import make_parser

        md = make_parser()
        for unit in ("![", "[^ "):  # each took minutes per megabyte
            with finishes_within(20):
                md.parse(megabyte_of(unit, "A: "))

    def test_a_run_of_math_openers_without_a_closer(self) -> None:
        from build_deck.parse.markdown import make_parser
        from build_deck.typeset.texcheck import math_in_html

        with finishes_within(30):
            make_parser().parse(megabyte_of("\\(", "A: "))
        for unit in ("\\(", "\\[", "<pre>", "<code x", "<pre <pre>"):
            with finishes_within(2):
                math_in_html(megabyte_of(unit))

    def test_a_run_of_unclosed_deletions(self) -> None:
        from build_deck.parse.cloze import find_clozes
        from build_deck.parse.markdown import make_parser

        for unit in ("{{a ", "{{c1::a "):
            with finishes_within(30):
                make_parser().parse(megabyte_of(unit, "x ") + "}}")
            with finishes_within(2):
                find_clozes(megabyte_of(unit), shorthand=False)

    def test_a_heading_with_80000_section_tags(
        self, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        from build_deck.parse.sections import trailing_tags

        tags = "".join(f" #t{i}" for i in range(80_000))
        with finishes_within(2):
            assert len(trailing_tags("Heading" + tags)[0]) == 80_000
            assert trailing_tags("Heading" + tags + " x")[0] == ()
        project.write("a.md", f"# Heading{tags}\n\nQ: Why?\nA: Because.\n")
        with finishes_within(60):
            assert project.run("check") == 1
        assert "notes/a.md:1: error: more than 50 section tags on one heading" in (
            capsys.readouterr().err
        )

    def test_an_answer_with_100000_pre_tags(self, project: Project) -> None:
        project.write("a.md", "Q: Why?\nA: " + "<pre>" * 100_000 + " $x$\n")
        run_limited(project, "check", seconds=60)  # fails the test past 60 s

    def test_the_mark_is_looked_for_in_linear_time(self) -> None:
        from build_deck.parse.cards import imitates_mark

        for unit in ("<a class=x ", "<a class='", "✓ " + " " * 50, "<" + "a" * 99):
            with finishes_within(2):
                imitates_mark(megabyte_of(unit) + " verified")

    def test_a_value_is_read_in_linear_time(self) -> None:
        from build_deck.verify.coverage import CardReading, judge_coverage
        from build_deck.verify.values import card_value

        def check_arithmetic(card: Card) -> object:
            return judge_coverage(CardReading.read(card, set()), earned=False, strict=False)

        check = Check(SourceLoc("notes/a.md", 3), "answer = 1", None)
        units = ("[1, ", "(1, ", "**1", "1" * 50 + " ", "<span>", "~~", "$1 = 2$ ", "**$1$** = ")
        for unit in units:
            with finishes_within(2):  # an answer over 64 KiB shows no value
                assert "longer than 64 KiB" in str(
                    card_value(answer_card(megabyte_of(unit)), check)
                )
                check_arithmetic(answer_card(megabyte_of(unit)))
            card = answer_card(unit * (60_000 // len(unit)))
            with finishes_within(5):
                card_value(card, check)
                check_arithmetic(card)

    def test_a_100_kb_card_retyped_under_sync(self) -> None:
        from build_deck.anki.note_record import NoteRecord
        from build_deck.anki.pairing import pair_retyped
        from build_deck.anki.sync_model import Desired, Existing

        text = " ".join(f"word{i}" for i in range(14_000))  # about 100 KB
        card = replace(
            answer_card(text), kind=CardKind.CLOZE, content=f"{{{{c1::{text}}}}}", back=""
        )
        card = replace(card, cloze_numbers=(1,))
        want = Desired.of(NoteRecord.of(card, verified=False, guid="new"))
        fields = {"Front": text, "Back": text[::-1], "Context": "", "Source": want.fields["Source"]}
        old = Existing(1, "old", QA.model_id, fields, (), ())
        with finishes_within(2):
            assert pair_retyped([want], [old], {})["new"] is old

    def test_a_collection_field_of_math_openers_is_named_in_linear_time(self) -> None:
        from build_deck.anki.note_text import first_words, source_place

        for unit in ("\\(", "<a ", "{{c1::", "<"):
            with finishes_within(2):
                first_words({"Front": megabyte_of(unit)})
        assert source_place("notes/a.md:" + "9" * 5000) == ("notes/a.md:" + "9" * 5000, 0)
        assert source_place("notes/a.md:²") == ("notes/a.md:²", 0)

    def test_a_ledger_file_of_the_worst_lines(self) -> None:
        from build_deck.identity.ledger_format import parse_ledger

        header = '{"build-deck ledger": 2}\n'
        for unit in ("{}\n", "[" * 100 + "\n", '"\\ud800"\n', "<<<<<<< x\n"):
            with finishes_within(2):
                parse_ledger(megabyte_of(unit, header), "cards/ledger/00.jsonl")


# -- Every failure is one line ---------------------------------------------------------------


class TestOneLineFailures:
    """Integers are bounded, nesting is caught, what a worker returns is validated, and
    what reaches the terminal is escaped."""

    @pytest.mark.parametrize("number", ["9" * 5000, "99999999999999999999", "1000"])
    def test_a_huge_cloze_number_is_one_line(
        self, project: Project, capsys: pytest.CaptureFixture[str], number: str
    ) -> None:
        project.write("a.md", f"The answer is {{{{c{number}::x}}}}.\n")
        assert project.run("build") == 1
        err = capsys.readouterr().err
        assert_one_line_errors(err)
        assert "notes/a.md:1: error: cloze number c" in err
        assert "is too large: numbers go from c1 to c999" in err

    def test_deeply_nested_front_matter_is_one_line(
        self, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project.write("a.md", "---\ndeck: " + "[" * 500 + "]" * 500 + "\n---\nQ: Why?\nA: So.\n")
        assert project.run("check") == 1
        err = capsys.readouterr().err
        assert "notes/a.md:2: error: front matter nested deeper than 4 levels" in err

    def test_a_ragged_reference_from_a_worker_is_an_error_at_its_card(self) -> None:
        from build_deck.verify.formula_check import compare_formula, read_formula
        from build_deck.verify.sandbox.wire import FormulaPoint, Outcome

        check = Check(SourceLoc("notes/a.md", 3), "# formula", None)
        formula = read_formula(answer_card("$y = x$"), check, "")
        point = FormulaPoint({"x": 1.0}, (1.0,), [1.0, [2.0, 3.0]])
        outcome = Outcome(None, False, None, None, 0, formula=(point, point))
        message = compare_formula(formula, outcome, None, None)
        assert message is not None and "not a number or a regular array" in message

    def test_escape_sequences_in_a_question_do_not_reach_the_terminal(
        self, project: Project, capsys: pytest.CaptureFixture[str]
    ) -> None:
        project.write("a.md", "Q: Clear \x1b[2J\x1b]0;owned\x07 the screen?\nA: No.\n")
        assert project.run("build") == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\x07" not in out
        assert "new: notes/a.md:1: Clear \\x1b[2J\\x1b]0;owned\\x07 the screen?" in out
