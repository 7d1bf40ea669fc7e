"""End to end inside real LlamaIndex objects: index -> retriever -> query engine."""

from __future__ import annotations

import re
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.base.response.schema import (
    AsyncStreamingResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.postprocessor import SimilarityPostprocessor
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.response_synthesizers.citeformer import (
    CiteformerSynthesizer,
    NodeCitationEvent,
    citation_query_engine,
    citations,
    cited_source_nodes,
    generation_result,
    stream_events,
)

from citeformer import (
    Citeformer,
    Completed,
    GenerationResult,
    MarkerRemoved,
    MockBackend,
    TextDelta,
)

QUESTION = "Who built the Eiffel Tower, and where does the Rhine flow?"


def _check_cited(response: Any, expected: list[str]) -> None:
    """Citations point at the nodes whose text supports them, by fixed node id."""
    metadata = response.metadata
    result = generation_result(response)
    assert isinstance(result, GenerationResult)
    if isinstance(response, Response):
        assert response.response == result.text
    assert metadata["cited_node_ids"] == expected
    assert [n.node.node_id for n in cited_source_nodes(response)] == expected
    by_id = {n.node.node_id: n for n in response.source_nodes}
    for citation in citations(response):
        node = by_id[citation.node_id]
        assert response.source_nodes[citation.source_id - 1] is node
        assert citation.score == node.score
        # The sentence before the marker is the first sentence of the cited node.
        sentence = re.split(r"\]\.\s+", result.text[: citation.start])[-1].strip()
        assert sentence
        assert sentence in node.node.get_content()
    assert [r["node_id"] for r in metadata["references"]] == expected
    assert metadata["references"][0]["text"].startswith("[")  # IEEE: labelled by source id
    assert [i.reason for i in result.invalid_markers] == ["out_of_range"]
    assert "[9]" not in result.text


def test_query_cites_the_right_nodes(index: VectorStoreIndex, make_backend: Any) -> None:
    """Query cites the right nodes."""
    backend = make_backend()
    engine = citation_query_engine(index, Citeformer(backend), similarity_top_k=4)
    response = engine.query(QUESTION)
    assert type(response) is Response
    assert response.response.startswith("The Eiffel Tower is a wrought-iron lattice tower")
    assert len(response.source_nodes) == 4
    _check_cited(response, ["eiffel", "rhine"])
    assert response.metadata["node_metadata"]["eiffel"]["title"] == "Eiffel Tower"
    assert "Eiffel Tower" in response.metadata["references"][0]["text"]
    assert backend.calls == 1


async def test_aquery_cites_the_right_nodes(index: VectorStoreIndex, make_backend: Any) -> None:
    """Aquery cites the right nodes."""
    backend = make_backend()
    retriever = index.as_retriever(similarity_top_k=4)
    engine = RetrieverQueryEngine(retriever, response_synthesizer=CiteformerSynthesizer(backend))
    response = await engine.aquery(QUESTION)
    assert type(response) is Response
    _check_cited(response, ["eiffel", "rhine"])
    sync = engine.query(QUESTION)
    assert sync.response == response.response
    assert sync.metadata["citations"] == response.metadata["citations"]


def test_citations_do_not_depend_on_retrieval_order(
    nodes: list[TextNode], make_backend: Any
) -> None:
    """The same answer cites the same nodes when the retriever orders them differently."""
    synthesizer = CiteformerSynthesizer(make_backend())
    scored = [NodeWithScore(node=n, score=1.0) for n in nodes]
    forward = synthesizer.synthesize(QUESTION, scored)
    backward = synthesizer.synthesize(QUESTION, list(reversed(scored)))
    assert forward.metadata["cited_node_ids"] == backward.metadata["cited_node_ids"]
    assert forward.metadata["cited_node_ids"] == ["eiffel", "rhine"]
    assert [c["source_id"] for c in forward.metadata["citations"]] == [1, 2]
    assert [c["source_id"] for c in backward.metadata["citations"]] == [4, 3]


@pytest.mark.parametrize("chunk_size", [1, 3, 7])
def test_sync_stream_joins_to_the_answer(
    index: VectorStoreIndex, make_backend: Any, chunk_size: int
) -> None:
    """Sync stream joins to the answer."""
    whole = citation_query_engine(index, make_backend(), similarity_top_k=4).query(QUESTION)
    backend = make_backend(chunk_size=chunk_size)
    engine = citation_query_engine(index, backend, streaming=True, similarity_top_k=4)
    response = engine.query(QUESTION)
    assert type(response) is StreamingResponse
    assert response.metadata["citeformer_result"] is None  # filled when the stream ends
    tokens = list(response.response_gen)
    assert "".join(tokens) == whole.response
    for token in tokens:  # a marker arrives whole or not at all
        assert token.count("[") == token.count("]")
    assert response.metadata["citations"] == whole.metadata["citations"]
    _check_cited(response, ["eiffel", "rhine"])
    assert backend.closed_streams == 1


@pytest.mark.parametrize("chunk_size", [1, 4])
async def test_async_stream_joins_to_the_answer(
    index: VectorStoreIndex, make_backend: Any, chunk_size: int
) -> None:
    """Async stream joins to the answer."""
    whole = await citation_query_engine(index, make_backend(), similarity_top_k=4).aquery(QUESTION)
    backend = make_backend(chunk_size=chunk_size)
    engine = citation_query_engine(index, backend, streaming=True, similarity_top_k=4)
    response = await engine.aquery(QUESTION)
    assert type(response) is AsyncStreamingResponse
    assert backend.calls == 0  # work starts on iteration
    tokens = [t async for t in response.async_response_gen()]
    assert "".join(tokens) == whole.response
    assert all(t.count("[") == t.count("]") for t in tokens)
    assert response.metadata["citations"] == whole.metadata["citations"]
    _check_cited(response, ["eiffel", "rhine"])
    final = await response.get_response()
    assert final.response == whole.response
    assert final.metadata["cited_node_ids"] == ["eiffel", "rhine"]


async def test_async_stream_typed_events(index: VectorStoreIndex, make_backend: Any) -> None:
    """Async stream typed events."""
    engine = citation_query_engine(index, make_backend(), streaming=True, similarity_top_k=4)
    response = await engine.aquery(QUESTION)
    seen: list[Any] = [event async for event in stream_events(response)]  # type: ignore[union-attr]
    kinds = [type(e) for e in seen]
    assert kinds[-1] is Completed
    assert MarkerRemoved in kinds
    cited = [e for e in seen if isinstance(e, NodeCitationEvent)]
    assert [e.node.node.node_id for e in cited] == ["eiffel", "rhine"]
    text = "".join(e.text for e in seen if isinstance(e, TextDelta))
    # Each citation event follows the delta that carries its whole marker.
    for event in cited:
        position = seen.index(event)
        previous = seen[position - 1]
        assert isinstance(previous, TextDelta)
        assert previous.text == event.citation.marker
    assert text == seen[-1].result.text
    assert response.metadata["cited_node_ids"] == ["eiffel", "rhine"]


def test_sync_stream_typed_events(index: VectorStoreIndex, make_backend: Any) -> None:
    """Sync stream typed events."""
    engine = citation_query_engine(index, make_backend(), streaming=True, similarity_top_k=4)
    response = engine.query(QUESTION)
    seen = list(stream_events(response))  # type: ignore[arg-type]
    assert isinstance(seen[-1], Completed)
    assert [e.citation.node_id for e in seen if isinstance(e, NodeCitationEvent)] == [
        "eiffel",
        "rhine",
    ]
    assert response.metadata["cited_node_ids"] == ["eiffel", "rhine"]


def test_sync_stream_closed_early_stops_the_backend(
    index: VectorStoreIndex, make_backend: Any
) -> None:
    """Sync stream closed early stops the backend."""
    backend = make_backend(chunk_size=2)
    engine = citation_query_engine(index, backend, streaming=True, similarity_top_k=4)
    response = engine.query(QUESTION)
    tokens = response.response_gen
    next(tokens)
    tokens.close()  # type: ignore[attr-defined]
    assert backend.closed_streams == 1
    assert response.metadata["citeformer_result"] is None


async def test_async_stream_closed_early_stops_the_backend(
    index: VectorStoreIndex, make_backend: Any
) -> None:
    """Async stream closed early stops the backend."""
    backend = make_backend(chunk_size=2)
    engine = citation_query_engine(index, backend, streaming=True, similarity_top_k=4)
    response = await engine.aquery(QUESTION)
    tokens = response.response_gen
    await tokens.__anext__()
    await tokens.aclose()  # type: ignore[attr-defined]
    assert backend.closed_streams == 1
    assert backend.in_flight == 0


def _nothing_passes() -> SimilarityPostprocessor:
    """A postprocessor that drops every node (cosine similarity never reaches 1.5)."""
    return SimilarityPostprocessor(similarity_cutoff=1.5)  # cosine similarity is <= 1


def test_empty_retrieval_takes_llamaindex_empty_path(
    index: VectorStoreIndex, make_backend: Any
) -> None:
    """Empty retrieval takes llamaindex empty path."""
    backend = make_backend()
    engine = citation_query_engine(index, backend, node_postprocessors=[_nothing_passes()])
    response = engine.query(QUESTION)
    assert type(response) is Response
    assert response.response == "Empty Response"
    assert response.source_nodes == []
    assert citations(response) == []
    assert cited_source_nodes(response) == []
    assert generation_result(response) is None
    assert backend.calls == 0


async def test_empty_retrieval_async_and_streaming(
    index: VectorStoreIndex, make_backend: Any
) -> None:
    """Empty retrieval async and streaming."""
    backend = make_backend()
    synthesizer = CiteformerSynthesizer(backend, streaming=True, empty_response="No sources.")
    engine = citation_query_engine(index, synthesizer, node_postprocessors=[_nothing_passes()])
    response = await engine.aquery(QUESTION)
    assert type(response) is AsyncStreamingResponse
    assert [t async for t in response.async_response_gen()] == ["No sources."]
    sync = engine.query(QUESTION)
    assert type(sync) is StreamingResponse
    assert list(sync.response_gen) == ["No sources."]
    assert backend.calls == 0


def test_additional_source_nodes_are_never_numbered(
    nodes: list[TextNode], make_backend: Any
) -> None:
    """Additional source nodes are never numbered."""
    synthesizer = CiteformerSynthesizer(make_backend())
    retrieved = [NodeWithScore(node=nodes[1], score=0.9)]  # the Rhine only
    extra = [NodeWithScore(node=nodes[0], score=0.1)]  # the Eiffel Tower
    response = synthesizer.synthesize(QUESTION, retrieved, additional_source_nodes=extra)
    assert [n.node.node_id for n in response.source_nodes] == ["rhine", "eiffel"]
    assert response.metadata["cited_node_ids"] == ["rhine"]
    result = generation_result(response)
    assert result is not None
    assert len(result.sources) == 1
    assert "Nothing retrieved about eiffel" in response.response
    assert set(response.metadata["node_metadata"]) == {"rhine", "eiffel"}


def test_per_call_options_and_policy(nodes: list[TextNode]) -> None:
    """Per call options and policy."""
    backend = MockBackend("Bare claim. Everest is high [1].")
    synthesizer = CiteformerSynthesizer(Citeformer(backend, style="apa"), options={"strict": False})
    scored = [NodeWithScore(node=nodes[2], score=0.5)]
    response = synthesizer.synthesize("How high is Everest?", scored, policy="required")
    result = generation_result(response)
    assert result is not None
    assert response.metadata["references"][0]["style"] == "apa"
    assert response.metadata["cited_node_ids"] == ["everest"]


def test_get_response_from_text_chunks(make_backend: Any) -> None:
    """The text-chunk entry point works too (without node identity)."""
    synthesizer = CiteformerSynthesizer(make_backend())
    text = synthesizer.get_response("Tell me about the Danube", ["The Danube is long.", "x"])
    assert text == "The Danube is long [1]. Some claims stay unsupported."
    streaming = CiteformerSynthesizer(make_backend(chunk_size=2), streaming=True)
    chunks = streaming.get_response("Tell me about the Danube", ["The Danube is long."])
    assert "".join(chunks) == "The Danube is long [1]. Some claims stay unsupported."  # type: ignore[arg-type]


async def test_aget_response_from_text_chunks(make_backend: Any) -> None:
    """Aget response from text chunks."""
    synthesizer = CiteformerSynthesizer(make_backend())
    text = await synthesizer.aget_response("the Danube", ["The Danube is long."])
    assert text == "The Danube is long [1]. Some claims stay unsupported."
    streaming = CiteformerSynthesizer(make_backend(chunk_size=2), streaming=True)
    chunks = await streaming.aget_response("the Danube", ["The Danube is long."])
    assert "".join([c async for c in chunks]) == text  # type: ignore[union-attr]
