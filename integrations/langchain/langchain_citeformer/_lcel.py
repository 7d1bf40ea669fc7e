"""LCEL plumbing the runnable needs: joining input streams, cached signatures."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any


def collect(chunks: Iterator[Any]) -> Any:
    """Join an input stream the way LangChain does (``+`` where supported)."""
    final: Any = None
    for chunk in chunks:
        final = chunk if final is None else _add(final, chunk)
    return final


async def acollect(chunks: AsyncIterator[Any]) -> Any:
    """Async :func:`collect`."""
    final: Any = None
    async for chunk in chunks:
        final = chunk if final is None else _add(final, chunk)
    return final


def _add(left: Any, right: Any) -> Any:
    try:
        return left + right
    except TypeError:
        return right


async def once(value: Any) -> AsyncIterator[Any]:
    """An async stream of one value."""
    yield value


def fixed_signature(method: Any) -> Any:
    """Store a method's signature once: LangChain inspects it on every call it wraps.

    ``_call_with_config`` asks ``accepts_config``/``accepts_run_manager`` each time;
    see :class:`Bound`.
    """
    method.__signature__ = inspect.signature(method)
    signature = method.__signature__
    method.__bound_signature__ = signature.replace(
        parameters=list(signature.parameters.values())[1:]
    )
    return method


class Bound:
    """A bound method with its signature stored, for LangChain's per-call checks.

    ``inspect.signature`` of a bound method rebuilds a signature without ``self``
    every time, even when the function has ``__signature__`` (~8 µs per call, twice
    per call); on this object it reads ``__signature__`` back.
    """

    __slots__ = ("__signature__", "_method")

    def __init__(self, method: Any) -> None:
        self._method = method
        self.__signature__ = method.__func__.__bound_signature__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._method(*args, **kwargs)
