"""`build-deck sync` against real collections, with cards reviewed through Anki's scheduler."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from anki.collection import Collection

from build_deck.anki import collection as collection_module
from build_deck.anki.sync_state import state_key
from build_deck.cli import main
from build_deck.typeset.texcheck import TexChecker, find_mathjax
from build_deck.verify.sandbox import pool as sandbox_pool
from tests.anki.syncing import (
    NOTES,
    ROOT,
    edit_in_anki,
    history,
    note_by_front,
    opened,
    pull,
    review_all,
    sync,
    sync_ok,
)
from tests.conftest import Project, import_package
from tests.test_errors import PNG


def test_first_sync_adds_then_second_sync_does_nothing(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    (project.notes / "plot.png").write_bytes(PNG)
    project.write("plots.md", "# Plots\n\nQ: Which plot?\nA: ![loss](plot.png)\n")

    out = sync_ok(project, col_path, capsys, "--dry-run")
    assert "dry run, nothing written: +4 new" in out
    assert not project.cards.exists()  # the ledger too is left alone
    with opened(col_path) as col:
        assert col.note_count() == 0

    out = sync_ok(project, col_path, capsys)
    assert "synced profile/collection.anki2: +4 new" in out
    assert len(list((col_path.parent / "backups").glob("*.colpkg"))) == 1
    with opened(col_path) as col:
        assert col.note_count() == 4
        (picture,) = col.find_notes('"Front:Which plot?"')
        name = col.get_note(picture)["Back"].split('src="')[1].split('"')[0]
        assert (Path(col.media.dir()) / name).read_bytes() == PNG
        decks = {col.decks.name(c.did) for c in (col.get_card(i) for i in col.find_cards(""))}
        assert decks == {f"{ROOT}::Machine Learning", f"{ROOT}::Plots"}
        mtime = col.db.scalar("SELECT max(mod) FROM notes")  # type: ignore[union-attr]

    out = sync_ok(project, col_path, capsys)
    assert out.rstrip().endswith(
        "nothing to do: profile/collection.anki2 already matches the notes"
    )
    assert len(list((col_path.parent / "backups").glob("*.colpkg"))) == 1
    with opened(col_path) as col:
        assert col.db.scalar("SELECT max(mod) FROM notes") == mtime  # type: ignore[union-attr]


def test_deck_change_moves_cards_and_keeps_history(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloze = "\nMomentum keeps a {{c1::running average}} of the gradients.\n"
    project.write("ml.md", NOTES + cloze)
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        assert review_all(col) == 4
        step = note_by_front(col, "optimizer.step()")
        before = history(col, step)
        assert before[0][1] >= 1

    # A new deck for the file, and at the same time a second deletion in the cloze.
    second = cloze.replace("the gradients", "the {{c2::gradients}}")
    project.write("ml.md", "---\ndeck: Deep Learning::Optimisers\n---\n" + NOTES + second)
    out = sync_ok(project, col_path, capsys)
    assert "move: notes/ml.md:" in out and "4 moved" in out
    with opened(col_path) as col:
        target = col.decks.id_for_name(f"{ROOT}::Deep Learning::Optimisers")
        cards = [col.get_card(c) for c in col.find_cards("")]
        assert len(cards) == 5
        assert {c.did for c in cards} == {target}
        assert note_by_front(col, "optimizer.step()") == step
        assert history(col, step) == before


def test_open_collection_is_refused_and_nothing_written(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from anki.collection import Collection\n"
            "col = Collection(sys.argv[1])\n"
            "print(col.note_count(), flush=True)\n"
            "time.sleep(60)\n",
            str(col_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "0"
        before = col_path.read_bytes()
        code, out = sync(project, col_path, capsys)
    finally:
        holder.kill()
        holder.wait()
    assert code == 1
    errors = [line for line in out.splitlines() if "error" in line]
    assert errors == [
        "profile/collection.anki2:0: error: the collection is open in Anki (or another "
        "program): close Anki, or switch it to another profile, then sync again"
    ]
    assert col_path.read_bytes() == before
    assert not (col_path.parent / "backups").exists()
    assert not project.cards.exists() and not project.apkg.exists()
    with opened(col_path) as col:
        assert col.note_count() == 0


@pytest.mark.skipif(
    shutil.which("node") is None or find_mathjax(Path(__file__).parent) is None,
    reason="needs Node.js and MathJax to start",
)
def test_a_first_sync_starts_mathjax_and_the_check_workers_before_opening_the_collection(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write(
        "ml.md", NOTES + "\nQ: What is $6 \\cdot 7$?\nA: **42**\n\n```check\nanswer = 42\n```\n"
    )
    events: list[str] = []
    spawn, launch = sandbox_pool._spawn, TexChecker._launch
    open_collection = collection_module.open_collection

    def record(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(*args: Any, **kwargs: Any) -> Any:
            events.append(name)
            return function(*args, **kwargs)

        return recorded

    sandbox_pool._close_pools()  # a sync in a process of its own, as a user runs it
    with (
        mock.patch.object(sandbox_pool, "_spawn", record("spawn", spawn)),
        mock.patch.object(TexChecker, "_launch", record("mathjax", launch)),
        mock.patch.object(collection_module, "open_collection", record("open", open_collection)),
    ):
        out = sync_ok(project, col_path, capsys)
    assert "+4 new" in out
    with opened(col_path) as col:
        assert len(col.find_notes("tag:verified")) == 1
    opening = events.index("open")
    assert "mathjax" in events[:opening] and "spawn" in events[:opening]
    assert "spawn" not in events[opening:]  # the workers started ahead ran the check


def test_anki_edit_and_marked_tag_are_kept_conflict_pulled_and_converge(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        review_all(col)
        step = note_by_front(col, "optimizer.step()")
        note = col.get_note(step)  # type: ignore[arg-type]
        note["Back"] = "It updates the parameters <b>using</b> their gradients.<br>"
        note.tags.append("marked")
        col.update_note(note)
        before = history(col, step)

    # An unrelated change of the notes: the edit and the tag stay.
    project.write("ml.md", NOTES.replace("every parameter.", "each parameter."))
    out = sync_ok(project, col_path, capsys)
    assert "kept Anki edit: notes/ml.md:5: Back (the notes did not change it)" in out
    assert "update: notes/ml.md:8: fields Back" in out
    with opened(col_path) as col:
        note = col.get_note(step)  # type: ignore[arg-type]
        assert note["Back"] == "It updates the parameters <b>using</b> their gradients.<br>"
        assert "marked" in note.tags and "pytorch" in note.tags
        backward = col.get_note(note_by_front(col, "loss.backward()"))  # type: ignore[arg-type]
        assert backward["Back"].endswith("each parameter.")

    # The same card changed in the notes too: a conflict, and the card is left alone.
    changed = NOTES.replace("every parameter.", "each parameter.").replace(
        "It updates the parameters from their gradients.", "It moves the parameters."
    )
    project.write("ml.md", changed)
    code, out = sync(project, col_path, capsys)
    assert code == 1
    assert (
        "notes/ml.md:5: error: conflict: Back edited in Anki and in the notes since the last "
        "sync; --theirs keeps Anki's, --ours takes the notes'"
    ) in out
    with opened(col_path) as col:
        assert "<b>using</b>" in col.get_note(step)["Back"]  # type: ignore[arg-type]

    # pull shows Anki's edit as a diff against the notes, in the notes' Markdown.
    out = pull(project, col_path, capsys)
    assert "notes/ml.md:5: Back edited in Anki" in out
    assert (
        "-A: It moves the parameters.\n+A: It updates the parameters **using** their gradients."
        in out
    )
    assert "1 fields edited in Anki, 1 of them can be applied" in out
    assert (project.notes / "ml.md").read_text(encoding="utf-8") == changed.lstrip("\n")

    # pull --apply writes it into the notes, and into Anki as the notes now build it
    # (<strong>, where Anki's editor wrote <b>): sync then has nothing to do.
    out = pull(project, col_path, capsys, "--apply")
    assert "applied 1 of 1 fields edited in Anki to notes/ml.md" in out
    assert "A: It updates the parameters **using** their gradients.\n" in (
        project.notes / "ml.md"
    ).read_text(encoding="utf-8")
    assert "nothing to do" in sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        note = col.get_note(step)  # type: ignore[arg-type]
        assert note["Back"] == "It updates the parameters <strong>using</strong> their gradients."
        assert "marked" in note.tags
        assert history(col, step) == before
    assert "no fields edited in Anki since the last sync" in pull(project, col_path, capsys)
    assert "nothing to do" in sync_ok(project, col_path, capsys)


def test_a_retyped_card_is_paired_from_another_working_directory(
    project: Project,
    col_path: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    project.write(
        "ml.md",
        NOTES.replace(
            "Q: Which rate scales each step?\nA: The learning rate.",
            "The {{c1::learning rate}} scales each {{c2::step}}.",
        ),
    )
    out = sync_ok(project, col_path, capsys, "--allow-removals")
    assert "+0 new" in out and "1 retyped" in out and "0 tagged removed" in out


def test_an_unlike_card_of_the_other_type_is_not_paired_for_being_near_the_top(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("top.md", "# Top\n\nQ: Which optimizer keeps two moments?\nA: Adam.\n")
    sync_ok(project, col_path, capsys)
    project.write("top.md", "# Top\n\nThe {{c1::softmax}} turns logits into probabilities.\n")
    out = sync_ok(project, col_path, capsys, "--allow-removals")
    assert "+1 new" in out and "0 retyped" in out and "1 tagged removed" in out


def test_qa_to_cloze_keeps_the_reviews_on_the_first_cloze_card(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        review_all(col)
        rate = note_by_front(col, "Which rate")
        ((card_id, ord_, reviews, interval),) = [
            (card.id, card.ord, n, card.ivl)
            for card in col.get_note(rate).cards()  # type: ignore[arg-type]
            for n in [len(col.card_stats_data(card.id).revlog)]
        ]
        assert reviews >= 1 and ord_ == 0

    project.write(
        "ml.md",
        NOTES.replace(
            "Q: Which rate scales each step?\nA: The learning rate.",
            "The {{c1::learning rate}} scales each {{c2::step}}.",
        ),
    )
    out = sync_ok(project, col_path, capsys, "--allow-removals")
    assert "update: notes/ml.md:11: note type build_deck Q/A -> build_deck Cloze" in out
    assert "+0 new" in out and "1 retyped" in out and "0 tagged removed" in out
    with opened(col_path) as col:
        assert col.note_count() == 3
        note = col.get_note(rate)  # type: ignore[arg-type]
        assert note.note_type()["name"] == "build_deck Cloze"  # type: ignore[index]
        assert "{{c1::learning rate}}" in note["Text"]
        cards = sorted(note.cards(), key=lambda c: c.ord)
        assert [c.ord for c in cards] == [0, 1]
        first = cards[0]
        assert first.id == card_id and first.ivl == interval
        assert col.db.scalar("SELECT count() FROM revlog WHERE cid = ?", first.id) == reviews  # type: ignore[union-attr]
        target = col.decks.id_for_name(f"{ROOT}::Machine Learning")
        assert {c.did for c in cards} == {target}
    assert "nothing to do" in sync(project, col_path, capsys)[1]

    # And back: the first cloze card becomes the Q/A card, with the same reviews.
    project.write("ml.md", NOTES)
    out = sync_ok(project, col_path, capsys, "--allow-removals")
    assert "update: notes/ml.md:11: note type build_deck Cloze -> build_deck Q/A" in out
    with opened(col_path) as col:
        assert col.note_count() == 3
        note = col.get_note(rate)  # type: ignore[arg-type]
        assert note["Front"] == "Which rate scales each step?"
        (card,) = note.cards()
        assert card.id == card_id
        assert len(col.card_stats_data(card.id).revlog) == reviews


def test_removed_cards_are_tagged_then_pruned_and_hand_made_notes_untouched(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        review_all(col)
        deck = col.decks.id_for_name(f"{ROOT}::Machine Learning")
        own = col.new_note(col.models.by_name("build_deck Q/A"))  # type: ignore[arg-type]
        own["Front"] = "My own question"
        own["Back"] = "My own answer"
        col.add_note(own, deck)  # type: ignore[arg-type]
        step = note_by_front(col, "optimizer.step()")

    project.write(
        "ml.md",
        NOTES.replace(
            "Q: What does `optimizer.step()` do?\n"
            "A: It updates the parameters from their gradients.\n\n",
            "",
        ),
    )
    out = sync_ok(project, col_path, capsys, "--allow-removals")
    assert (
        "removed: notes/ml.md › Machine Learning > Training: "
        "What does optimizer.step() do? (tagged build-deck::removed)" in out
    )
    with opened(col_path) as col:
        assert col.find_notes("tag:build-deck::removed") == [step]
        assert col.note_count() == 4

    out = sync(project, col_path, capsys, "--prune", "--dry-run", "--allow-removals")[1]
    assert (
        "delete: notes/ml.md › Machine Learning > Training: What does optimizer.step() do?" in out
    )
    # Not a terminal: it asks, and gets no answer.
    out = sync(project, col_path, capsys, "--prune", "--allow-removals")[1]
    assert "not deleted" in out
    with opened(col_path) as col:
        assert col.note_count() == 4

    out = sync_ok(project, col_path, capsys, "--prune", "--yes", "--allow-removals")
    assert "1 deleted" in out
    with opened(col_path) as col:
        assert col.note_count() == 3
        assert col.find_notes("tag:build-deck::removed") == []
        (kept,) = col.find_notes('"Front:My own question"')
        assert kept == own.id and col.get_note(kept)["Back"] == "My own answer"


def contents(
    col: Collection,
) -> dict[str, tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    """Every note by GUID: note type, fields, tags and the decks of its cards."""
    found = {}
    for note_id in col.find_notes(""):
        note = col.get_note(note_id)
        decks = tuple(sorted(col.decks.name(card.did) for card in note.cards()))
        notetype = note.note_type()
        assert notetype is not None
        found[note.guid] = (notetype["name"], tuple(note.fields), tuple(sorted(note.tags)), decks)
    return found


def test_sync_of_shipped_notes_equals_importing_the_package(
    shipped: Project, collection: Collection, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shipped.run("build") == 0
    import_package(collection, shipped.apkg)
    imported = contents(collection)

    sync_ok(shipped, col_path, capsys)
    with opened(col_path) as col:
        synced = contents(col)
        media = sorted(p.name for p in Path(col.media.dir()).iterdir())
    assert len(synced) == len(imported) > 400
    assert synced == imported
    assert media == sorted(p.name for p in Path(collection.media.dir()).iterdir())


def test_pull_shows_html_it_cannot_turn_back_and_does_not_apply_it(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        edit_in_anki(
            col, "loss.backward()", "Back", 'See <a href="https://pytorch.org">the docs</a>.'
        )
    out = pull(project, col_path, capsys, "--apply")
    assert "notes/ml.md:8: Back edited in Anki" in out
    assert "it holds HTML with no Markdown here (a): shown as HTML, not applied" in out
    assert '+A: See <a href="https://pytorch.org">the docs</a>.' in out
    assert "applied 0 of 1 fields" in out
    assert (project.notes / "ml.md").read_text(encoding="utf-8") == NOTES.lstrip("\n")


def test_without_the_anki_package_sync_says_how_to_install_it(project: Project) -> None:
    project.write("ml.md", NOTES)
    code = (
        "import sys\n"
        "sys.modules['anki'] = None  # as if the package were not installed\n"
        "from build_deck.cli import main\n"
        "sys.exit(main(['sync', '--collection', 'c.anki2']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=project.root, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stderr == (
        "anki:0: error: the anki package is not installed: pip install 'build-deck[sync]' "
        "(or run 'make'), which installs the anki package\n"
    )
    assert not project.cards.exists()


def test_after_an_apkg_import_pull_shows_edits_but_leaves_them_to_the_user(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    assert project.run("build") == 0
    with opened(col_path) as col:
        import_package(col, project.apkg)
        edit_in_anki(col, "Which rate", "Back", "The <i>learning</i> rate.")
    out = pull(project, col_path, capsys, "--apply")
    assert "notes/ml.md:11: Back edited in Anki" in out
    assert "sync never wrote this note, so the notes may have changed instead" in out
    assert "+A: The *learning* rate." in out
    assert "applied 0 of 1 fields" in out
    assert (project.notes / "ml.md").read_text(encoding="utf-8") == NOTES.lstrip("\n")


def test_theirs_keeps_the_anki_edit_and_ours_takes_the_notes(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        step = note_by_front(col, "optimizer.step()")
        note = col.get_note(step)  # type: ignore[arg-type]
        note["Back"] = "Anki's answer."
        col.update_note(note)
    project.write("ml.md", NOTES.replace("from their gradients.", "from the gradients."))
    assert sync(project, col_path, capsys)[0] == 1

    out = sync_ok(project, col_path, capsys, "--theirs")
    assert "kept Anki edit: notes/ml.md:5: Back" in out
    out = sync_ok(project, col_path, capsys)  # settled: no conflict any more
    assert "error" not in out and "kept Anki edit: notes/ml.md:5: Back" in out
    with opened(col_path) as col:
        assert col.get_note(step)["Back"] == "Anki's answer."  # type: ignore[arg-type]

    project.write("ml.md", NOTES.replace("from their gradients.", "from the loss gradients."))
    assert sync(project, col_path, capsys)[0] == 1
    sync_ok(project, col_path, capsys, "--ours")
    with opened(col_path) as col:
        back = col.get_note(step)["Back"]  # type: ignore[arg-type]
        assert back == "It updates the parameters from the loss gradients."


@pytest.mark.parametrize("damaged", [{"version": 1, "notes": "cut"}, {"version": 99}, "text"])
def test_a_damaged_sync_state_is_reported_and_rebuilt(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str], damaged: object
) -> None:
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        col.set_config(state_key(ROOT), damaged)
    out = sync_ok(project, col_path, capsys)
    assert "warning: the sync state in the collection is unreadable" in out
    out = sync_ok(project, col_path, capsys)
    assert "warning" not in out and "nothing to do" in out


STRACE = shutil.which("strace")


@pytest.mark.skipif(STRACE is None, reason="needs strace to kill sync at a chosen write")
@pytest.mark.parametrize("write_number", [20, 60])
def test_sync_killed_mid_write_leaves_a_collection_the_next_sync_completes(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str], write_number: int
) -> None:
    project.write(
        "big.md",
        "# Big\n\n"
        + "".join(f"Q: Question {i} on topic {i * 7}?\nA: Answer {i}.\n\n" for i in range(40)),
    )
    assert STRACE is not None
    # SIGKILL at the Nth write into the collection's write-ahead log (of about 85).
    killed = subprocess.run(
        [
            STRACE,
            "-f",
            "-o",
            "/dev/null",
            "-P",
            f"{col_path}-wal",
            "-e",
            "trace=pwrite64",
            "-e",
            f"inject=pwrite64:signal=KILL:when={write_number}",
            sys.executable,
            "-m",
            "build_deck",
            "sync",
            "--collection",
            str(col_path),
        ],
        cwd=project.root,
        capture_output=True,
        text=True,
    )
    assert "synced" not in killed.stdout, killed.stdout
    assert (col_path.parent / "backups").is_dir()  # killed after the backup, in the writes
    with opened(col_path) as col:
        assert col.db.scalar("PRAGMA integrity_check") == "ok"  # type: ignore[union-attr]

    sync_ok(project, col_path, capsys)
    with opened(col_path) as col:
        assert col.note_count() == 40
        guids = col.db.list("SELECT guid FROM notes")  # type: ignore[union-attr]
        assert len(set(guids)) == 40
    assert "nothing to do" in sync_ok(project, col_path, capsys)


def test_two_root_decks_in_one_collection_leave_each_other_alone(
    project: Project, col_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("ml.md", NOTES)
    sync_ok(project, col_path, capsys)
    other = project.root / "other"
    (other / "notes").mkdir(parents=True)
    (other / "notes" / "bio.md").write_text(
        "Q: Which organelle makes ATP?\nA: The mitochondrion.\n"
    )
    capsys.readouterr()
    args = ["sync", "--collection", str(col_path), "--deck", "Biology", "--prune", "--yes"]
    paths = ["--notes", str(other / "notes"), "--cards", str(other / "cards")]
    assert main([*args, *paths, "--out", str(other / "dist")]) == 0
    out = capsys.readouterr().out
    assert "+1 new" in out and "0 tagged removed, 0 deleted" in out
    with opened(col_path) as col:
        assert col.note_count() == 4
        assert col.find_notes("tag:build-deck::removed") == []
    assert "nothing to do" in sync_ok(project, col_path, capsys)
