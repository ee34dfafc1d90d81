"""A small Obsidian vault, written as Obsidian users write, built and imported into real Anki.

The vault (``tests/anki/vault``) holds wikilinks with aliases and headings, embeds with a
size, comments inline and over several paragraphs with clozes inside, callouts,
highlights, Obsidian's front matter, a pasted image whose name has spaces, nested
folders, a sound and a video clip, a reversed and a typed card, a file with no cards, and
Obsidian's own hidden folders. The test adds two symbolic links: one inside the notes
folder, one leading out of it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from anki.collection import Collection

from tests.anki.test_anki_import import TEMPLATE_ERRORS
from tests.conftest import Project, import_package

VAULT = Path(__file__).parent / "vault"
OBSIDIAN_SYNTAX = re.compile(r"\[\[(?!type:)|\]\](?<!\[\[type:Back\]\])|%%|==|\[!\w+\]|!\[")
"""What would show that Obsidian's syntax reached a card as written (``[[type:Back]]`` is
Anki's own placeholder for the box a typed answer goes in)."""


@pytest.fixture
def vault(project: Project) -> Project:
    """The vault as the notes folder, with a link inside it and one leading out."""
    shutil.rmtree(project.notes)
    shutil.copytree(VAULT, project.notes)
    (project.notes / "Course" / "This week").symlink_to(project.notes / "Course" / "Week 1")
    elsewhere = project.root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "private.md").write_text("Q: Outside?\nA: Never read.\n", encoding="utf-8")
    (project.notes / "Outside").symlink_to(elsewhere)
    return project


def test_the_vault_builds_and_reaches_anki_clean(
    vault: Project, collection: Collection, capsys: pytest.CaptureFixture[str]
) -> None:
    assert vault.run("build") == 0
    captured = capsys.readouterr()
    err = captured.err
    assert " error: " not in err, err
    assert "notes/Outside:0: warning: symbolic link to " in err
    assert "notes/Course/Reading list.md: no cards (write Q:/A: or a {{cloze}})" in err
    assert "Never read" not in captured.out and "deleted note" not in captured.out

    import_package(collection, vault.apkg)
    media = Path(collection.media.dir())
    names = {note_type["name"] for note_type in collection.models.all()}
    assert {"build_deck Q/A reversed", "build_deck Q/A typed"} <= names
    shown = []
    for card_id in collection.find_cards(""):
        card = collection.get_card(card_id)
        for side in (card.question(), card.answer()):
            body = side.split("</style>", 1)[-1]
            assert not TEMPLATE_ERRORS.search(body), body
            assert not OBSIDIAN_SYNTAX.search(body), body
            assert "SECRET" not in body and "TODO" not in body, body
            for src in re.findall(r'<img src="([^"]+)"', body):
                assert (media / src).is_file(), src
            shown.append(body)
        for tag in card.question_av_tags() + card.answer_av_tags():
            assert (media / tag.filename).is_file(), tag.filename  # type: ignore[union-attr]
    text = "\n".join(shown)
    # Each item reached Anki as Obsidian shows it.
    assert "Gradient descent" in text  # [[Gradient descent]] as its text
    assert 'width="300"' in text  # ![[loss curve.png|300]]
    assert "<mark>negative gradient</mark>" in text
    assert '<div class="callout" data-callout="tip">' in text and "Rule of thumb" in text
    assert '<div class="callout" data-callout="warning">' in text and "Divergence" in text
    assert "the source" in text  # the alias of [[Shared/architecture.png|the source]]
    # Every file the vault shows was packed: three images and two sounds.
    packed = sorted(p.name.split("-")[0] for p in media.iterdir())
    assert packed == [
        "Pasted_image_20250420183830",
        "architecture",
        "lecture_clip",
        "loss_curve",
        "pronunciation",
    ]
    # The reversed card is asked both ways, the typed one with Anki's answer box.
    reversed_note = collection.find_notes('"note:build_deck Q/A reversed"')
    assert len(collection.get_note(reversed_note[0]).cards()) == 2
    typed = collection.get_card(collection.find_cards('"note:build_deck Q/A typed"')[0])
    assert "[[type:Back]]" in typed.question()
    # No card came twice through the link inside the notes folder, none from outside it.
    sources = [collection.get_note(n)["Source"] for n in collection.find_notes("")]
    assert not any("This week" in s or "Outside" in s for s in sources)
    assert collection.note_count() == 9


def test_the_vault_builds_the_same_again(
    vault: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """The embeds found by name come from the cache the second time, and a new file of
    the same name elsewhere makes the embed ambiguous at once (no stale cache)."""
    assert vault.run("build") == 0
    first = vault.apkg.read_bytes()
    assert vault.run("build", "--locked") == 0
    assert vault.apkg.read_bytes() == first
    shutil.copy(vault.notes / "Shared" / "architecture.png", vault.notes / "Audio")
    capsys.readouterr()
    assert vault.run("build") == 1
    err = capsys.readouterr().err
    assert (
        "notes/Course/Course overview.md:17: error: image ![[architecture.png]] is ambiguous: "
        "2 files in the notes folder are named so (Audio/architecture.png, Shared/architecture.png)"
    ) in err
