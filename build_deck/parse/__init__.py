"""The Markdown side: notes files become cards.

- :mod:`.markdown`: the markdown-it parser and its plugins (math, clozes, highlighting),
  with :mod:`.obsidian` (comments, wikilinks, embeds, sounds, callouts) and :mod:`.mark`
  (``==highlights==``) for Obsidian's syntax;
- :mod:`.cloze`: cloze deletions in field HTML (numbering, counting, MathJax-safe braces);
- :mod:`.highlight`: code blocks highlighted with Pygments, for light and night mode;
- :mod:`.extract`: one notes file's cards, sections, tags and checks, read block by block
  with its parts: :mod:`.context` (the file being read), :mod:`.sections` (front matter
  and headings), :mod:`.media` (images and sounds), :mod:`.cards` (Q/A and cloze cards
  assembled and finished) and :mod:`.tokens` (helpers over tokens).
"""
