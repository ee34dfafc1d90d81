"""The Markdown side: notes files become cards.

- :mod:`.markdown`: the markdown-it parser and its plugins (math, clozes, highlighting);
- :mod:`.cloze`: cloze deletions in field HTML (numbering, counting, MathJax-safe braces);
- :mod:`.highlight`: code blocks highlighted with Pygments, for light and night mode;
- :mod:`.extract`: one notes file's cards, sections, tags and checks.
"""
