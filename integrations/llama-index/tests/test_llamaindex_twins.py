"""The sync and async paths are one implementation: same events, spans and metadata.

Each entry point pair (``query``/``aquery``, whole or streamed, with and without
``verify=``; ``chat``/``achat``; ``stream_chat``/``astream_chat``) is run on the same
question; what handlers see and what the response holds must match, span names up
to the ``a`` of the async method.
"""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.base.response.schema import AsyncStreamingResponse, StreamingResponse
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler
from llama_index.response_synthesizers.citeformer import (
    CiteformerChatEngine,
    CiteformerSynthesizer,
    citation_query_engine,
    citations,
    stream_events,
    verification_report,
)

from citeformer import CiteformerError, MockBackend

QUESTION = "Who built the Eiffel Tower, and where does the Rhine flow?"
_ASYNC_NAMES = {"asynthesize": "synthesize", "_acite": "_cite"}


def judge(premise: str, claim: str) -> float:
    """Supports a claim only where the premise names the Eiffel Tower's builder."""
    return 1.0 if "Gustave Eiffel" in premise else 0.0


def _adapter_spans(spans: SimpleSpanHandler) -> list[str]:
    """The adapter's span names in completion order, async names mapped to sync ones."""
    names = [s.id_.split("-")[0].split(".") for s in spans.completed_spans]
    return [
        f"{cls}.{_ASYNC_NAMES.get(method, method)}"
        for cls, method in names
        if cls == "CiteformerSynthesizer"
    ]


def _seen(events: Any, spans: SimpleSpanHandler) -> tuple[list[str], list[str]]:
    seen = [e.class_name() for e in events.events], _adapter_spans(spans)
    events.events.clear()
    spans.completed_spans.clear()
    return seen


def _state(response: Any) -> dict[str, Any]:
    report = verification_report(response)
    return {
        "text": str(response) if not hasattr(response, "response_gen") else None,
        "citations": citations(response),
        "ids": response.metadata["cited_node_ids"],
        "references": response.metadata["references"],
        "report": None if report is None else report.to_dict(),
    }


@pytest.mark.parametrize("verify", [None, judge])
@pytest.mark.parametrize("streaming", [False, True])
async def test_query_and_aquery_are_twins(
    index: VectorStoreIndex,
    make_backend: Any,
    events: Any,
    spans: Any,
    streaming: bool,
    verify: Any,
) -> None:
    engine = citation_query_engine(
        index, make_backend(chunk_size=2), streaming=streaming, verify=verify, similarity_top_k=4
    )
    sync = engine.query(QUESTION)
    sync_kinds: list[str] = []
    if streaming:
        assert isinstance(sync, StreamingResponse)
        sync_kinds = [type(e).__name__ for e in stream_events(sync)]
    sync_seen = _seen(events, spans)

    both = await engine.aquery(QUESTION)
    async_kinds: list[str] = []
    if streaming:
        assert isinstance(both, AsyncStreamingResponse)
        async_kinds = [type(e).__name__ async for e in stream_events(both)]
    assert _seen(events, spans) == sync_seen
    assert async_kinds == sync_kinds
    assert _state(both) == _state(sync)
    assert sync_seen[1][-2:] == ["CiteformerSynthesizer._cite", "CiteformerSynthesizer.synthesize"]
    if streaming:
        assert sync_kinds[-1] == "Completed" and "NodeCitationEvent" in sync_kinds
    assert ("CitationVerificationEvent" in sync_seen[0]) is (verify is not None)


async def test_chat_and_achat_are_twins(
    index: VectorStoreIndex, make_backend: Any, events: Any, spans: Any
) -> None:
    def engine() -> CiteformerChatEngine:
        return CiteformerChatEngine(index.as_retriever(similarity_top_k=4), make_backend())

    sync = engine().chat(QUESTION)
    sync_seen = _seen(events, spans)
    both = await engine().achat(QUESTION)
    assert _seen(events, spans) == sync_seen
    assert (both.response, citations(both)) == (sync.response, citations(sync))

    streamed = engine()
    sync_stream = streamed.stream_chat(QUESTION)
    sync_text = "".join(sync_stream.response_gen)
    sync_stream_seen = _seen(events, spans)
    astreamed = engine()
    async_stream = await astreamed.astream_chat(QUESTION)
    async_text = "".join([t async for t in async_stream.async_response_gen()])
    assert _seen(events, spans) == sync_stream_seen
    assert async_text == sync_text == sync.response
    assert citations(async_stream) == citations(sync_stream) == citations(sync)
    assert [m.content for m in astreamed.chat_history] == [m.content for m in streamed.chat_history]


async def test_failing_calls_drop_the_same_spans_sync_and_async(
    index: VectorStoreIndex, spans: Any
) -> None:
    synthesizer = CiteformerSynthesizer(MockBackend("ok [1]."))
    nodes = index.as_retriever(similarity_top_k=2).retrieve(QUESTION)
    with pytest.raises(CiteformerError):
        synthesizer.synthesize(QUESTION, nodes, policy="no-such-policy")
    sync_dropped = [s.id_.split("-")[0] for s in spans.dropped_spans]
    spans.dropped_spans.clear()
    with pytest.raises(CiteformerError):
        await synthesizer.asynthesize(QUESTION, nodes, policy="no-such-policy")
    async_dropped = [s.id_.split("-")[0] for s in spans.dropped_spans]
    assert sync_dropped == ["CiteformerSynthesizer._cite", "CiteformerSynthesizer.synthesize"]
    assert async_dropped == ["CiteformerSynthesizer._acite", "CiteformerSynthesizer.asynthesize"]
    assert not _adapter_spans(spans)  # none of the adapter's spans completed
