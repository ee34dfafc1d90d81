"""build_deck: turn Markdown study notes into a verified Anki deck."""

__version__ = "0.1.0"
