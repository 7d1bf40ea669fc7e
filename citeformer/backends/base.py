"""The Backend contract every model runtime and provider implements.

=================  =============================================  =================================
method             contract                                       default
=================  =============================================  =================================
``generate``       ``(prompt, sources, policy, **options) ->      abstract
                   str``: text with inline markers whose N is a
                   1-based position in ``sources``; no
                   references; unknown options are ignored
``stream``         same arguments ``-> Iterator[str]``; joining    ``generate()`` yielded as one
                   the chunks gives what ``generate`` returns      chunk
``agenerate``      ``async``, same as ``generate``                 ``asyncio.to_thread(generate)``
``astream``        ``async`` iterator, same as ``stream``          pulls ``stream()`` one chunk at a
                                                                  time through
                                                                  ``asyncio.to_thread``, yielding
                                                                  to the loop between chunks
=================  =============================================  =================================

Backends with native async clients override ``agenerate``/``astream``; local
runtimes keep the thread defaults. Out-of-tree backends that implement only
``generate`` work everywhere, including async code and streaming.

Per-call facts (token usage, finish reason, provider citation spans) never live
on the backend instance: a backend returns a :class:`BackendText` (a ``str``)
carrying a :class:`CallInfo`, and a stream may yield ``BackendText`` chunks (an
empty final one is the usual way) whose infos are merged in order.

The orchestrator passes ``request=`` (a :class:`CitationRequest`: the citation
language and the assembled messages) among the options; :meth:`Backend.request`
rebuilds one when a backend is called directly.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from citeformer.core import (
    Enforcement,
    InvalidMarker,
    MarkerStyle,
    Policy,
    Source,
    TokenUsage,
    coerce_sources,
)
from citeformer.grammar.language import CitationLanguage, citation_language
from citeformer.prompts import Message, PromptBudget, build_messages


@dataclass(frozen=True, slots=True)
class ProviderCitation:
    """A citation detail reported by the backend for one marker.

    Attributes:
        raw_offset: Offset of the marker's opening character in the raw text of
            this call (the concatenation of all chunks).
        source_id: The cited source (1-based).
        cited_text: The supporting passage.
        source_start: Offset of the passage in the source content.
        source_end: Offset just past it.
    """

    raw_offset: int
    source_id: int
    cited_text: str | None = None
    source_start: int | None = None
    source_end: int | None = None


@dataclass(frozen=True, slots=True)
class CallInfo:
    """Facts about one call, travelling with its own return value.

    Attributes:
        usage: Token usage.
        finish_reason: ``stop``, ``length``, ``content_filter``...
        citations: Provider-reported citation details.
        invalid_markers: Markers the backend itself dropped (for example ids outside
            a schema's enum returned by a server that ignored the schema).
        enforcement: Overrides the backend's class-level enforcement for this call.
    """

    usage: TokenUsage | None = None
    finish_reason: str | None = None
    citations: tuple[ProviderCitation, ...] = ()
    invalid_markers: tuple[InvalidMarker, ...] = ()
    enforcement: Enforcement | None = None

    def merge(self, later: CallInfo) -> CallInfo:
        """Combine with facts reported later in the same call (later wins)."""
        return CallInfo(
            usage=later.usage if later.usage is not None else self.usage,
            finish_reason=later.finish_reason or self.finish_reason,
            citations=self.citations + later.citations,
            invalid_markers=self.invalid_markers + later.invalid_markers,
            enforcement=later.enforcement or self.enforcement,
        )


EMPTY_INFO = CallInfo()


class BackendText(str):
    """A ``str`` that also carries the :class:`CallInfo` of the call that made it."""

    __slots__ = ("info",)
    info: CallInfo

    def __new__(cls, text: str = "", info: CallInfo = EMPTY_INFO) -> Self:
        """Wrap ``text`` with ``info``."""
        obj = super().__new__(cls, text)
        obj.info = info
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (BackendText, (str(self), self.info))


def call_info(value: str) -> CallInfo:
    """The info a backend attached to ``value`` (empty for a plain ``str``)."""
    return value.info if isinstance(value, BackendText) else EMPTY_INFO


@dataclass(frozen=True)
class CitationRequest:
    """What the orchestrator prepared for one call.

    Attributes:
        question: The user's prompt.
        sources: The sources, in id order.
        language: The citation language (render it with ``citeformer.grammar``).
        budget: How much source text the prompt may hold.
        custom_messages: Messages to use instead of the assembled ones.
    """

    question: str
    sources: tuple[Source, ...]
    language: CitationLanguage
    budget: PromptBudget | None = None
    custom_messages: tuple[Message, ...] | None = None

    @functools.cached_property
    def messages(self) -> tuple[Message, ...]:
        """Chat messages: instructions, numbered source contents, the question.

        Assembled on first access, so backends that build their own prompt (or none,
        like ``MockBackend``) never pay for it.
        """
        if self.custom_messages is not None:
            return self.custom_messages
        return tuple(build_messages(self.question, self.sources, self.language, self.budget))

    @functools.cached_property
    def segment_messages(self) -> tuple[Message, ...]:
        """Messages asking for the JSON segment format (schema-tier APIs)."""
        if self.custom_messages is not None:
            return self.custom_messages
        return tuple(
            build_messages(self.question, self.sources, self.language, self.budget, segments=True)
        )

    @classmethod
    def build(
        cls,
        question: str,
        sources: object,
        policy: Policy | str,
        *,
        marker_style: MarkerStyle | str = MarkerStyle.BRACKET,
        budget: PromptBudget | None = None,
    ) -> CitationRequest:
        """Prepare a request (what the orchestrator does before every call).

        Raises:
            InvalidSourceError: ``sources`` is not a non-empty list of Source or str.
        """
        source_list = coerce_sources(sources)
        language = citation_language(len(source_list), policy, marker_style)
        return cls(question, tuple(source_list), language, budget)

    def with_messages(self, messages: Sequence[Message]) -> CitationRequest:
        """A copy that uses ``messages`` instead of the assembled ones."""
        return dataclasses.replace(self, custom_messages=tuple(messages))


_DONE = object()
_log = logging.getLogger("citeformer.backends")


class Backend(abc.ABC):
    """Base class of every backend; see the module docstring for the contract."""

    name: ClassVar[str] = "backend"
    """Short name used in errors and results."""
    enforcement: ClassVar[Enforcement] = Enforcement.VALIDATED
    """The strongest mechanism this backend applies."""

    @abc.abstractmethod
    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        """Return the answer text with inline markers (1-based source positions)."""

    def stream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> Iterator[str]:
        """Yield the answer in chunks; the default yields ``generate()`` whole."""
        yield self.generate(prompt, sources, policy, **options)

    async def agenerate(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> str:
        """Async ``generate``; the default runs it in a worker thread."""
        return await asyncio.to_thread(self.generate, prompt, sources, policy, **options)

    async def astream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> AsyncIterator[str]:
        """Async ``stream``; the default pulls ``stream()`` through worker threads.

        Each chunk is fetched with ``asyncio.to_thread(next, ...)`` (a sentinel marks
        the end, since StopIteration cannot cross a future). Closing or cancelling
        this iterator closes the sync iterator once its in-flight ``next`` returns.
        """
        iterator = await asyncio.to_thread(
            lambda: iter(self.stream(prompt, sources, policy, **options))
        )
        step: asyncio.Future[object] | None = None
        try:
            while True:
                step = asyncio.ensure_future(asyncio.to_thread(next, iterator, _DONE))
                chunk = await asyncio.shield(step)
                step = None
                if chunk is _DONE:
                    return
                assert isinstance(chunk, str)
                yield chunk
        finally:
            _close_later(iterator, step)

    @staticmethod
    def request(
        prompt: str, sources: Sequence[Source], policy: Policy, options: Mapping[str, Any]
    ) -> CitationRequest:
        """The orchestrator's request from ``options``, or one built the same way."""
        request = options.get("request")
        if isinstance(request, CitationRequest):
            return request
        return CitationRequest.build(
            prompt, sources, policy, marker_style=options.get("marker_style", MarkerStyle.BRACKET)
        )

    def close(self) -> None:  # noqa: B027 (optional hook: most backends hold nothing)
        """Release what the backend opened (clients, engines); the default has nothing."""

    async def aclose(self) -> None:  # noqa: B027 (optional hook)
        """Release async resources bound to the running event loop (default: none).

        API backends open one async connection pool per event loop; close it before
        the loop ends (``asyncio.run`` ends it), or use ``async with Citeformer(...)``.
        Models and sync clients stay open: :meth:`close` releases those.
        """

    def __repr__(self) -> str:
        """Class name only: backends may hold credentials, which never appear here."""
        return f"{type(self).__name__}()"


async def aclose_iterator(iterator: object) -> None:
    """Close an async iterator if it can be closed.

    When an abandoned stream is garbage-collected, asyncio finalises each async
    generator of the chain on its own; an outer one then finds the inner one already
    closing ("aclose(): asynchronous generator is already running"). The inner one's
    own finaliser releases its resources, so that error is expected and dropped.
    """
    aclose = getattr(iterator, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except RuntimeError as exc:
        if "already running" not in str(exc):
            raise
        _log.debug("an abandoned stream was already being closed by its finaliser")


def _close_later(iterator: Iterator[str], step: asyncio.Future[object] | None) -> None:
    """Close a sync iterator off the event loop, after any in-flight ``next``."""
    close = getattr(iterator, "close", None)
    if close is None:
        return
    loop = asyncio.get_running_loop()

    def close_quietly() -> None:
        try:
            close()
        except Exception:  # the stream is being abandoned; nobody is left to tell
            _log.debug("closing an abandoned backend stream failed", exc_info=True)

    def run_close(done: object = None) -> None:
        if isinstance(done, asyncio.Future) and not done.cancelled():
            done.exception()  # retrieved, so asyncio does not warn about it
        loop.run_in_executor(None, close_quietly)

    if step is None or step.done():
        run_close()
    else:
        step.add_done_callback(run_close)
