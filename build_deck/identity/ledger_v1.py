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

from build_deck.identity.ledger_format import (
    MAX_NOTETYPE_ID,
    MAX_TIMESTAMP,
    conflict_line,
    encodes,
    guid_problem,
    read_text_limited,
)
from build_deck.identity.ledger_model import Entry, Ledger, NoteTypeEntry
from build_deck.model import Diagnostic, SourceLoc

V1_NOTETYPES = "_notetypes.yaml"
MAX_YAML_DEPTH = 8
"""A version 1 ledger nests three levels; deeper YAML is refused before it is loaded
(loading it recurses once per level)."""
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def v1_files(cards_dir: Path) -> list[Path]:
    """The version 1 ledger files under ``cards_dir``."""
    if not cards_dir.is_dir():
        return []
    return sorted(p for p in cards_dir.rglob("*.yaml") if p.is_file() or p.is_symlink())


def _safe_yaml(text: str, shown: str) -> tuple[Any, Diagnostic | None]:
    """YAML without aliases, anchors or tags (no alias bombs), or a diagnostic."""
    try:
        depth = 0
        for event in yaml.parse(text, Loader=_Loader):
            depth += isinstance(event, yaml.CollectionStartEvent)
            depth -= isinstance(event, yaml.CollectionEndEvent)
            if depth > MAX_YAML_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 1
                message = f"nested deeper than {MAX_YAML_DEPTH} levels: not a card ledger"
                return None, Diagnostic(SourceLoc(shown, line), message)
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


def load_v1(
    path: Path, shown: str, note: str, cards_dir: Path | None = None
) -> tuple[Ledger, list[Diagnostic], dict[str, int]]:
    """Read one version 1 YAML ledger file (of notes file ``note``) into version 2
    entries; it must be a regular file inside ``cards_dir``. Also returns the line of
    each entry, by GUID."""
    ledger = Ledger()
    text, problems = read_text_limited(path, shown, cards_dir)
    if text is None:
        return ledger, problems, {}
    conflict = conflict_line(text)
    if conflict is not None:
        message = (
            "the card ledger holds a git merge conflict: keep both sides' entries "
            "(delete only the marker lines), then build"
        )
        return ledger, [Diagnostic(SourceLoc(shown, conflict), message)], {}
    data, problem = _safe_yaml(text, shown)
    if problem is not None:
        return ledger, [problem], {}
    if path.name == V1_NOTETYPES:
        return ledger, _read_notetypes(ledger, data, shown), {}
    if data is None:
        message = "the card ledger is empty: restore it from git"
        return ledger, [Diagnostic(SourceLoc(shown, 1), message)], {}
    cards = data.get("cards") if isinstance(data, dict) else None
    if not isinstance(cards, list):
        message = "malformed card ledger: no 'cards' list"
        return ledger, [Diagnostic(SourceLoc(shown, 1), message)], {}
    guid_lines = [i for i, t in enumerate(text.split("\n"), 1) if t.startswith("- guid:")]
    lines: dict[str, int] = {}
    for index, item in enumerate(cards):
        line = guid_lines[index] if index < len(guid_lines) else 1
        why = _entry_problem(item)
        if why is not None:
            problems.append(Diagnostic(SourceLoc(shown, line), f"malformed card entry: {why}"))
            continue
        if item["guid"] in ledger.entries:
            problems.append(Diagnostic(SourceLoc(shown, line), f"duplicate GUID {item['guid']!r}"))
            continue
        lines[item["guid"]] = line
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
    return ledger, problems, lines


def _is_count(value: Any, most: int) -> bool:
    """An integer (not a bool) from 0 to ``most``."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= most


def _read_notetypes(ledger: Ledger, data: Any, shown: str) -> list[Diagnostic]:
    """The note types of ``_notetypes.yaml`` into ``ledger``; every value checked."""
    if not isinstance(data, dict):
        return [Diagnostic(SourceLoc(shown, 1), "malformed note type ledger")]
    for name, item in data.items():
        if not (isinstance(item, dict) and _is_count(item.get("mtime"), MAX_TIMESTAMP)):
            continue
        model_id = item.get("id", 0)
        fingerprint = item.get("fingerprint", "")
        if not _is_count(model_id, MAX_NOTETYPE_ID) or not isinstance(fingerprint, str | int):
            message = (
                f"malformed note type entry {str(name)!r}: 'id' must be a number from 0 "
                f"to {MAX_NOTETYPE_ID}, 'fingerprint' text"
            )
            return [Diagnostic(SourceLoc(shown, 1), message)]
        ledger.notetypes[str(name)] = NoteTypeEntry(
            str(name), model_id, str(fingerprint), item["mtime"]
        )
    return []


_V1_TEXTS = ("guid", "kind", "section", "text")


def _entry_problem(item: Any) -> str | None:
    """What is wrong with one version 1 entry, or None."""
    if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in _V1_TEXTS):
        return f"it needs {', '.join(_V1_TEXTS)} as text"
    if item["kind"] not in ("qa", "cloze"):
        return "'kind' must be 'qa' or 'cloze'"
    if not _is_count(item.get("mtime"), MAX_TIMESTAMP):
        return f"'mtime' must be a number from 0 to {MAX_TIMESTAMP}"
    problem = guid_problem(item["guid"])
    if problem is not None:
        return problem
    texts = [item[k] for k in _V1_TEXTS] + [
        str(item.get(k, "")) for k in ("content_hash", "note_hash", "answer")
    ]
    if not all(encodes(text) for text in texts):
        return "it holds a lone surrogate, which no file can hold"
    return None
