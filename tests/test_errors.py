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
        "front matter deck that is not text",
        "---\ndeck: [Maths, Physics]\n---\n# T\n",
        "notes/bad.md:2: error: front matter 'deck' must be text, e.g. 'deck: Mathematics'",
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


NUL_CASES = [
    (
        "one NUL byte",
        b"# T\n\nQ: Wh\0at?\nA: Yes.\n",
        "notes/nul.md:3: error: a NUL byte (the file is damaged, or saved as UTF-16): "
        "delete it, or save the file again as UTF-8",
    ),
    (
        "a block of zeros left by a crash",
        b"# T\n\nQ: What?\nA: Yes.\n" + b"\0" * 4096,
        "notes/nul.md:5: error: NUL bytes (the file is damaged, or saved as UTF-16): "
        "delete them, or save the file again as UTF-8",
    ),
    (
        "UTF-16 without a byte order mark",
        "# T\n\nQ: What?\nA: Yes.\n".encode("utf-16-le"),
        "notes/nul.md:1: error: NUL bytes on 5 lines, the first here (the file is damaged, "
        "or saved as UTF-16): delete them, or save the file again as UTF-8",
    ),
]


@pytest.mark.parametrize(("name", "data", "message"), NUL_CASES, ids=[c[0] for c in NUL_CASES])
def test_nul_bytes_are_an_error(
    project: Project, capsys: pytest.CaptureFixture[str], name: str, data: bytes, message: str
) -> None:
    (project.notes / "nul.md").write_bytes(data)
    project.write("good.md", GOOD)
    assert project.run("build") == 1
    out = capsys.readouterr()
    assert out.err.splitlines() == [message]
    assert "nothing written" in out.out
    assert not project.apkg.exists()


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
    (project.notes / "img" / "plot.png").write_bytes(PNG)
    project.write("pics.md", "Q: Which plot?\nA: ![loss](img/plot.png)\n")
    assert project.run("build") == 0
    import json
    import zipfile

    with zipfile.ZipFile(project.apkg) as archive:
        media = json.loads(archive.read("media"))
        assert list(media.values()) == [next(iter(media.values()))]
        (name,) = media.values()
        assert name.startswith("plot-") and name.endswith(".png")
        assert archive.read(next(iter(media))) == PNG


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(17)
"""The start of a PNG file: what the image check reads."""

IMAGES = {
    "plot.png": PNG,
    "photo.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "anim.gif": b"GIF89a\x01\x00\x01\x00",
    "pic.webp": b"RIFF\x24\x00\x00\x00WEBPVP8 ",
    "diagram.svg": b'<?xml version="1.0"?>\n<!-- made by hand -->\n<svg xmlns="x"></svg>',
}


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_images_of_every_kind_are_packaged(project: Project, name: str) -> None:
    (project.notes / "img").mkdir()
    (project.notes / "img" / name).write_bytes(IMAGES[name])
    project.write("sub/pics.md", f"Q: Which picture?\nA: ![it](../img/{name})\n")
    assert project.run("build") == 0
    import zipfile

    with zipfile.ZipFile(project.apkg) as archive:
        assert IMAGES[name] in [archive.read(n) for n in archive.namelist() if n.isdigit()]


@pytest.mark.parametrize(
    "src",
    ["/etc/passwd", "../../../../../../etc/passwd", "../secret.png", "link/secret.png"],
)
def test_images_outside_the_notes_folder_are_refused(
    project: Project, capsys: pytest.CaptureFixture[str], src: str
) -> None:
    (project.root / "secret.png").write_bytes(PNG)  # beside notes/, not in it
    (project.notes / "link").symlink_to(project.root)
    project.write("pics.md", f"Q: Which?\nA: ![x]({src})\n")
    assert project.run("build") == 1
    err = capsys.readouterr().err
    assert f"notes/pics.md:2: error: image outside the notes folder: {src};" in err
    assert not project.apkg.exists()


def test_a_symlink_inside_the_notes_folder_to_an_image_inside_it(project: Project) -> None:
    (project.notes / "img").mkdir()
    (project.notes / "img" / "plot.png").write_bytes(PNG)
    (project.notes / "alias.png").symlink_to(project.notes / "img" / "plot.png")
    project.write("pics.md", "Q: Which?\nA: ![x](alias.png)\n")
    assert project.run("build") == 0


@pytest.mark.parametrize("content", [b"ssh-rsa AAAA secret key", b"", b"<html><svg></svg>"])
def test_files_that_are_not_images_are_refused(
    project: Project, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    (project.notes / "id_rsa.png").write_bytes(content)
    project.write("pics.md", "Q: Which?\n\nA: ![key](id_rsa.png)\n")
    assert project.run("build") == 1
    err = capsys.readouterr().err
    assert err.startswith("notes/pics.md:3: error: not an image: id_rsa.png; an image must be")
