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
``generate`` work everywhere, including async code and streaming; besides the
call's options they receive ``marker_style`` (they need it to write markers).

The orchestrator does not call those four methods directly: it prepares one
:class:`~citeformer.backends.call.BackendCall` (the citation request and the
checked options) and hands it to four hooks, ``complete``, ``complete_stream``,
``acomplete`` and ``acomplete_stream``, which answer with a
:class:`~citeformer.backends.call.Reply` (text and its facts) or yield text
pieces and :class:`~citeformer.backends.call.CallInfo` facts. Their defaults call
the public methods, so every backend is reachable the same way. In-tree backends
derive from :class:`CallBackend`: they implement the hooks, and get the public
methods from them.

Per-call facts (token usage, finish reason, provider citation spans) never live
on the backend instance: they travel in the reply, or, through the public
methods, on a :class:`~citeformer.backends.call.BackendText` (a ``str``).

Every call the orchestrator makes goes through one error boundary,
:func:`backend_errors`: whatever a backend raises reaches the caller as a
citeformer error (a runtime failure as :class:`~citeformer.errors.BackendError`
with the original as ``__cause__``; misuse errors stay misuse errors).
"""

from __future__ import annotations

import abc
import asyncio
import warnings
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from citeformer.backends.boundary import (
    aclose_iterator,
    backend_errors,
    close_iterator,
    guard_astream,
    guard_stream,
    thread_pull,
)
from citeformer.backends.call import (
    EMPTY_INFO,
    BackendCall,
    BackendText,
    CallInfo,
    CitationRequest,
    Piece,
    ProviderCitation,
    Reply,
    call_info,
    pieces,
)
from citeformer.backends.choice import Choice, ChoiceCall, choose_by_generate, generate_arguments
from citeformer.core import Enforcement, MarkerStyle, Policy, Source
from citeformer.options import Check

__all__ = [
    "EMPTY_INFO",
    "Backend",
    "BackendCall",
    "BackendText",
    "CallBackend",
    "CallInfo",
    "CitationRequest",
    "Piece",
    "ProviderCitation",
    "Reply",
    "aclose_iterator",
    "backend_errors",
    "call_info",
    "collect",
    "guard_astream",
    "guard_stream",
]


class Backend(abc.ABC):
    """Base class of every backend; see the module docstring for the contract."""

    name: ClassVar[str] = "backend"
    """Short name used in errors and results."""
    enforcement: ClassVar[Enforcement] = Enforcement.VALIDATED
    """The strongest mechanism this backend applies."""
    option_checks: ClassVar[Mapping[str, Check]] = {}
    """Checks of this backend's own call options, added to the common ones
    (:data:`citeformer.options.COMMON_CHECKS`) and run once before the call."""

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
        async for chunk in thread_pull(lambda: self.stream(prompt, sources, policy, **options)):
            yield chunk

    # -- the prepared call: what the orchestrator uses -------------------------------

    def complete(self, call: BackendCall) -> Reply:
        """Answer one prepared call; the default calls the public :meth:`generate`."""
        out = self.generate(call.prompt, call.sources, call.policy, **call.public_options())
        return Reply.of(out, type(self).__name__)

    def complete_stream(self, call: BackendCall) -> Iterator[Piece]:
        """Stream one prepared call; the default reads the public :meth:`stream`."""
        name = type(self).__name__
        stream = self.stream(call.prompt, call.sources, call.policy, **call.public_options())
        try:
            for chunk in stream:
                yield from pieces(chunk, name)
        finally:
            close_iterator(stream)

    async def acomplete(self, call: BackendCall) -> Reply:
        """Async :meth:`complete`; the default awaits the public :meth:`agenerate`."""
        out = await self.agenerate(call.prompt, call.sources, call.policy, **call.public_options())
        return Reply.of(out, type(self).__name__)

    async def acomplete_stream(self, call: BackendCall) -> AsyncIterator[Piece]:
        """Async :meth:`complete_stream`; the default reads the public :meth:`astream`."""
        name = type(self).__name__
        options = call.public_options()
        stream = self.astream(call.prompt, call.sources, call.policy, **options)
        try:
            async for chunk in stream:
                for piece in pieces(chunk, name):
                    yield piece
        finally:
            # Closing this generator must close the backend's now, not at GC.
            await aclose_iterator(stream)

    def build_call(
        self,
        prompt: str,
        sources: Sequence[Source | str],
        policy: Policy | str,
        options: Mapping[str, Any],
    ) -> BackendCall:
        """The prepared call for a direct use of the public methods.

        ``options["marker_style"]`` chooses the citation language's style; the rest is
        checked as the orchestrator checks it (this backend's :attr:`option_checks`).
        """
        return BackendCall.build(prompt, sources, policy, options, checks=self.option_checks)

    @staticmethod
    def request(
        prompt: str, sources: Sequence[Source], policy: Policy, options: Mapping[str, Any]
    ) -> CitationRequest:
        """Deprecated: ``build_call(...).request`` (this builds a request; it sends nothing)."""
        warnings.warn(
            "Backend.request(...) is deprecated; use backend.build_call(prompt, sources, "
            "policy, options).request",
            DeprecationWarning,
            stacklevel=2,
        )
        style = options.get("marker_style", MarkerStyle.BRACKET)
        return CitationRequest.build(prompt, sources, policy, marker_style=style)

    # -- constrained choices (verify()'s judge; see citeformer.backends.choice) --------

    def choose(
        self,
        prompt: str,
        sources: Sequence[Source | str],
        options: Sequence[str],
        *,
        instruction: str | None = None,
        **call_options: Any,
    ) -> Choice:
        """Answer ``prompt`` about ``sources`` with one of ``options``, constrained to them.

        Raises:
            UnparsableChoiceError: The answer is none of the options.
        """
        checks = self.option_checks
        call = ChoiceCall.build(prompt, sources, options, instruction=instruction,
                                call_options=call_options, checks=checks)  # fmt: skip
        with backend_errors(self):
            return self._choose(call)

    async def achoose(
        self,
        prompt: str,
        sources: Sequence[Source | str],
        options: Sequence[str],
        *,
        instruction: str | None = None,
        **call_options: Any,
    ) -> Choice:
        """Async :meth:`choose`."""
        checks = self.option_checks
        call = ChoiceCall.build(prompt, sources, options, instruction=instruction,
                                call_options=call_options, checks=checks)  # fmt: skip
        with backend_errors(self):
            return await self._achoose(call)

    def _choose(self, call: ChoiceCall) -> Choice:
        """One choice; the default asks :meth:`generate` and parses the first word."""
        prompt, sources, policy, options = generate_arguments(call)
        answer = self.generate(prompt, sources, policy, **options)
        return choose_by_generate(self, call, Reply.of(answer, type(self).__name__).text)

    async def _achoose(self, call: ChoiceCall) -> Choice:
        """Async :meth:`_choose`; the default awaits :meth:`agenerate`."""
        prompt, sources, policy, options = generate_arguments(call)
        answer = await self.agenerate(prompt, sources, policy, **options)
        return choose_by_generate(self, call, Reply.of(answer, type(self).__name__).text)

    def error_hint(self, error: BaseException) -> str:
        """What the caller can do about ``error`` (added to the boundary's message)."""
        return ""

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


class CallBackend(Backend):
    """Base of the in-tree backends: they implement the prepared call.

    A subclass implements :meth:`_complete` (and, to stream token by token,
    :meth:`_complete_stream`; natively async ones :meth:`_acomplete` and
    :meth:`_acomplete_stream`). The public methods build the call from their
    arguments and run these inside :func:`backend_errors`, so a direct call behaves
    as a call through the orchestrator. Defaults: the stream yields the whole
    reply; the async ones run the sync ones in worker threads.

    A user's subclass may still override a public method (a test spy overriding
    ``generate``): the matching hook then goes through that override, as it would
    for any backend.
    """

    _overridden: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._overridden = frozenset(
            name for name in _PUBLIC_TO_HOOK if getattr(cls, name) is not getattr(CallBackend, name)
        )

    # -- what the subclass implements ----------------------------------------------

    @abc.abstractmethod
    def _complete(self, call: BackendCall) -> Reply:
        """Answer one prepared call."""

    def _complete_stream(self, call: BackendCall) -> Iterator[Piece]:
        """Stream one prepared call; the default yields the whole reply."""
        reply = self.complete(call)
        if reply.info is not EMPTY_INFO:
            yield reply.info
        if reply.text:
            yield reply.text

    async def _acomplete(self, call: BackendCall) -> Reply:
        """Async :meth:`_complete`; the default runs it in a worker thread."""
        return await asyncio.to_thread(self.complete, call)

    async def _acomplete_stream(self, call: BackendCall) -> AsyncIterator[Piece]:
        """Async :meth:`_complete_stream`; the default pulls it through worker threads."""
        async for piece in thread_pull(lambda: self.complete_stream(call)):
            yield piece

    async def _achoose(self, call: ChoiceCall) -> Choice:
        """Async :meth:`_choose`; the default runs it in a worker thread."""
        return await asyncio.to_thread(self._choose, call)

    # -- the hooks the orchestrator calls --------------------------------------------

    def complete(self, call: BackendCall) -> Reply:
        """Answer one prepared call."""
        if "generate" in self._overridden:
            return super().complete(call)
        return self._complete(call)

    def complete_stream(self, call: BackendCall) -> Iterator[Piece]:
        """Stream one prepared call."""
        if "stream" in self._overridden:
            return super().complete_stream(call)
        return self._complete_stream(call)

    def acomplete(self, call: BackendCall) -> Coroutine[Any, Any, Reply]:
        """Async :meth:`complete`.

        Returns the answering hook's own coroutine: no extra frame per in-flight call.
        """
        if "agenerate" in self._overridden:
            return super().acomplete(call)
        return self._acomplete(call)

    def acomplete_stream(self, call: BackendCall) -> AsyncIterator[Piece]:
        """Async :meth:`complete_stream`."""
        if "astream" in self._overridden:
            return super().acomplete_stream(call)
        return self._acomplete_stream(call)

    # -- the public contract, from the hooks ------------------------------------------

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        """The whole answer; the facts ride on the returned ``BackendText``."""
        call = self.build_call(prompt, sources, policy, options)
        with backend_errors(self):
            return self._complete(call).as_text()

    def stream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> Iterator[str]:
        """The answer in chunks; facts ride on (possibly empty) ``BackendText`` chunks."""
        call = self.build_call(prompt, sources, policy, options)
        guarded = guard_stream(self, lambda: self._complete_stream(call))
        try:
            for piece in guarded:
                yield BackendText("", piece) if isinstance(piece, CallInfo) else piece
        finally:
            close_iterator(guarded)

    async def agenerate(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> str:
        """Async :meth:`generate`."""
        call = self.build_call(prompt, sources, policy, options)
        with backend_errors(self):
            return (await self._acomplete(call)).as_text()

    async def astream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> AsyncIterator[str]:
        """Async :meth:`stream`."""
        call = self.build_call(prompt, sources, policy, options)
        guarded = guard_astream(self, lambda: self._acomplete_stream(call))
        try:
            async for piece in guarded:
                yield BackendText("", piece) if isinstance(piece, CallInfo) else piece
        finally:
            await aclose_iterator(guarded)


_PUBLIC_TO_HOOK = ("generate", "stream", "agenerate", "astream")


def collect(stream: Iterator[Piece]) -> Reply:
    """A whole reply from a streaming hook's pieces (text joined, facts merged)."""
    parts: list[str] = []
    info = EMPTY_INFO
    for piece in stream:
        if isinstance(piece, CallInfo):
            info = info.merge(piece)
        else:
            parts.append(piece)
    return Reply("".join(parts), info)
