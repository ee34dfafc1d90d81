"""Identity: each card keeps its GUID, and so its reviews, across every edit.

- :mod:`.ledger`: the committed card ledger under ``cards/``, read, matched and written,
  with its parts :mod:`.ledger_model` (entries in memory), :mod:`.ledger_format` (the
  files), :mod:`.ledger_v1` (migration from version 1) and :mod:`.matching` (cards to
  entries);
- :mod:`.plan`: every card of a build matched to the ledger at once (GUIDs, cloze numbers,
  mtimes, what changed), and the guard against dropping many cards by accident;
- :mod:`.ledger_cli`: ``build-deck ledger merge`` and ``resolve`` for git.

Atomic writes and the build lock are :mod:`build_deck.storage`, shared by every stage
that writes.
"""
