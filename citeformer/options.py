"""Per-call options: one typed description, checked once before the backend runs.

:class:`CallOptions` lists the options every backend understands; a backend adds its
own checks in :attr:`~citeformer.backends.base.Backend.option_checks` (llama.cpp's
``logit_bias``, Anthropic's ``cache_sources``...), and :func:`normalize_options` checks
both, once, in the pipeline (or in ``BackendCall.build`` when a backend is called
directly). Unknown options pass through: backends ignore what they do not use.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

from citeformer.errors import InvalidOptionError

Check = tuple[Callable[[object], bool], str]
"""A predicate on the value and what it must be, in words ("a positive int")."""


class CallOptions(TypedDict, total=False):
    """Options every backend honours (where its runtime has the knob).

    Attributes:
        max_tokens: The answer's token budget (``max_new_tokens`` is an alias).
        temperature: Sampling temperature (0: greedy).
        top_p: Nucleus sampling mass.
        seed: Sampling seed.
        stop: Stop sequences.
        timeout: Seconds the call may take (API backends).
    """

    max_tokens: int
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int
    stop: str | Sequence[str]
    timeout: float


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def non_negative_number(value: object) -> bool:
    """A real number >= 0 (not a bool)."""
    number = _number(value)
    return number is not None and number >= 0


def _finite_positive_number(value: object) -> bool:
    number = _number(value)
    return number is not None and number > 0 and math.isfinite(number)


def _probability(value: object) -> bool:
    number = _number(value)
    return number is not None and 0 < number <= 1


def _stop_value(value: object) -> bool:
    return isinstance(value, str) or (
        isinstance(value, Sequence) and all(isinstance(v, str) for v in value)
    )


def non_negative_int(value: object) -> bool:
    """An int >= 0 (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def boolean(value: object) -> bool:
    """A bool (not a truthy stand-in such as ``"no"`` or ``1``)."""
    return isinstance(value, bool)


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


COMMON_CHECKS: Mapping[str, Check] = {
    "max_tokens": (_positive_int, "a positive int"),
    "max_new_tokens": (_positive_int, "a positive int"),
    "seed": (_int, "an int"),
    "temperature": (non_negative_number, "a number >= 0"),
    "top_p": (_probability, "a number in (0, 1]"),
    "timeout": (_finite_positive_number, "a finite number of seconds > 0"),
    "stop": (_stop_value, "a str or a list of str"),
}
"""The checks of :class:`CallOptions`."""


def normalize_options(
    options: Mapping[str, Any], extra: Mapping[str, Check] | None = None
) -> dict[str, Any]:
    """Check ``options`` and give the token budget under both of its names.

    Args:
        options: The call's options.
        extra: The backend's own checks (added to, or overriding, the common ones).

    Raises:
        InvalidOptionError: An option has the wrong type or value; ``max_tokens`` and
            ``max_new_tokens`` are both given and disagree.
    """
    for name, value in options.items():
        check = (extra or {}).get(name) or COMMON_CHECKS.get(name)
        if check is not None and value is not None and not check[0](value):
            raise InvalidOptionError(f"option {name}={value!r} must be {check[1]}")
    limit, alias = options.get("max_tokens"), options.get("max_new_tokens")
    if limit is not None and alias is not None and limit != alias:
        raise InvalidOptionError(
            f"max_tokens={limit!r} and max_new_tokens={alias!r} disagree; they are one "
            "option (the answer's token budget): pass only max_tokens"
        )
    value = limit if limit is not None else alias
    if value is None:
        return dict(options)
    # Both names: a backend (or an out-of-tree one written for either) reads its own.
    return {**options, "max_tokens": value, "max_new_tokens": value}
