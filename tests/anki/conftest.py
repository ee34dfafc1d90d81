"""Fixtures of the tests that reach a real Anki collection."""

from __future__ import annotations

from pathlib import Path

import pytest
from anki.collection import Collection


@pytest.fixture
def col_path(tmp_path: Path) -> Path:
    """An empty collection in a profile-like folder, closed."""
    folder = tmp_path / "profile"
    folder.mkdir()
    path = folder / "collection.anki2"
    Collection(str(path)).close()
    return path
