"""Installing build-deck: the wheel holds the JavaScript and CSS, and pip stays quiet.

pip shows the build backend's warnings (setuptools' "Package 'build_deck.js' is absent
from the `packages` configuration", its "Editable installation" notice) to whoever runs
``make``; a new user reads them as a failure. The project is built here with pip itself,
from a copy of its sources, without the network, with the setuptools of constraints.txt.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def copy_sources(to: Path) -> Path:
    """What a build reads, copied so that the build's by-products stay out of the repo."""
    shutil.copy(REPO / "pyproject.toml", to)
    shutil.copy(REPO / "README.md", to)
    shutil.copytree(
        REPO / "build_deck", to / "build_deck", ignore=shutil.ignore_patterns("__pycache__")
    )
    return to


# How pip shows a warning of the build backend: BuildBackendWarning, SetuptoolsWarning...
BACKEND_WARNING = re.compile(r"\w+Warning\b")


def pip(*args: str) -> str:
    """Run pip offline, with no build isolation; its whole output."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--no-deps", "--no-index", "--no-build-isolation"],
        capture_output=True,
        text=True,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def test_wheel_holds_the_scripts_and_styles_and_builds_quietly(tmp_path: Path) -> None:
    sources = copy_sources(tmp_path)
    output = pip("wheel", "--wheel-dir", str(tmp_path / "wheels"), str(sources))
    assert not BACKEND_WARNING.search(output), output
    (wheel,) = (tmp_path / "wheels").glob("build_deck-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assets = sorted(p.name for p in (REPO / "build_deck" / "js").iterdir() if p.is_file())
    assert {"texcheck.mjs", "preview.js", "preview.css"} <= set(assets)
    for name in assets:
        assert f"build_deck/js/{name}" in names
    assert "build_deck/pipeline.py" in names


def test_editable_install_is_quiet(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    sources = copy_sources(tmp_path / "project")
    target = tmp_path / "site"
    output = pip("install", "--target", str(target), "--editable", str(sources))
    assert not BACKEND_WARNING.search(output), output
    (pth,) = target.glob("__editable__.build_deck-*.pth")
    assert pth.read_text().split() == [str(sources.resolve())]
