"""The work before and after the backend call, written once for all four paths.

``prepare`` checks the inputs and builds the :class:`CallPlan` (citation
language, assembled messages, backend options). An :class:`Assembly` turns the
backend's raw output, whole or chunk by chunk, into stream events and finally a
:class:`~citeformer.core.GenerationResult`. ``generate`` feeds it one chunk,
streams feed it many: the same code decides what the answer says either way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from citeformer._whole_text import WholeParse
from citeformer.backends.call import (
    EMPTY_INFO,
    BackendCall,
    CallInfo,
    CitationRequest,
    Piece,
    ProviderCitation,
    Reply,
)
from citeformer.core import (
    Citation,
    Enforcement,
    GenerationResult,
    InvalidMarker,
    MarkerStyle,
    Policy,
    PolicyViolation,
    Reference,
    Source,
)
from citeformer.errors import (
    CitationPolicyError,
    InvalidCitationError,
    InvalidOptionError,
    InvalidPromptError,
    StreamInterruptedError,
)
from citeformer.events import CitationEvent, Completed, MarkerRemoved, StreamEvent, TextDelta
from citeformer.grammar.language import CitationLanguage
from citeformer.grammar.policy import check_policy
from citeformer.markers import MarkerEvent, MarkerParser, ParseEvent, TextEvent
from citeformer.options import Check, normalize_options
from citeformer.prompts import PromptBudget
from citeformer.render import cached_references, render_references


@dataclass(frozen=True, slots=True)
class CallPlan:
    """Everything one call needs, prepared before the backend runs.

    Attributes:
        call: What goes to the backend: the request and the checked options.
        bibliography_style: The style references are rendered in.
        bibliography_locale: Their locale (``None``: the style's).
        strict: Raise instead of removing invalid markers or listing violations.
        enforcement: The backend's tier, unless the call reports another.
        backend_name: The backend's class name, for errors.
    """

    call: BackendCall
    bibliography_style: str
    strict: bool
    enforcement: Enforcement
    backend_name: str = "backend"
    bibliography_locale: str | None = None

    @property
    def sources(self) -> tuple[Source, ...]:
        """The call's sources, in id order."""
        return self.call.request.sources

    @property
    def language(self) -> CitationLanguage:
        """The call's citation language."""
        return self.call.request.language


def prepare(
    prompt: object,
    sources: object,
    *,
    policy: Policy,
    marker_style: MarkerStyle,
    bibliography_style: str,
    strict: bool,
    enforcement: Enforcement,
    budget: PromptBudget | None,
    bibliography_locale: str | None = None,
    options: dict[str, Any],
    checks: Mapping[str, Check] | None = None,
    backend_name: str = "backend",
) -> CallPlan:
    """Check the inputs and build the call plan (no I/O).

    Args:
        prompt: The question.
        sources: The sources.
        policy: The call's policy.
        marker_style: The call's marker style.
        bibliography_style: The reference style.
        bibliography_locale: The references' locale.
        strict: Strict validation.
        enforcement: The backend's tier.
        budget: How much source text the prompt may hold.
        options: The backend options of the call.
        checks: The backend's own option checks.
        backend_name: For errors.
    """
    if not isinstance(prompt, str):
        raise InvalidPromptError(f"prompt must be a str, got {type(prompt).__name__}")
    if not prompt.strip():
        raise InvalidPromptError("prompt is empty; pass the user's question")
    if not isinstance(strict, bool):
        raise InvalidOptionError(f"strict must be a bool, got {strict!r}")
    history = options.pop("history", ())  # the conversation, not a backend option
    bound = options.pop("max_content_chars", None)  # part of the citation language
    checked = normalize_options(options, checks)
    request = CitationRequest.build(
        prompt,
        sources,
        policy,
        marker_style=marker_style,
        budget=budget,
        history=history,
        max_content_chars=bound,
    )
    return CallPlan(
        call=BackendCall(request, checked),
        bibliography_style=bibliography_style,
        strict=strict,
        enforcement=enforcement,
        backend_name=backend_name,
        bibliography_locale=bibliography_locale,
    )


class Assembly:
    """Per-call accumulator: raw backend text in, events and a result out.

    Args:
        plan: The call plan.
        raise_early: In strict mode, raise at the first invalid marker (streams)
            instead of after the whole text (``generate``, which lists them all).
        events: Build stream events (``generate`` needs only the result).
    """

    def __init__(self, plan: CallPlan, *, raise_early: bool, events: bool = True) -> None:
        self._plan = plan
        self._raise_early = raise_early
        self._want_events = events
        self._citations_so_far: list[Citation] = []
        self._parser = MarkerParser(len(plan.sources), plan.language.marker_style)
        self._parts: list[str] = []
        self._markers: list[MarkerEvent] = []
        self._invalid: list[InvalidMarker] = []
        self._raw: list[str] = []
        self._info = EMPTY_INFO
        self._provider: dict[tuple[int, int], ProviderCitation] = {}
        self._violations: tuple[PolicyViolation, ...] = ()
        self.result: GenerationResult | None = None

    @property
    def text(self) -> str:
        """Validated text settled so far."""
        return "".join(self._parts)

    @property
    def raw_text(self) -> str:
        """Raw backend text received so far."""
        return "".join(self._raw)

    def feed(self, piece: Piece) -> list[StreamEvent]:
        """Take one piece of the backend's output: answer text, or facts about the call."""
        if isinstance(piece, CallInfo):
            self._add_info(piece)
            return []
        if not piece:
            return []
        self._raw.append(piece)
        return self._stream_events(self._parser.feed(piece))

    def feed_reply(self, reply: Reply) -> None:
        """Take a whole reply (``generate``)."""
        if reply.info is not EMPTY_INFO:
            self._add_info(reply.info)
        if reply.text and not self._raw:
            self._raw.append(reply.text)
            compact = not (self._want_events or self._provider)
            parse = self._parser.whole_parse(reply.text) if compact else None
            if parse is None:
                self._stream_events(self._parser.whole(reply.text))
            else:
                self._take_whole(parse)
        else:
            self.feed(reply.text)

    def _take_whole(self, parse: WholeParse) -> None:
        """What :meth:`_stream_events` does with a whole reply's events, without them.

        The hot path of ``generate``: no event objects, one citation per cited id.
        """
        self._parts.extend(parse.parts)
        sources = self._plan.sources
        add = self._citations_so_far.append
        for ids, text, start, end, _raw_start, _index in parse.marks:
            for source_id in ids:
                add(parsed_citation(source_id, start, end, text, sources[source_id - 1].title))
        for marker, _index in parse.invalid:
            self._invalid.append(marker)
            self._check_strict()

    def finish(self) -> list[StreamEvent]:
        """Settle the end of the text and build the result."""
        events = self._settle()
        sources, cited, style = self._reference_args()
        locale = self._plan.bibliography_locale
        events.append(self._complete(render_references(sources, cited, style, locale=locale)))
        return events

    async def afinish(self) -> list[StreamEvent]:
        """:meth:`finish` for async paths: new bibliography entries render off the loop.

        Rendering a source not seen before takes citeproc milliseconds of CPU; cached
        entries cost microseconds and are rendered in place.
        """
        events = self._settle()
        sources, cited, style = self._reference_args()
        locale = self._plan.bibliography_locale
        references = cached_references(sources, cited, style, locale=locale)
        if references is None:
            references = await asyncio.to_thread(
                functools.partial(render_references, sources, cited, style, locale=locale)
            )
        events.append(self._complete(references))
        return events

    def _settle(self) -> list[StreamEvent]:
        events = self._stream_events(self._parser.flush())
        if self._plan.strict and self._invalid:
            raise InvalidCitationError(self._invalid, self.raw_text)
        self._violations = check_policy(self.text, self._plan.language)
        if self._plan.strict and self._violations:
            raise CitationPolicyError(self._violations, self.text)
        return events

    def _final_citations(self) -> tuple[Citation, ...]:
        if self._provider:  # details may have arrived after their markers
            return tuple(c for m in self._markers for c in self._citations(m))
        return tuple(self._citations_so_far)

    def _reference_args(self) -> tuple[tuple[Source, ...], list[int], str]:
        cited = list(dict.fromkeys(c.source_id for c in self._citations_so_far))
        return self._plan.sources, cited, self._plan.bibliography_style

    def _complete(self, references: tuple[Reference, ...]) -> Completed:
        plan = self._plan
        self.result = GenerationResult(
            text=self.text,
            citations=self._final_citations(),
            references=references,
            sources=plan.sources,
            usage=self._info.usage,
            finish_reason=self._info.finish_reason,
            enforcement=self._info.enforcement or plan.enforcement,
            invalid_markers=tuple(self._invalid),
            policy_violations=self._violations,
        )
        return Completed(self.result)

    def interrupted(self, exc: BaseException, *, partial_text: str) -> StreamInterruptedError:
        """The typed error for a stream that failed after some text arrived.

        Args:
            exc: What stopped it.
            partial_text: The validated text the caller had received.
        """
        return StreamInterruptedError(
            f"stream interrupted after {len(self.raw_text)} characters: {exc!r}",
            partial_text=partial_text,
            raw_text=self.raw_text,
        )

    def _add_info(self, info: CallInfo) -> None:
        self._info = self._info.merge(info)
        for pc in info.citations:
            self._provider[(pc.raw_offset, pc.source_id)] = pc
        if info.invalid_markers:
            self._invalid.extend(info.invalid_markers)
            self._check_strict()

    def _check_strict(self) -> None:
        if self._plan.strict and self._raise_early and self._invalid:
            raise InvalidCitationError(self._invalid, self.raw_text)

    def _stream_events(self, parsed: list[ParseEvent]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        want = self._want_events
        for event in parsed:
            if isinstance(event, TextEvent):
                self._parts.append(event.text)
                if want:
                    events.append(TextDelta(event.text))
            elif isinstance(event, MarkerEvent):
                self._parts.append(event.text)
                self._markers.append(event)
                citations = self._citations(event)
                self._citations_so_far.extend(citations)
                if want:
                    events.append(TextDelta(event.text))
                    events.extend(CitationEvent(c) for c in citations)
            else:
                self._invalid.append(event.marker)
                self._check_strict()
                if want:
                    events.append(MarkerRemoved(event.marker))
        return events

    def _citations(self, marker: MarkerEvent) -> list[Citation]:
        sources = self._plan.sources
        if not self._provider:
            start, end, text = marker.start, marker.end, marker.text
            return [
                parsed_citation(source_id, start, end, text, sources[source_id - 1].title)
                for source_id in marker.ids
            ]
        out = []
        for source_id in marker.ids:
            pc = self._provider.get((marker.raw_start, source_id))
            out.append(
                Citation(
                    source_id=source_id,
                    start=marker.start,
                    end=marker.end,
                    marker=marker.text,
                    cited_text=pc.cited_text if pc else None,
                    source_start=pc.source_start if pc else None,
                    source_end=pc.source_end if pc else None,
                    document_title=sources[source_id - 1].title,
                )
            )
        return out


def parsed_citation(
    source_id: int, start: int, end: int, marker: str, title: str | None
) -> Citation:
    """A Citation of a marker the validator parsed, built without re-checking it.

    The parser only yields in-range ids of markers it read from the text itself, so the
    checks of ``__post_init__`` (~1 µs per citation) would repeat its work;
    :class:`GenerationResult` still checks every citation against its text and sources.
    The slots are written through their descriptors (half the cost of
    ``object.__setattr__``, which looks each name up).
    """
    citation = _new(Citation)
    _source_id(citation, source_id)
    _start(citation, start)
    _end(citation, end)
    _marker(citation, marker)
    _cited_text(citation, None)
    _source_start(citation, None)
    _source_end(citation, None)
    _document_title(citation, title)
    return citation


_new: Final = object.__new__
_source_id, _start, _end, _marker, _cited_text, _source_start, _source_end, _document_title = (
    getattr(Citation, field.name).__set__ for field in dataclasses.fields(Citation)
)
