"""Anki: the package, the note types, and the student's own collection.

- :mod:`.notetypes`: the Q/A and cloze note types, their templates and CSS;
- :mod:`.package`: the ``.apkg`` written with genanki (the only module that uses it);
- ``build-deck sync``: :mod:`.collection` opens and reads the collection; :mod:`.sync`
  plans (its data in :mod:`.sync_model`), with :mod:`.pairing` (the note a retyped
  card replaces), :mod:`.decks` (the student's decks followed), :mod:`.duplicates`
  (notes holding one card twice), :mod:`.styling` (the note types' CSS and templates,
  merged) and :mod:`.sync_state` (the sync record); :mod:`.writes` applies the plan in
  one transaction, :mod:`.run` runs it all and :mod:`.sync_report` says what it does;
- :mod:`.pull`, :mod:`.notes_file`, :mod:`.html_to_markdown`: ``build-deck pull``,
  Anki edits back to the notes;
- :mod:`.profiles`: where Anki keeps a profile's collection.

The ``sync`` and ``pull`` commands, which run a build first, are
:mod:`build_deck.anki_commands`, beside the command line.
"""
