"""The .apkg is made like any other file the user creates: its mode follows the umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from tests.conftest import Project

NOTES = """
# Topic

Q: Readable by the sync folder?
A: Yes.
"""


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o007, 0o660), (0o077, 0o600)])
def test_package_mode_follows_the_umask(project: Project, umask: int, mode: int) -> None:
    project.write("topic.md", NOTES)
    build = [sys.executable, "-m", "build_deck", "build", "--notes", "notes", "--out", "dist"]
    done = subprocess.run(
        ["sh", "-c", f'umask {umask:03o} && exec "$0" "$@"', *build],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(os.stat(project.apkg).st_mode) == mode
    # No temporary file is left beside it: only the package and the build's state file.
    state = f".{project.apkg.stem}.state.json"
    assert sorted(p.name for p in project.apkg.parent.iterdir()) == [state, project.apkg.name]
