"""The async paths are citeformer's native ones: concurrency, cancellation, no thread hop."""

from __future__ import annotations

import asyncio
import bisect
import re
import threading
import time
from typing import Any

import pytest
from citeformer import Citeformer
from citeformer.backends.openai import OpenAIBackend
from langchain_core.documents import Document
from tests.loopback import openai_wire as wire
from tests.loopback.server import LoopbackServer, Received

from langchain_citeformer import CiteformerRunnable, generation_result

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


def _openai_question(i: int) -> dict[str, object]:
    """Question ``i`` with its own two documents (``q{i}-a``, ``q{i}-b``)."""
    documents = [
        Document(f"Fact {i}a holds.", id=f"q{i}-a", metadata={"title": f"Doc {i}a"}),
        Document(f"Fact {i}b holds.", id=f"q{i}-b", metadata={"title": f"Doc {i}b"}),
    ]
    return {"question": f"question {i}?", "documents": documents}


def _question_number(request: Received) -> int:
    match = re.search(r"Question: question (\d+)\?", request.body["messages"][1]["content"])
    assert match is not None
    return int(match.group(1))


class _Arrivals:
    """A per-question answer (question ``i`` cites its document ``i % 2 + 1``),
    recording when each request reached the server (before the latency wait)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, request: Received) -> str:
        self.times.append(time.monotonic())
        i = _question_number(request)
        return wire.segments((f"Answer number {i}.", [i % 2 + 1]))

    def peak(self, latency: float) -> int:
        """Most requests that reached the server within one latency of each other.

        Each stays at the server for at least ``latency`` after arriving, so this
        many were in flight together (a lower bound on the true peak); a client
        that keeps at most ``k`` in flight can never exceed ``k`` here.
        """
        times = sorted(self.times)
        return max(
            (i - bisect.bisect_right(times, t - latency) + 1 for i, t in enumerate(times)),
            default=0,
        )


def _check_answers(messages: list[Any]) -> None:
    """Each answer is its own question's, citing its own question's document."""
    for i, message in enumerate(messages):
        assert message.text.startswith(f"Answer number {i} ")
        (block,) = message.content_blocks
        (annotation,) = block["annotations"]
        assert annotation["extras"]["document_id"] == f"q{i}-{'ab'[i % 2]}"
        assert annotation["title"] == f"Doc {i}{'ab'[i % 2]}"
        assert generation_result(message).cited_ids == [i % 2 + 1]


def _openai_backend(server: LoopbackServer) -> OpenAIBackend:
    return OpenAIBackend("gpt-test", api_key="sk-test", base_url=f"{server.url}/v1")


async def test_abatch_of_200_on_the_openai_backend_is_concurrent(
    loopback: LoopbackServer,
) -> None:
    arrivals = _Arrivals()
    loopback.reset(wire.answer(arrivals), latency=0.2)
    backend = _openai_backend(loopback)
    async with Citeformer(backend) as citeformer:
        cite = CiteformerRunnable(citeformer=citeformer)
        await cite.ainvoke(_openai_question(0))  # the SDK's one-off platform probe
        arrivals.times.clear()
        start = time.perf_counter()
        messages = await cite.abatch([_openai_question(i) for i in range(200)])
        elapsed = time.perf_counter() - start
    assert len(arrivals.times) == 200
    assert all(r.body["response_format"]["type"] == "json_schema" for r in loopback.requests)
    assert backend._client is None  # the sync client was never built: no thread hop
    _check_answers(messages)
    # 200 sequential calls would take 40 s; concurrently, one latency plus CPU.
    assert elapsed < 5.0, elapsed
    assert arrivals.peak(0.2) >= 150  # (199 here): nearly all were at the server together


async def test_abatch_on_the_openai_backend_respects_max_concurrency(
    loopback: LoopbackServer,
) -> None:
    latency = 0.1
    arrivals = _Arrivals()
    loopback.reset(wire.answer(arrivals), latency=latency)
    async with Citeformer(_openai_backend(loopback)) as citeformer:
        cite = CiteformerRunnable(citeformer=citeformer)
        start = time.perf_counter()
        messages = await cite.abatch(
            [_openai_question(i) for i in range(200)], {"max_concurrency": 16}
        )
        elapsed = time.perf_counter() - start
    _check_answers(messages)
    assert arrivals.peak(latency) == 16  # never more, and the limit was reached
    assert elapsed >= 200 / 16 * latency * 0.9  # at least ceil(200/16) waves of latency


async def test_abatch_of_the_sleep_backend_respects_max_concurrency(
    native_backend_cls: type,
) -> None:
    backend = native_backend_cls(latency=0.02)
    cite = CiteformerRunnable(backend=backend)
    messages = await cite.abatch([question(i) for i in range(200)], {"max_concurrency": 16})
    assert len(messages) == 200
    assert backend.peak_in_flight == 16


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
