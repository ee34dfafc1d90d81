"""The build cache is correct (edited files rebuilt, others reused, corruption ignored),
and watch mode rebuilds on save."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from build_deck import reading
from build_deck.cache import default_cache_dir, entry_path
from build_deck.pipeline import run
from build_deck.reading import _parse_one as parse_one
from build_deck.report import BuildOptions, BuildReport
from build_deck.verify.checks import verify_cards
from build_deck.verify.sandbox import pool as sandbox_pool
from build_deck.verify.sandbox import run_checks
from build_deck.watch import watch
from tests.conftest import Project

A = "# A\n\nQ: What is 6 times 7?\nA: **42**\n\n```check\nanswer = 6 * 7\n```\n"
B = "# B\n\nThe {{c1::chain rule}} multiplies derivatives.\n"


def build(project: Project) -> tuple[list[str], object]:
    """Run a check build; returns the files that were parsed afresh, and the report."""
    parsed, _, report = build_counting(project)
    return parsed, report


def build_counting(project: Project) -> tuple[list[str], list[str], BuildReport]:
    """Run a check build; returns the files parsed afresh, the code of the checks that
    ran, and the report."""
    options = BuildOptions(
        notes_dir=Path("notes"), cards_dir=Path("cards"), cache_dir=default_cache_dir(Path("notes"))
    )
    parsed: list[str] = []
    checks: list[str] = []

    def counting_run_checks(codes: list[str], **kwargs: Any) -> Any:
        checks.extend(code.strip() for code in codes)
        return run_checks(codes, **kwargs)

    def counting_parse(job: Any) -> Any:
        parsed.append(job[1])
        return parse_one(job)

    with (
        mock.patch("build_deck.reading._parse_one", counting_parse),
        mock.patch("build_deck.verify.checks.run_checks", counting_run_checks),
    ):
        report = run(options, write=False, verify=verify_cards)
    return sorted(parsed), checks, report


def test_unchanged_file_is_reused_and_edited_one_rebuilt(project: Project) -> None:
    project.write("a.md", A)
    project.write("b.md", B)
    parsed, report = build(project)
    assert parsed == ["notes/a.md", "notes/b.md"]
    assert [str(d) for d in report.diagnostics] == []  # type: ignore[attr-defined]

    parsed, report = build(project)
    assert parsed == []  # both from the cache
    assert len(report.cards) == 2 and len(report.verified) == 1  # type: ignore[attr-defined]

    project.write("a.md", A.replace("**42**", "**43**").replace("6 * 7", "6 * 7 + 1"))
    parsed, report = build(project)
    assert parsed == ["notes/a.md"]
    assert "**43**" in report.cards[0].value_source  # type: ignore[attr-defined]


def test_a_file_with_errors_is_never_served_from_the_cache(project: Project) -> None:
    project.write("a.md", A.replace("**42**", "**41**"))
    _, report = build(project)
    assert report.errors  # type: ignore[attr-defined]
    _, report = build(project)
    assert report.errors  # type: ignore[attr-defined]
    assert not any(default_cache_dir(Path("notes")).glob("*.json"))


def test_corrupt_cache_entry_is_ignored_with_a_warning(project: Project) -> None:
    project.write("a.md", A)
    build(project)
    entry = entry_path(default_cache_dir(Path("notes")), "notes/a.md")
    envelope = json.loads(entry.read_text())
    envelope["payload"] = envelope["payload"].replace("42", "41")  # HMAC now wrong
    entry.write_text(json.dumps(envelope))
    parsed, report = build(project)
    assert parsed == ["notes/a.md"]
    warnings = [str(d) for d in report.diagnostics]  # type: ignore[attr-defined]
    assert len(warnings) == 1
    assert warnings[0].startswith("notes/a.md:1: warning: ignoring corrupt build cache entry")
    assert "HMAC does not hold" in warnings[0]
    assert "**42**" in report.cards[0].value_source  # type: ignore[attr-defined]

    entry.write_text("{ not json")
    parsed, _ = build(project)
    assert parsed == ["notes/a.md"]


def test_cache_entry_from_another_tool_version_is_stale(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.write("a.md", A)
    build(project)
    import build_deck.cache as cache

    monkeypatch.setattr(cache, "tool_fingerprint", lambda: "another version")
    parsed, _ = build(project)
    assert parsed == ["notes/a.md"]


def test_watch_rebuilds_after_a_save_and_keeps_the_last_good_deck(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("a.md", A)
    builds: list[int] = []

    def rebuild() -> None:
        builds.append(project.run("build"))

    stop = threading.Event()
    thread = threading.Thread(
        target=watch,
        args=(project.notes, rebuild),
        kwargs={"interval": 0.05, "keep_going": lambda: not stop.is_set()},
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(builds) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        good = project.apkg.read_bytes()
        project.write("a.md", A + "\nQ: Broken?\n")  # Q: without A:
        while len(builds) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert project.apkg.read_bytes() == good
        project.write("a.md", A + "\nQ: Fixed?\nA: Yes.\n")
        # A save may be seen half-way (the file empty): that build stops too.
        while (len(builds) < 3 or builds[-1] != 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        # The builds up to the first good one after the fix; the watcher may still be
        # building once more for the same save, seen twice (truncated, then written).
        seen = list(builds)
    finally:
        stop.set()
        thread.join()
    assert seen[0] == 0 and seen[1] == 1 and seen[-1] == 0
    assert set(seen[1:-1]) == {1}
    out = capsys.readouterr()
    assert "notes/a.md:10: error: 'Q:' without 'A:'" in out.err
    assert "2 cards (2 Q/A, 0 cloze, 1 verified: 1 values, 0 formulas, 0 arithmetic; " in out.out


CARDS = (
    "# C\n\n"
    "Q: What is 6 times 7?\nA: **42**\n\n```check\nanswer = 6 * 7\n```\n\n"
    "Q: What is 2 to the 10th?\nA: **1024**\n\n```check\nanswer = 2 ** 10\n```\n\n"
    "Q: What is 9 squared?\nA: **81**\n\n```check\nanswer = 9 ** 2\n```\n\n"
    "The {{c1::chain rule}} multiplies derivatives.\n"
)


def test_editing_one_card_reverifies_only_that_cards_checks(project: Project) -> None:
    project.write("c.md", CARDS)
    _, checks, report = build_counting(project)
    assert checks == ["answer = 6 * 7", "answer = 2 ** 10", "answer = 9 ** 2"]
    assert len(report.verified) == 3 and not report.diagnostics

    edited = CARDS.replace("**1024**", "**1,024**")
    project.write("c.md", edited)
    parsed, checks, report = build_counting(project)
    assert parsed == ["notes/c.md"]
    assert checks == ["answer = 2 ** 10"]  # the edited card's; the others from the cache
    assert sorted(loc.line for loc in report.verified) == [3, 10, 17]
    assert not report.diagnostics

    project.write("c.md", edited.replace("**81**", "**82**"))  # wrong: checked, and caught
    _, checks, report = build_counting(project)
    assert checks == ["answer = 9 ** 2"]
    assert [d.loc.line for d in report.errors] == [17]
    assert sorted(loc.line for loc in report.verified) == [3, 10]


def test_no_check_worker_starts_when_no_edited_card_has_a_check(project: Project) -> None:
    project.write("c.md", CARDS)
    build_counting(project)
    edited = "Intro.\n\n" + CARDS.replace("chain rule", "product rule")  # lines move too
    project.write("c.md", edited)
    with mock.patch("build_deck.verify.sandbox.pool._spawn") as spawn:
        _, checks, report = build_counting(project)
    assert checks == []
    spawn.assert_not_called()
    assert sorted(loc.line for loc in report.verified) == [5, 12, 19]  # moved, kept
    assert not report.diagnostics


def test_a_first_build_starts_its_check_workers_before_reading_and_a_later_one_does_not(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    events: list[str] = []
    spawn, parse_all = sandbox_pool._spawn, reading._parse_all

    def spawning(*args: Any, **kwargs: Any) -> Any:
        events.append("spawn")
        return spawn(*args, **kwargs)

    def parsing(*args: Any, **kwargs: Any) -> Any:
        events.append("parse")
        return parse_all(*args, **kwargs)

    def build_logged() -> str:
        events.clear()
        sandbox_pool._close_pools()  # each build in a process of its own, as a user runs it
        with (
            mock.patch("build_deck.verify.sandbox.pool._spawn", spawning),
            mock.patch("build_deck.reading._parse_all", parsing),
        ):
            assert project.run("build") == 0
        return capsys.readouterr().out

    project.write("c.md", CARDS)
    assert "3 verified" in build_logged()
    read = events.index("parse")
    assert read >= 1 and events[:read] == ["spawn"] * read  # started before any file was read
    assert events.count("spawn") == read  # and they ran every check: none started later

    project.write("c.md", CARDS.replace("chain rule", "product rule"))  # no check to run
    assert "3 verified" in build_logged()
    assert events == ["parse"]


def test_what_verifying_a_card_said_is_said_again_after_an_edit_elsewhere(
    project: Project,
) -> None:
    warned = (
        "# C\n\nQ: What is 6 times 7?\nA: **42**, and $x^2 = 9$.\n\n"
        "```check\nanswer = 6 * 7\n```\n\n"
        "Q: What is 2 to the 10th?\nA: **1024**\n\n```check\nanswer = 2 ** 10\n```\n"
    )
    project.write("c.md", warned)
    _, checks, report = build_counting(project)
    first = [str(d) for d in report.diagnostics]
    assert len(checks) == 2 and len(first) == 1 and "not marked verified: $x^2 = 9$" in first[0]

    project.write("c.md", warned.replace("**1024**", "**1,024**"))
    _, checks, report = build_counting(project)
    assert checks == ["answer = 6 * 7", "answer = 2 ** 10"]  # the warned card runs again
    assert [str(d) for d in report.diagnostics] == first


def test_a_user_cache_set_inside_the_project_is_not_called_a_committed_one(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``XDG_CACHE_HOME=.cache`` puts the user's own cache where the old, untrusted one
    lived: it is read, and no warning calls it someone else's."""
    import build_deck.cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(project.root / ".cache"))
    build_deck.cache.secret_key.cache_clear()
    project.write("a.md", A)
    assert project.run("build") == 0
    project.write("b.md", B)
    capsys.readouterr()
    assert project.run("build") == 0
    assert "ignored: a build cache inside the project" not in capsys.readouterr().err
    assert (project.root / ".cache" / "build-deck" / "secret.key").is_file()
