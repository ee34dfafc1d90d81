"""The card ledger: the identity (GUID) of every card a student may have reviewed.

Committed with the notes under ``cards/`` (docs/ledger.md explains the design):
``cards/ledger/00.jsonl`` to ``ff.jsonl`` hold the cards, spread by a hash of their
GUID, and ``cards/notetypes.jsonl`` the note types. Each line is one JSON object: a
header, one entry per card sorted by GUID, and an end line. Entries hold no line
numbers, so an edit of one card changes one line of one file, and two branches that
add or edit different cards almost never touch neighbouring lines: git merges them.

A card of a build is matched to an entry across all files at once: first by identical
content, then by similarity of its text among candidates found through an index of
rare character trigrams, with a deterministic tie-break. Entries no card matched are
kept as removed (tombstones), so a card that comes back gets its old GUID back.

This module reads the whole ledger (:func:`load_ledger`) and merges two of them
(:func:`merge_entries`, :func:`split_conflict`, :func:`prune`); its parts are

- :mod:`.ledger_model`: the entries and the ledger in memory;
- :mod:`.ledger_format`: the version 2 files, read, validated and written;
- :mod:`.ledger_v1`: the version 1 YAML files, read to migrate them;
- :mod:`.matching`: the cards of a build matched to entries, and the entries stored.

The names the rest of build-deck uses are importable from here.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from build_deck.identity.ledger_format import (
    LEDGER_DIR,
    bucket_name,
    changed_files,
    dump_ledger,
    entry_json,
    is_v2,
    ledger_files,
    ledger_names,
    parse_ledger,
    read_text_limited,
    text_digest,
)
from build_deck.identity.ledger_model import Entry, Ledger, NoteTypeEntry
from build_deck.identity.ledger_v1 import load_v1, v1_files
from build_deck.identity.matching import (
    Change,
    Fingerprint,
    Match,
    match_cards,
    next_mtime,
    number_clozes,
    tombstone,
    updated_entry,
)
from build_deck.model import Diagnostic, SourceLoc

__all__ = [
    "LEDGER_DIR",
    "Change",
    "Entry",
    "Fingerprint",
    "Ledger",
    "Match",
    "NoteTypeEntry",
    "bucket_name",
    "changed_files",
    "dump_ledger",
    "is_v2",
    "ledger_files",
    "ledger_names",
    "load_ledger",
    "match_cards",
    "merge_entries",
    "next_mtime",
    "number_clozes",
    "parse_ledger",
    "prune",
    "read_text_limited",
    "split_conflict",
    "text_digest",
    "tombstone",
    "updated_entry",
    "v1_files",
]


def load_ledger(cards_dir: Path, shown_dir: str) -> tuple[Ledger, list[Diagnostic]]:
    """Read ``cards/``: the v2 ledger, plus any version 1 files (migrated on the fly).

    A missing folder is an empty ledger. Version 1 files (``cards/*.yaml``) are read
    when present, also next to a v2 ledger (a merge of an older branch may bring them
    back); their entries are added. An entry whose GUID the ledger holds already must
    name the same card: one that gives a GUID to other content is an error at its line
    (it would hand that card's reviews to another card).
    """
    ledger = Ledger()
    problems: list[Diagnostic] = []
    seen: dict[str, str] = {}
    if is_v2(cards_dir):
        for name in ledger_names():
            path, shown = cards_dir / name, f"{shown_dir}/{name}"
            if not path.exists():
                message = (
                    "missing from the card ledger: restore it with 'git checkout -- "
                    f"{shown}' (its cards would lose their identity)"
                )
                problems.append(Diagnostic(SourceLoc(shown, 1), message))
                continue
            text, read_problems = read_text_limited(path, shown, cards_dir)
            problems += read_problems
            if text is None:
                continue
            digest = text_digest(text)
            part, part_problems = _parse_remembered(text, digest, shown, seen)
            problems += part_problems
            ledger.digests[name] = digest
            ledger.entries.update(part.entries)
            ledger.lines.update(part.lines)
            ledger.notetypes.update(part.notetypes)
        expected = set(ledger_names())
        for path in sorted(cards_dir.rglob("*.jsonl")):
            name = path.relative_to(cards_dir).as_posix()
            if name not in expected:
                message = (
                    "not a file of the card ledger (a copy?): its cards would be ignored; "
                    "move its lines into the ledger or delete it"
                )
                problems.append(Diagnostic(SourceLoc(f"{shown_dir}/{name}", 1), message))
    v1_seen: dict[str, str] = {}
    for old in v1_files(cards_dir):
        relative = old.relative_to(cards_dir)
        note = relative.with_suffix(".md").as_posix()
        shown_old = f"{shown_dir}/{relative.as_posix()}"
        v1, v1_problems, lines = load_v1(old, shown_old, note, cards_dir)
        problems += v1_problems
        for entry in v1.entries.values():
            where = SourceLoc(shown_old, lines.get(entry.guid, 1))
            if entry.guid in v1_seen:
                message = (
                    f"duplicate GUID {entry.guid!r} (also in {v1_seen[entry.guid]}): two "
                    "cards cannot share one identity; remove the entry that does not belong"
                )
                problems.append(Diagnostic(where, message))
                continue
            v1_seen[entry.guid] = shown_old
            known = ledger.entries.get(entry.guid)
            if known is None:
                ledger.entries[entry.guid] = entry
            elif not _same_card(known, entry):
                problems.append(Diagnostic(where, _taken_guid(entry.guid, seen)))
        for name, notetype in v1.notetypes.items():
            ledger.notetypes.setdefault(name, notetype)
    return ledger, problems


def _same_card(known: Entry, old: Entry) -> bool:
    """True when a version 1 entry names the card the ledger holds under its GUID."""
    return known.kind == old.kind and (
        known.content_hash == old.content_hash or known.text == old.text
    )


def _taken_guid(guid: str, seen: dict[str, str]) -> str:
    """The error for a version 1 entry whose GUID the ledger holds for another card."""
    where = f" ({seen[guid]})" if guid in seen else ""
    return (
        f"GUID {guid!r} belongs to another card in the card ledger{where}: a version 1 "
        "entry cannot give that card's identity and reviews to other content; delete "
        "this entry (or this file, if its cards are in the ledger already)"
    )


_parsed: dict[str, tuple[str, Ledger, dict[str, str]]] = {}
"""The last text of each ledger file this process parsed without a problem, by shown
path: its digest, its entries and where each GUID was read. ``watch`` builds again and
again in one process, and a save changes at most a few of the ledger's files."""


def _parse_remembered(
    text: str, digest: str, shown: str, seen: dict[str, str]
) -> tuple[Ledger, list[Diagnostic]]:
    """``parse_ledger(text, shown, seen)``, from memory when this text was parsed
    before without a problem and none of its GUIDs was seen in the files before it."""
    known = _parsed.get(shown)
    if known is not None and known[0] == digest and seen.keys().isdisjoint(known[2]):
        seen.update(known[2])
        return known[1], []
    part, problems = parse_ledger(text, shown, seen)
    if not problems:
        _parsed[shown] = (digest, part, {guid: seen[guid] for guid in part.entries})
    return part, problems


# -- merging -----------------------------------------------------------------------------


def merge_entries(ours: Ledger, theirs: Ledger) -> Ledger:
    """Both sides' cards: a union by GUID; for a GUID on both sides, the newer entry."""
    merged = Ledger(dict(ours.entries), dict(ours.notetypes))
    for guid, entry in theirs.entries.items():
        mine = merged.entries.get(guid)
        if mine is None:
            merged.entries[guid] = entry
            continue
        newest = max((mine, entry), key=lambda e: (e.mtime, e.removed == 0, entry_json(e)))
        merged.entries[guid] = replace(newest, mtime=max(mine.mtime, entry.mtime))
    for name, nt in theirs.notetypes.items():
        mine_nt = merged.notetypes.get(name)
        if mine_nt is None or (nt.mtime, nt.fingerprint) > (mine_nt.mtime, mine_nt.fingerprint):
            merged.notetypes[name] = nt
    return merged


def split_conflict(text: str) -> tuple[str, str]:
    """The two sides of a ledger holding git conflict markers (the base is dropped)."""
    ours: list[str] = []
    theirs: list[str] = []
    side = "both"
    for line in text.split("\n"):
        if line.startswith("<<<<<<<"):
            side = "ours"
        elif line.startswith("|||||||"):
            side = "base"
        elif line.startswith("=======") and side in ("ours", "base"):
            side = "theirs"
        elif line.startswith(">>>>>>>"):
            side = "both"
        elif side == "both":
            ours.append(line)
            theirs.append(line)
        elif side == "ours":
            ours.append(line)
        elif side == "theirs":
            theirs.append(line)
    return "\n".join(ours), "\n".join(theirs)


def prune(ledger: Ledger, removed_before: int) -> tuple[Ledger, int]:
    """Drop removed entries older than ``removed_before``; returns how many went."""
    keep = {
        g: e for g, e in ledger.entries.items() if not (e.removed and e.removed < removed_before)
    }
    return Ledger(keep, dict(ledger.notetypes)), len(ledger.entries) - len(keep)
