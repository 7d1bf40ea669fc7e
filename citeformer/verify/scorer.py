"""The scorer contract: how ``verify()`` asks "does this premise support this claim?".

A scorer maps (premise, hypothesis) pairs to support scores, higher meaning better
supported, and owns a default threshold (``score >= threshold`` is support). Scores
need not be probabilities, but every in-tree scorer returns values in [0, 1].

Scorers are called in batches: :meth:`Scorer.score_batch` on the sync path and
:meth:`Scorer.ascore_batch` on the async one. The async default runs the batch in a
worker thread, so a CPU model never blocks the event loop; scorers that do I/O (an
LLM judge on a native-async backend) override it to await their calls instead.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from citeformer.errors import InvalidOptionError

Pair = tuple[str, str]
"""One (premise, hypothesis) pair."""


class ScorerKind(enum.StrEnum):
    """What a scorer measures, reported with every verification."""

    NLI = "nli"
    """An entailment (NLI or factual-consistency) classifier."""
    LLM_JUDGE = "llm-judge"
    """A language model asked a constrained yes/no question."""
    EMBEDDING = "embedding"
    """Cosine similarity of sentence embeddings: relatedness, not entailment."""
    LEXICAL = "lexical"
    """Word overlap with number, date and negation checks: no model at all."""
    CUSTOM = "custom"
    """A function the caller supplied."""


ENTAILMENT_KINDS: Final = frozenset({ScorerKind.NLI, ScorerKind.LLM_JUDGE})
"""Kinds that judge entailment (the others measure overlap or relatedness)."""


@dataclass(frozen=True, slots=True)
class ScorerInfo:
    """Which scorer produced a report, as stored in it.

    Attributes:
        name: The scorer's name (its class, or the function's name).
        kind: What it measures (``nli``, ``llm-judge``, ``embedding``, ``lexical``,
            ``custom``).
        model: The model id or path, where there is one.
        threshold: The threshold that decided support.
    """

    name: str
    kind: ScorerKind
    model: str | None
    threshold: float

    @property
    def judges_entailment(self) -> bool:
        """Whether the scorer is an entailment model (NLI or LLM judge)."""
        return self.kind in ENTAILMENT_KINDS


class Scorer(abc.ABC):
    """Base class of support scorers.

    Subclasses set :attr:`kind` and :attr:`threshold` (their default) and implement
    :meth:`score_batch`.

    Attributes:
        kind: What the scorer measures.
        threshold: The default support threshold.
        window_words: The premise window size (in words) this scorer reads well;
            ``verify()`` packs sources into overlapping windows of about this size.
    """

    kind: ClassVar[ScorerKind] = ScorerKind.CUSTOM
    threshold: float = 0.5
    window_words: int = 300

    @property
    def name(self) -> str:
        """A short name for reports."""
        return type(self).__name__

    @property
    def model(self) -> str | None:
        """The model id or path, where there is one."""
        return None

    @abc.abstractmethod
    def score_batch(self, pairs: Sequence[Pair]) -> list[float]:
        """Score (premise, hypothesis) pairs, one float per pair, in order."""

    async def ascore_batch(self, pairs: Sequence[Pair]) -> list[float]:
        """Async :meth:`score_batch`; by default in a worker thread, off the event loop."""
        if not pairs:
            return []
        return await asyncio.to_thread(self.score_batch, pairs)

    def score(self, premise: str, hypothesis: str) -> float:
        """Score one pair."""
        return self.score_batch([(premise, hypothesis)])[0]

    def info(self, threshold: float | None = None) -> ScorerInfo:
        """This scorer as a report names it, with the threshold in force."""
        return ScorerInfo(
            self.name, self.kind, self.model, self.threshold if threshold is None else threshold
        )

    def __repr__(self) -> str:
        model = f"model={self.model!r}, " if self.model else ""
        return f"{self.name}({model}threshold={self.threshold})"


class FunctionScorer(Scorer):
    """A plain callable ``(premise, hypothesis) -> float`` as a scorer (kind ``custom``).

    Args:
        function: Returns a support score, higher meaning better supported.
        threshold: Support threshold for its scores.
        window_words: Premise window size, in words.
    """

    kind = ScorerKind.CUSTOM

    def __init__(
        self,
        function: Callable[[str, str], float],
        *,
        threshold: float = 0.5,
        window_words: int = 300,
    ) -> None:
        if not callable(function):
            raise InvalidOptionError(
                f"a scorer is a citeformer.verify.Scorer or a callable (premise, hypothesis)"
                f" -> float; got {type(function).__name__}"
            )
        self.function = function
        self.threshold = check_threshold(threshold)
        self.window_words = window_words

    @property
    def name(self) -> str:
        """The function's name."""
        return str(getattr(self.function, "__qualname__", None) or type(self.function).__name__)

    def score_batch(self, pairs: Sequence[Pair]) -> list[float]:
        """Call the function on each pair; its result must be a finite number."""
        return [check_score(self.function(premise, claim), self.name) for premise, claim in pairs]


def as_scorer(scorer: object) -> Scorer:
    """A :class:`Scorer` from a scorer or a plain callable.

    Raises:
        InvalidOptionError: ``scorer`` is neither.
    """
    if isinstance(scorer, Scorer):
        return scorer
    if callable(scorer):
        return FunctionScorer(scorer)
    raise InvalidOptionError(
        "scorer must be a citeformer.verify.Scorer (LexicalScorer, EmbeddingScorer, "
        "NLIScorer, JudgeScorer) or a callable (premise, hypothesis) -> float; got "
        f"{type(scorer).__name__}"
    )


def check_threshold(value: object) -> float:
    """``value`` as a finite float threshold.

    Raises:
        InvalidOptionError: Not a finite real number.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidOptionError(f"threshold must be a finite number, got {value!r}")
    return float(value)


def check_score(value: Any, scorer: str) -> float:
    """A scorer's output as a finite float.

    Raises:
        InvalidOptionError: The scorer returned something else (the scorer is named).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # numpy and torch scalars
        except (TypeError, ValueError):
            raise InvalidOptionError(
                f"scorer {scorer} returned {value!r}; a scorer returns a float score"
            ) from None
    if not math.isfinite(value):
        raise InvalidOptionError(f"scorer {scorer} returned {value!r}; scores must be finite")
    return float(value)
