"""Notes as Obsidian users write them: front matter, file paths, embeds and sounds."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from build_deck.model import CardKind, Severity
from build_deck.parse.extract import extract_cards
from build_deck.parse.markdown import make_parser
from tests.conftest import Project
from tests.test_errors import PNG

MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 413
"""An ID3 header and one silent MPEG audio frame."""


def extract(source: str, folder: Path, notes_root: Path | None = None):  # type: ignore[no-untyped-def]
    return extract_cards(make_parser(), source, "notes/f.md", folder, "Root", notes_root=notes_root)


def test_obsidian_front_matter_is_accepted(tmp_path: Path) -> None:
    source = (
        "---\naliases: [GD]\ncssclasses: wide\ncreated: 2025-04-20\npublish: true\n"
        "tags: ml/optim exam, course\n---\nQ: Tagged?\nA: Yes.\n"
    )
    cards, problems = extract(source, tmp_path)
    assert problems == []
    assert cards[0].tags == ("course", "exam", "ml::optim")
    listed = source.replace("ml/optim exam, course", '[ml/optim, "#exam", course]')
    assert extract(listed, tmp_path)[0][0].tags == ("course", "exam", "ml::optim")


def test_an_unknown_key_is_a_warning_with_a_suggestion(tmp_path: Path) -> None:
    source = "---\ntags: [a]\ndek: Maths\nflavour: mint\n---\nQ: Which deck?\nA: The root.\n"
    cards, problems = extract(source, tmp_path)
    assert [str(p) for p in problems] == [
        "notes/f.md:3: warning: unknown front matter key 'dek': ignored; did you mean 'deck'?",
        "notes/f.md:4: warning: unknown front matter key 'flavour': ignored (the build reads "
        "deck and tags; other keys are notes about the file)",
    ]
    assert cards[0].deck == "Root"


@pytest.mark.parametrize(
    "link",
    [
        "![plot](img/Pasted%20image%2020250420183830.png)",
        "![plot](<img/Pasted image 20250420183830.png>)",
        "![[Pasted image 20250420183830.png]]",
        "![[img/Pasted image 20250420183830.png|120x80]]",
    ],
)
def test_image_names_with_spaces(tmp_path: Path, link: str) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "Pasted image 20250420183830.png").write_bytes(PNG)
    cards, problems = extract(f"Q: Which plot?\nA: {link}\n", tmp_path)
    assert problems == []
    ((name, path),) = cards[0].media
    assert path == str(tmp_path / "img" / "Pasted image 20250420183830.png")
    assert name.startswith("Pasted_image_20250420183830-") and " " not in name
    assert f'src="{name}"' in cards[0].back


def test_an_embed_is_found_by_name_from_another_folder(tmp_path: Path) -> None:
    (tmp_path / "notes" / "course").mkdir(parents=True)
    (tmp_path / "notes" / "assets" / "deep").mkdir(parents=True)
    (tmp_path / "notes" / "assets" / "deep" / "plot.png").write_bytes(PNG)
    cards, problems = extract(
        "Q: Which plot?\nA: ![[plot.png|300]]\n",
        tmp_path / "notes" / "course",
        tmp_path / "notes",
    )
    assert problems == []
    assert 'width="300"' in cards[0].back
    assert cards[0].media[0][1] == str(tmp_path / "notes" / "assets" / "deep" / "plot.png")


def test_an_ambiguous_embed_names_every_file(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "plot.png").write_bytes(PNG)
    _, problems = extract("Q: Which plot?\nA: see\n![[plot.png]]\n", tmp_path)
    assert [str(p) for p in problems] == [
        "notes/f.md:3: error: image ![[plot.png]] is ambiguous: 2 files in the notes folder "
        "are named so (a/plot.png, b/plot.png); write its path from the notes folder, "
        "e.g. ![[a/plot.png]]"
    ]


def test_sounds_are_packed(tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "word one.mp3").write_bytes(MP3)
    source = (
        "Q: How does it sound?\nA: [sound:word one.mp3], ![[word one.mp3]] and "
        "[this clip](audio/word%20one.mp3)\n"
    )
    cards, problems = extract(source, tmp_path)
    assert problems == []
    ((name, path),) = cards[0].media
    assert path == str(tmp_path / "audio" / "word one.mp3")
    assert cards[0].back == f"[sound:{name}], [sound:{name}] and this clip [sound:{name}]"


def test_a_link_to_another_file_stays_a_link(tmp_path: Path) -> None:
    cards, problems = extract("Q: Where?\nA: [the notes](other.md)\n", tmp_path)
    assert problems == [] and cards[0].media == ()
    assert cards[0].back == '<a href="other.md">the notes</a>'


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            "[sound:missing.mp3]",
            "notes/f.md:2: error: sound not found: missing.mp3 (looked for missing.mp3 in "
            "notes, then by its name everywhere in the notes folder); fix the name or add "
            "the file",
        ),
        (
            "[clip](../outside.mp3)",
            "notes/f.md:2: error: sound outside the notes folder: ../outside.mp3; sounds must "
            "be files inside it (after following links), so no other file can be packed "
            "into the deck",
        ),
        (
            "[sound:fake.mp3]",
            "notes/f.md:2: error: not a sound or video: fake.mp3; it must be an MP3, Ogg, "
            "WAV, FLAC, MP4/M4A or WebM/Matroska file (its content is checked, not its name)",
        ),
    ],
)
def test_sound_problems_name_their_line(tmp_path: Path, answer: str, message: str) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (tmp_path / "outside.mp3").write_bytes(MP3)
    (notes / "fake.mp3").write_bytes(b"#!/bin/sh\nrm -rf ~\n")
    _, problems = extract(f"Q: Which sound?\nA: {answer}\n", notes)
    assert [str(p) for p in problems] == [message]
    assert problems[0].severity is Severity.ERROR


def test_reversed_and_typed_cards_build_and_pack(project: Project) -> None:
    (project.notes / "word.mp3").write_bytes(MP3)
    project.write(
        "words.md",
        """
        Q (reversed): la pomme
        A: the apple [sound:word.mp3]

        Q (typed): Capital of France?
        A: Paris
        """,
    )
    assert project.run("build") == 0
    with zipfile.ZipFile(project.apkg) as archive:
        assert MP3 in [archive.read(n) for n in archive.namelist() if n.isdigit()]
    cards, _ = extract((project.notes / "words.md").read_text(), project.notes)
    assert [c.kind for c in cards] == [CardKind.REVERSED, CardKind.TYPED]


def test_an_embed_found_by_name_must_lie_inside_the_notes(tmp_path: Path) -> None:
    (tmp_path / "secret.png").write_bytes(PNG)
    notes = tmp_path / "notes"
    (notes / "img").mkdir(parents=True)
    (notes / "img" / "plot.png").symlink_to(tmp_path / "secret.png")
    for link in ("![[plot.png]]", "[sound:plot.png]"):
        cards, problems = extract(f"Q: Which?\nA: {link}\n", notes)
        assert [p.message.split(":")[0] for p in problems] in (
            ["image outside the notes folder"],
            ["sound outside the notes folder"],
        )
        assert cards[0].media == ()
