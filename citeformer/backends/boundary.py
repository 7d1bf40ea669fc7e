"""The one error boundary around every backend call, and the stream plumbing it needs.

Whatever a backend raises passes through :func:`backend_errors` (the orchestrator
wraps every hook call in it; :class:`~citeformer.backends.base.CallBackend`'s public
methods too), the way httpx maps transport errors at one point: citeformer's own
errors pass unchanged, anything else becomes an
:class:`~citeformer.errors.UnexpectedBackendError` with the original as
``__cause__``. The stream helpers keep that boundary around every ``next`` and close
the backend's stream as soon as the consumer closes theirs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from citeformer.errors import BackendError, CiteformerError, UnexpectedBackendError

if TYPE_CHECKING:
    from citeformer.backends.base import Backend

__all__ = [
    "aclose_iterator",
    "backend_errors",
    "close_iterator",
    "guard_astream",
    "guard_stream",
    "thread_pull",
]

_DONE = object()
_log = logging.getLogger("citeformer.backends")
T = TypeVar("T")


def backend_errors(backend: Backend) -> BackendErrors:
    """Turn whatever ``backend`` raises inside into citeformer's error tree.

    Citeformer's own errors (misuse included) pass unchanged; any other exception
    becomes an :class:`~citeformer.errors.UnexpectedBackendError` (a
    :class:`~citeformer.errors.BackendError`) naming the backend, with the original
    as ``__cause__``. ``BaseException`` (cancellation, ``KeyboardInterrupt``) passes.
    """
    return BackendErrors(backend)


class BackendErrors:
    """The context manager :func:`backend_errors` returns.

    One small object per call: it lives as long as the call, and hundreds may be in flight.
    """

    __slots__ = ("_backend",)

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: object, exc: BaseException | None, traceback: object
    ) -> Literal[False]:
        if isinstance(exc, Exception) and not isinstance(exc, CiteformerError):
            raise _unexpected(self._backend, exc) from exc
        return False


def _unexpected(backend: Backend, exc: Exception) -> BackendError:
    detail = str(exc) or "(no message)"
    try:
        hint = backend.error_hint(exc)
    except Exception:  # a hint must never hide the failure itself
        hint = ""
    return UnexpectedBackendError(
        f"{type(backend).__name__} raised {type(exc).__name__}: {detail}"
        + (f" ({hint})" if hint else ""),
        provider=backend.name,
    )


def guard_stream(backend: Backend, open_stream: Callable[[], Iterator[T]]) -> Iterator[T]:
    """Iterate ``open_stream()`` inside :func:`backend_errors`; closing this closes it."""
    with backend_errors(backend):
        iterator = iter(open_stream())
    try:
        while True:
            with backend_errors(backend):
                item = next(iterator, _DONE)
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        with backend_errors(backend):
            close_iterator(iterator)


def close_iterator(iterator: object) -> None:
    """Close a sync iterator if it can be closed."""
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


async def guard_astream(
    backend: Backend, open_stream: Callable[[], AsyncIterator[T]]
) -> AsyncIterator[T]:
    """Async :func:`guard_stream`."""
    with backend_errors(backend):
        iterator = open_stream()
    try:
        while True:
            with backend_errors(backend):
                item = await anext(iterator, _DONE)
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        await aclose_iterator(iterator)


async def thread_pull(open_stream: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """A sync iterator pulled one item at a time through worker threads.

    Closing or cancelling this closes the sync iterator once its in-flight ``next``
    returns (StopIteration cannot cross a future, so a sentinel marks the end).
    """
    iterator = await asyncio.to_thread(lambda: iter(open_stream()))
    step: asyncio.Future[object] | None = None
    try:
        while True:
            step = asyncio.ensure_future(asyncio.to_thread(next, iterator, _DONE))
            item = await asyncio.shield(step)
            step = None
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        _close_later(iterator, step)


async def aclose_iterator(iterator: object) -> None:
    """Close an async iterator if it can be closed.

    When an abandoned stream is garbage-collected, asyncio finalises each async
    generator of the chain on its own; an outer one then finds the inner one already
    closing ("aclose(): asynchronous generator is already running"). The inner one's
    own finaliser releases its resources, so that error is expected and dropped.
    """
    aclose = getattr(iterator, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except RuntimeError as exc:
        if "already running" not in str(exc):
            raise
        _log.debug("an abandoned stream was already being closed by its finaliser")


def _close_later(iterator: Iterator[Any], step: asyncio.Future[object] | None) -> None:
    """Close a sync iterator off the event loop, after any in-flight ``next``."""
    close = getattr(iterator, "close", None)
    if close is None:
        return
    loop = asyncio.get_running_loop()

    def close_quietly() -> None:
        try:
            close()
        except Exception:  # the stream is being abandoned; nobody is left to tell
            _log.debug("closing an abandoned backend stream failed", exc_info=True)

    def run_close(done: object = None) -> None:
        if isinstance(done, asyncio.Future) and not done.cancelled():
            done.exception()  # retrieved, so asyncio does not warn about it
        loop.run_in_executor(None, close_quietly)

    if step is None or step.done():
        run_close()
    else:
        step.add_done_callback(run_close)
