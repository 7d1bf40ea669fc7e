"""``verify=``: check each citation against its node after the answer is complete.

``verify`` is a :class:`citeformer.verify.Scorer`, a plain callable ``(premise,
hypothesis) -> float``, or ``True`` for citeformer's default scorer
(``citeformer.verify.default_scorer()``: the NLI model ``CITEFORMER_NLI_MODEL`` names
when it is on disk, else ``LexicalScorer``); ``False``/``None`` turns verification off
and leaves every response exactly as it was.

With verification on, ``Response.metadata["verification"]`` holds the
:class:`~citeformer.verify.VerificationReport` itself (as ``citeformer_result`` holds
the ``GenerationResult``; ``report.to_dict()`` is its JSON form), read back with
:func:`verification_report`. On a streamed response it is ``None`` until the stream
ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from citeformer import GenerationResult
from citeformer.verify import Scorer, VerificationReport
from citeformer.verify.setting import (  # the setting is checked in the core, for both adapters
    VERIFY_OPTIONS,
    LazyDefault,
    check_verify,
    check_verify_options,
)

__all__ = [
    "VERIFY_OPTIONS",
    "LazyDefault",
    "Verifier",
    "VerifySetting",
    "check_verify",
    "check_verify_options",
]

VerifySetting: TypeAlias = Scorer | Callable[[str, str], float] | bool | None
"""What ``verify=`` takes: a scorer, a ``(premise, hypothesis) -> float``, on/off."""


class Verifier:
    """One call's verification: a scorer and ``verify()``'s keyword arguments.

    Args:
        scorer: The scorer.
        options: ``threshold``, ``coverage``, ``top_k``, ``max_citations``,
            ``language``.
    """

    __slots__ = ("options", "scorer")

    def __init__(self, scorer: Scorer, options: Mapping[str, Any]) -> None:
        self.scorer = scorer
        self.options = dict(options)

    def verify(self, result: GenerationResult) -> VerificationReport:
        """``result.verify`` (the sync paths)."""
        return result.verify(self.scorer, **self.options)

    async def averify(self, result: GenerationResult) -> VerificationReport:
        """``await result.averify`` (the async paths)."""
        return await result.averify(self.scorer, **self.options)
