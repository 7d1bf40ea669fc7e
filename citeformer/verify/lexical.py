"""LexicalScorer: word overlap with number, date and negation checks. No model at all.

What it measures: the share of the claim's content words (stemmed lightly) that the
premise contains. Three checks make it useful beyond a bag of words:

* **Numbers and years**: a number in the claim that the premise does not contain
  ("330 metres" against "300 metres", "in 1899" against "in 1889") caps the score
  at :data:`MISMATCH_CAP`, below the default threshold.
* **Negation**: a claim whose negation differs from the premise sentence that covers
  it best ("did not open" against "opened") is capped the same way.
* **Names**: a capitalised word past the claim's first word that the premise lacks
  ("architect of the Chrysler Building" against a source that never names it,
  "in Berlin" against "in Paris") is capped the same way.
* **Verbatim quotes**: a claim of six or more words found word for word in the
  premise scores 1.0.

It cannot tell a paraphrase from a contradiction that reuses the source's words
("the tower is in Berlin" shares most words with "the tower is in Paris" only when
the entity is the one word changed): it checks mechanics, not entailment.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from typing import Final

from citeformer.verify.scorer import Pair, Scorer, ScorerKind, check_threshold

MISMATCH_CAP: Final = 0.2
"""The highest score of a claim with a number or negation the premise lacks."""
VERBATIM_WORDS: Final = 6

_TOKEN: Final = re.compile(r"\d+(?:[.,]\d+)*|\w+")
_NUMBER: Final = re.compile(r"\d+(?:[.,]\d+)*")
_CAPITALISED: Final = re.compile(r"(?<![\w'’])[A-Z][\w'’-]*")
_SENTENCE_END: Final = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_NEGATIONS: Final = frozenset(
    re.findall(
        r"\S+",
        """not no never none nobody nothing neither nor without cannot
        isn't wasn't aren't weren't doesn't don't didn't hasn't haven't hadn't won't wouldn't
        can't couldn't shouldn't""",
    )
)
# Spelled-out numbers read as numbers ("three prizes" is checked like "3 prizes");
# "one" is left out: it is more often a pronoun ("one of the towers").
_NUMBER_WORDS: Final = {
    "zero": "0", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
}  # fmt: skip
_STOPWORDS: Final = frozenset(
    re.findall(
        r"\S+",
        """a an the and or but if of at by for with about into onto to from in on off over
        under is are was were be been being am do does did has have had having it its it's
        this that these those there here their they them he she his her him we us our you
        your i me my as so than then too very can could would should will shall may might
        must also just which who whom whose what when where why how all any both each few
        more most other some such only own same s t one""",
    )
)


class LexicalScorer(Scorer):
    """Content-word coverage with number, date and negation checks (no dependency).

    Args:
        threshold: Support threshold (default 0.5): at least half the claim's
            content words in the premise, and no number or negation mismatch.
        window_words: Premise window size in words.

    Example:
        >>> scorer = LexicalScorer()
        >>> scorer.score("The tower is 330 metres tall.", "The tower is 330 metres tall") == 1.0
        True
        >>> scorer.score("The tower is 300 metres tall.", "It is 330 metres tall") <= 0.2
        True
    """

    kind = ScorerKind.LEXICAL

    def __init__(self, *, threshold: float = 0.5, window_words: int = 300) -> None:
        self.threshold = check_threshold(threshold)
        self.window_words = window_words

    def score_batch(self, pairs: Sequence[Pair]) -> list[float]:
        """Score each (premise, claim) pair."""
        return [lexical_score(premise, claim) for premise, claim in pairs]


def lexical_score(premise: str, claim: str) -> float:
    """The lexical support score of ``claim`` against ``premise`` (see the module doc)."""
    claim_tokens = _tokens(claim)
    if not claim_tokens:
        return 0.0
    premise_tokens = _tokens(premise)
    if len(claim_tokens) >= VERBATIM_WORDS and _contains(premise_tokens, claim_tokens):
        return 1.0
    content = [t for t in claim_tokens if t not in _STOPWORDS and t not in _NEGATIONS]
    if not content:
        return 0.0
    have = {_stem(t) for t in premise_tokens}
    score = sum(_stem(t) in have for t in content) / len(content)
    if _numbers(claim_tokens) - _numbers(premise_tokens):
        return min(score, MISMATCH_CAP)
    if _negated(claim_tokens) != _negated(_best_sentence(premise, content)):
        return min(score, MISMATCH_CAP)
    if _names(claim) - have:
        return min(score, MISMATCH_CAP)
    return score


def overlap(premise: str, claim: str) -> float:
    """Share of the claim's content words in the premise (the coverage prefilter)."""
    content = [t for t in _tokens(claim) if t not in _STOPWORDS]
    if not content:
        return 0.0
    have = {_stem(t) for t in _tokens(premise)}
    return sum(_stem(t) in have for t in content) / len(content)


@functools.lru_cache(maxsize=4096)
def _tokens(text: str) -> tuple[str, ...]:
    folded = unicodedata.normalize("NFKC", text).casefold().replace("’", "'")
    out: list[str] = []
    for match in _TOKEN.finditer(folded):
        token = match.group()
        if token[0].isdigit():
            token = _decimal(token.replace(",", "") if _is_grouped(token) else token)
        out.append(_NUMBER_WORDS.get(token, token))
    # "n't" is split off by \w+ ("didn", "t"): rejoin it so it reads as a negation.
    for i in range(len(out) - 1):
        if out[i + 1] == "t" and out[i].endswith("n"):
            out[i] = out[i] + "'t"
    return tuple(out)


def _is_grouped(token: str) -> bool:
    """``50,000``-style digit grouping (not a decimal comma like ``3,5``)."""
    groups = token.split(",")
    return len(groups) > 1 and all(len(g) == 3 for g in groups[1:]) and "." not in groups[0]


def _numbers(tokens: Sequence[str]) -> set[str]:
    return {t for t in tokens if _NUMBER.fullmatch(t)}


def _decimal(token: str) -> str:
    """``3.50`` and ``3.5`` are one number; ``10.0`` is ``10``."""
    return token.rstrip("0").rstrip(".") if "." in token else token


def _names(claim: str) -> set[str]:
    """Stems of capitalised words past the claim's first word (names, places, titles)."""
    names = set()
    for match in _CAPITALISED.finditer(claim):
        if match.start() == 0 or not claim[: match.start()].strip():
            continue  # the sentence's own first word
        token = _tokens(match.group())
        if token and token[0] not in _STOPWORDS:
            names.add(_stem(token[0]))
    return names


def _negated(tokens: Sequence[str]) -> bool:
    return any(t in _NEGATIONS for t in tokens)


def _best_sentence(premise: str, content: Sequence[str]) -> tuple[str, ...]:
    """The premise sentence that holds most of the claim's content words."""
    wanted = {_stem(t) for t in content}
    best: tuple[str, ...] = ()
    best_hits = -1
    for sentence in _SENTENCE_END.split(premise):
        tokens = _tokens(sentence)
        hits = len(wanted & {_stem(t) for t in tokens})
        if hits > best_hits:
            best, best_hits = tokens, hits
    return best


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    joined = " " + " ".join(haystack) + " "
    return " " + " ".join(needle) + " " in joined


@functools.lru_cache(maxsize=16384)
def _stem(token: str) -> str:
    """A light suffix stem, so "opened", "opens" and "opening" meet."""
    if len(token) <= 3 or token[0].isdigit():
        return token
    if token.endswith("es") and token[:-2].endswith(("s", "x", "z", "ch", "sh")):
        return token[:-2]  # "churches", "boxes"; but "prizes" loses only its "s"
    for suffix in ("ing", "ed", "s", "ly"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            return token[: -len(suffix)]
    return token
