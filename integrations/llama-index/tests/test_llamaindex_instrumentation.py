"""Spans and custom events reach real LlamaIndex instrumentation handlers."""

from __future__ import annotations

import uuid
from typing import Any

import llama_index.response_synthesizers.citeformer.events as events_module
import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler
from llama_index.response_synthesizers.citeformer import (
    CitationResolvedEvent,
    CitationValidationEvent,
    citation_query_engine,
)
from pydantic import Field

from citeformer import CiteformerError, MockBackend

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


# -- events and spans are built only for handlers that receive them --------------------


class _Counter(BaseEventHandler):
    """An event handler that keeps the class names it sees."""

    seen: list[str] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        """Class name."""
        return "_Counter"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        """Keep the class name."""
        self.seen.append(event.class_name())


class _BoundArgs(SimpleSpanHandler):
    """A span handler that also keeps each span's bound arguments."""

    arguments: dict[str, dict[str, Any]] = Field(default_factory=dict)

    def new_span(self, id_: str, bound_args: Any, *args: Any, **kwargs: Any) -> Any:
        """Keep the arguments, then open the span as SimpleSpanHandler does."""
        self.arguments[id_] = dict(bound_args.arguments)
        return super().new_span(id_, bound_args, *args, **kwargs)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Class names of the adapter's events as they are constructed (dispatched or not)."""
    made: list[str] = []
    for name in ("CitationResolvedEvent", "CitationValidationEvent"):
        original = getattr(events_module, name)

        def counting(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            made.append(_original.class_name())
            return _original(*args, **kwargs)

        monkeypatch.setattr(events_module, name, counting)
    return made


async def test_no_handlers_no_events_built_then_a_late_handler_sees_everything(
    index: VectorStoreIndex, make_backend: Any, built: list[str]
) -> None:
    """Unobserved calls skip building events and spans; attaching a handler at any time
    (here after the engine was built and used) makes the next call fully observed."""
    root = get_dispatcher()
    assert not [h for h in root.event_handlers if type(h).__name__ != "NullEventHandler"]
    engine = citation_query_engine(index, make_backend(), similarity_top_k=4)
    first = await engine.aquery(QUESTION)
    assert built == []
    assert first.metadata["cited_node_ids"] == ["eiffel", "rhine"]  # same answer

    handler = _Counter()
    root.add_event_handler(handler)
    try:
        await engine.aquery(QUESTION)
    finally:
        root.event_handlers = [h for h in root.event_handlers if h is not handler]
    assert built == ["CitationResolvedEvent"] * 2 + ["CitationValidationEvent"]
    assert handler.seen.count("CitationResolvedEvent") == 2
    assert handler.seen.count("CitationValidationEvent") == 1
    assert handler.seen.count("SynthesizeStartEvent") == 1


def test_a_handler_on_the_adapters_own_dispatcher_sees_its_events(
    index: VectorStoreIndex, make_backend: Any
) -> None:
    """Handlers below the root (on the adapter's module dispatchers) are found too."""
    handler = _Counter()
    own = get_dispatcher(events_module.__name__)
    own.add_event_handler(handler)
    try:
        citation_query_engine(index, make_backend(), similarity_top_k=4).query(QUESTION)
    finally:
        own.event_handlers = [h for h in own.event_handlers if h is not handler]
    assert handler.seen == ["CitationResolvedEvent"] * 2 + ["CitationValidationEvent"]


async def test_a_span_handler_alone_sees_the_spans_with_their_arguments(
    index: VectorStoreIndex, make_backend: Any
) -> None:
    """Spans reach a span handler with no event handler attached, parented and with
    the bound arguments ``Dispatcher.span`` would give (no ``self``)."""
    root = get_dispatcher()
    handler = _BoundArgs()
    root.add_span_handler(handler)
    try:
        await citation_query_engine(index, make_backend(), similarity_top_k=4).aquery(QUESTION)
    finally:
        root.span_handlers = [h for h in root.span_handlers if h is not handler]
    by_name = {s.id_.split("-")[0]: s for s in handler.completed_spans}
    synth = by_name["CiteformerSynthesizer.asynthesize"]
    acite = by_name["CiteformerSynthesizer._acite"]
    assert acite.parent_id == synth.id_
    assert by_name[synth.parent_id.split("-")[0]].id_ == synth.parent_id  # engine's span
    assert list(handler.arguments[acite.id_]) == ["query_str", "call", "response_kwargs"]
    assert handler.arguments[synth.id_]["query"].query_str == QUESTION
    assert str(uuid.UUID(acite.id_.split("-", 1)[1])) == acite.id_.split("-", 1)[1]


async def test_a_failing_call_drops_its_spans(index: VectorStoreIndex, spans: Any) -> None:
    """An error inside the synthesizer drops its spans, as ``Dispatcher.span`` does."""
    engine = citation_query_engine(
        index, MockBackend("ok [1]."), similarity_top_k=4
    )  # a bad per-call option fails inside citeformer
    with pytest.raises(CiteformerError):
        await engine._response_synthesizer.asynthesize(
            QUESTION, await engine.aretrieve(QUESTION), policy="no-such-policy"
        )
    dropped = {s.id_.split("-")[0] for s in spans.dropped_spans}
    assert {"CiteformerSynthesizer.asynthesize", "CiteformerSynthesizer._acite"} <= dropped
