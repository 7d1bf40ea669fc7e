"""Spans and custom events reach real LlamaIndex instrumentation handlers."""

from __future__ import annotations

from typing import Any

from llama_index.core import VectorStoreIndex
from llama_index.response_synthesizers.citeformer import (
    CitationResolvedEvent,
    CitationValidationEvent,
    citation_query_engine,
)

QUESTION = "Who built the Eiffel Tower, and where does the Rhine flow?"


def _check_events(events: Any, response: Any) -> None:
    """The per-citation and validation events match the response metadata."""
    resolved = events.of("CitationResolvedEvent")
    assert all(isinstance(e, CitationResolvedEvent) for e in resolved)
    assert [(e.node_id, e.marker, e.start, e.end) for e in resolved] == [
        (c["node_id"], c["marker"], c["start"], c["end"]) for c in response.metadata["citations"]
    ]
    (validation,) = events.of("CitationValidationEvent")
    assert isinstance(validation, CitationValidationEvent)
    assert validation.num_sources == 4
    assert validation.num_citations == 2
    assert validation.cited_node_ids == ["eiffel", "rhine"]
    assert [m["reason"] for m in validation.invalid_markers] == ["out_of_range"]
    assert validation.invalid_markers[0]["text"] == "[9]"
    assert validation.enforcement == "validated"
    names = [e.class_name() for e in events.events]
    assert names.index("SynthesizeStartEvent") < names.index("CitationValidationEvent")
    assert "QueryEndEvent" in names
    assert "RetrievalEndEvent" in names


async def test_aquery_dispatches_citation_and_validation_events(
    index: VectorStoreIndex, make_backend: Any, events: Any, spans: Any
) -> None:
    """Aquery dispatches citation and validation events."""
    engine = citation_query_engine(index, make_backend(), similarity_top_k=4)
    response = await engine.aquery(QUESTION)
    _check_events(events, response)
    span_names = [s.id_.split("-")[0] for s in spans.completed_spans]
    assert "CiteformerSynthesizer.asynthesize" in span_names
    assert "CiteformerSynthesizer._acite" in span_names
    by_id = {s.id_: s for s in spans.completed_spans}
    acite = next(
        s for s in spans.completed_spans if s.id_.startswith("CiteformerSynthesizer._acite")
    )
    assert by_id[acite.parent_id].id_.startswith("CiteformerSynthesizer.asynthesize")
    # The citation events belong to the synthesizer's span tree.
    resolved = events.of("CitationResolvedEvent")
    assert all(e.span_id == acite.id_ for e in resolved)


def test_query_dispatches_events(
    index: VectorStoreIndex, make_backend: Any, events: Any, spans: Any
) -> None:
    """Query dispatches events."""
    engine = citation_query_engine(index, make_backend(), similarity_top_k=4)
    response = engine.query(QUESTION)
    _check_events(events, response)
    span_names = {s.id_.split("-")[0] for s in spans.completed_spans}
    assert {"CiteformerSynthesizer.synthesize", "CiteformerSynthesizer._cite"} <= span_names


async def test_streams_dispatch_events_as_citations_resolve(
    index: VectorStoreIndex, make_backend: Any, events: Any
) -> None:
    """Streams dispatch events as citations resolve."""
    engine = citation_query_engine(
        index, make_backend(chunk_size=2), streaming=True, similarity_top_k=4
    )
    response = await engine.aquery(QUESTION)
    seen_before_end = []
    async for _ in response.async_response_gen():
        seen_before_end.append(len(events.of("CitationResolvedEvent")))
    assert seen_before_end[0] == 0
    assert max(seen_before_end) == 2
    assert len(events.of("CitationValidationEvent")) == 1
    _check_events(events, response)

    events.events.clear()
    sync = citation_query_engine(
        index, make_backend(chunk_size=2), streaming=True, similarity_top_k=4
    )
    response = sync.query(QUESTION)
    "".join(response.response_gen)
    _check_events(events, response)


def test_no_events_for_empty_retrieval(
    index: VectorStoreIndex, make_backend: Any, events: Any
) -> None:
    """No events for empty retrieval."""
    from llama_index.core.postprocessor import SimilarityPostprocessor

    engine = citation_query_engine(
        index, make_backend(), node_postprocessors=[SimilarityPostprocessor(similarity_cutoff=1.5)]
    )
    engine.query(QUESTION)
    assert events.of("CitationResolvedEvent") == []
    assert events.of("CitationValidationEvent") == []
    assert "SynthesizeEndEvent" in [e.class_name() for e in events.events]
