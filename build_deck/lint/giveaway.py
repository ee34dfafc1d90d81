"""Give-aways: the front of a card shows its answer.

A card's answer is its hidden deletion (cloze) or the core of its answer (Q/A: the bold
part, or the first clause). What a student sees before turning the card is its front
(the question, or the cloze text with this card's deletion hidden and the others shown)
and the context line (the heading path). Four shapes a program can see:

- **words**: every word of the answer stands on the front (``SARSA is {{on-policy}}
  ... it is on-policy``), or in the heading shown as context (a deletion "variance"
  under *Bias and Variance*); its initials do (``{{keys and values}}`` beside "KV");
- **math**: the hidden formula stands on the front as a formula of its own, token for
  token;
- **partner**: the answer's partner (``bias``/``variance``, ``increase``/``decrease``,
  ``synchronous``/``asynchronous``) is shown, so the other half is read off;
- a Q/A **question holds its own answer** (words, as above).

Words are compared as stems (``text.stem``). Function words never count, and a match
made only of the file's topic words (those on many of its cards) does not fire.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from build_deck.lint.text import (
    HIDDEN,
    STOPWORDS,
    Shown,
    cloze_fronts,
    content_words,
    formulas,
    plain,
    stem,
)
from build_deck.model import Card

_MATH_DELIMITED = re.compile(r"\\\(.*?\\\)|\\\[.*?\\\]", re.DOTALL)

_CLOZE_MARKUP = re.compile(r"\{\{c\d+::|\}\}")

_PAIRS = """bias variance; precision recall; sensitivity specificity; encoder decoder;
encode decode; row column; prior posterior; prior likelihood; likelihood posterior;
increase decrease; increase reduce; grow shrink; rise fall; higher lower; high low;
larger smaller; large small; more less; more fewer; maximum minimum; maximise minimise;
max min; upper lower; left right; input output; forward backward; overfit underfit;
overfitting underfitting; positive negative; true false; key value; query key;
select evaluate; selection evaluation; selecting evaluating; actor critic;
generator discriminator; exploration exploitation; explore exploit; inner outer;
local global; online offline; on-policy off-policy; synchronous asynchronous;
deterministic stochastic; discriminative generative; supervised unsupervised;
linear nonlinear; convex concave; parametric nonparametric; symmetric asymmetric;
biased unbiased; dense sparse; bits nats; width depth; before after; first last;
numerator denominator; mean median; gradients parameters; keys values"""

PARTNERS: dict[str, frozenset[str]] = {}
"""For a word's stem, the stems of the words it is half of a pair with."""
for _pair in _PAIRS.split(";"):
    _a, _b = (stem(w) for w in _pair.split())
    PARTNERS[_a] = PARTNERS.get(_a, frozenset()) | {_b}
    PARTNERS[_b] = PARTNERS.get(_b, frozenset()) | {_a}

_NEGATIONS = ("un", "non", "in", "im", "ir", "il", "a", "dis")
_SWAPS = (("en", "de"), ("over", "under"), ("on", "off"), ("pre", "post"), ("up", "down"))
_ASKS = ("what", "which", "who", "whom", "where", "when", "name", "how many", "how much")
"""Questions that ask for a name, a thing or a number: their answer is short and
should not stand in the question. (``Why`` and ``how`` ask for explanations, which
restate the question's words.)"""


def partners_of(key: str) -> frozenset[str]:
    """The stems ``key`` is half of a pair with: the listed pairs, a negation
    (``synchronous``/``asynchronous``), or a swapped prefix (``encoder``/``decoder``)."""
    found = set(PARTNERS.get(key, ()))
    if len(key) >= 5:
        found |= {prefix + key for prefix in _NEGATIONS}
    for prefix in _NEGATIONS:
        if key.startswith(prefix) and len(key) - len(prefix) >= 5:
            found.add(key[len(prefix) :])
    for one, other in (*_SWAPS, *((b, a) for a, b in _SWAPS)):
        if key.startswith(one) and len(key) - len(one) >= 4:
            found.add(other + key[len(one) :])
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """How common each word is in a file: its topic words and its rare words."""

    topic: frozenset[str]
    """Stems on many of the file's cards (``TOPIC_SHARE``): its subject."""
    rare: frozenset[str]
    """Stems on at most ``RARE_CARDS`` of its cards: a name, a term of art."""


TOPIC_SHARE = 0.08
"""A word on at least this share of a file's cards (and on three or more) is a topic
word of that file."""
RARE_CARDS = 2
"""A word on at most this many cards of a file is rare in it."""
RARE_FROM = 20
"""Words are told rare only in a file of this many cards or more (in a short file, every
word is on few cards)."""


def vocabulary(cards: Sequence[Card]) -> Vocabulary:
    """The topic and rare words of one file's cards."""
    counts: Counter[str] = Counter()
    for card in cards:
        shown = _CLOZE_MARKUP.sub(" ", f"{card.content} {card.back} {card.extra}")
        counts.update(Shown.of(plain(shown)).words)
    least = max(3, TOPIC_SHARE * len(cards))
    return Vocabulary(
        frozenset(w for w, n in counts.items() if n >= least),
        frozenset(w for w, n in counts.items() if n <= RARE_CARDS)
        if len(cards) >= RARE_FROM
        else frozenset(),
    )


@dataclass(frozen=True, slots=True)
class Answer:
    """What a card's front must not show: the answer's words and formulas."""

    label: str
    """How the message names it: ``the deletion``, ``deletion c2``, ``the answer``."""
    partial: bool
    """Whether a partly shown answer counts (deletions), or only a wholly shown one (a
    Q/A answer, whose question names what kind of thing it asks for)."""
    text: str
    """The answer as plain text, for the message."""
    words: tuple[tuple[str, str], ...]
    """Its content words as (written, stem)."""
    math: tuple[tuple[str, ...], ...]
    """Its formulas, as TeX tokens."""


@functools.lru_cache(maxsize=4096)
def _shown(text: str) -> Shown:
    """``Shown.of`` for a heading, which many cards share."""
    return Shown.of(text)


def _quoted(text: str, limit: int = 60) -> str:
    text = " ".join(text.replace(HIDDEN, "[...]").split())
    text = text.replace("\\(", "$").replace("\\)", "$").replace("\\[", "$$").replace("\\]", "$$")
    return f'"{text if len(text) <= limit else text[: limit - 1] + "…"}"'


def _informative(keys: Iterable[str], topic: frozenset[str]) -> bool:
    """Some key is neither a function word nor a topic word (numbers are never topic
    words, but 0 and 1 are too common to count)."""
    return any(
        k not in ("0", "1") if k[:1].isdigit() else k not in topic and k not in STOPWORDS
        for k in keys
    )


def _initials(words: Iterable[str]) -> str:
    return "".join(w[0].lower() for w in words if w[:1].isalpha())


def _acronym_shown(answer: Answer, front: Shown) -> str | None:
    """An acronym on the front spelled by the answer's words, or the answer's acronym
    spelled by the front's words."""
    written = [w for w, key in answer.words if not key.isdigit()]
    initials = _initials(written)
    for acronym in front.acronyms:
        if len(acronym) >= 2 and acronym in initials and len(written) >= len(acronym):
            return acronym.upper()
    capitals = [w for w in written if len(w) >= 3 and w.isupper()]
    if capitals:
        front_initials = _initials(w for w, _ in content_words(front.text))
        for written_word in capitals:
            if written_word.lower() in front_initials:
                return written_word
    return None


def _formula_shown(hidden: tuple[str, ...], front: Shown) -> bool:
    """A formula stands on the front: as a whole formula, or (five tokens or more,
    more than a subscripted name) inside one."""
    for shown in front.math:
        if hidden == shown:
            return True
        if len(hidden) >= 5 and any(
            shown[i : i + len(hidden)] == hidden for i in range(len(shown) - len(hidden) + 1)
        ):
            return True
    return False


def check_answer(
    answer: Answer, front: Shown, headings: tuple[str, ...], vocabulary: Vocabulary
) -> str | None:
    """The give-away message for one answer against its front and heading, or None.

    Every part of the answer must be shown (all its words, all its formulas) for the
    words or the math to fire; a partner fires for an answer of one or two words."""
    keys = [key for _, key in answer.words]
    math = [f for f in answer.math if f]
    heading = _shown(" › ".join(headings))
    what = f"{_quoted(answer.text)} ({answer.label})"
    if (
        keys
        and not math
        and all(k in heading.words for k in keys)
        and _informative(keys, vocabulary.topic)
    ):
        named = [h for h in headings if any(k in _shown(h).words for k in keys)]
        return (
            f"{what} is shown in the heading {_quoted(named[-1] if named else heading.text)}: "
            "rename the heading, or ask for something it does not name"
        )
    math_shown = all(_formula_shown(f, front) for f in math)
    words_shown = all(k in front.words or k in heading.words for k in keys)
    if keys and words_shown and math_shown and _informative(keys, vocabulary.topic):
        shown = ", ".join(dict.fromkeys(w for w, _ in answer.words))
        return (
            f"{what} is shown on the front ({_quoted(shown)}): move those words to Extra:, "
            "or into the deletion"
        )
    if math and math_shown and not keys:
        return (
            f"{what} is shown on the front as a formula: move that formula to Extra:, "
            "or hide it too"
        )
    acronym = _acronym_shown(answer, front)
    if acronym:
        return (
            f"{what} is spelled out by {acronym!r} on the front: move {acronym!r} to Extra:, "
            "or hide it too"
        )
    if not answer.partial:
        return None
    matched = [k for k in keys if k in front.words or k in heading.words]
    rare = [w for w, k in answer.words if k in matched and k in vocabulary.rare and k.isalpha()]
    plain_matched = [k for k in matched if k not in vocabulary.topic]
    if len(keys) >= 4 and 5 * len(matched) >= 4 * len(keys) and len(plain_matched) >= 3:
        return (
            f"{what} is mostly shown on the front ({len(matched)} of its {len(keys)} words): "
            "move those words to Extra:, or into the deletion"
        )
    if rare and len(keys) <= 4 and 2 * len(matched) >= len(keys) and math_shown:
        return (
            f"{what} is given by {rare[0]!r}, shown on the front or in the heading: move it "
            "to Extra:, or into the deletion"
        )
    if 0 < len(keys) <= 2:
        for key in keys:
            partner = next(iter(sorted(partners_of(key) & front.words)), None)
            if partner is not None:
                written = front.spelled.get(partner, partner)
                return (
                    f"{what} is read off its partner {written!r} on the front: put both "
                    "in one deletion (the same cN), or move the partner to Extra:"
                )
    return None


def _qa_answer(card: Card) -> Answer | None:
    """The short core of a Q/A answer, when its question asks for a name or a value:
    the bold part, or the first clause of up to eight words."""
    question = " ".join(plain(card.content).lower().split())
    if not question.startswith(_ASKS) and not any(f" {a} " in question for a in _ASKS[:3]):
        return None
    if " or " in question or "which of" in question or "difference" in question:
        return None  # a choice: the options are on the front by design
    back = card.back
    bold = [b.split("</strong>")[0] for b in back.split("<strong>")[1:]]
    if bold:
        text = plain(" ".join(bold))
    else:
        first = plain(back).strip().split("\n\n")[0]
        for stop in (":", ";", ".", ",", " (", " — ", " – "):
            first = first.split(stop)[0]
        text = first
        if len(content_words(text)) > 8:
            return None
    if not any(c.isalpha() for c in _MATH_DELIMITED.sub(" ", text)):
        return None  # a number: the givens of a drill may hold it by chance
    return Answer("the answer", False, text, tuple(content_words(text)), tuple(formulas(text)))


def give_aways(card: Card, vocabulary: Vocabulary) -> list[str]:
    """A message for each answer of ``card`` its front gives away. The file's title (its
    first heading, the deck's name) counts only for a card right under it: it names the
    subject of every card below."""
    headings = card.section[1:] or card.section
    if card.kind.is_qa:
        answer = _qa_answer(card)
        if answer is None:
            return []
        found = check_answer(answer, Shown.of(plain(card.content)), headings, vocabulary)
        return [found] if found else []
    messages = []
    fronts = cloze_fronts(card.content)
    for face in fronts:
        text = " ".join(face.hidden)
        label = "the deletion" if len(fronts) == 1 else f"deletion c{face.number}"
        answer = Answer(label, True, text, tuple(content_words(text)), tuple(formulas(text)))
        found = check_answer(answer, Shown.of(face.front), headings, vocabulary)
        if found:
            messages.append(found)
    return messages
