"""One call's logic, written once for the sync and async paths.

:class:`CallStep` maps each citeformer stream event (or the whole result) to what the
runnable yields and what it reports: an iterable of output chunks and
:class:`~langchain_citeformer.tracing.Trace` items, in order. The runnable's sync and
async loops only differ in how they get events (``for``/``async for``) and how they
deliver traces (``report``/``await report``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from citeformer import (
    CitationEvent,
    Completed,
    GenerationResult,
    MarkerRemoved,
    Source,
    StreamEvent,
    TextDelta,
)
from citeformer.verify import Scorer, VerificationReport
from langchain_core.messages import BaseMessage

from langchain_citeformer.inputs import Grounding
from langchain_citeformer.messages import citation_annotation, result_message, text_chunk
from langchain_citeformer.outputs import OutputMode, Shaper
from langchain_citeformer.tracing import (
    Trace,
    chunk_trace,
    citation_trace,
    removed_trace,
    verification_trace,
)


class CallStep:
    """The pure part of one call: options in, chunks and traces out.

    Args:
        grounding: The question, documents and sources of the call.
        options: The core's options for the call (``verify`` already taken out).
        scorer: The call's scorer (None: not verified).
        output: The output shape.
        backend: The backend's short name, for message metadata.
        traced: Whether any callback listens (traces are skipped when none does).
    """

    __slots__ = ("_shaper", "completed", "grounding", "options", "scorer", "traced")

    def __init__(
        self,
        grounding: Grounding,
        options: dict[str, Any],
        scorer: Scorer | None,
        output: OutputMode,
        backend: str,
        *,
        traced: bool,
    ) -> None:
        self.grounding = grounding
        self.options = options
        self.scorer = scorer
        self.traced = traced
        self._shaper = Shaper(output, grounding.documents, backend)
        self.completed: GenerationResult | None = None
        """A verified stream's result, held until it is verified after the stream."""

    @property
    def question(self) -> str:
        """The question."""
        return self.grounding.question

    @property
    def sources(self) -> list[Source]:
        """The sources, in id order."""
        return list(self.grounding.sources)

    @property
    def call_options(self) -> Mapping[str, Any]:
        """The keyword arguments of the core call (history included)."""
        return self.grounding.call_options(self.options)

    # -- whole answers ----------------------------------------------------------------

    def message(
        self, result: GenerationResult, verification: VerificationReport | None = None
    ) -> BaseMessage:
        """The answer as a message: what the nested backend run ends with."""
        return result_message(result, self.grounding.documents, self._shaper.backend, verification)

    def whole(
        self, result: GenerationResult, verification: VerificationReport | None
    ) -> tuple[Any, list[Trace], BaseMessage | None]:
        """``invoke``'s output, the traces to report, and the nested run's message."""
        output = self._shaper.whole(result, verification)
        if not self.traced:
            return output, [], None
        traces = [removed_trace(marker) for marker in result.invalid_markers]
        traces += map(citation_trace, self._shaper.annotations(result, verification))
        if verification is not None:
            traces.append(verification_trace(verification))
        message = output if self._shaper.mode == "message" else self.message(result, verification)
        return output, traces, message

    # -- streams ----------------------------------------------------------------------

    def start(self) -> Iterator[Any]:
        """Chunks before any text."""
        return self._shaper.start()

    def on_event(self, event: StreamEvent) -> Iterator[Any]:
        """The chunks and traces for one stream event, in order."""
        shaper = self._shaper
        if isinstance(event, TextDelta):
            if self.traced:
                yield chunk_trace(text_chunk(event.text))
            yield shaper.text(event.text)
        elif isinstance(event, CitationEvent):
            annotation = citation_annotation(
                event.citation, self.grounding.sources, self.grounding.documents
            )
            if self.traced:
                yield citation_trace(annotation)
            # Verified: the chunk comes with its verdict, after the stream.
            if self.scorer is None and (chunk := shaper.citation(annotation)) is not None:
                yield chunk
        elif isinstance(event, MarkerRemoved):
            if self.traced:
                yield removed_trace(event.marker)
        elif isinstance(event, Completed):
            if self.scorer is not None:
                self.completed = event.result
            elif (end := shaper.end(event.result)) is not None:
                yield end

    def verified(self, verification: VerificationReport) -> Iterator[Any]:
        """A verified stream's last chunks and its verification trace."""
        assert self.completed is not None
        if self.traced:
            yield verification_trace(verification)
        yield from self._shaper.verified(self.completed, verification)
