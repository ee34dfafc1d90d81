"""build-deck installed from its wheel, outside this repository, as a student installs it.

The wheel is built offline (as in tests/test_packaging.py) and installed into a fresh
virtualenv, not the editable install: its ``build-deck`` command starts a notes project
with ``init``, builds it, validates its TeX with a MathJax it installs into its own cache
folder on first use, and the package imports into a real Anki collection. The
virtualenv borrows the test environment's dependencies (genanki, numpy...) through a
``.pth`` file rather than downloading them; build_deck itself comes from the wheel only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from anki.collection import Collection

from build_deck.typeset.mathjax import NPM_FILES
from tests.conftest import REPO, import_package
from tests.test_packaging import copy_sources, pip


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel of build-deck installed; its ``bin`` folder."""
    folder = tmp_path_factory.mktemp("install")
    (folder / "src").mkdir()
    pip("wheel", "--wheel-dir", str(folder / "wheels"), str(copy_sources(folder / "src")))
    (wheel,) = (folder / "wheels").glob("build_deck-*.whl")
    root = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    pip("--python", str(python), "install", str(wheel))
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    borrowed = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (Path(site) / "test-dependencies.pth").write_text("\n".join(borrowed) + "\n")
    return root / "bin"


def run(venv: Path, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the installed ``build-deck`` in ``cwd``."""
    return subprocess.run(
        [str(venv / "build-deck"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


CARD = """
# Cells

Q: Which organelle makes most of a cell's ATP?
A: The mitochondrion, by oxidative phosphorylation.

A cell membrane is a {{lipid bilayer}}; its area grows as $r^2$.
"""


def test_init_build_and_import_with_the_installed_tool(
    venv: Path, tmp_path: Path, collection: Collection
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "SOURCE_DATE_EPOCH": "1767225600",
    }
    where = run(venv, "--version", cwd=tmp_path, env=env)
    assert where.returncode == 0 and where.stdout.startswith("build-deck ")
    imported = subprocess.run(
        [str(venv / "python"), "-c", "import build_deck; print(build_deck.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    ).stdout
    assert imported.startswith(str(venv.parent)), imported  # the wheel's, not the repo's

    done = run(venv, "init", "biology", "--deck", "Biology", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    project = tmp_path / "biology"
    (project / "notes" / "cells.md").write_text(CARD.lstrip(), encoding="utf-8")

    no_node = tmp_path / "no-node"
    no_node.mkdir()
    offline = run(venv, "build", cwd=project, env={**env, "PATH": str(no_node)})
    assert offline.returncode == 0, offline.stderr
    assert (
        "notes:0: warning: TeX not validated: Node.js not found; install Node.js and npm"
        in offline.stderr
    )

    built = run(venv, "build", cwd=project, env=env)
    assert built.returncode == 0, built.stderr
    cache = tmp_path / "cache" / "build-deck"
    assert "installing MathJax (npm package mathjax-full) into " + str(cache) in built.stderr
    assert "TeX not validated" not in built.stderr
    assert "5 cards (3 Q/A, 2 cloze, 1 verified" in built.stdout
    again = run(venv, "build", "--no-cache", cwd=project, env=env)
    assert again.returncode == 0 and "installing" not in again.stderr

    (project / "notes" / "broken.md").write_text("Q: What is $\\frac{a}{b$?\nA: A ratio.\n")
    broken = run(venv, "check", cwd=project, env=env)
    assert broken.returncode == 1
    assert "notes/broken.md:1: error: TeX error in $\\frac{a}{b$: Missing close brace" in (
        broken.stderr
    )
    (project / "notes" / "broken.md").unlink()
    preview = run(venv, "preview", cwd=project, env=env)
    assert preview.returncode == 0, preview.stderr
    assert (project / "dist" / "preview" / "mathjax").is_dir()

    import_package(collection, project / "dist" / "biology.apkg")
    assert collection.note_count() == 5
    assert {d.name for d in collection.decks.all_names_and_ids()} >= {"Biology::Cells"}
    questions = [
        collection.get_card(cid).question() for cid in collection.find_cards("deck:Biology*")
    ]
    assert any("Which organelle makes most" in q for q in questions)
    assert shutil.which("git") is None or (project / ".git").is_dir()


def test_the_installed_tool_pins_the_mathjax_that_make_installs() -> None:
    for name, copy in NPM_FILES.items():
        assert copy.read_bytes() == (REPO / name).read_bytes(), f"{copy.name} != {name}"
