"""Anki stage: the lines ``build-deck sync`` prints about its plan.

:func:`describe` gives one line per change of a :class:`~build_deck.anki.sync.Plan`,
printed before the plan is applied; :func:`summary` counts them for the last line.
"""

from __future__ import annotations

from build_deck.anki.note_text import first_words
from build_deck.anki.sync import OUR_NOTETYPES, REMOVED_TAG, Plan


def describe(plan: Plan, *, verbose_adds: int = 20) -> list[str]:
    """One line per change of the plan, as printed before it is applied."""
    lines = [f"note type: add {nt.name}" for nt in plan.add_notetypes]
    lines += [f"note type: update templates and CSS of {nt.name}" for nt in plan.update_notetypes]
    if len(plan.adds) <= verbose_adds:
        lines += [f"add: {d.loc}: {first_words(d.fields)}" for d in plan.adds]
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
    lines += [f"move: {d.loc}: to {d.deck}" for d, _ in plan.moves]
    lines += [
        f"kept Anki edit: {d.loc}: {', '.join(names)} (the notes did not change it)"
        for d, names in plan.kept
    ]
    lines += [
        f"{c.desired.loc}: error: conflict: {', '.join(c.fields)} edited in Anki and in the "
        "notes since the last sync; --theirs keeps Anki's, --ours takes the notes' "
        "('build-deck pull' shows Anki's edit)"
        for c in plan.conflicts
    ]
    lines += [
        f"{d.loc}: error: its GUID belongs to {owner} in the collection; left alone (if the "
        "card ledger came from someone else, delete the card's line there to give it a "
        "new identity)"
        for d, owner in plan.foreign
    ]
    lines += [f"removed: {n.source}: {n.summary} (tagged {REMOVED_TAG})" for n in plan.removed]
    lines += [f"delete: {n.source}: {n.summary}" for n in plan.prune]
    lines += [f"media: {name}" for name, _ in plan.media]
    return lines


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
        f"{len(plan.conflicts)} conflicts",
    ]
    return ", ".join(parts)
