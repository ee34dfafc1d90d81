"""Too long, and two questions in one: answers a student cannot say in one breath.

Wozniak's "Twenty rules of formulating knowledge" (SuperMemo, 1999), rule 4, the
minimum information principle: a card asks for as little as it can, because a long
answer is graded as one and half of it is forgotten; rule 9 adds that sets and
enumerations are hard to remember. Matuschak's "How to write good prompts" (2020) asks
for *focused* prompts: one detail at a time. The thresholds below turn that into
numbers, set from the shipped deck (915 cards) and the 12 answers its December 2026
review found too long:

- Q/A answers: a median of 6 words, 35 at the 99th percentile, and one fact at the
  median. The answers the review called too long had 51 to 66 words, or three and more
  facts (sentences, list items, ``;`` clauses). So more than ``MAX_WORDS`` words or
  ``MAX_FACTS`` facts or more is too long; of the deck's other 420 answers one passes
  either line.
- Cloze deletions: a median of one word, 9 at the 99th percentile, 12 at most; more
  than ``MAX_DELETION_WORDS`` is a sentence hidden, and ``MAX_SET`` deletions of one
  number hide a set (rule 9).
- A question that asks two things ("..., and how?", "What are X's A and B?") is graded
  as one; each review finding of this shape was caught by ``TWO_QUESTIONS`` and no other
  question of the deck was.
"""

from __future__ import annotations

import re

from build_deck.lint.text import HIDDEN, cloze_fronts, plain, word_tokens
from build_deck.model import Card

MAX_WORDS = 40
"""A Q/A answer of more words is too long (math counts as one word)."""
MAX_FACTS = 3
"""A Q/A answer of this many facts (sentences, list items, ``;`` clauses) is too long."""
MAX_DELETION_WORDS = 15
"""A cloze deletion of more words is too long."""
MAX_SET = 4
"""This many deletions with one number hide a set."""

_MATH = re.compile(r"\\\(.*?\\\)|\\\[.*?\\\]", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\\(])")
TWO_QUESTIONS = re.compile(
    r"\band (?:\w+ ){0,2}(?:how|why|what|which|where|when|who|whether)\b"
    r"|^(?:what|which) are\b[^?]*\band\b",
    re.IGNORECASE,
)
"""A question that asks a second thing after ``and``, or asks for two named values."""


def words_and_facts(field_html: str) -> tuple[int, int]:
    """An answer's length in words (a formula is one) and in facts."""
    text = plain(field_html).strip()
    words = len(word_tokens(_MATH.sub(" M ", text)))
    sentences = len([s for s in _SENTENCE_END.split(text) if s.strip()])
    items = field_html.count("<li>")
    return words, sentences + text.count(";") + max(items - 1, 0)


def too_long(card: Card) -> list[str]:
    """A message for each part of ``card`` too long to recall as one fact."""
    if card.kind.is_qa:
        words, facts = words_and_facts(card.back)
        if words > MAX_WORDS or facts >= MAX_FACTS:
            return [
                f"the answer has {words} words and {facts} fact{'s' if facts != 1 else ''} "
                f"(at most {MAX_WORDS} words "
                f"and {MAX_FACTS - 1} facts): keep the one fact asked for and move the rest "
                "to Extra:, or split the card"
            ]
        return []
    messages = []
    for face in cloze_fronts(card.content):
        longest = max(len(word_tokens(_MATH.sub(" M ", h))) for h in face.hidden)
        if longest > MAX_DELETION_WORDS:
            messages.append(
                f"deletion c{face.number} hides {longest} words (at most "
                f"{MAX_DELETION_WORDS}): hide the key phrase only"
            )
        if face.front.count(HIDDEN) >= MAX_SET:
            messages.append(
                f"c{face.number} hides a set of {face.front.count(HIDDEN)} items at once: "
                "give each its own number, or ask for fewer"
            )
    return messages


def two_questions(card: Card) -> list[str]:
    """A message when a Q/A question asks two things."""
    if not card.kind.is_qa:
        return []
    question = " ".join(plain(card.content).split())
    asks = question.split(". ")[-1]  # the givens of a drill come first
    match = TWO_QUESTIONS.search(asks)
    if match is None and question.count("?") < 2:
        return []
    where = f' ("{match.group(0).strip()}")' if match else ""
    return [
        f"the question asks two things{where}: ask one, or split the card in two "
        "(one answer is graded as one)"
    ]
