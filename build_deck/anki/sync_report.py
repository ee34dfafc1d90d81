"""Anki stage: the lines ``build-deck sync`` prints about its plan.

:func:`describe` gives one line per change of a :class:`~build_deck.anki.sync.Plan`,
printed before the plan is applied; :func:`summary` counts them for the last line.
"""

from __future__ import annotations

from build_deck.anki.note_text import first_words
from build_deck.anki.styling import part_name
from build_deck.anki.sync_model import OUR_NOTETYPES, REMOVED_TAG, Conflict, Plan


def describe(plan: Plan, *, verbose_adds: int = 20) -> list[str]:
    """One line per change of the plan, as printed before it is applied."""
    lines = _describe_notetypes(plan)
    for merge in plan.merges:
        where = f"{merge.keep.source}: {merge.keep.summary}"
        if merge.retype:
            lines.append(
                f"merged: {where}: a change of note type an older build-deck left half-done "
                "had added it again; one note kept, with the reviews of both"
            )
        else:
            lines.append(
                f"merged: {where}: {len(merge.drop) + 1} notes shared its GUID (two computers "
                "synced before AnkiWeb merged them); one kept, with the reviews of all"
            )
    if len(plan.adds) <= verbose_adds or plan.readded:
        lines += [
            f"add: {d.loc}: {first_words(d.fields)}"
            + (" (re-added: deleted in Anki)" if d.guid in plan.readded else "")
            for d in plan.adds
            if len(plan.adds) <= verbose_adds or d.guid in plan.readded
        ]
    for update in plan.updates:
        what = []
        if update.retype_from is not None:
            old = OUR_NOTETYPES[update.retype_from].name
            what.append(f"note type {old} -> {update.desired.note_type.name}")
        if update.fields:
            what.append("fields " + ", ".join(update.fields))
        if update.tags is not None:
            what.append("tags")
        lines.append(f"update: {update.desired.loc}: {'; '.join(what) or 'GUID'}")
    lines += [f"move: {m.desired.loc}: to {m.deck}" for m in plan.moves]
    lines += [
        f"kept Anki edit: {d.loc}: {', '.join(names)} (the notes did not change it)"
        for d, names in plan.kept
    ]
    lines += [_conflict_line(c) for c in plan.conflicts]
    lines += [
        f"{d.loc}: error: its GUID belongs to {owner} in the collection; left alone (if the "
        "card ledger came from someone else, delete the card's line there to give it a "
        "new identity)"
        for d, owner in plan.foreign
    ]
    lines += [f"removed: {n.source}: {n.summary} (tagged {REMOVED_TAG})" for n in plan.removed]
    lines += [f"delete: {n.source}: {n.summary}" for n in plan.prune]
    lines += [
        f"not deleted: {n.source}: {n.summary}: it has {n.reviews} reviews and its note type "
        "changed since the last sync, so its card may still be in the notes"
        for n in plan.spared
    ]
    lines += [f"media: {name}" for name, _ in plan.media]
    return lines


def _describe_notetypes(plan: Plan) -> list[str]:
    styling = plan.styling
    lines = [f"note type: add {nt.name}" for nt in styling.adds]
    for update in styling.updates:
        if update.kept:
            kept = ", ".join(part_name(update.note_type, p) for p in update.kept)
            lines.append(
                f"note type: update templates and CSS of {update.note_type.name}, "
                f"keeping your edits to its {kept}"
            )
        else:
            lines.append(f"note type: update templates and CSS of {update.note_type.name}")
    lines += [
        f"note type: {nt.name}: your CSS and templates are kept as they are; from now on "
        "build-deck merges its own changes into them"
        for nt in styling.adopted
    ]
    for conflict in styling.conflicts:
        parts = ", ".join(part_name(conflict.note_type, p) for p in conflict.parts)
        lines.append(
            f"note type {conflict.note_type.name}: error: conflict: its {parts} was edited in "
            "Anki, and build-deck changed the same lines; left as it is: --theirs keeps your "
            "version, --ours takes build-deck's there"
        )
    return lines


def _conflict_line(conflict: Conflict) -> str:
    names = ", ".join(conflict.fields)
    if conflict.own_fields:
        return (
            f"{conflict.desired.loc}: error: conflict: the note's field {names} (yours) has no "
            f"place in {conflict.desired.note_type.name}, so changing its note type would lose "
            "it; add that field to the note type in Anki or empty it, then sync again"
        )
    return (
        f"{conflict.desired.loc}: error: conflict: {names} edited in Anki and in the notes "
        "since the last sync; --theirs keeps Anki's, --ours takes the notes' "
        "('build-deck pull' shows Anki's edit)"
    )


def summary(plan: Plan) -> str:
    """Counts of the plan, for the last line of the output."""
    retyped = sum(u.retype_from is not None for u in plan.updates)
    parts = [
        f"+{len(plan.adds)} new",
        f"{len(plan.updates) - retyped} updated",
        f"{retyped} retyped",
        f"{len(plan.moves)} moved",
        f"{len(plan.removed)} tagged removed",
        f"{len(plan.prune)} deleted",
        f"{len(plan.kept)} Anki edits kept",
        f"{len(plan.conflicts) + len(plan.styling.conflicts)} conflicts",
    ]
    if plan.merges:
        parts.insert(0, f"{len(plan.merges)} merged")
    return ", ".join(parts)
