"""Token streams for ``StreamingResponse`` and ``AsyncStreamingResponse``.

Each wraps one citeformer stream (``Citeformer.stream`` / ``Citeformer.astream``): text
comes from its ``TextDelta`` events, so a token never holds part of a marker or an
invalid marker; each ``CitationEvent`` is resolved to its node (and dispatched as an
instrumentation event) as it arrives; on ``Completed`` the response metadata is filled
and, with ``verify=``, the answer is verified (``result.verify``, or ``await
result.averify`` on the async stream) before ``Completed`` is passed on, so the report
is in the metadata once the stream ends.
The async stream is driven by ``async for`` on the caller's event loop: no worker
thread of its own, no second loop.

The typed events (``TextDelta``, :class:`NodeCitationEvent`, ``MarkerRemoved``,
``Completed``) are what :func:`stream_events` returns for UIs. Tokens and events come
from one underlying stream: consume a response through one of them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from typing import TypeAlias, overload

from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.core.schema import NodeWithScore
from llama_index.response_synthesizers.citeformer.events import complete, emit_citation, verified
from llama_index.response_synthesizers.citeformer.results import STREAM, CitedCall, NodeCitation

from citeformer import (
    AsyncStreamingResult,
    CitationEvent,
    Completed,
    MarkerRemoved,
    StreamEvent,
    StreamingResult,
    TextDelta,
)


@dataclass(frozen=True, slots=True)
class NodeCitationEvent:
    """One resolved citation while streaming, with the node it points at.

    Attributes:
        citation: The citation, resolved to the node's id.
        node: The cited node.
    """

    citation: NodeCitation
    node: NodeWithScore


NodeStreamEvent: TypeAlias = TextDelta | NodeCitationEvent | MarkerRemoved | Completed
"""What :func:`stream_events` yields."""


def node_event(call: CitedCall, event: StreamEvent) -> NodeStreamEvent:
    """One citeformer stream event as this call's event: the step both streams share.

    A ``CitationEvent`` is resolved to its node (and its instrumentation event
    dispatched); ``Completed`` fills the call's metadata (and dispatches the
    validation event) before it is passed on; other events pass through. Verifying a
    ``Completed`` answer, the one step that is sync or awaited, is left to the loops.
    """
    if isinstance(event, CitationEvent):
        resolved = call.resolve(event.citation)
        emit_citation(resolved)
        return NodeCitationEvent(resolved, call.node(resolved.source_id))
    if isinstance(event, Completed):
        complete(call, event.result, citations_emitted=True)
    return event


class CitationStream:
    """A sync citeformer stream mapped onto one synthesis call's nodes.

    Args:
        stream: The citeformer stream (not yet iterated).
        call: The synthesis call whose metadata is filled (and whose answer is
            verified, with ``call.verifier``) when the stream ends.
    """

    def __init__(self, stream: StreamingResult, call: CitedCall) -> None:
        self._stream = stream
        self._call = call
        self._events = self._run()

    def _run(self) -> Generator[NodeStreamEvent, None, None]:
        call = self._call
        try:
            for event in self._stream.events():
                mapped = node_event(call, event)
                if isinstance(mapped, Completed) and call.verifier is not None:
                    verified(call, call.verifier.verify(mapped.result))
                yield mapped
        finally:
            self._stream.close()

    def events(self) -> Iterator[NodeStreamEvent]:
        """Typed events: text, resolved citations, removed markers, then ``Completed``."""
        return self._events

    def tokens(self) -> Generator[str, None, None]:
        """Answer text chunks; closing this generator stops the backend."""
        try:
            for event in self._events:
                if isinstance(event, TextDelta):
                    yield event.text
        finally:
            self._events.close()

    def response(self) -> StreamingResponse:
        """The call's response, streaming :meth:`tokens` (its metadata holds this stream)."""
        call = _register(self._call, self)
        return StreamingResponse(
            self.tokens(), source_nodes=call.source_nodes, metadata=call.metadata
        )


class AsyncCitationStream:
    """An async citeformer stream mapped onto one synthesis call's nodes.

    Args:
        stream: The citeformer async stream (not yet iterated).
        call: The synthesis call whose metadata is filled (and whose answer is
            verified, with ``call.verifier``) when the stream ends.
    """

    def __init__(self, stream: AsyncStreamingResult, call: CitedCall) -> None:
        self._stream = stream
        self._call = call
        self._events = self._run()

    async def _run(self) -> AsyncGenerator[NodeStreamEvent, None]:
        call = self._call
        try:
            async for event in self._stream.events():
                mapped = node_event(call, event)
                if isinstance(mapped, Completed) and call.verifier is not None:
                    verified(call, await call.verifier.averify(mapped.result))
                yield mapped
        finally:
            await self._stream.aclose()

    def events(self) -> AsyncIterator[NodeStreamEvent]:
        """Typed events: text, resolved citations, removed markers, then ``Completed``."""
        return self._events

    async def tokens(self) -> AsyncGenerator[str, None]:
        """Answer text chunks; closing this generator stops the backend."""
        try:
            async for event in self._events:
                if isinstance(event, TextDelta):
                    yield event.text
        finally:
            await self._events.aclose()

    def response(self) -> AsyncStreamingResponse:
        """The call's response, streaming :meth:`tokens` (its metadata holds this stream)."""
        call = _register(self._call, self)
        return AsyncStreamingResponse(
            self.tokens(), source_nodes=call.source_nodes, metadata=call.metadata
        )


def _register(call: CitedCall, stream: CitationStream | AsyncCitationStream) -> CitedCall:
    # stream_events() finds the typed events of a response through its metadata.
    call.metadata[STREAM] = stream
    return call


@overload
def stream_events(response: StreamingResponse) -> Iterator[NodeStreamEvent]: ...
@overload
def stream_events(response: AsyncStreamingResponse) -> AsyncIterator[NodeStreamEvent]: ...
@overload
def stream_events(
    response: object,
) -> Iterator[NodeStreamEvent] | AsyncIterator[NodeStreamEvent]: ...
def stream_events(response: object) -> Iterator[NodeStreamEvent] | AsyncIterator[NodeStreamEvent]:
    """The typed event stream behind a streamed response from ``CiteformerSynthesizer``.

    A sync iterator for a ``StreamingResponse``, an async one for an
    ``AsyncStreamingResponse``. Iterate it instead of the response's tokens (both draw
    from one stream); the response metadata is filled when it reaches ``Completed``.

    Raises:
        TypeError: The response is not a streamed response from ``CiteformerSynthesizer``.
    """
    metadata = getattr(response, "metadata", None)
    stream = metadata.get(STREAM) if isinstance(metadata, dict) else None
    if not isinstance(stream, CitationStream | AsyncCitationStream):
        raise TypeError(
            f"{type(response).__name__} is not a streamed CiteformerSynthesizer response; "
            "build the synthesizer with streaming=True"
        )
    return stream.events()
