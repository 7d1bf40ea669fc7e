"""Instrumentation: custom LlamaIndex events for resolved citations and validation.

Events go through ``llama_index.core.instrumentation.get_dispatcher``, so every event
handler attached to the root dispatcher (Arize Phoenix, Langfuse, your own
``BaseEventHandler``) sees them beside LlamaIndex's own synthesis events. Per call:
one :class:`CitationResolvedEvent` per resolved citation (as it resolves, when
streaming), one :class:`CitationValidationEvent` when the answer is complete and,
with ``verify=``, one :class:`CitationVerificationEvent` once it is verified (after
the stream ends, when streaming).
Events are built only when a handler other than LlamaIndex's null handler is
reachable from the dispatcher (checked on every call; see ``_instrument``).
"""

from __future__ import annotations

from typing import Any

from llama_index.core.instrumentation.events import BaseEvent
from llama_index.response_synthesizers.citeformer._instrument import receives_events
from llama_index.response_synthesizers.citeformer.results import (
    VERIFICATION,
    CitedCall,
    NodeCitation,
)
from llama_index_instrumentation import get_dispatcher  # core does not re-export it explicitly

from citeformer import GenerationResult
from citeformer.verify import VerificationReport

dispatcher = get_dispatcher(__name__)


class CitationResolvedEvent(BaseEvent):
    """A citation marker in the answer was validated and resolved to a retrieved node.

    Attributes:
        node_id: Id of the cited node.
        source_id: The number in the marker (1-based position in the retrieved list).
        marker: The marker text.
        start: Offset of the marker in the answer.
        end: Offset just past the marker.
        cited_text: The supporting passage, where the backend reports one.
        score: The cited node's retrieval score.
    """

    node_id: str
    source_id: int
    marker: str
    start: int
    end: int
    cited_text: str | None = None
    score: float | None = None

    @classmethod
    def class_name(cls) -> str:
        """Class name."""
        return "CitationResolvedEvent"


class CitationValidationEvent(BaseEvent):
    """The answer is complete and every marker in it was checked against 1..N.

    Attributes:
        num_sources: N, the number of retrieved nodes given as sources.
        num_citations: Citations kept (one per marker and id).
        cited_node_ids: Distinct cited node ids, in order of first citation.
        invalid_markers: Markers removed from the answer (``text``, ``start``, ``end``,
            ``reason``); empty when the backend's grammar or schema prevented them.
        enforcement: What bounded the markers (``grammar``, ``schema``, ``provider``,
            ``validated``).
        finish_reason: Why the backend stopped, where reported.
    """

    num_sources: int
    num_citations: int
    cited_node_ids: list[str]
    invalid_markers: list[dict[str, Any]]
    enforcement: str
    finish_reason: str | None = None

    @classmethod
    def class_name(cls) -> str:
        """Class name."""
        return "CitationValidationEvent"


class CitationVerificationEvent(BaseEvent):
    """The answer was verified: does each cited node support its sentence?

    Attributes:
        citation_recall: ALCE's citation recall (``None``: no sentences).
        citation_precision: ALCE's citation precision (``None``: no citations).
        supported_rate: Supported sentences over cited sentences.
        scorer: The scorer's name.
        scorer_kind: What it measures (``nli``, ``llm-judge``, ``embedding``,
            ``lexical``, ``custom``).
        unsupported_sentences: Indices of cited sentences their sources do not support.
        report: The whole report, in its JSON form (``VerificationReport.to_dict()``).
    """

    citation_recall: float | None = None
    citation_precision: float | None = None
    supported_rate: float | None = None
    scorer: str
    scorer_kind: str
    unsupported_sentences: list[int]
    report: dict[str, Any]

    @classmethod
    def class_name(cls) -> str:
        """Class name."""
        return "CitationVerificationEvent"


def emit_citation(citation: NodeCitation) -> None:
    """Dispatch one :class:`CitationResolvedEvent` (when any handler would see it)."""
    if receives_events(dispatcher):
        _emit_citation(citation)


def _emit_citation(citation: NodeCitation) -> None:
    dispatcher.event(
        CitationResolvedEvent(
            node_id=citation.node_id,
            source_id=citation.source_id,
            marker=citation.marker,
            start=citation.start,
            end=citation.end,
            cited_text=citation.cited_text,
            score=citation.score,
        )
    )


def _emit_validation(call: CitedCall, result: GenerationResult) -> None:
    dispatcher.event(
        CitationValidationEvent(
            num_sources=len(call.sources),
            num_citations=len(result.citations),
            cited_node_ids=[call.node(i).node.node_id for i in result.cited_ids],
            invalid_markers=[
                {"text": m.text, "start": m.start, "end": m.end, "reason": m.reason}
                for m in result.invalid_markers
            ],
            enforcement=result.enforcement.value,
            finish_reason=result.finish_reason,
        )
    )


def complete(call: CitedCall, result: GenerationResult, *, citations_emitted: bool) -> None:
    """Fill the response metadata and dispatch the call's events.

    Args:
        call: The synthesis call.
        result: Its final citeformer result.
        citations_emitted: Whether one event per citation was already dispatched
            (streams dispatch them as they resolve).
    """
    resolved = call.complete(result)
    if not receives_events(dispatcher):
        return
    if not citations_emitted:
        for citation in resolved:
            _emit_citation(citation)
    _emit_validation(call, result)


def verified(call: CitedCall, report: VerificationReport) -> None:
    """Store the call's verification report and dispatch its event.

    Args:
        call: The synthesis call (its metadata gets the report).
        report: The answer's verification report.
    """
    call.metadata[VERIFICATION] = report
    if receives_events(dispatcher):
        dispatcher.event(
            CitationVerificationEvent(
                citation_recall=report.citation_recall,
                citation_precision=report.citation_precision,
                supported_rate=report.supported_rate,
                scorer=report.scorer.name,
                scorer_kind=report.scorer.kind.value,
                unsupported_sentences=[s.index for s in report.unsupported],
                report=report.to_dict(),
            )
        )
