"""Parse stage: the images and sounds a notes file shows, found on disk and named for
the deck.

- :func:`resolve_media`: each local image, embed (``![[file]]``), sound
  (``[sound:file]``) and link to an audio or video file must be a file of its kind
  inside the notes folder; it is renamed by a hash of its bytes, the name the deck's
  media takes;
- :class:`VaultIndex`: the files under the notes folder by name, to find an embed as
  Obsidian does (relative to the note, then from the notes folder, then by its name
  anywhere below it);
- :func:`image_type` and :func:`sound_type`: what a file holds, judged by its content.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from markdown_it.token import Token

from build_deck.cache import MAX_IMAGE_BYTES, deck_media_name
from build_deck.files import UnsafeFile, read_inside, size_text
from build_deck.parse.context import FileContext
from build_deck.parse.obsidian import SOUND_SUFFIXES

_URL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


class VaultIndex:
    """The files below the notes folder (hidden folders left out), by file name."""

    def __init__(self, notes_root: Path) -> None:
        self.root = notes_root.resolve()
        """The notes folder, links followed."""
        self._by_name: dict[str, list[str]] | None = None

    def by_name(self) -> dict[str, list[str]]:
        """File name -> the paths relative to the root that end in it, sorted."""
        if self._by_name is None:
            found: dict[str, list[str]] = {}
            for folder, dirs, files in os.walk(self.root):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                relative = Path(folder).relative_to(self.root)
                for name in files:
                    if not name.startswith(".") and not name.endswith(".md"):
                        found.setdefault(name, []).append((relative / name).as_posix())
            self._by_name = {name: sorted(paths) for name, paths in found.items()}
        return self._by_name

    def fingerprint(self) -> str:
        """A hash of every path in the index: what finding an embed by name depends on."""
        text = "\n".join(p for paths in sorted(self.by_name().values()) for p in paths)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def resolve_media(
    ctx: FileContext,
    tokens: list[Token],
    base_dir: Path,
    vault: VaultIndex,
) -> dict[str, str]:
    """Media name -> file path of every local image and sound; each token takes its
    media name. The problems go to ``ctx``."""
    media: dict[str, str] = {}
    for child, line in _media_tokens(tokens):
        if child.type == "image":
            raw = str(child.attrs.get("src", ""))
            if _URL.match(raw):
                continue  # a URL: Anki loads it itself
            kind, src = "image", raw if child.meta.get("embed") else unquote(raw)
        elif child.type == "sound":
            kind, src = "sound", child.content
        else:
            href = str(child.attrs.get("href", ""))
            src = unquote(href)
            if _URL.match(href) or PurePosixPath(src).suffix.lower() not in SOUND_SUFFIXES:
                continue
            kind = "sound"
        embed = child.type == "sound" or bool(child.meta.get("embed"))
        path = _find(ctx, line, src, kind, base_dir, vault, embed=embed)
        name = _media_name(ctx, line, src, path, kind, vault) if path is not None else None
        if path is None or name is None:
            continue
        media[name] = str(path)
        if child.type == "image":
            child.attrs["src"] = name
        elif child.type == "sound":
            child.content = name
        else:
            child.type, child.meta = "media_link_open", {"name": name}
    _close_media_links(tokens)
    return media


def _close_media_links(tokens: list[Token]) -> None:
    """Give each link made a sound its closing token, which shows the sound's player."""
    for token in tokens:
        children = token.children or []
        for i, child in enumerate(children):
            if child.type != "media_link_open":
                continue
            depth = 0
            for later in children[i:]:
                depth += later.nesting
                if depth == 0:
                    later.type, later.meta = "media_link_close", dict(child.meta)
                    break
        _close_media_links(children)


def _media_tokens(tokens: list[Token]) -> Iterator[tuple[Token, int]]:
    """Every image, sound and link under ``tokens``, with its line."""
    for token in tokens:
        if token.type != "inline":
            continue
        line = (token.map[0] if token.map else 0) + 1
        stack = list(reversed(token.children or []))
        while stack:
            child = stack.pop()
            if child.type in ("softbreak", "hardbreak"):
                line += 1
            elif child.type in ("image", "sound", "link_open"):
                yield child, line
            if child.children and child.type != "image":
                stack.extend(reversed(child.children))


def _find(
    ctx: FileContext,
    line: int,
    src: str,
    kind: str,
    base_dir: Path,
    vault: VaultIndex,
    *,
    embed: bool,
) -> Path | None:
    """The file ``src`` names: a Markdown path from the note's folder, or an embed found
    as Obsidian finds it; None (with an error) when there is none inside the notes."""
    target = src.partition("#")[0].strip("/") if embed else src
    candidates = [base_dir / target, vault.root / target] if embed else [base_dir / target]
    for candidate in candidates:
        path = Path(os.path.realpath(candidate))  # never raises, even on a link loop
        if path.is_relative_to(vault.root) and os.path.lexists(path):
            return path
    first = Path(os.path.realpath(candidates[0]))
    found = vault.by_name().get(PurePosixPath(target).name, []) if embed else []
    found = [p for p in found if p == target or p.endswith("/" + target)]
    by_name = Path(os.path.realpath(vault.root / found[0])) if len(found) == 1 else None
    if not first.is_relative_to(vault.root) or (by_name and not by_name.is_relative_to(vault.root)):
        # Checked first: whether a file outside exists is none of the notes' business.
        ctx.error(
            line,
            f"{kind} outside the notes folder: {src}; {kind}s must be files inside it (after "
            "following links), so no other file can be packed into the deck",
        )
        return None
    if by_name is not None:
        return by_name
    looked_in = Path(Path(ctx.display_path).parent.as_posix(), target).parent.as_posix()
    if found:
        shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        ctx.error(
            line,
            f"{kind} ![[{src}]] is ambiguous: {len(found)} files in the notes folder are "
            f"named so ({shown}); write its path from the notes folder, e.g. ![[{found[0]}]]",
        )
    elif embed:
        ctx.error(
            line,
            f"{kind} not found: {src} (looked for {first.name} in {looked_in}, then by its "
            "name everywhere in the notes folder); fix the name or add the file",
        )
    else:
        ctx.error(
            line,
            f"{kind} not found: {src} (looked for {first.name} in {looked_in}); "
            "fix the path or add the file",
        )
    return None


def _media_name(
    ctx: FileContext, line: int, src: str, path: Path, kind: str, vault: VaultIndex
) -> str | None:
    """The file's name in the deck: its own, made safe, and a hash of its bytes; None
    (with an error) when its content is not of its ``kind``."""
    try:
        data = read_inside(path, vault.root, MAX_IMAGE_BYTES)
    except UnsafeFile as exc:
        ctx.error(
            line,
            f"{kind} not read: {src}: {exc}; {kind}s must be regular files inside the notes "
            f"folder, of at most {size_text(MAX_IMAGE_BYTES)}",
        )
        return None
    if kind == "image" and image_type(data) is None:
        ctx.error(
            line,
            f"not an image: {src}; an image must be a PNG, JPEG, GIF, WebP or SVG "
            "file (its content is checked, not its name)",
        )
        return None
    if kind == "sound" and sound_type(data) is None:
        ctx.error(
            line,
            f"not a sound or video: {src}; it must be an MP3, Ogg, WAV, FLAC, MP4/M4A or "
            "WebM/Matroska file (its content is checked, not its name)",
        )
        return None
    return deck_media_name(path, data)


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


def sound_type(data: bytes) -> str | None:
    """``mp3``, ``ogg``, ``wav``, ``flac``, ``mp4`` (MP4, M4A, MOV) or ``matroska``
    (WebM, MKV) from a file's first bytes, or None."""
    if data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"  # an ID3 tag, or an MPEG audio frame (MP3, ADTS AAC)
    if data.startswith(b"OggS"):
        return "ogg"
    if data.startswith(b"RIFF") and data[8:12] == b"WAVE":
        return "wav"
    if data.startswith(b"fLaC"):
        return "flac"
    if data[4:8] == b"ftyp":
        return "mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    return None
