"""Bad input: every problem names notes/FILE.md:LINE, all come in one run, nothing is written."""

from __future__ import annotations

import pytest

from tests.conftest import Project, ledger_snapshot

GOOD = """
# Topic

Q: Fine?
A: Yes.
"""

CASES = [
    (
        "unclosed cloze",
        "# T\n\nThe loss is {{c1::cross-entropy.\n",
        "notes/bad.md:3: error: unclosed cloze: close it with '}}'",
    ),
    (
        "unclosed cloze on a later line of a paragraph",
        "First line\nsecond {{c2::open\n",
        "notes/bad.md:2: error: unclosed cloze: close it with '}}'",
    ),
    (
        "empty cloze",
        "An {{c1::}} gap.\n",
        "notes/bad.md:1: error: empty cloze: put the text to hide between '::' and '}}'",
    ),
    (
        "nested cloze",
        "An {{c1::outer {{c2::inner}} deletion}}.\n",
        "notes/bad.md:1: error: nested cloze: close the first deletion before opening another",
    ),
    (
        "empty shorthand cloze",
        "\nAn {{ }} gap.\n",
        "notes/bad.md:2: error: empty cloze: put the text to hide between '::' and '}}'",
    ),
    (
        "unbalanced dollar",
        "Q: What is $x_1?\nA: One.\n",
        "notes/bad.md:1: error: unbalanced '$': close the math with '$', "
        "or write '\\$' for a literal dollar sign",
    ),
    (
        "unbalanced double dollar",
        "Para\n\nThe sum $$\\sum_i x_i is open.\n",
        "notes/bad.md:3: error: unbalanced '$$': close the math with '$$', "
        "or write '\\$' for a literal dollar sign",
    ),
    (
        "Q without A",
        "# T\n\nQ: Where is the answer?\n\nJust prose.\n",
        "notes/bad.md:3: error: 'Q:' without 'A:': start the answer with 'A:' "
        "on the next line or in the next paragraph",
    ),
    (
        "Q without A at the end of the file",
        "Q: Where is the answer?\n",
        "notes/bad.md:1: error: 'Q:' without 'A:': start the answer with 'A:' "
        "on the next line or in the next paragraph",
    ),
    (
        "A without Q",
        "Prose.\n\nA: An answer to nothing.\n",
        "notes/bad.md:3: error: 'A:' without 'Q:': put the question before it, starting 'Q:'",
    ),
    (
        "empty answer",
        "Q: Something?\nA:\n",
        "notes/bad.md:1: error: empty answer: write it after 'A:'",
    ),
    (
        "cloze inside a Q/A card",
        "Q: What is {{c1::this}}?\nA: A cloze.\n",
        "notes/bad.md:1: error: a Q/A card cannot hold a cloze: "
        "remove the '{{...}}' or the 'Q:'/'A:'",
    ),
    (
        "malformed YAML front matter",
        "---\ndeck: [unclosed\n---\n# T\n",
        "notes/bad.md:2: error: malformed YAML front matter: "
        "expected ',' or ']', but got '<stream end>'",
    ),
    (
        "unknown front matter key",
        "---\ndeck: Maths\ntitle: Notes\n---\n# T\n",
        "notes/bad.md:3: error: unknown front matter key 'title': use one of deck, tags",
    ),
    (
        "missing image",
        "Q: Which plot?\nA: ![loss](img/loss.png)\n",
        "notes/bad.md:2: error: image not found: img/loss.png (looked for loss.png in "
        "notes/img); fix the path or add the file",
    ),
    (
        "Extra without a card",
        "Prose.\n\nExtra: orphan.\n",
        "notes/bad.md:3: error: 'Extra:' must come directly after a card (its answer or cloze)",
    ),
    (
        "check without a card",
        "Prose.\n\n```check\nanswer = 1\n```\n",
        "notes/bad.md:3: error: a check block must come directly after its card "
        "(after the answer, the cloze or its Extra:)",
    ),
]


@pytest.mark.parametrize(("name", "text", "message"), CASES, ids=[c[0] for c in CASES])
def test_error_names_file_and_line(
    project: Project, capsys: pytest.CaptureFixture[str], name: str, text: str, message: str
) -> None:
    (project.notes / "bad.md").write_text(text, encoding="utf-8")
    assert project.run("check") == 1
    err = capsys.readouterr().err.splitlines()
    assert message in err


def test_not_utf8(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    (project.notes / "latin1.md").write_bytes("# T\n\nQ: Caf\xe9?\nA: Yes.\n".encode("latin-1"))
    assert project.run("check") == 1
    assert (
        "notes/latin1.md:3: error: not UTF-8 (byte 0xe9): save the file as UTF-8"
        in capsys.readouterr().err
    )


def test_duplicate_cards_across_files(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    project.write("a.md", "Q: Same?\nA: Same.\n")
    project.write("b.md", "Prose.\n\nQ: Same?\nA: Same.\n")
    assert project.run("check") == 1
    assert (
        "notes/b.md:3: error: duplicate card: same content as notes/a.md:1; "
        "remove one or make them differ" in capsys.readouterr().err
    )


def test_every_error_in_one_run_and_old_package_untouched(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write("good.md", GOOD)
    assert project.run("build") == 0
    before = project.apkg.read_bytes()
    ledger_before = ledger_snapshot(project.cards)

    project.write("good.md", GOOD + "\nQ: Changed card?\nA: New.\n")
    project.write("bad1.md", "Q: One?\n\nprose\n")
    project.write("bad2.md", "An {{c1::}} and {{c2::open\n\nThe $x oops.\n")
    capsys.readouterr()
    assert project.run("build") == 1
    out = capsys.readouterr()
    errors = [line for line in out.err.splitlines() if ": error: " in line]
    assert errors == [
        "notes/bad1.md:1: error: 'Q:' without 'A:': start the answer with 'A:' "
        "on the next line or in the next paragraph",
        "notes/bad2.md:1: error: empty cloze: put the text to hide between '::' and '}}'",
        "notes/bad2.md:1: error: unclosed cloze: close it with '}}'",
        "notes/bad2.md:3: error: unbalanced '$': close the math with '$', "
        "or write '\\$' for a literal dollar sign",
    ]
    assert "4 errors, nothing written" in out.out
    assert project.apkg.read_bytes() == before
    assert ledger_snapshot(project.cards) == ledger_before


def test_existing_image_is_packaged(project: Project) -> None:
    (project.notes / "img").mkdir()
    (project.notes / "img" / "plot.png").write_bytes(b"\x89PNG fake image bytes")
    project.write("pics.md", "Q: Which plot?\nA: ![loss](img/plot.png)\n")
    assert project.run("build") == 0
    import json
    import zipfile

    with zipfile.ZipFile(project.apkg) as archive:
        media = json.loads(archive.read("media"))
        assert list(media.values()) == [next(iter(media.values()))]
        (name,) = media.values()
        assert name.startswith("plot-") and name.endswith(".png")
        assert archive.read(next(iter(media))) == b"\x89PNG fake image bytes"
