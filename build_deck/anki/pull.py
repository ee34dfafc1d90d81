"""``build-deck pull``: the fields edited in Anki, as a diff against the notes.

1. ``find_edits``: with the collection's build-deck notes and the sync record
   (read by build_deck/anki/collection.py), the fields whose value in Anki is neither what
   sync last wrote nor what the notes now say;
2. ``propose``: for each, the Markdown the notes would need (build_deck/anki/html_to_markdown.py),
   checked to build back to the same text, and the lines of the notes file it replaces
   (build_deck/anki/notes_file.py: the paragraph as the build's parser reads it);
3. print each as a unified diff at ``notes/file.md:LINE``; with ``--apply``, write the
   simple ones into the notes files (atomically, exactly the lines of the edited
   paragraph, with the file's line endings), then build the notes again and make Anki
   and the sync record agree with them (the field as the notes now build it, ``<strong>``
   where Anki's editor wrote ``<b>``), so that the next sync has nothing to do.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markdown_it.renderer import RendererHTML

from build_deck.anki.collection import read_collection
from build_deck.anki.html_to_markdown import html_to_markdown
from build_deck.anki.note_record import NoteRecord
from build_deck.anki.notes_file import NotesFile, Span, cards_of
from build_deck.anki.sync_model import CollectionView, Desired
from build_deck.anki.sync_state import NoteState, dump_state, field_hash
from build_deck.model import Card
from build_deck.parse.markdown import make_parser
from build_deck.storage import atomic_write

if TYPE_CHECKING:
    from anki.collection import Collection

EDITABLE = ("Front", "Back", "Text", "Extra")
"""Fields the notes hold; the others (Context, Source, Verified) are made by the build."""

_BLOCK = re.compile(r"<(p|ul|ol|div|pre|table|blockquote|h\d)\b")

Rebuild = Callable[[], Sequence[NoteRecord] | None]
"""Builds the notes again (after ``--apply`` wrote them); None if the build failed."""


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
    span: Span | None
    """The lines of the notes file that hold the field, if it is one paragraph."""
    replacement: tuple[str, ...]
    """The lines that would replace them."""
    problem: str | None = None
    """Why it is not applied, when the Markdown itself is the reason."""

    @property
    def applicable(self) -> bool:
        """True when ``--apply`` may write it."""
        return (
            self.span is not None and not self.unknown and self.edit.synced and self.problem is None
        )


def find_edits(view: CollectionView, records: Sequence[NoteRecord]) -> list[Edit]:
    """The fields edited in Anki, in the order of the notes."""
    edits = []
    for record in records:
        want = Desired.of(record, view.root_deck)
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


def render_field(markdown: str) -> str:
    """The HTML the build makes of one field's Markdown."""
    md = make_parser()
    env: dict[str, Any] = {}
    tokens = md.parse(markdown, env)
    if len(tokens) == 3 and tokens[0].type == "paragraph_open":
        renderer: RendererHTML = md.renderer  # type: ignore[assignment]
        return renderer.renderInline(tokens[1].children or [], md.options, env).strip()
    return str(md.renderer.render(tokens, md.options, env)).strip()


def _problem(edit: Edit, markdown: str) -> str | None:
    """Why the Markdown of an edit cannot be written as it is, if it cannot."""
    if not markdown.strip():
        return (
            f"it is empty in Anki, and an empty {edit.field} does not build: not applied; "
            "delete the card from the notes if that is what you meant"
        )
    if html_to_markdown(render_field(markdown)).markdown != markdown:
        return "its Markdown would not build back to the same text: not applied"
    blocks = [t.type for t in make_parser().parse(markdown, {}) if t.nesting >= 0 and t.level == 0]
    if blocks != ["paragraph_open"]:
        return (
            "it is more than one paragraph, and pull writes one paragraph of the notes: "
            "not applied; copy it in by hand"
        )
    return None


def _shape(cards: Sequence[Card], edited: int | None) -> list[tuple[object, ...]]:
    """What of each card an edit of one field must leave as it was: all of it but where
    it is, and of the edited card (its line, 1-based) all but its text."""
    shape: list[tuple[object, ...]] = []
    for card in cards:
        common = (card.kind, card.deck, card.section, card.tags, [c.code for c in card.checks])
        text = (card.content, card.back, card.extra, card.context, card.cloze_numbers)
        shape.append(common if card.loc.line == edited else (*common, *text))
    return shape


def _moves_other_text(file: NotesFile, span: Span, replacement: Sequence[str], line: int) -> bool:
    """True when writing ``replacement`` at ``span`` would change the notes file anywhere
    but in the one field: a new card, heading, check or comment, another card's text."""
    new = file.text_lines[: span.start] + list(replacement) + file.text_lines[span.end :]
    return _shape(file.cards, line) != _shape(cards_of(new, file.path.parent), line)


def propose(edits: Sequence[Edit], files: dict[str, NotesFile] | None = None) -> list[Proposal]:
    """The Markdown each edit asks for, and the lines it replaces."""
    files = {} if files is None else files
    proposals = []
    for edit in edits:
        path = edit.desired.loc.path
        if path not in files:
            files[path] = NotesFile(Path(path))
        converted = html_to_markdown(edit.anki)
        problem = None if converted.unknown else _problem(edit, converted.markdown)
        span = None
        replacement: tuple[str, ...] = ()
        if not _BLOCK.search(edit.desired.fields[edit.field]):
            span = files[path].span(edit.desired.record.card, edit.field)
        if span is not None:
            replacement = tuple(files[path].replacement(span, converted.markdown))
            line = edit.desired.loc.line
            if problem is None and _moves_other_text(files[path], span, replacement, line):
                problem = "it would change the notes outside this field: not applied"
        proposals.append(
            Proposal(edit, converted.markdown, converted.unknown, span, replacement, problem)
        )
    return proposals


def render(proposal: Proposal, file: NotesFile) -> list[str]:
    """The report of one proposal: its place, what it is, and a unified diff."""
    edit = proposal.edit
    loc = edit.desired.loc
    lines = [f"{loc}: {edit.field} edited in Anki"]
    if not edit.synced:
        lines.append(
            "  sync never wrote this note, so the notes may have changed instead: "
            "not applied; copy it by hand if the edit is yours"
        )
    if proposal.unknown:
        tags = ", ".join(proposal.unknown)
        lines.append(f"  it holds HTML with no Markdown here ({tags}): shown as HTML, not applied")
    if proposal.problem is not None:
        lines.append(f"  {proposal.problem}")
    if proposal.span is None:
        lines.append("  the notes would need:")
        lines += ["    " + line for line in proposal.markdown.split("\n")]
        if not proposal.unknown and proposal.problem is None:
            lines.append("  not one paragraph of the notes that pull can find: copy it in by hand")
        return lines
    text = file.text_lines
    span = proposal.span
    new = text[: span.start] + list(proposal.replacement) + text[span.end :]
    lines += difflib.unified_diff(
        text, new, fromfile=loc.path, tofile=f"{loc.path} (as edited in Anki)", n=1, lineterm=""
    )
    return lines


def apply_proposals(proposals: Sequence[Proposal], files: dict[str, NotesFile]) -> list[Proposal]:
    """Write the applicable proposals into the notes files; returns those written."""
    by_file: dict[str, list[Proposal]] = {}
    for proposal in proposals:
        if proposal.applicable:
            by_file.setdefault(proposal.edit.desired.loc.path, []).append(proposal)
    written = []
    for path, items in by_file.items():
        taken: set[int] = set()
        changes: list[tuple[Span, list[str]]] = []
        for proposal in items:
            assert proposal.span is not None
            lines = set(range(proposal.span.start, proposal.span.end))
            if taken & lines:
                continue  # two edits of one paragraph: the second waits for the next pull
            taken |= lines
            changes.append((proposal.span, list(proposal.replacement)))
            written.append(proposal)
        atomic_write(Path(path), files[path].replaced(changes))
    return written


def settle(
    col: Collection, view: CollectionView, written: Sequence[Proposal], rebuild: Rebuild | None
) -> None:
    """After ``--apply``: record that the written edits are in the notes, and give Anki
    each such field as the notes now build it, where that differs from Anki's HTML."""
    rebuilt = rebuild() if rebuild is not None else None
    values = {}
    for record in rebuilt or ():
        values[record.guid] = Desired.of(record, view.root_deck).fields
    notes: dict[str, Any] = {}
    for proposal in written:
        edit = proposal.edit
        guid = edit.desired.guid
        value = values.get(guid, {}).get(edit.field, edit.anki)
        if value != edit.anki:
            note = notes.get(guid) or col.get_note(view.notes[guid].note_id)  # type: ignore[arg-type]
            note[edit.field] = value
            notes[guid] = note
        old = view.record.notes.get(guid) or NoteState({}, edit.desired.tags)
        fields = {**old.fields, edit.field: field_hash(value)}
        view.record.notes[guid] = NoteState(fields, old.tags, old.deck)

    def write() -> None:
        if notes:
            col.update_notes(list(notes.values()))
        col.set_config(view.state_key, dump_state(view.record))

    db = col.db
    assert db is not None
    db.transact(write)


def run_pull(
    col: Collection,
    records: Sequence[NoteRecord],
    root_deck: str,
    *,
    apply: bool,
    rebuild: Rebuild | None = None,
) -> int:
    """``build-deck pull [--apply]`` on the open collection: print the diffs, maybe apply
    them; returns the exit code. The caller opens and closes the collection."""
    view = read_collection(col, root_deck)
    files: dict[str, NotesFile] = {}
    proposals = propose(find_edits(view, records), files)
    for proposal in proposals:
        for line in render(proposal, files[proposal.edit.desired.loc.path]):
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
    written = apply_proposals(proposals, files)
    if written:
        settle(col, view, written, rebuild)
    shown = sorted({p.edit.desired.loc.path for p in written})
    print(
        f"applied {len(written)} of {len(proposals)} fields edited in Anki to "
        f"{', '.join(shown) or 'no file'}; 'build-deck sync' brings the rest of the "
        "notes back in step",
        flush=True,
    )
    return 0
