"""Identity stage: the version 1 card ledger (one YAML file per notes file), for migration.

Version 1 kept ``cards/<notes file>.yaml`` per notes file and ``cards/_notetypes.yaml``;
:func:`v1_files` finds them and :func:`load_v1` reads one into version 2 entries
(``load_ledger`` adds their entries to the ledger).
YAML is read without aliases, anchors or tags (:func:`_safe_yaml`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from build_deck.identity.ledger_format import conflict_line, read_text_limited
from build_deck.identity.ledger_model import Entry, Ledger, NoteTypeEntry
from build_deck.model import Diagnostic, SourceLoc

V1_NOTETYPES = "_notetypes.yaml"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def v1_files(cards_dir: Path) -> list[Path]:
    """The version 1 ledger files under ``cards_dir``."""
    if not cards_dir.is_dir():
        return []
    return sorted(p for p in cards_dir.rglob("*.yaml") if p.is_file())


def _safe_yaml(text: str, shown: str) -> tuple[Any, Diagnostic | None]:
    """YAML without aliases, anchors or tags (no alias bombs), or a diagnostic."""
    try:
        for event in yaml.parse(text, Loader=_Loader):
            anchor = getattr(event, "anchor", None)
            tag = getattr(event, "tag", None)
            implicit = getattr(event, "implicit", (True, True))
            explicit_tag = tag is not None and not (
                implicit is True or (isinstance(implicit, tuple) and any(implicit))
            )
            if isinstance(event, yaml.AliasEvent) or anchor is not None or explicit_tag:
                line = event.start_mark.line + 1 if event.start_mark else 1
                message = "YAML anchors, aliases and tags are not allowed in a card ledger"
                return None, Diagnostic(SourceLoc(shown, line), message)
        return yaml.load(text, Loader=_Loader), None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return None, Diagnostic(SourceLoc(shown, line), f"cannot read the card ledger: {exc}")


def load_v1(path: Path, shown: str, note: str) -> tuple[Ledger, list[Diagnostic]]:
    """Read one version 1 YAML ledger file (of notes file ``note``) into version 2 entries."""
    ledger = Ledger()
    text, problems = read_text_limited(path, shown)
    if text is None:
        return ledger, problems
    conflict = conflict_line(text)
    if conflict is not None:
        return ledger, [
            Diagnostic(
                SourceLoc(shown, conflict),
                "the card ledger holds a git merge conflict: keep both sides' entries "
                "(delete only the marker lines), then build",
            )
        ]
    data, problem = _safe_yaml(text, shown)
    if problem is not None:
        return ledger, [problem]
    if path.name == V1_NOTETYPES:
        if not isinstance(data, dict):
            return ledger, [Diagnostic(SourceLoc(shown, 1), "malformed note type ledger")]
        for name, item in data.items():
            if isinstance(item, dict) and isinstance(item.get("mtime"), int):
                ledger.notetypes[str(name)] = NoteTypeEntry(
                    str(name),
                    int(item.get("id", 0)),
                    str(item.get("fingerprint", "")),
                    item["mtime"],
                )
        return ledger, []
    if data is None:
        return ledger, [
            Diagnostic(SourceLoc(shown, 1), "the card ledger is empty: restore it from git")
        ]
    cards = data.get("cards") if isinstance(data, dict) else None
    if not isinstance(cards, list):
        return ledger, [Diagnostic(SourceLoc(shown, 1), "malformed card ledger: no 'cards' list")]
    lines = text.split("\n")
    guid_lines = [i for i, t in enumerate(lines, 1) if t.startswith("- guid:")]
    for index, item in enumerate(cards):
        line = guid_lines[index] if index < len(guid_lines) else 1
        ok = isinstance(item, dict) and all(
            isinstance(item.get(k), str) for k in ("guid", "kind", "section", "text")
        )
        ok = ok and isinstance(item.get("mtime"), int) and item.get("kind") in ("qa", "cloze")
        if not ok:
            problems.append(Diagnostic(SourceLoc(shown, line), "malformed card entry"))
            continue
        if item["guid"] in ledger.entries:
            problems.append(Diagnostic(SourceLoc(shown, line), f"duplicate GUID {item['guid']!r}"))
            continue
        ledger.entries[item["guid"]] = Entry(
            guid=item["guid"],
            file=note,
            section=item["section"],
            deck="",
            kind=item["kind"],
            content_hash=str(item.get("content_hash", "")),
            note_hash=str(item.get("note_hash", "")),
            mtime=item["mtime"],
            text=item["text"],
            answer=str(item.get("answer", "")),
        )
    return ledger, problems
