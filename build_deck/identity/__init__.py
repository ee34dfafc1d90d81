"""Identity: each card keeps its GUID, and so its reviews, across every edit.

- :mod:`.ledger`: the committed card ledger under ``cards/``, read, matched and written;
- :mod:`.ledger_cli`: ``build-deck ledger merge`` and ``resolve`` for git;
- :mod:`.storage`: atomic writes and the build lock.
"""
