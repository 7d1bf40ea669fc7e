"""stream / astream: parity with generate, hold-back, failures, cancellation."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citeformer import (
    CitationEvent,
    Citeformer,
    Completed,
    MarkerRemoved,
    MarkerStyle,
    MockBackend,
    Policy,
    Source,
    StreamInterruptedError,
    TextDelta,
    TokenUsage,
)
from citeformer.backends.base import Backend, BackendText, CallInfo
from citeformer.errors import InvalidCitationError, UnexpectedBackendError
from citeformer.markers import validate

SOURCES = [Source(f"Source text {i}.", {"title": f"Doc {i}"}) for i in range(1, 12)]
TEXT = (
    "Alpha holds [1]. Beta [2, 3] and gamma [11] agree, e.g. the 2.5 ratio [10]. "
    "Delta [12] is made up, [0] too, and [02] and [1-999]. Epsilon (see x) [4]. Trailing [5"
)


def _chunking(draw_sizes: list[int]) -> MockBackend:
    return MockBackend(TEXT, chunks=draw_sizes, usage=TokenUsage(7, 9))


def _assert_no_partial_markers(chunks: list[str], n: int, style: MarkerStyle) -> None:
    for chunk in chunks:
        # Every chunk validates to itself: no invalid marker, no cut marker.
        checked = validate(chunk, n, style)
        assert checked.text == chunk and checked.invalid == (), chunk
        assert not chunk.endswith(style.open)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(1, 9), min_size=1, max_size=12))
def test_any_chunking_streams_the_generate_answer(sizes: list[int]) -> None:
    cf = Citeformer(_chunking(sizes))
    expected = cf.generate("q", SOURCES)
    stream = cf.stream("q", SOURCES)
    chunks = list(stream)
    assert "".join(chunks) == expected.text == stream.text
    _assert_no_partial_markers(chunks, len(SOURCES), MarkerStyle.BRACKET)
    result = stream.finalize()
    assert result == expected
    assert stream.finalize() is result  # idempotent


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(1, 9), min_size=1, max_size=12))
def test_any_chunking_astreams_the_generate_answer(sizes: list[int]) -> None:
    cf = Citeformer(_chunking(sizes))
    expected = cf.generate("q", SOURCES)

    async def run() -> tuple[list[str], Any]:
        stream = cf.astream("q", SOURCES)
        chunks = [c async for c in stream]
        return chunks, await stream.finalize()

    chunks, result = asyncio.run(run())
    assert "".join(chunks) == expected.text
    _assert_no_partial_markers(chunks, len(SOURCES), MarkerStyle.BRACKET)
    assert result == expected


def test_events_carry_citations_as_they_resolve() -> None:
    cf = Citeformer(MockBackend(TEXT, chunks=3))
    expected = cf.generate("q", SOURCES)
    events = list(cf.stream("q", SOURCES).events())
    citations = [e.citation for e in events if isinstance(e, CitationEvent)]
    assert tuple(citations) == expected.citations
    removed = [e.marker.text for e in events if isinstance(e, MarkerRemoved)]
    assert removed == ["[12]", "[0]", "[02]", "[1-999]", "[5"]
    assert isinstance(events[-1], Completed) and events[-1].result == expected
    # A citation event comes right after the delta holding its marker.
    first = next(i for i, e in enumerate(events) if isinstance(e, CitationEvent))
    assert events[first - 1] == TextDelta("[1]")


def test_finalize_drains_after_partial_iteration() -> None:
    cf = Citeformer(MockBackend(TEXT, chunks=2))
    stream = cf.stream("q", SOURCES)
    iterator = iter(stream)
    head = [next(iterator) for _ in range(3)]
    assert stream.text == "".join(head)
    assert stream.finalize().text == cf.generate("q", SOURCES).text


@pytest.mark.parametrize("style", list(MarkerStyle))
def test_every_marker_style_streams_cleanly(style: MarkerStyle) -> None:
    text = f"A {style.marker([1])} b {style.marker([9])} c {style.marker([2])}."
    cf = Citeformer(MockBackend(text, chunks=1), marker_style=style)
    chunks = list(cf.stream("q", SOURCES[:3]))
    assert "".join(chunks) == cf.generate("q", SOURCES[:3]).text
    _assert_no_partial_markers(chunks, 3, style)


def test_failure_mid_stream_keeps_what_arrived() -> None:
    boom = ConnectionError("connection reset")
    cf = Citeformer(
        MockBackend("Alpha holds [1]. Beta [2] more text", chunks=5, error=boom, error_after=4)
    )
    stream = cf.stream("q", SOURCES)
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk in stream:
            received.append(chunk)
    assert info.value.__cause__ is boom
    assert info.value.partial_text == "".join(received) == stream.text
    assert info.value.raw_text == "Alpha holds [1]. Bet"
    with pytest.raises(StreamInterruptedError):
        stream.finalize()


async def test_async_failure_mid_stream_keeps_what_arrived() -> None:
    boom = ConnectionResetError("peer went away")
    cf = Citeformer(MockBackend("Alpha holds [1]. Beta [2].", chunks=5, error=boom, error_after=3))
    stream = cf.astream("q", SOURCES)
    received = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in stream:
            received.append(chunk)
    assert info.value.partial_text == "".join(received) == "Alpha holds [1]"
    assert info.value.__cause__ is boom


def test_failure_before_any_text_raises_a_backend_error_with_the_original() -> None:
    boom = PermissionError("bad key")
    cf = Citeformer(MockBackend("x", error=boom))
    with pytest.raises(UnexpectedBackendError, match="PermissionError: bad key") as info:
        list(cf.stream("q", SOURCES))
    assert info.value.__cause__ is boom


def test_strict_stream_raises_at_the_first_invalid_marker() -> None:
    cf = Citeformer(MockBackend("Good [1]. Bad [7]. More [2].", chunks=3), strict=True)
    stream = cf.stream("q", SOURCES[:3])
    with pytest.raises(InvalidCitationError):
        list(stream)
    assert stream.text == "Good [1]. Bad"


class _Counting(Backend):
    """A token-by-token backend that records whether its stream was closed."""

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.produced = 0

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        return "".join(self.stream(prompt, sources, policy, **options))

    def stream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> Iterator[str]:
        try:
            for i in range(10_000):
                self.produced += 1
                time.sleep(0.001)
                yield f"word{i} [1] "
            yield BackendText("", CallInfo(finish_reason="stop"))
        finally:
            self.closed.set()


def test_closing_a_sync_stream_stops_the_backend() -> None:
    backend = _Counting()
    with Citeformer(backend).stream("q", SOURCES) as stream:
        for i, _ in enumerate(stream):
            if i == 5:
                break
    assert backend.closed.is_set()
    assert backend.produced < 50


async def test_cancelling_an_async_stream_closes_the_backend_iterator() -> None:
    backend = _Counting()
    cf = Citeformer(backend)

    async def consume() -> None:
        async for _ in cf.astream("q", SOURCES):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.to_thread(backend.closed.wait, 5)
    assert backend.closed.is_set()
    produced = backend.produced
    await asyncio.sleep(0.05)
    assert backend.produced == produced  # decoding stopped


async def test_astream_is_lazy_and_aclose_closes() -> None:
    backend = _Counting()
    stream = Citeformer(backend).astream("q", SOURCES)
    await asyncio.sleep(0.02)
    assert backend.produced == 0  # nothing happens before iteration
    async with stream:
        async for _ in stream:
            break
    await asyncio.to_thread(backend.closed.wait, 5)
    assert backend.closed.is_set()


async def test_concurrent_streams_keep_their_own_call_info() -> None:
    backend = MockBackend(
        lambda prompt, sources: f"Answer {prompt} [1].",
        chunks=3,
        usage=lambda prompt: TokenUsage(int(prompt), 1),
    )
    cf = Citeformer(backend)

    async def one(i: int) -> Any:
        stream = cf.astream(str(i), SOURCES)
        return await stream.finalize()

    results = await asyncio.gather(*(one(i) for i in range(100)))
    assert [r.usage.prompt_tokens for r in results] == list(range(100))


def test_finalize_after_close_says_what_happened() -> None:
    stream = Citeformer(MockBackend("Alpha [1] beta gamma.", chunks=2)).stream("q", SOURCES)
    first = next(iter(stream))
    stream.close()
    with pytest.raises(StreamInterruptedError, match="closed before it finished") as info:
        stream.finalize()
    assert info.value.partial_text == first
