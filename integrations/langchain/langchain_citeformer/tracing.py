"""What the runnable reports to LangChain callbacks, beyond its own chain run.

- The backend call is a nested chat-model run (``on_chat_model_start``, one
  ``on_llm_new_token`` per streamed chunk, ``on_llm_end``), so traces and
  ``astream_events`` show it under the runnable with its own events.
- Each resolved citation is a custom event :data:`CITATION_EVENT` (data: the
  annotation), and each invalid marker citeformer removed is a custom event
  :data:`MARKER_REMOVED_EVENT`; both belong to the runnable's run.
- With ``verify=``, the verification report is a custom event
  :data:`VERIFICATION_EVENT` (data: the report's ``to_dict()``), dispatched once the
  answer is verified (after the stream ends, when streaming).

With no callback handlers configured nothing is built or dispatched (not even
the child callback manager: the child's handlers are exactly the run's
inheritable handlers, so an empty list means an inactive report). The nested run
hangs off the runnable's own run manager (``get_child()``), so no second callback
configuration (environment look-ups included) happens per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from citeformer import InvalidMarker
from citeformer.verify import VerificationReport
from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForChainRun,
    CallbackManagerForLLMRun,
    adispatch_custom_event,
    dispatch_custom_event,
)
from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages import content as types
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, LLMResult
from langchain_core.runnables import RunnableConfig

CITATION_EVENT = "citeformer_citation"
"""Custom event name, one per resolved citation; data is the ``Citation`` annotation."""
MARKER_REMOVED_EVENT = "citeformer_marker_removed"
"""Custom event name, one per invalid marker removed; data: ``text``, ``start``,
``end`` (in the raw backend text) and ``reason``."""
VERIFICATION_EVENT = "citeformer_verification"
"""Custom event name, one per verified answer; data is the report's ``to_dict()``."""


@dataclass(frozen=True, slots=True)
class Trace:
    """One report a call makes to the callbacks: a streamed chunk or a custom event.

    The runnable's pure step (:mod:`langchain_citeformer.steps`) produces these; the
    sync and async runs deliver them.

    Attributes:
        event: A custom event name, or :data:`CHUNK` for a streamed message chunk.
        data: The event's data, or the ``AIMessageChunk``.
    """

    event: str
    data: Any


CHUNK = "citeformer_chunk"
"""The :class:`Trace` event of a streamed chunk of the nested run (not a custom event)."""


def chunk_trace(chunk: AIMessageChunk) -> Trace:
    """The nested run's report of one streamed chunk."""
    return Trace(CHUNK, chunk)


def citation_trace(annotation: types.Citation) -> Trace:
    """The custom event of one resolved citation."""
    return Trace(CITATION_EVENT, annotation)


def removed_trace(marker: InvalidMarker) -> Trace:
    """The custom event of one removed marker."""
    data = {"text": marker.text, "start": marker.start, "end": marker.end, "reason": marker.reason}
    return Trace(MARKER_REMOVED_EVENT, data)


def verification_trace(report: VerificationReport) -> Trace:
    """The custom event of the answer's verification report."""
    return Trace(VERIFICATION_EVENT, report.to_dict())


class _Accumulator:
    """The streamed chunks so far, for the nested run's ``on_llm_end``."""

    def __init__(self) -> None:
        self.message: AIMessageChunk | None = None

    def add(self, chunk: AIMessageChunk) -> None:
        self.message = chunk if self.message is None else self.message + chunk

    def result(self, message: BaseMessage | None) -> LLMResult:
        final = message if message is not None else self.message or AIMessageChunk(content=[])
        return LLMResult(generations=[[ChatGeneration(message=final)]])


_Manager = TypeVar("_Manager", CallbackManagerForChainRun, AsyncCallbackManagerForChainRun)
_LLMRun = TypeVar("_LLMRun", CallbackManagerForLLMRun, AsyncCallbackManagerForLLMRun)


class _Run(Generic[_Manager, _LLMRun]):
    """What the sync and async runs share: the state and the callbacks' arguments.

    Args:
        run_manager: The runnable's run.
        config: The runnable's child config (callbacks point at its run).
        backend: The backend's name (the nested run's name).
    """

    def __init__(self, run_manager: _Manager, config: RunnableConfig, backend: str) -> None:
        self._run_manager: _Manager = run_manager
        self._config = config
        self._backend = backend
        self.active = bool(run_manager.inheritable_handlers)  # the child's handlers
        self._run: _LLMRun | None = None
        self._seen = _Accumulator()

    def _opening(self, question: str, options: dict[str, Any]) -> dict[str, Any]:
        """``on_chat_model_start``'s arguments for the nested run."""
        return {
            "serialized": {
                "lc": 1,
                "type": "not_implemented",
                "id": ["citeformer", self._backend],
                "name": self._backend,
            },
            "messages": [[HumanMessage(question)]],
            "name": self._backend,
            "invocation_params": {"backend": self._backend, **options},
        }

    def _token(self, chunk: AIMessageChunk) -> tuple[str, ChatGenerationChunk]:
        self._seen.add(chunk)
        return chunk.text, ChatGenerationChunk(message=chunk)

    def _closing(self) -> _LLMRun | None:
        """The open nested run, now marked closed (None: none is open)."""
        run, self._run = self._run, None
        return run


class BackendRun(_Run[CallbackManagerForChainRun, CallbackManagerForLLMRun]):
    """Sync reporting for one call; see the module docstring."""

    def start(self, question: str, options: dict[str, Any]) -> None:
        """Open the nested run (the question is its input, the options its parameters)."""
        if self.active:
            (self._run,) = self._run_manager.get_child().on_chat_model_start(
                **self._opening(question, options)
            )

    def report(self, trace: Trace) -> None:
        """Deliver one chunk or custom event."""
        if trace.event == CHUNK:
            if self._run is not None:
                token, chunk = self._token(trace.data)
                self._run.on_llm_new_token(token, chunk=chunk)
        elif self.active:
            dispatch_custom_event(trace.event, trace.data, config=self._config)

    def end(self, message: BaseMessage | None = None) -> None:
        """Close the nested run (``message``: the whole answer, when not streamed)."""
        if (run := self._closing()) is not None:
            run.on_llm_end(self._seen.result(message))

    def error(self, error: BaseException) -> None:
        """Close the nested run with an error (including cancellation)."""
        if (run := self._closing()) is not None:
            run.on_llm_error(error)


class AsyncBackendRun(_Run[AsyncCallbackManagerForChainRun, AsyncCallbackManagerForLLMRun]):
    """Async reporting for one call; see :class:`BackendRun`."""

    async def start(self, question: str, options: dict[str, Any]) -> None:
        """Open the nested run."""
        if self.active:
            (self._run,) = await self._run_manager.get_child().on_chat_model_start(
                **self._opening(question, options)
            )

    async def report(self, trace: Trace) -> None:
        """Deliver one chunk or custom event."""
        if trace.event == CHUNK:
            if self._run is not None:
                token, chunk = self._token(trace.data)
                await self._run.on_llm_new_token(token, chunk=chunk)
        elif self.active:
            await adispatch_custom_event(trace.event, trace.data, config=self._config)

    async def end(self, message: BaseMessage | None = None) -> None:
        """Close the nested run (``message``: the whole answer, when not streamed)."""
        if (run := self._closing()) is not None:
            await run.on_llm_end(self._seen.result(message))

    async def error(self, error: BaseException) -> None:
        """Close the nested run with an error (including cancellation)."""
        if (run := self._closing()) is not None:
            await run.on_llm_error(error)
