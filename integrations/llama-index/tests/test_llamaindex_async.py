"""Native async: concurrent aquery calls overlap on one loop, with no thread hop.

The concurrency and SSE tests go through ``OpenAIBackend`` and the real openai SDK to
the loopback OpenAI server; the rest use the sleep-based native-async test backend.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from llama_index.core import VectorStoreIndex
from llama_index.core.base.response.schema import AsyncStreamingResponse
from llama_index.response_synthesizers.citeformer import citation_query_engine

from citeformer import Citeformer

CONCURRENT = 200
LATENCY = 0.2  # seconds the loopback server waits before each response
TOPICS = {"Eiffel Tower": "eiffel", "Rhine": "rhine", "Everest": "everest", "Danube": "danube"}


async def test_200_concurrent_aqueries_through_openai_on_the_loopback_server(
    index: VectorStoreIndex, openai_server: Any, make_openai_backend: Any
) -> None:
    """200 aquery calls through OpenAIBackend (real SDK, real HTTP) overlap on one loop.

    The server holds each response 0.2 s (40 s one by one). Each question gets its own
    reply, derived from the request, and each response cites its own question's node.
    """
    openai_server.reset(latency=LATENCY)  # same responder, 0.2 s before each reply
    backend = make_openai_backend()
    engine = citation_query_engine(index, backend, similarity_top_k=2)
    topics = list(TOPICS)
    questions = [f"Question {i}: tell me about the {topics[i % 4]}" for i in range(CONCURRENT)]
    async with engine._response_synthesizer.citeformer:  # closes the async client
        # Warm-up, one query per topic: the SDK detects the platform once per client
        # in a worker thread, and citeformer renders a source's reference the first
        # time it is cited off the loop. Neither happens per call.
        for topic in topics:
            await engine.aquery(f"Warm-up: tell me about the {topic}")
        threads_before = threading.active_count()
        start = time.perf_counter()
        responses = await asyncio.gather(*(engine.aquery(q) for q in questions))
        elapsed = time.perf_counter() - start
        assert threading.active_count() == threads_before  # no thread per call
    assert backend._client is None  # the sync client was never built: no thread hop
    assert len(openai_server.requests) == CONCURRENT + len(topics)
    assert elapsed < LATENCY + 6.0, f"{CONCURRENT} concurrent aquery took {elapsed:.2f}s"
    for question, response in zip(questions, responses, strict=True):
        topic = question.split("tell me about the ")[1]
        assert response.metadata["cited_node_ids"] == [TOPICS[topic]], question
        assert f"On {question!r}" in response.response  # its own reply, not another's
        (citation,) = response.metadata["citations"]
        assert citation["node_id"] == TOPICS[topic]
        assert response.metadata["citeformer_result"].enforcement.value == "schema"


async def test_async_stream_over_real_sse_joins_to_the_answer(
    index: VectorStoreIndex, openai_server: Any, make_openai_backend: Any
) -> None:
    """Streamed aquery (SSE, 3 characters per chunk) joins to the non-streamed answer."""
    question = "Who built the Eiffel Tower, and where does the Rhine flow?"
    backend = make_openai_backend()
    async with Citeformer(backend) as cf:
        whole = await citation_query_engine(index, cf, similarity_top_k=4).aquery(question)
        engine = citation_query_engine(index, cf, streaming=True, similarity_top_k=4)
        response = await engine.aquery(question)
        assert isinstance(response, AsyncStreamingResponse)
        tokens = [t async for t in response.async_response_gen()]
    assert [r.body.get("stream") for r in openai_server.requests] == [None, True]
    assert len(tokens) > 5  # really streamed, not one chunk
    assert "".join(tokens) == whole.response
    assert whole.metadata["cited_node_ids"] == ["eiffel", "rhine"]
    assert response.metadata["citations"] == whole.metadata["citations"]
    assert response.metadata["cited_node_ids"] == ["eiffel", "rhine"]


async def test_async_streams_overlap_on_the_loop_thread(
    index: VectorStoreIndex, make_backend: Any
) -> None:
    """Async streams overlap on the loop thread."""
    backend = make_backend(delay=0.02, chunk_size=8)
    engine = citation_query_engine(index, backend, streaming=True, similarity_top_k=2)

    async def consume(question: str) -> tuple[str, list[str]]:
        response = await engine.aquery(question)
        text = "".join([t async for t in response.async_response_gen()])
        return text, response.metadata["cited_node_ids"]

    start = time.perf_counter()
    results = await asyncio.gather(*(consume("Tell me about the Danube") for _ in range(50)))
    elapsed = time.perf_counter() - start
    assert backend.peak == 50
    assert backend.threads == {threading.get_ident()}
    chunks = len(results[0][0]) // 8 + 1
    assert elapsed < 0.02 * chunks * 5  # sequential would be 50x the single-stream time
    assert all(cited == ["danube"] for _, cited in results)
    assert len({text for text, _ in results}) == 1


async def test_cancelled_aquery_stream_closes_the_backend(
    index: VectorStoreIndex, make_backend: Any
) -> None:
    """Cancelled aquery stream closes the backend."""
    backend = make_backend(delay=0.05, chunk_size=2)
    engine = citation_query_engine(index, backend, streaming=True, similarity_top_k=2)
    response = await engine.aquery("Tell me about the Rhine")

    async def consume() -> None:
        async for _ in response.async_response_gen():
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.12)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert backend.closed_streams == 1
    assert backend.in_flight == 0
    assert response.metadata["citeformer_result"] is None
