"""``verify`` and ``averify``: run the verification plan with a scorer."""

from __future__ import annotations

import asyncio
import functools
import os
from typing import TYPE_CHECKING, Any

from citeformer.core import GenerationResult
from citeformer.errors import InvalidOptionError
from citeformer.verify.alce import RankRequest, ScoreRequest, Settings, verification_plan
from citeformer.verify.report import VerificationReport
from citeformer.verify.scorer import Scorer, as_scorer, check_score, check_threshold

if TYPE_CHECKING:
    from citeformer.verify.alce import Plan, Request


def verify(
    result: GenerationResult,
    scorer: Scorer | Any = None,
    *,
    threshold: float | None = None,
    coverage: bool = True,
    top_k: int = 3,
    max_citations: int | None = 3,
    language: str = "en",
) -> VerificationReport:
    """Check whether each cited source supports its sentence (ALCE's recall and precision).

    Args:
        result: The answer; it carries its sources, so a result loaded from JSON
            verifies on its own.
        scorer: A :class:`~citeformer.verify.Scorer`, or any callable
            ``(premise, hypothesis) -> float`` (higher = better supported). Default:
            the NLI model ``CITEFORMER_NLI_MODEL`` names when it is on disk, else
            :class:`~citeformer.verify.LexicalScorer`.
        threshold: ``score >= threshold`` is support (default: the scorer's own).
        coverage: Also check uncited sentences against the ``top_k`` sources a cheap
            prefilter picks, and report those a source supports.
        top_k: How many sources coverage scores each uncited sentence against.
        max_citations: Citations judged per sentence (ALCE: 3); ``None`` for all.
        language: The answer's language code, for sentence splitting.

    Raises:
        InvalidOptionError: A bad argument (the message says which).
    """
    plan, scorer_ = _start(result, scorer, threshold, coverage, top_k, max_citations, language)
    answer: Any = None
    try:
        while True:
            request = plan.send(answer)
            answer = _run(scorer_, request)
    except StopIteration as done:
        report: VerificationReport = done.value
        return report


async def averify(
    result: GenerationResult,
    scorer: Scorer | Any = None,
    *,
    threshold: float | None = None,
    coverage: bool = True,
    top_k: int = 3,
    max_citations: int | None = 3,
    language: str = "en",
) -> VerificationReport:
    """Async :func:`verify`: the same rules and report, without blocking the event loop.

    CPU scorers run each batch in a worker thread; an LLM judge on a native-async
    backend awaits its calls concurrently.
    """
    plan, scorer_ = _start(result, scorer, threshold, coverage, top_k, max_citations, language)
    answer: Any = None
    try:
        while True:
            request = plan.send(answer)
            answer = await _arun(scorer_, request)
    except StopIteration as done:
        report: VerificationReport = done.value
        return report


def default_scorer() -> Scorer:
    """The scorer ``verify()`` uses when none is given.

    The NLI model ``CITEFORMER_NLI_MODEL`` names, loaded from disk only (never a
    download) and once per process; otherwise :class:`~citeformer.verify.LexicalScorer`.

    Raises:
        ConfigurationError: ``CITEFORMER_NLI_MODEL`` names a model that is not on disk.
    """
    from citeformer.verify.lexical import LexicalScorer

    nli = _env_nli(os.environ.get("CITEFORMER_NLI_MODEL", "").strip())
    return nli if nli is not None else LexicalScorer()


@functools.lru_cache(maxsize=2)
def _env_nli(name: str) -> Scorer | None:
    """The NLI model the environment names, loaded once per name (a model is costly)."""
    if not name:
        return None
    from citeformer.verify.nli import NLIScorer

    return NLIScorer.from_env()


def _start(
    result: object,
    scorer: object,
    threshold: float | None,
    coverage: bool,
    top_k: int,
    max_citations: int | None,
    language: str,
) -> tuple[Plan, Scorer]:
    if not isinstance(result, GenerationResult):
        raise InvalidOptionError(
            f"verify() takes a GenerationResult, got {type(result).__name__}; load a stored "
            "one with GenerationResult.from_json(...)"
        )
    chosen = default_scorer() if scorer is None else as_scorer(scorer)
    limit = chosen.threshold if threshold is None else check_threshold(threshold)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InvalidOptionError(f"top_k must be an int >= 1, got {top_k!r}")
    if max_citations is not None and (
        isinstance(max_citations, bool) or not isinstance(max_citations, int) or max_citations < 1
    ):
        raise InvalidOptionError(
            f"max_citations must be an int >= 1 or None, got {max_citations!r}"
        )
    if not isinstance(language, str) or not language:
        raise InvalidOptionError(f"language must be a language code such as 'en', got {language!r}")
    settings = Settings(
        threshold=limit,
        window_words=max(8, int(chosen.window_words)),
        coverage=bool(coverage),
        top_k=top_k,
        max_citations=max_citations,
        language=language,
        rank_with_scorer=callable(getattr(chosen, "rank", None)),
    )
    return verification_plan(result, chosen.info(limit), settings), chosen


def _run(scorer: Scorer, request: Request) -> Any:
    if isinstance(request, ScoreRequest):
        return _checked(scorer, request, scorer.score_batch(request.pairs) if request.pairs else [])
    return _ranked(scorer, request)


async def _arun(scorer: Scorer, request: Request) -> Any:
    if isinstance(request, ScoreRequest):
        scores = await scorer.ascore_batch(request.pairs) if request.pairs else []
        return _checked(scorer, request, scores)
    return await asyncio.to_thread(_ranked, scorer, request)


def _ranked(scorer: Scorer, request: RankRequest) -> list[list[int]]:
    rank = scorer.rank  # type: ignore[attr-defined]
    return [list(rank(claim, request.documents, request.k)) for claim in request.claims]


def _checked(scorer: Scorer, request: ScoreRequest, scores: Any) -> list[float]:
    scores = list(scores)
    if len(scores) != len(request.pairs):
        raise InvalidOptionError(
            f"scorer {scorer.name} returned {len(scores)} scores for {len(request.pairs)} pairs;"
            " score_batch must return one score per pair, in order"
        )
    return [check_score(score, scorer.name) for score in scores]
