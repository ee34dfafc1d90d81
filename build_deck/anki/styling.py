"""Anki stage: the note types' CSS and templates, with the student's own edits kept.

build-deck writes the CSS and the card templates of its note types; the student may
change them in Anki (a bigger font, a field of their own on the back). The collection's
config (key ``NOTETYPES_KEY``) keeps what build-deck last wrote to each note type, the
*base*. A sync changes a note type only when build-deck's own version differs from that
base, and then merges line by line, as ``git merge`` does (:func:`merge_lines`): lines
only build-deck changed are taken, lines only the student changed are kept, and lines
both changed are a conflict, reported in one line; the note type is then left as it is,
unless ``--ours`` (build-deck's lines) or ``--theirs`` (the student's) settles it.
Every card template is merged so, matched by its position (Anki's ``ord``; a template
the student renamed is still the same one). A template of build-deck's that the student
deleted stays deleted, one the student added stays as they wrote it, and one build-deck
adds to a note type is added. Fields the student added are kept; build-deck's own fields
must stay.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from build_deck.anki.notetypes import NOTE_TYPES, NoteType, card_css

NOTETYPES_KEY = "buildDeckNoteTypes"
"""Config key of what build-deck last wrote to its note types."""
SIDES = {"front": "front template", "back": "back template"}
"""The two sides of a card template, and how reports name them."""


class StylingError(Exception):
    """A note type the sync cannot use (one of build-deck's fields is gone); one line."""


@dataclass(frozen=True, slots=True)
class Styling:
    """The CSS and the card templates of a note type."""

    css: str
    """The note type's CSS."""
    templates: tuple[tuple[str, str], ...]
    """Each card template as (front, back), that is (``qfmt``, ``afmt``), in Anki's order."""

    @classmethod
    def of(cls, note_type: NoteType) -> Styling:
        """build-deck's own styling of ``note_type``."""
        return cls(card_css(), tuple((front, back) for _, front, back in note_type.templates))

    @classmethod
    def present(cls, notetype: dict[str, Any]) -> Styling:
        """The styling of a note type as the collection holds it."""
        return cls(
            notetype.get("css", ""),
            tuple((t.get("qfmt", ""), t.get("afmt", "")) for t in notetype.get("tmpls", [])),
        )

    def parts(self) -> dict[str, str]:
        """Every part by its key: ``css``, then ``front`` and ``back`` of the first
        template, ``front:1`` and ``back:1`` of the second, and so on."""
        result = {"css": self.css}
        for index, (front, back) in enumerate(self.templates):
            result[part_key("front", index)], result[part_key("back", index)] = front, back
        return result


def part_key(side: str, index: int) -> str:
    """The key of one side (``front`` or ``back``) of the template at ``index``."""
    return f"{side}:{index}" if index else side


def part_name(note_type: NoteType, key: str) -> str:
    """How reports name a part of ``note_type`` (its key as :meth:`Styling.parts` has it):
    ``CSS``, ``front template``, or ``back template of Card 2`` where there are several."""
    if key == "css":
        return "CSS"
    side, _, index = key.partition(":")
    names = [name for name, _, _ in note_type.templates]
    if len(names) == 1:
        return SIDES[side]
    return f"{SIDES[side]} of {names[int(index or 0)]}"


@dataclass(frozen=True, slots=True)
class StylingUpdate:
    """A note type whose styling a sync writes."""

    note_type: NoteType
    """The note type."""
    styling: Styling
    """What to write: build-deck's new version, merged with the student's edits."""
    kept: tuple[str, ...]
    """The parts where the student's edits were kept, by key (see :meth:`Styling.parts`)."""


@dataclass(frozen=True, slots=True)
class StylingConflict:
    """A note type left alone: the student and build-deck changed the same lines."""

    note_type: NoteType
    """The note type."""
    parts: tuple[str, ...]
    """The parts in conflict, by key (see :meth:`Styling.parts`)."""


@dataclass(slots=True)
class StylingPlan:
    """What a sync does to the note types."""

    adds: list[NoteType] = field(default_factory=list)
    """Note types missing from the collection."""
    updates: list[StylingUpdate] = field(default_factory=list)
    """Note types whose styling is written."""
    conflicts: list[StylingConflict] = field(default_factory=list)
    """Note types left alone for a conflict."""
    adopted: list[NoteType] = field(default_factory=list)
    """Note types with no base yet whose styling differs from build-deck's: kept as the
    student has them (build-deck's styling is taken as unchanged since it wrote them)."""
    bases: dict[int, Styling] = field(default_factory=dict)
    """The bases to save."""
    bases_changed: bool = False
    """True when the bases differ from those read."""


def merge_lines(base: str, ours: str, theirs: str) -> tuple[str, str, bool]:
    """Three-way merge of ``ours`` and ``theirs``, both changed from ``base``, by lines.

    Returns the merge taking ``ours`` where both changed the same (or adjacent) lines,
    the merge taking ``theirs`` there, and True when there was such a conflict.
    """
    if theirs in (base, ours):
        return ours, ours, False
    if ours == base:
        return theirs, theirs, False
    lines = base.splitlines(keepends=True)
    hunks = sorted(
        [(*hunk, 0) for hunk in _changes(lines, ours)]
        + [(*hunk, 1) for hunk in _changes(lines, theirs)],
        key=lambda h: (h[0], h[1], h[3]),
    )
    with_ours: list[str] = []
    with_theirs: list[str] = []
    position = 0
    conflict = False
    index = 0
    while index < len(hunks):
        group = [hunks[index]]
        start, end = hunks[index][0], hunks[index][1]
        index += 1
        while index < len(hunks) and hunks[index][0] <= end:
            group.append(hunks[index])
            end = max(end, hunks[index][1])
            index += 1
        sides = [_apply(lines, start, end, [h for h in group if h[3] == s]) for s in (0, 1)]
        both = {h[3] for h in group} == {0, 1}
        if both and sides[0] != sides[1]:
            conflict = True
        unchanged = lines[position:start]
        with_ours += unchanged + (sides[0] if 0 in {h[3] for h in group} else sides[1])
        with_theirs += unchanged + (sides[1] if 1 in {h[3] for h in group} else sides[0])
        position = end
    with_ours += lines[position:]
    with_theirs += lines[position:]
    return "".join(with_ours), "".join(with_theirs), conflict


def _changes(base: list[str], text: str) -> list[tuple[int, int, list[str]]]:
    """The changed regions of ``text`` against ``base``: [start, end) of base, new lines."""
    other = text.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, base, other, autojunk=False)
    return [
        (i1, i2, other[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"
    ]


def _apply(
    base: list[str], start: int, end: int, hunks: list[tuple[int, int, list[str], int]]
) -> list[str]:
    """``base[start:end]`` with one side's hunks applied."""
    out: list[str] = []
    position = start
    for hunk_start, hunk_end, new, _ in hunks:
        out += base[position:hunk_start] + new
        position = hunk_end
    return out + base[position:end]


def check_fields(note_type: NoteType, notetype: dict[str, Any]) -> None:
    """Raise ``StylingError`` when one of build-deck's fields is missing (fields the
    student added are fine)."""
    names = [f["name"] for f in notetype["flds"]]
    missing = [name for name in note_type.fields if name not in names]
    if missing:
        raise StylingError(
            f"the note type '{notetype['name']}' has no field {', '.join(missing)}: "
            "build-deck needs its fields "
            f"{', '.join(note_type.fields)} (fields of your own may stay); restore them in "
            "Anki (Tools → Manage Note Types → Fields) and sync again"
        )


def plan_styling(
    present: dict[int, dict[str, Any]], bases: dict[int, Styling], prefer: str | None
) -> StylingPlan:
    """What a sync does to the note types; ``prefer`` is ``"ours"``, ``"theirs"`` or None."""
    plan = StylingPlan(bases=dict(bases))
    for note_type in NOTE_TYPES:
        current = present.get(note_type.model_id)
        ours = Styling.of(note_type)
        if current is None:
            plan.adds.append(note_type)
            plan.bases[note_type.model_id] = ours
            continue
        check_fields(note_type, current)
        theirs = Styling.present(current)
        base = bases.get(note_type.model_id)
        if base is None:
            # No base yet (the first sync of this version): build-deck's styling is
            # taken as unchanged since it last wrote it, so any difference is the
            # student's.
            plan.bases[note_type.model_id] = ours
            if theirs != ours:
                plan.adopted.append(note_type)
            continue
        if ours == base:
            continue
        merged = _merge_styling(base, ours, theirs)
        conflicted = tuple(key for key, (_, _, conflict) in merged.items() if conflict)
        if conflicted and prefer is None:
            plan.conflicts.append(StylingConflict(note_type, conflicted))
            continue
        picked = {
            key: texts[1] if prefer == "theirs" else texts[0] for key, texts in merged.items()
        }
        result = _styling_of_parts(picked, theirs, ours, base)
        plan.bases[note_type.model_id] = ours
        if result != theirs:
            plan.updates.append(StylingUpdate(note_type, result, _kept(base, ours, theirs)))
    plan.bases_changed = plan.bases != bases
    return plan


def _merge_styling(
    base: Styling, ours: Styling, theirs: Styling
) -> dict[str, tuple[str, str, bool]]:
    """:func:`merge_lines` of every part that both build-deck and the collection have; a
    part missing from the base (a base written before build-deck kept that template) is
    taken as build-deck's, unchanged since it wrote it."""
    base_parts, theirs_parts = base.parts(), theirs.parts()
    return {
        key: merge_lines(base_parts.get(key, text), text, theirs_parts[key])
        for key, text in ours.parts().items()
        if key in theirs_parts
    }


def _kept(base: Styling, ours: Styling, theirs: Styling) -> tuple[str, ...]:
    """The keys of build-deck's parts that the student changed since the base."""
    base_parts, theirs_parts = base.parts(), theirs.parts()
    return tuple(
        key
        for key, text in ours.parts().items()
        if key in theirs_parts and theirs_parts[key] != base_parts.get(key, text)
    )


def _styling_of_parts(
    picked: dict[str, str], theirs: Styling, ours: Styling, base: Styling
) -> Styling:
    """The styling to write: the collection's, with the merged parts put in, and the
    templates build-deck added since the base appended (one it had in the base and the
    collection lacks was deleted by the student, and stays deleted)."""
    templates = [
        (picked.get(part_key("front", i), front), picked.get(part_key("back", i), back))
        for i, (front, back) in enumerate(theirs.templates)
    ]
    for index in range(len(templates), len(ours.templates)):
        if index < len(base.templates):
            break
        templates.append(ours.templates[index])
    return Styling(picked.get("css", theirs.css), tuple(templates))


def load_bases(data: Any) -> dict[int, Styling]:
    """The bases from the config value; an unreadable one is none (every note type's
    styling is then taken as the student's). A base from before every template was
    kept (version 1, the first template only) gets build-deck's further templates."""
    try:
        return {
            int(model_id): _load_base(int(model_id), item)
            for model_id, item in data["notetypes"].items()
        }
    except (KeyError, TypeError, ValueError, AttributeError):
        return {}


def _load_base(model_id: int, item: Any) -> Styling:
    """One note type's base from the config value (version 1 or 2)."""
    if "templates" in item:
        templates = tuple((str(t["front"]), str(t["back"])) for t in item["templates"])
        return Styling(str(item["css"]), templates)
    further = next((nt.more_templates for nt in NOTE_TYPES if nt.model_id == model_id), ())
    first = (str(item["front"]), str(item["back"]))
    return Styling(str(item["css"]), (first, *((f, b) for _, f, b in further)))


def dump_bases(bases: dict[int, Styling]) -> dict[str, Any]:
    """The bases as the JSON kept in the collection's config."""
    return {
        "version": 2,
        "notetypes": {
            str(model_id): {
                "css": s.css,
                "templates": [{"front": front, "back": back} for front, back in s.templates],
            }
            for model_id, s in sorted(bases.items())
        },
    }
