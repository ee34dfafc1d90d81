"""Anki: the package, the note types, and the student's own collection.

- :mod:`.notetypes`: the Q/A and cloze note types, their templates and CSS;
- :mod:`.package`: the ``.apkg`` written with genanki (the only module that uses it);
- :mod:`.collection`, :mod:`.sync`: ``build-deck sync``, the plan and its writes, with
  :mod:`.sync_state` (what sync last wrote to each note) and :mod:`.sync_report` (the
  lines it prints);
- :mod:`.pull`, :mod:`.html_to_markdown`: ``build-deck pull``, Anki edits back to the notes;
- :mod:`.profiles`: where Anki keeps a profile's collection.

The ``sync`` and ``pull`` commands, which run a build first, are
:mod:`build_deck.anki_commands`, beside the command line.
"""
