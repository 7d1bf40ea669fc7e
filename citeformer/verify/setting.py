"""The ``verify=`` setting the framework adapters take, checked once for both.

``verify`` is a :class:`~citeformer.verify.Scorer`, a plain callable
``(premise, hypothesis) -> float``, or ``True`` for :func:`default_scorer`;
``False``/``None`` turns verification off. ``verify_options`` holds ``verify()``'s
keyword arguments.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Final

from citeformer.errors import InvalidOptionError
from citeformer.verify.api import default_scorer
from citeformer.verify.scorer import Scorer, as_scorer

VERIFY_OPTIONS: Final = frozenset({"threshold", "coverage", "top_k", "max_citations", "language"})
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
    """``verify=True``'s scorer: :func:`default_scorer`, built on first use and kept.

    An adapter holds one, so a model-backed default is built once per runnable or
    synthesizer, not per call.
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
