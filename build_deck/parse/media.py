"""Parse stage: the images a notes file shows, found on disk and named for the deck.

- :func:`resolve_images`: each local image must be an image file inside the notes
  folder; it is renamed by a hash of its bytes, the name the deck's media takes;
- :func:`image_type`: what kind of image a file holds, judged by its content.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from markdown_it.token import Token

from build_deck.cache import MAX_IMAGE_BYTES
from build_deck.files import UnsafeFile, read_inside, size_text
from build_deck.parse.context import FileContext
from build_deck.parse.tokens import walk


def resolve_images(
    ctx: FileContext, tokens: list[Token], base_dir: Path, notes_root: Path
) -> dict[str, str]:
    """Media name -> file path of every local image; each image token takes its media name.

    Images resolve against ``base_dir`` and must lie inside ``notes_root``; the
    problems go to ``ctx``.
    """
    media: dict[str, str] = {}
    shown_dir = Path(ctx.display_path).parent.as_posix()
    for token in tokens:
        if token.type != "inline":
            continue
        first_line = (token.map[0] if token.map else 0) + 1
        for child in walk(token.children or []):
            if child.type != "image":
                continue
            src = str(child.attrs.get("src", ""))
            if re.match(r"^[a-z][a-z0-9+.-]*:", src, re.IGNORECASE):
                continue  # a URL: Anki loads it itself
            path = Path(os.path.realpath(base_dir / src))  # never raises, even on a loop
            at = token.content.find(f"]({src}")
            line = first_line + token.content.count("\n", 0, max(at, 0))
            if not path.is_relative_to(notes_root):
                # Checked first: whether a file outside exists is none of the notes' business.
                ctx.error(
                    line,
                    f"image outside the notes folder: {src}; images must be files inside "
                    "it (after following links), so no other file can be packed into the deck",
                )
                continue
            if not os.path.lexists(path):
                looked_in = Path(shown_dir, src).parent.as_posix()
                ctx.error(
                    line,
                    f"image not found: {src} (looked for {path.name} in {looked_in}); "
                    "fix the path or add the file",
                )
                continue
            try:
                data = read_inside(path, notes_root, MAX_IMAGE_BYTES)
            except UnsafeFile as exc:
                ctx.error(
                    line,
                    f"image not read: {src}: {exc}; an image must be a regular file inside "
                    f"the notes folder, of at most {size_text(MAX_IMAGE_BYTES)}",
                )
                continue
            if image_type(data) is None:
                ctx.error(
                    line,
                    f"not an image: {src}; an image must be a PNG, JPEG, GIF, WebP or SVG "
                    "file (its content is checked, not its name)",
                )
                continue
            digest = hashlib.sha1(data).hexdigest()[:10]
            name = f"{path.stem}-{digest}{path.suffix}"
            media[name] = str(path)
            child.attrs["src"] = name
    return media


_SVG_START = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*"
    rb"(?:<!DOCTYPE[^>]*>\s*)?(?:<!--.*?-->\s*)*<svg[\s>/]",
    re.DOTALL | re.IGNORECASE,
)


def image_type(data: bytes) -> str | None:
    """``png``, ``jpeg``, ``gif``, ``webp`` or ``svg`` from a file's first bytes, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "webp"
    if _SVG_START.match(data[:4096]):
        return "svg"
    return None
