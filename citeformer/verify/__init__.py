"""Does each cited source support its sentence? ALCE's citation recall and precision.

``verify(result)`` splits the answer into sentences, scores each against its cited
sources (in windows, with the best window as evidence) and reports ALCE's scores,
one verdict per sentence and per citation, and uncited sentences a source supports.
Scorers say what they measure: only :class:`NLIScorer` and :class:`JudgeScorer`
judge entailment; :class:`LexicalScorer` and :class:`EmbeddingScorer` check overlap
and relatedness.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from citeformer.verify.api import averify, default_scorer, verify
from citeformer.verify.lexical import LexicalScorer
from citeformer.verify.report import (
    CitationVerdict,
    Evidence,
    SentenceVerdict,
    Skipped,
    UncitedSupport,
    VerificationReport,
)
from citeformer.verify.scorer import FunctionScorer, Scorer, ScorerInfo, ScorerKind

if TYPE_CHECKING:
    from citeformer.verify.embedding import EmbeddingScorer
    from citeformer.verify.judge import JudgeScorer
    from citeformer.verify.nli import NLIScorer

__all__ = [
    "CitationVerdict",
    "EmbeddingScorer",
    "Evidence",
    "FunctionScorer",
    "JudgeScorer",
    "LexicalScorer",
    "NLIScorer",
    "Scorer",
    "ScorerInfo",
    "ScorerKind",
    "SentenceVerdict",
    "Skipped",
    "UncitedSupport",
    "VerificationReport",
    "averify",
    "default_scorer",
    "verify",
]

_LAZY = {
    "EmbeddingScorer": "citeformer.verify.embedding",
    "JudgeScorer": "citeformer.verify.judge",
    "NLIScorer": "citeformer.verify.nli",
}


def __getattr__(name: str) -> Any:
    # The model scorers' modules are light, but keep them off the import path anyway.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'citeformer.verify' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
