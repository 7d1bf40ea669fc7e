"""StreamingResult and AsyncStreamingResult: thin shells around an Assembly.

The two differ only in ``for`` versus ``async for`` over the backend's chunks;
what the chunks mean is decided by :class:`~citeformer.pipeline.Assembly`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from types import TracebackType
from typing import Any, Self

from citeformer.backends.base import aclose_iterator
from citeformer.backends.call import Piece
from citeformer.core import GenerationResult
from citeformer.errors import (
    CitationPolicyError,
    InvalidCitationError,
    StreamInterruptedError,
    UnexpectedBackendError,
)
from citeformer.events import Completed, StreamEvent, TextDelta
from citeformer.pipeline import Assembly


class _StreamBase:
    """What the sync and async streams share: state, text, the final result."""

    def __init__(self, assembly: Assembly) -> None:
        self._assembly = assembly
        self._error: Exception | None = None
        self._received: list[str] = []

    @property
    def text(self) -> str:
        """The validated answer text handed to the caller so far (chunks or text events)."""
        if len(self._received) > 1:
            self._received[:] = ["".join(self._received)]
        return self._received[0] if self._received else ""

    def _deliver(self, events: list[StreamEvent]) -> Iterator[StreamEvent]:
        """Yield ``events``, counting text as received when the caller gets it."""
        for event in events:
            if isinstance(event, TextDelta):
                self._received.append(event.text)
            yield event

    @property
    def result(self) -> GenerationResult | None:
        """The final result once the stream has ended, else None."""
        return self._assembly.result

    def _result_or_closed(self) -> GenerationResult:
        if self._assembly.result is None:
            raise StreamInterruptedError(
                "the stream was closed before it finished; finalize() has no result",
                partial_text=self.text,
                raw_text=self._assembly.raw_text,
            )
        return self._assembly.result

    def _failed(self, exc: Exception) -> Exception:
        """Remember a failure; wrap it if raw text had already arrived."""
        if self._assembly.raw_text and not isinstance(
            exc, (InvalidCitationError, CitationPolicyError, StreamInterruptedError)
        ):
            wrapped = self._assembly.interrupted(exc, partial_text=self.text)
            # What the backend raised: the boundary's wrapper adds nothing the
            # interruption does not already say.
            cause = exc.__cause__ if isinstance(exc, UnexpectedBackendError) else None
            wrapped.__cause__ = cause if isinstance(cause, Exception) else exc
            self._error = wrapped
            return wrapped
        self._error = exc
        return exc


class StreamingResult(_StreamBase):
    """A sync answer stream: iterate ``str`` chunks, or :meth:`events` for typed events.

    Work starts on first iteration. Chunks never hold part of a marker or an
    invalid marker. If the backend fails after some text arrived, iteration raises
    :class:`~citeformer.errors.StreamInterruptedError` with ``partial_text``.
    """

    def __init__(self, assembly: Assembly, open_stream: Callable[[], Iterator[Piece]]) -> None:
        super().__init__(assembly)
        self._open = open_stream
        self._iterator: Iterator[Piece] | None = None
        self._events = self._run()

    def _run(self) -> Generator[StreamEvent, None, None]:
        try:
            self._iterator = iter(self._open())
            for raw in self._iterator:
                yield from self._deliver(self._assembly.feed(raw))
            yield from self._deliver(self._assembly.finish())
        except Exception as exc:
            raise self._failed(exc)  # noqa: B904 (the cause is set when wrapping)
        finally:
            self._close_backend()

    def _close_backend(self) -> None:
        close = getattr(self._iterator, "close", None)
        if close is not None:
            close()

    def events(self) -> Iterator[StreamEvent]:
        """Typed events: text deltas, one per resolved citation, then ``Completed``."""
        if self._error is not None:
            raise self._error
        return self._events

    def __iter__(self) -> Iterator[str]:
        for event in self.events():
            if isinstance(event, TextDelta):
                yield event.text

    def __next__(self) -> str:
        """The next text chunk: ``next(stream)`` (0.3 code calls it directly).

        Raises:
            StopIteration: The stream has ended.
        """
        for event in self.events():
            if isinstance(event, TextDelta):
                return event.text
        raise StopIteration

    def finalize(self) -> GenerationResult:
        """Drain what is left and return the result (idempotent)."""
        if self._error is not None:
            raise self._error
        for event in self._events:
            if isinstance(event, Completed):
                break
        return self._result_or_closed()

    def close(self) -> None:
        """Stop early; the backend's iterator is closed (decoding stops)."""
        self._events.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncStreamingResult(_StreamBase):
    """An async answer stream: ``async for`` over ``str`` chunks, or :meth:`events`.

    Returned by a plain call; the backend is called on first iteration. When the task
    iterating it is cancelled or fails before the stream finished (also while it
    awaits something else between chunks), the stream is closed, and so is the
    backend's iterator; :meth:`aclose` (or ``async with``) closes it at once, and an
    abandoned stream is closed when it is garbage-collected.
    """

    def __init__(self, assembly: Assembly, open_stream: Callable[[], AsyncIterator[Piece]]) -> None:
        super().__init__(assembly)
        self._open = open_stream
        self._iterator: AsyncIterator[Piece] | None = None
        self._events = self._run()
        self._consumer: asyncio.Task[Any] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._stepping = False

    def _watch_consumer(self) -> None:
        """Tie the stream's life to the task iterating it (see the class docstring)."""
        task = asyncio.current_task()
        if task is not None and task is not self._consumer:
            self._consumer = task
            task.add_done_callback(self._consumer_done)

    def _consumer_done(self, task: asyncio.Task[Any]) -> None:
        if task is not self._consumer or self._stepping or self._closer is not None:
            return
        if self._assembly.result is not None or self._error is not None:
            return
        # A task that ended normally may just have been one step of a framework's
        # iteration (LangChain drives async generators one __anext__ per task); only
        # a cancelled or failed consumer has abandoned the stream for sure.
        if not task.cancelled() and task.exception() is None:
            return
        # Keep a reference: the loop holds only weak ones to tasks.
        self._closer = task.get_loop().create_task(self._events.aclose())

    async def _step(self) -> StreamEvent:
        self._watch_consumer()
        self._stepping = True
        try:
            return await self._events.__anext__()
        finally:
            self._stepping = False

    async def _run(self) -> AsyncGenerator[StreamEvent, None]:
        try:
            self._iterator = self._open()
            async for raw in self._iterator:
                for event in self._deliver(self._assembly.feed(raw)):
                    yield event
            for event in self._deliver(await self._assembly.afinish()):
                yield event
        except Exception as exc:
            raise self._failed(exc)  # noqa: B904 (the cause is set when wrapping)
        finally:
            await aclose_iterator(self._iterator)

    def events(self) -> AsyncIterator[StreamEvent]:
        """Typed events: text deltas, one per resolved citation, then ``Completed``."""
        if self._error is not None:
            raise self._error
        return _Events(self)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str:
        if self._error is not None:
            raise self._error
        while True:
            event = await self._step()
            if isinstance(event, TextDelta):
                return event.text

    async def finalize(self) -> GenerationResult:
        """Drain what is left and return the result (idempotent)."""
        if self._error is not None:
            raise self._error
        if self._assembly.result is None:
            try:
                while not isinstance(await self._step(), Completed):
                    pass
            except StopAsyncIteration:
                pass
        return self._result_or_closed()

    async def aclose(self) -> None:
        """Stop early; the backend's iterator is closed."""
        await self._events.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class _Events:
    """The async iterator :meth:`AsyncStreamingResult.events` returns."""

    __slots__ = ("_stream",)

    def __init__(self, stream: AsyncStreamingResult) -> None:
        self._stream = stream

    def __aiter__(self) -> _Events:
        return self

    async def __anext__(self) -> StreamEvent:
        return await self._stream._step()

    async def aclose(self) -> None:
        """Close the stream (as :meth:`AsyncStreamingResult.aclose`)."""
        await self._stream.aclose()
