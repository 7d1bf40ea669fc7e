"""Native async: concurrent aquery calls overlap on one loop, with no thread hop."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from llama_index.core import VectorStoreIndex
from llama_index.response_synthesizers.citeformer import citation_query_engine

CONCURRENT = 200
DELAY = 0.25  # seconds each backend call waits on the event loop


async def test_200_concurrent_aqueries_overlap(index: VectorStoreIndex, make_backend: Any) -> None:
    """200 aquery calls of 0.25 s each finish together (50 s if run one by one).

    The backend is native async (``await asyncio.sleep``), not the loopback server:
    no loopback provider server existed when this adapter was written.
    """
    backend = make_backend(delay=DELAY)
    engine = citation_query_engine(index, backend, similarity_top_k=2)
    topics = ["Eiffel Tower", "Rhine", "Everest", "Danube"]
    questions = [f"Tell me about the {topics[i % 4]}" for i in range(CONCURRENT)]
    start = time.perf_counter()
    responses = await asyncio.gather(*(engine.aquery(q) for q in questions))
    elapsed = time.perf_counter() - start
    assert backend.peak == CONCURRENT  # every call was in flight at once
    assert backend.threads == {threading.get_ident()}  # all on the loop's own thread
    assert elapsed < DELAY + 2.0, f"{CONCURRENT} concurrent aquery took {elapsed:.2f}s"
    # Per-call state: each response cites the node its own question retrieved.
    expected = {
        "Eiffel Tower": "eiffel",
        "Rhine": "rhine",
        "Everest": "everest",
        "Danube": "danube",
    }
    for question, response in zip(questions, responses, strict=True):
        topic = question.removeprefix("Tell me about the ")
        assert response.metadata["cited_node_ids"] == [expected[topic]], question


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
