"""The .apkg's zip: a collection added in pieces is the same bytes as added whole."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from build_deck.anki import package


def test_a_file_added_in_pieces_is_the_entry_its_bytes_would_be(tmp_path: Path) -> None:
    # Over three pieces, with repeats that deflate matches across the pieces' ends.
    rows = (
        f"note {i} {hashlib.sha256(str(i % 997).encode()).hexdigest()}\n" for i in range(50_000)
    )
    data = "".join(rows).encode()
    assert len(data) > 3 * package._PIECE
    source = tmp_path / "collection.anki2"
    source.write_bytes(data)
    whole, pieces = tmp_path / "whole.zip", tmp_path / "pieces.zip"
    with zipfile.ZipFile(whole, "w", zipfile.ZIP_DEFLATED) as archive:
        package._add(archive, "collection.anki2", data)
    with zipfile.ZipFile(pieces, "w", zipfile.ZIP_DEFLATED) as archive:
        package._add_file(archive, "collection.anki2", source)
    assert pieces.read_bytes() == whole.read_bytes()
    with zipfile.ZipFile(pieces) as archive:
        assert archive.read("collection.anki2") == data
