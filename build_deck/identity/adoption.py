"""Adopted notes in the ledger: a card takes the GUID of the note Anki already holds.

``build-deck adopt --apply`` pairs cards of the notes with notes made by hand or by
another tool (build_deck/anki/adopt.py); here each paired card's ledger entry is filed
under that note's GUID, with an mtime newer than the note's, so that the next ``sync``
or ``.apkg`` import updates the note in place instead of adding a copy. The ledger is
rewritten as a build writes it: under the build lock, file by file, atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from build_deck.identity.ledger import Ledger, changed_files, ledger_files, load_ledger
from build_deck.model import Diagnostic
from build_deck.storage import atomic_write, build_lock


def refile_entries(
    cards_dir: Path, shown: str, changes: Mapping[str, tuple[str, int]]
) -> list[Diagnostic]:
    """File the entry of each GUID of ``changes`` under its new GUID, with at least its
    new mtime, and write the ledger files that changed; the ledger's problems, if any
    (then nothing is written). Raises ``LockHeld`` or ``OSError`` as a build does."""
    with build_lock(cards_dir, shown):
        ledger, problems = load_ledger(cards_dir, shown)
        if problems:
            return problems
        entries = dict(ledger.entries)
        for old_guid, (new_guid, mtime) in sorted(changes.items()):
            entry = entries.get(old_guid)
            if entry is None or (new_guid != old_guid and new_guid in entries):
                continue
            refiled = replace(entry, guid=new_guid, mtime=max(entry.mtime, mtime))
            if refiled != entry:
                del entries[old_guid]
                entries[new_guid] = refiled
        new = Ledger(entries, dict(ledger.notetypes))
        texts = ledger_files(new, changed_files(ledger, new), ledger)
        for name in sorted(texts):
            atomic_write(cards_dir / name, texts[name].encode())
    return []
