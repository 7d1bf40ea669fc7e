"""The async paths are citeformer's native ones: concurrency, cancellation, no thread hop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from langchain_core.documents import Document

from langchain_citeformer import CiteformerRunnable

DOCS = [Document("Alpha is first. More text.", id="a"), Document("Beta is second.", id="b")]


def question(i: int) -> dict[str, object]:
    return {"question": f"question {i}", "documents": DOCS}


async def test_ainvoke_and_astream_run_on_the_event_loop_thread(native_backend_cls: type) -> None:
    backend = native_backend_cls()
    cite = CiteformerRunnable(backend=backend)
    await cite.ainvoke(question(0))
    chunks = [c async for c in cite.astream(question(1))]
    assert len(chunks) > 3
    assert backend.sync_calls == 0  # no generate()/stream() behind a thread
    assert backend.async_calls == 2
    assert backend.async_threads == {threading.get_ident()}


async def test_abatch_of_200_is_concurrent_and_bounded_in_time(native_backend_cls: type) -> None:
    backend = native_backend_cls(latency=0.2)
    cite = CiteformerRunnable(backend=backend, output="str")
    start = time.perf_counter()
    answers = await cite.abatch([question(i) for i in range(200)])
    elapsed = time.perf_counter() - start
    assert len(answers) == 200
    assert all(a == "Alpha is first [1]. See also [2]." for a in answers)
    assert backend.peak_in_flight == 200
    # 200 sequential calls would take 40 s; concurrently it is one latency plus overhead.
    assert elapsed < 3.0, elapsed


async def test_abatch_respects_max_concurrency(native_backend_cls: type) -> None:
    backend = native_backend_cls(latency=0.02)
    cite = CiteformerRunnable(backend=backend)
    start = time.perf_counter()
    messages = await cite.abatch([question(i) for i in range(200)], {"max_concurrency": 16})
    elapsed = time.perf_counter() - start
    assert len(messages) == 200
    assert backend.peak_in_flight == 16
    assert elapsed >= 200 / 16 * 0.02 * 0.9  # at least ceil(200/16) waves of latency


async def test_abatch_return_exceptions_keeps_errors_per_input(native_backend_cls: type) -> None:
    cite = CiteformerRunnable(backend=native_backend_cls(), output="str")
    inputs = [question(0), {"question": "x", "documents": []}, question(2)]
    out = await cite.abatch(inputs, return_exceptions=True)
    assert isinstance(out[0], str) and isinstance(out[2], str)
    assert isinstance(out[1], ValueError)


async def test_breaking_out_of_astream_closes_the_backend_stream(native_backend_cls: type) -> None:
    backend = native_backend_cls(chunk_size=1, chunk_delay=0.001)
    cite = CiteformerRunnable(backend=backend)
    stream = cite.astream(question(0))
    got = [await anext(stream) for _ in range(3)]
    assert len(got) == 3
    await stream.aclose()
    assert backend.streams_opened == 1
    assert backend.streams_closed == 1
    assert backend.chunks_sent < 10


def test_closing_a_sync_stream_closes_the_backend_iterator() -> None:
    from citeformer import MockBackend

    closed: list[bool] = []

    class Tracking(MockBackend):
        def stream(self, prompt, sources, policy, **options):  # type: ignore[no-untyped-def]
            try:
                yield from super().stream(prompt, sources, policy, **options)
            finally:
                closed.append(True)

    cite = CiteformerRunnable(backend=Tracking("Alpha is first [1]. " * 20, chunks=2))
    stream = cite.stream(question(0))
    next(stream)
    next(stream)
    assert closed == []
    stream.close()
    assert closed == [True]


async def test_cancelling_the_consumer_closes_the_backend_stream(native_backend_cls: type) -> None:
    backend = native_backend_cls(chunk_size=1, chunk_delay=0.01)
    cite = CiteformerRunnable(backend=backend)
    received: list[object] = []
    first = asyncio.Event()

    async def consume() -> None:
        async for chunk in cite.astream(question(0)):
            received.append(chunk)
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.streams_closed == 1
    assert backend.chunks_sent < 20
    sent = backend.chunks_sent
    await asyncio.sleep(0.05)
    assert backend.chunks_sent == sent  # nothing keeps pulling after cancellation


async def test_cancelling_ainvoke_cancels_the_backend_call(native_backend_cls: type) -> None:
    backend = native_backend_cls(latency=10)
    cite = CiteformerRunnable(backend=backend)
    task = asyncio.create_task(cite.ainvoke(question(0)))
    await asyncio.sleep(0.05)
    assert backend.in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.in_flight == 0


async def test_backend_failure_mid_stream_keeps_partial_text(native_backend_cls: type) -> None:
    from citeformer import StreamInterruptedError

    class Failing(native_backend_cls):  # type: ignore[misc, valid-type]
        async def astream(self, prompt, sources, policy, **options):  # type: ignore[no-untyped-def]
            yield "Alpha is "
            yield "first [1"
            raise ConnectionError("link dropped")

    cite = CiteformerRunnable(backend=Failing(), output="str")
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        async for piece in cite.astream(question(0)):
            received.append(piece)
    assert "".join(received).startswith("Alpha is first")
    assert "[" not in "".join(received)  # the unfinished marker never came out
    assert info.value.partial_text == "".join(received)
    assert isinstance(info.value.__cause__, ConnectionError)
