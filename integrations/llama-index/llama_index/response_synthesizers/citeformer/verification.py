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

import threading
from collections.abc import Mapping
from typing import Any

from citeformer import GenerationResult, InvalidOptionError
from citeformer.verify import Scorer, VerificationReport, default_scorer
from citeformer.verify.scorer import as_scorer

VERIFY_OPTIONS = frozenset({"threshold", "coverage", "top_k", "max_citations", "language"})
"""What ``verify_options`` may hold (the keyword arguments of ``verify()``)."""


def check_verify(value: object) -> Scorer | bool | None:
    """The ``verify`` setting as stored: ``None`` (off), ``True`` (default) or a Scorer.

    Raises:
        InvalidOptionError: Neither a bool, ``None``, a Scorer nor a callable.
    """
    if value is None or value is False:
        return None
    if value is True:
        return True
    if isinstance(value, Scorer) or callable(value):
        return as_scorer(value)
    raise InvalidOptionError(
        "verify must be True (the default scorer), False/None (off), a "
        "citeformer.verify.Scorer or a callable (premise, hypothesis) -> float; got "
        f"{type(value).__name__}"
    )


def check_verify_options(value: object) -> dict[str, Any]:
    """``verify_options`` as a dict of ``verify()`` keyword arguments.

    Raises:
        InvalidOptionError: Not a mapping, or a key ``verify()`` does not take.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidOptionError(f"verify_options must be a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - VERIFY_OPTIONS)
    if unknown:
        raise InvalidOptionError(
            f"verify_options takes {', '.join(sorted(VERIFY_OPTIONS))}; got {', '.join(unknown)}"
        )
    return dict(value)


class LazyDefault:
    """``verify=True``'s scorer: :func:`citeformer.verify.default_scorer`, built once.

    Built on first use and kept by the synthesizer, so an NLI model is loaded once,
    not per query.
    """

    def __init__(self) -> None:
        self._scorer: Scorer | None = None
        self._lock = threading.Lock()

    def get(self) -> Scorer:
        """The default scorer (built on the first call)."""
        if self._scorer is None:
            with self._lock:
                if self._scorer is None:
                    self._scorer = default_scorer()
        return self._scorer


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
