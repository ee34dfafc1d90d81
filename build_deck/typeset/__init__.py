"""Typesetting: the cards' TeX as Anki's MathJax will read it.

- :mod:`.texcheck`: every formula typeset by MathJax in Node.js, its errors at ``file:line``;
- :mod:`.preview`: every card rendered as Anki shows it, in one offline HTML page.
"""
