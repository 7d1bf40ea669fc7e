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

from typing import Any

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


def _serialized(backend: str) -> dict[str, Any]:
    return {"lc": 1, "type": "not_implemented", "id": ["citeformer", backend], "name": backend}


def _removed(marker: InvalidMarker) -> dict[str, Any]:
    return {"text": marker.text, "start": marker.start, "end": marker.end, "reason": marker.reason}


class _Accumulator:
    """The streamed chunks so far, for the nested run's ``on_llm_end``."""

    def __init__(self) -> None:
        self.message: AIMessageChunk | None = None

    def add(self, chunk: AIMessageChunk) -> None:
        self.message = chunk if self.message is None else self.message + chunk

    def result(self, message: BaseMessage | None) -> LLMResult:
        final = message if message is not None else self.message or AIMessageChunk(content=[])
        return LLMResult(generations=[[ChatGeneration(message=final)]])


class BackendRun:
    """Sync reporting for one call; see the module docstring.

    Args:
        run_manager: The runnable's run.
        config: The runnable's child config (callbacks point at its run).
        backend: The backend's name (the nested run's name).
        question: The question (the nested run's input message).
        options: The call's options, reported as invocation parameters.
    """

    def __init__(
        self,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        backend: str,
        question: str,
        options: dict[str, Any],
    ) -> None:
        self._config = config
        self.active = bool(run_manager.inheritable_handlers)  # the child's handlers
        self._run: CallbackManagerForLLMRun | None = None
        self._seen = _Accumulator()
        if self.active:
            (self._run,) = run_manager.get_child().on_chat_model_start(
                _serialized(backend),
                [[HumanMessage(question)]],
                name=backend,
                invocation_params={"backend": backend, **options},
            )

    def chunk(self, chunk: AIMessageChunk) -> None:
        """Report one streamed message chunk."""
        if self._run is not None:
            self._seen.add(chunk)
            self._run.on_llm_new_token(chunk.text, chunk=ChatGenerationChunk(message=chunk))

    def citation(self, annotation: types.Citation) -> None:
        """Dispatch the custom event for one resolved citation."""
        if self.active:
            dispatch_custom_event(CITATION_EVENT, annotation, config=self._config)

    def removed(self, marker: InvalidMarker) -> None:
        """Dispatch the custom event for one removed marker."""
        if self.active:
            dispatch_custom_event(MARKER_REMOVED_EVENT, _removed(marker), config=self._config)

    def verification(self, report: VerificationReport) -> None:
        """Dispatch the custom event for the answer's verification report."""
        if self.active:
            dispatch_custom_event(VERIFICATION_EVENT, report.to_dict(), config=self._config)

    def end(self, message: BaseMessage | None = None) -> None:
        """Close the nested run (``message``: the whole answer, when not streamed)."""
        if self._run is not None:
            self._run.on_llm_end(self._seen.result(message))
            self._run = None

    def error(self, error: BaseException) -> None:
        """Close the nested run with an error (including cancellation)."""
        if self._run is not None:
            self._run.on_llm_error(error)
            self._run = None


class AsyncBackendRun:
    """Async reporting for one call; see :class:`BackendRun`."""

    def __init__(
        self, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig, backend: str
    ) -> None:
        self._config = config
        self._backend = backend
        self._run_manager = run_manager
        self.active = bool(run_manager.inheritable_handlers)  # the child's handlers
        self._run: AsyncCallbackManagerForLLMRun | None = None
        self._seen = _Accumulator()

    async def start(self, question: str, options: dict[str, Any]) -> None:
        """Open the nested run."""
        if self.active:
            (self._run,) = await self._run_manager.get_child().on_chat_model_start(
                _serialized(self._backend),
                [[HumanMessage(question)]],
                name=self._backend,
                invocation_params={"backend": self._backend, **options},
            )

    async def chunk(self, chunk: AIMessageChunk) -> None:
        """Report one streamed message chunk."""
        if self._run is not None:
            self._seen.add(chunk)
            await self._run.on_llm_new_token(chunk.text, chunk=ChatGenerationChunk(message=chunk))

    async def citation(self, annotation: types.Citation) -> None:
        """Dispatch the custom event for one resolved citation."""
        if self.active:
            await adispatch_custom_event(CITATION_EVENT, annotation, config=self._config)

    async def removed(self, marker: InvalidMarker) -> None:
        """Dispatch the custom event for one removed marker."""
        if self.active:
            await adispatch_custom_event(
                MARKER_REMOVED_EVENT, _removed(marker), config=self._config
            )

    async def verification(self, report: VerificationReport) -> None:
        """Dispatch the custom event for the answer's verification report."""
        if self.active:
            await adispatch_custom_event(VERIFICATION_EVENT, report.to_dict(), config=self._config)

    async def end(self, message: BaseMessage | None = None) -> None:
        """Close the nested run (``message``: the whole answer, when not streamed)."""
        if self._run is not None:
            run, self._run = self._run, None
            await run.on_llm_end(self._seen.result(message))

    async def error(self, error: BaseException) -> None:
        """Close the nested run with an error (including cancellation)."""
        if self._run is not None:
            run, self._run = self._run, None
            await run.on_llm_error(error)
