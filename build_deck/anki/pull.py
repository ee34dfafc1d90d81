"""``build-deck pull``: the fields edited in Anki, as a diff against the notes.

1. ``find_edits``: with the collection's build-deck notes and the sync state
   (read by build_deck/anki/collection.py), the fields whose value in Anki is neither what
   sync last wrote nor what the notes now say;
2. ``propose``: for each, the Markdown the notes would need (build_deck/anki/html_to_markdown.py)
   and the lines of the notes file it replaces;
3. print each as a unified diff at ``notes/file.md:LINE``; with ``--apply``, write the
   simple ones into the notes files (atomically), then record in the sync state that
   those Anki edits are now in the notes, so that the next sync converges without a
   conflict.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from build_deck.anki.collection import read_collection
from build_deck.anki.html_to_markdown import html_to_markdown
from build_deck.anki.package import NoteRecord
from build_deck.anki.sync_model import CollectionView, Desired
from build_deck.anki.sync_state import NoteState, dump_state, field_hash
from build_deck.model import CardKind
from build_deck.storage import atomic_write

if TYPE_CHECKING:
    from anki.collection import Collection

EDITABLE = ("Front", "Back", "Text", "Extra")
"""Fields the notes hold; the others (Context, Source, Verified) are made by the build."""

_BLOCK = re.compile(r"<(p|ul|ol|div|pre|table|blockquote|h\d)\b")
_LIST_ITEM = re.compile(r"^(\s*(?:[-*+]|\d+[.)])\s+)")


@dataclass(frozen=True, slots=True)
class Edit:
    """One field edited in Anki since sync last wrote it."""

    desired: Desired
    """The build's note of the card."""
    field: str
    """The field's name."""
    anki: str
    """Its value in Anki (HTML)."""
    synced: bool
    """False when sync never wrote the note (imported from a .apkg): the difference may
    also come from a change of the notes since that import."""


@dataclass(frozen=True, slots=True)
class Proposal:
    """The change to the notes that an edit asks for."""

    edit: Edit
    """The edit."""
    markdown: str
    """The Markdown the field would need."""
    unknown: tuple[str, ...]
    """HTML tags that have no Markdown here (then it is not applied)."""
    span: tuple[int, int] | None
    """The 0-based [start, end) lines of the notes file that hold the field, if found."""
    replacement: tuple[str, ...]
    """The lines that would replace them."""

    @property
    def applicable(self) -> bool:
        """True when ``--apply`` may write it."""
        return self.span is not None and not self.unknown and self.edit.synced


def find_edits(view: CollectionView, records: Sequence[NoteRecord]) -> list[Edit]:
    """The fields edited in Anki, in the order of the notes."""
    edits = []
    for record in records:
        want = Desired.of(record)
        note = view.notes.get(want.guid)
        if note is None or note.notetype_id != want.note_type.model_id:
            continue
        last = view.record.notes.get(want.guid)
        for name in EDITABLE:
            if name not in want.fields:
                continue
            anki = note.fields.get(name, "")
            if anki == want.fields[name]:
                continue
            if last is not None and last.fields.get(name) == field_hash(anki):
                continue  # Anki holds what sync wrote: the notes changed, not Anki
            edits.append(Edit(want, name, anki, last is not None))
    return edits


def _span(lines: list[str], edit: Edit) -> tuple[int, int, str] | None:
    """Where the field's Markdown is: [start, end) lines and the prefix it keeps."""
    card = edit.desired.record.card
    start = card.loc.line - 1
    if start >= len(lines) or _BLOCK.search(edit.desired.fields[edit.field]):
        return None  # several blocks: not a simple one

    def paragraph_end(first: int, stop: tuple[str, ...] = ()) -> int:
        end = first + 1
        while end < len(lines) and lines[end].strip() and not lines[end].startswith(stop):
            if _LIST_ITEM.match(lines[end]) and _LIST_ITEM.match(lines[first]):
                break
            end += 1
        return end

    if card.kind is CardKind.QA and edit.field in ("Front", "Back"):
        if not lines[start].startswith("Q:"):
            return None
        question_end = paragraph_end(start, ("A:",))
        if edit.field == "Front":
            return start, question_end, "Q: "
        answer = question_end
        while answer < len(lines) and not lines[answer].strip():
            answer += 1
        if answer >= len(lines) or not lines[answer].startswith("A:"):
            return None
        return answer, paragraph_end(answer), "A: "
    if card.kind is CardKind.CLOZE and edit.field == "Text":
        marker = _LIST_ITEM.match(lines[start])
        return start, paragraph_end(start), marker.group(1) if marker else ""
    return None


def propose(edits: Sequence[Edit]) -> list[Proposal]:
    """The Markdown each edit asks for, and the lines it replaces."""
    proposals = []
    files: dict[str, list[str]] = {}
    for edit in edits:
        path = edit.desired.loc.path
        if path not in files:
            files[path] = Path(path).read_text(encoding="utf-8").split("\n")
        converted = html_to_markdown(edit.anki)
        where = _span(files[path], edit)
        span = None
        replacement: tuple[str, ...] = ()
        if where is not None:
            start, end, prefix = where
            indent = " " * len(prefix) if prefix and prefix[0] in "-*+0123456789" else ""
            body = converted.markdown.split("\n")
            replacement = (prefix + body[0], *(indent + line for line in body[1:]))
            span = (start, end)
        proposals.append(Proposal(edit, converted.markdown, converted.unknown, span, replacement))
    return proposals


def render(proposal: Proposal) -> list[str]:
    """The report of one proposal: its place, what it is, and a unified diff."""
    edit = proposal.edit
    loc = edit.desired.loc
    head = f"{loc}: {edit.field} edited in Anki"
    lines = [head]
    if not edit.synced:
        lines.append(
            "  sync never wrote this note, so the notes may have changed instead: "
            "not applied; copy it by hand if the edit is yours"
        )
    if proposal.unknown:
        tags = ", ".join(proposal.unknown)
        lines.append(f"  it holds HTML with no Markdown here ({tags}): shown as HTML, not applied")
    if proposal.span is None:
        lines.append("  the notes would need:")
        lines += ["    " + line for line in proposal.markdown.split("\n")]
        if not proposal.unknown:
            lines.append("  not one paragraph of the notes that pull can find: copy it in by hand")
        return lines
    text = Path(loc.path).read_text(encoding="utf-8").split("\n")
    start, end = proposal.span
    new = text[:start] + list(proposal.replacement) + text[end:]
    lines += difflib.unified_diff(
        text, new, fromfile=loc.path, tofile=f"{loc.path} (as edited in Anki)", n=1, lineterm=""
    )
    return lines


def apply_proposals(proposals: Sequence[Proposal]) -> list[Proposal]:
    """Write the applicable proposals into the notes files; returns those written."""
    by_file: dict[str, list[Proposal]] = {}
    for proposal in proposals:
        if proposal.applicable:
            by_file.setdefault(proposal.edit.desired.loc.path, []).append(proposal)
    written = []
    for path, items in by_file.items():
        lines = Path(path).read_text(encoding="utf-8").split("\n")
        taken: set[int] = set()
        for proposal in sorted(items, key=lambda p: p.span or (0, 0), reverse=True):
            assert proposal.span is not None
            start, end = proposal.span
            if taken & set(range(start, end)):
                continue  # two edits of one paragraph: the second waits for the next pull
            lines[start:end] = proposal.replacement
            taken |= set(range(start, end))
            written.append(proposal)
        atomic_write(Path(path), "\n".join(lines).encode("utf-8"))
    return written


def run_pull(col: Collection, records: Sequence[NoteRecord], root_deck: str, *, apply: bool) -> int:
    """``build-deck pull [--apply]`` on the open collection: print the diffs, maybe apply
    them; returns the exit code. The caller opens and closes the collection."""
    view = read_collection(col, root_deck)
    proposals = propose(find_edits(view, records))
    for proposal in proposals:
        for line in render(proposal):
            print(line)
    if not proposals:
        print("no fields edited in Anki since the last sync", flush=True)
        return 0
    simple = sum(p.applicable for p in proposals)
    if not apply:
        print(
            f"{len(proposals)} fields edited in Anki, {simple} of them can be applied "
            "with 'build-deck pull --apply'",
            flush=True,
        )
        return 0
    written = apply_proposals(proposals)
    record = view.record
    for proposal in written:
        edit = proposal.edit
        old = record.notes.get(edit.desired.guid) or NoteState({}, edit.desired.tags)
        fields = {**old.fields, edit.field: field_hash(edit.anki)}
        record.notes[edit.desired.guid] = NoteState(fields, old.tags, old.deck)
    if written:
        col.set_config(view.state_key, dump_state(record))
    files = sorted({p.edit.desired.loc.path for p in written})
    print(
        f"applied {len(written)} of {len(proposals)} fields edited in Anki to "
        f"{', '.join(files) or 'no file'}; 'build-deck sync' brings the rest of the "
        "notes back in step",
        flush=True,
    )
    return 0
