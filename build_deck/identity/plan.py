"""Identity, planned: every card of a build matched to the ledger at once.

``plan_identities`` gives each card its GUID (``fingerprint`` is what matching reads of
a card, ``content_hash`` what it says), numbers its clozes as the ledger remembers them
(``_stable_clozes``), sets an mtime that never goes backwards (``_emitted_state`` and
``state_path`` recall what the previous build wrote), counts what changed
(``_count_change``), and decides the new ledger and the files to write.
``guard_removals`` stops a build that would drop many cards by accident;
``find_duplicates`` rejects cards that say the same thing. ``source_field`` and
``note_hash`` are what a note shows of its place and of its content.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from build_deck.anki.note_record import NoteRecord, note_fields
from build_deck.anki.notetypes import NOTE_TYPES, card_css, note_type_of
from build_deck.identity.ledger import (
    Change,
    Entry,
    Fingerprint,
    Ledger,
    Match,
    NoteTypeEntry,
    changed_files,
    ledger_files,
    match_cards,
    next_mtime,
    number_clozes,
    text_digest,
    tombstone,
    updated_entry,
)
from build_deck.identity.ledger_format import MAX_TIMESTAMP
from build_deck.model import Card, CardKind, Diagnostic, Severity, SourceLoc
from build_deck.parse.cloze import count_openings, renumber_clozes
from build_deck.report import (
    BuildOptions,
    BuildReport,
    CardChange,
    NotesFile,
    display_path,
    slugify,
)


def content_hash(card: Card) -> str:
    """Hash of what a card says (not where it is)."""
    text = "\x1f".join((card.kind.value, card.content, card.back, card.extra))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_duplicates(cards: list[Card], hashes: list[str] | None = None) -> list[Diagnostic]:
    """An error for every card whose content repeats an earlier card's; ``hashes`` are
    the cards' ``content_hash`` when already known."""
    seen: dict[str, SourceLoc] = {}
    problems = []
    if hashes is None:
        hashes = [content_hash(card) for card in cards]
    for card, key in zip(cards, hashes, strict=True):
        if key in seen:
            problems.append(
                Diagnostic(
                    card.loc,
                    f"duplicate card: same content as {seen[key]}; remove one or make them differ",
                )
            )
        else:
            seen[key] = card.loc
    return problems


@dataclass(slots=True)
class IdentityPlan:
    """What the ledger stage decided: every note to write and the ledger to store."""

    records: list[NoteRecord]
    """The notes, with GUIDs, mtimes, renumbered clozes and their Source field."""
    ledger: Ledger
    """The ledger after this build."""
    ledger_texts: dict[str, str]
    """The ledger files to write (relative to ``cards/``) and their new text."""
    note_hashes: list[str]
    """The hash of each record's note, in the order of ``records``."""
    emitted: dict[str, list[Any]] = field(default_factory=dict)
    """What the previous build of this output wrote (``state_path``), as read."""


def notes_relative(notes_file: NotesFile, options: BuildOptions) -> str:
    """A notes file's path relative to the notes folder, the same from any directory."""
    return notes_file.path.relative_to(options.notes_dir).as_posix()


def source_field(notes_name: str, relative: str, section: tuple[str, ...]) -> str:
    """The Source field, ``notes/file.md`` then the heading path: no line number, no churn.

    ``notes_name`` is the notes folder's own name, the same from any working directory.
    """
    where = f"{notes_name}/{relative}"
    return f"{where} › {' > '.join(section)}" if section else where


def note_hash(record: NoteRecord) -> str:
    """Hash of what the student sees of a note: every field but Source, and the tags.

    A change of Source alone (a renamed notes file) gives the note no newer mtime, so
    Anki keeps the note as it is, with the student's own edits and tags; the new Source
    reaches Anki with the card's next real change.
    """
    fields = note_fields(record)
    fields[note_type_of(record.card).fields.index("Source")] = ""
    text = "\x1f".join([*fields, " ".join(record.tags)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(card: Card, relative: str, hash_of_content: str | None = None) -> Fingerprint:
    """What matching needs of a card (``hash_of_content``: its ``content_hash``, if known)."""
    answer = " ".join(card.value_source.split()) if card.kind.is_qa else ""
    return Fingerprint(
        relative,
        " > ".join(card.section),
        card.kind.value,
        card.prompt_text,
        answer,
        content_hash(card) if hash_of_content is None else hash_of_content,
    )


def _first_words(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _stable_clozes(
    card: Card, previous: Entry | None, report: BuildReport
) -> tuple[Card, tuple[tuple[str, int], ...], int]:
    """The card with its shorthand deletions numbered as the ledger remembers them."""
    if card.kind is not CardKind.CLOZE:
        return card, (), 0
    shorthand = [card.deletions[k] for k in card.shorthand]
    short = set(card.shorthand)
    explicit = [n for k, (n, _) in enumerate(card.deletions) if k not in short]
    numbers, remembered, top, gone = number_clozes(
        previous, [(body, n) for n, body in shorthand], explicit
    )
    if gone:
        names = ", ".join(f"c{n}" for n in gone)
        report.diagnostics.append(
            Diagnostic(
                card.loc,
                f"deletion {names} was removed: Anki keeps its card, now empty; after "
                "importing, delete it with Tools > Empty Cards (other cards keep their history)",
                Severity.WARNING,
            )
        )
    changed = {k: new for k, new in zip(card.shorthand, numbers, strict=True)}
    if all(card.deletions[k][0] == new for k, new in changed.items()):
        return card, remembered, top
    if count_openings(card.content) != len(card.deletions):
        return card, remembered, top
    deletions = tuple(
        (changed.get(k, number), body) for k, (number, body) in enumerate(card.deletions)
    )
    renumbered = replace(
        card,
        content=renumber_clozes(card.content, changed),
        deletions=deletions,
        cloze_numbers=tuple(sorted({n for n, _ in deletions})),
    )
    return renumbered, remembered, top


def _emitted_state(options: BuildOptions) -> dict[str, list[Any]]:
    """What the previous build of this output wrote: GUID -> [note hash, mtime], and
    under the key ``""`` (no GUID is empty) the package's inputs and bytes as hashes."""
    try:
        data = json.loads(state_path(options).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def state_path(options: BuildOptions) -> Path:
    """Where a build records the note hash and mtime it wrote for each GUID.

    It is local (not committed): it lets a ``git revert`` of the notes and the
    ledger still reach Anki as a change, with a newer mtime than Anki holds. It also
    lets a build that would write the same package again leave it as it is.
    """
    return options.out_dir / f".{slugify(options.root_deck)}.state.json"


def plan_identities(
    files: list[NotesFile],
    ledger: Ledger,
    report: BuildReport,
    options: BuildOptions,
    now: int,
    content_hashes: list[str] | None = None,
) -> IdentityPlan:
    """Match every card to the ledger; number clozes; set mtimes; decide the new ledger.

    ``content_hashes`` are the ``content_hash`` of the files' cards, in order, when known.
    """
    cards: list[tuple[Card, str]] = []
    for notes_file in files:
        relative = notes_relative(notes_file, options)
        cards += [(card, relative) for card in notes_file.cards]
    hashes: list[str | None] = (
        [None] * len(cards) if content_hashes is None else list(content_hashes)
    )
    prints = [
        fingerprint(card, relative, known)
        for (card, relative), known in zip(cards, hashes, strict=True)
    ]
    matches = match_cards(ledger, prints)
    emitted = _emitted_state(options)
    notes_name = options.notes_dir.resolve().name or "notes"

    entries: dict[str, Entry] = {}
    records: list[NoteRecord] = []
    digests: list[str] = []
    for (card, relative), card_print, match in zip(cards, prints, matches, strict=True):
        previous = match.previous
        card, remembered, top = _stable_clozes(card, previous, report)
        record = NoteRecord.of(
            card,
            verified=report.verified.get(card.loc, False),
            guid=match.guid,
            source=source_field(notes_name, relative, card.section),
        )
        digest = note_hash(record)
        mtime = next_mtime(previous, digest, now)
        shown = emitted.get(match.guid)
        if (
            isinstance(shown, list)
            and len(shown) == 2
            and shown[0] != digest
            and isinstance(shown[1], int)
            and mtime <= shown[1] < MAX_TIMESTAMP
        ):
            mtime = max(now, shown[1] + 1)  # e.g. a revert: Anki holds a newer note
        records.append(replace(record, mtime=mtime))
        digests.append(digest)
        entry = updated_entry(
            previous,
            card_print,
            guid=match.guid,
            deck=card.deck,
            note_hash=digest,
            mtime=mtime,
            clozes=remembered,
            cloze_max=top,
        )
        entries[match.guid] = previous if entry == previous else entry  # unchanged: reused
        if match.change is not Change.UNCHANGED or entries[match.guid] is not previous:
            _count_change(report, card, match, card_print)  # something to report
    _remove_missing(ledger, entries, report, options, now)
    notetypes = _notetype_entries(ledger, now)
    new_ledger = Ledger(entries, notetypes)
    report.records = records
    dirty = changed_files(ledger, new_ledger)
    texts = {
        name: text
        for name, text in ledger_files(new_ledger, dirty, ledger).items()
        if ledger.digests.get(name) != text_digest(text)
    }
    return IdentityPlan(records, new_ledger, texts, digests, emitted)


def _remove_missing(
    ledger: Ledger,
    entries: dict[str, Entry],
    report: BuildReport,
    options: BuildOptions,
    now: int,
) -> None:
    """Keep every ledger entry no card matched as removed, and report the cards that
    were live until this build."""
    for guid, entry in ledger.entries.items():
        if guid not in entries:
            entries[guid] = tombstone(entry, now)
            if not entry.removed:
                where = f"{options.notes_dir.resolve().name}/{entry.file}"
                report.removed.append(
                    CardChange(
                        "removed", f"{where} › {entry.section}", _first_words(entry.text), guid
                    )
                )
                report.removed_files[entry.file] = report.removed_files.get(entry.file, 0) + 1


def _count_change(report: BuildReport, card: Card, match: Match, card_print: Fingerprint) -> None:
    """Add one card's change to the report's counts and lists."""
    previous = match.previous
    where, words = str(card.loc), _first_words(card.prompt_text)
    if match.change is Change.NEW:
        report.new += 1
        report.changes.append(CardChange("new", where, words))
    elif match.change is Change.RESTORED:
        report.restored += 1
        report.changes.append(CardChange("restored", where, words))
    elif match.change is Change.CHANGED:
        report.changed += 1
        report.changes.append(CardChange("changed", where, words))
    if previous is not None and not previous.removed and previous.file != card_print.file:
        report.moved += 1
        report.changes.append(CardChange("moved", where, f"from {previous.file}: {words}"))
    if previous is not None and previous.deck and previous.deck != card.deck:
        report.deck_changed += 1


def _notetype_entries(ledger: Ledger, now: int) -> dict[str, NoteTypeEntry]:
    """When each note type last changed: kept while its fingerprint holds."""
    css = card_css()
    result = {}
    for note_type in NOTE_TYPES:
        fingerprint_now = note_type.fingerprint(css)
        old = ledger.notetypes.get(note_type.name)
        if old is not None and old.fingerprint == fingerprint_now:
            mtime = old.mtime
        else:
            mtime = max(now, old.mtime + 1) if old is not None else now
        result[note_type.name] = NoteTypeEntry(
            note_type.name, note_type.model_id, fingerprint_now, mtime
        )
    return result


def root_deck_problem(ledger: Ledger, options: BuildOptions) -> Diagnostic | None:
    """An error when the ledger's cards live under another root deck than this build's.

    A build under another name would write a second package and take every card of the
    ledger for moved; a name typed differently once (``--deck`` forgotten, another
    ``build-deck.toml``) is far more likely than a rename.
    """
    roots: dict[str, int] = {}
    for entry in ledger.entries.values():
        if entry.deck and not entry.removed:
            root = entry.deck.split("::", 1)[0]
            roots[root] = roots.get(root, 0) + 1
    if not roots or options.root_deck in roots:
        return None
    ledger_root = max(sorted(roots), key=roots.__getitem__)
    return Diagnostic(
        SourceLoc(display_path(options.cards_dir), 0),
        f"this build's root deck is {options.root_deck!r}, but the card ledger's cards are "
        f'in {ledger_root!r}: set deck = "{ledger_root}" in build-deck.toml (or pass --deck); '
        "a deck of another name starts from an empty ledger ('build-deck init')",
    )


def guard_removals(
    files: list[NotesFile], ledger: Ledger, report: BuildReport, options: BuildOptions
) -> None:
    """Stop a build that would remove every card of an existing file, or > 1/4 of the deck.

    Such a loss is most often an accident (a file read while an editor saves it, an
    unclosed fence); ``--allow-removals`` says it is meant.
    """
    if options.allow_removals or not report.removed:
        return
    for notes_file in files:
        relative = notes_relative(notes_file, options)
        gone = report.removed_files.get(relative, 0)
        if gone and not notes_file.cards:
            report.diagnostics.append(
                Diagnostic(
                    SourceLoc(notes_file.shown, 1),
                    f"this build would remove all {gone} cards of this file, which still "
                    "exists (half-saved? a fence left open?); fix the file, or build with "
                    "--allow-removals if you mean it",
                )
            )
    live = sum(1 for entry in ledger.entries.values() if not entry.removed)
    if len(report.removed) * 4 > live:
        fresh = (
            "; to start a deck of your own instead, run 'build-deck init --start-over --deck NAME'"
            if len(report.removed) == live
            else ""
        )
        report.diagnostics.append(
            Diagnostic(
                SourceLoc(display_path(options.notes_dir), 0),
                f"this build would remove {len(report.removed)} of the deck's {live} cards "
                "(more than a quarter); their GUIDs are kept in the ledger, but check that "
                "no notes file is missing or truncated, then build with --allow-removals "
                f"if you mean it{fresh}",
            )
        )
