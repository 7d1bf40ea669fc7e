"""CiteformerRunnable: citeformer as a drop-in LCEL component."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from contextlib import aclosing
from typing import Any, Generic, Literal, cast, overload

from citeformer import Citeformer, InvalidOptionError, Policy
from citeformer.backends.base import Backend
from citeformer.verify import Scorer
from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
)
from langchain_core.load.serializable import SerializedNotImplemented, to_json_not_implemented
from langchain_core.messages import AIMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator
from typing_extensions import TypeVar, Unpack, override

from langchain_citeformer._lcel import Bound, acollect, collect, fixed_signature, once
from langchain_citeformer.documents import MetadataMapper
from langchain_citeformer.inputs import CiteformerInput, Grounding, ground, parse_input
from langchain_citeformer.outputs import OutputMode
from langchain_citeformer.settings import (
    CiteformerSettings,
    RetrieverSettings,
    RunnableInput,
    RunnableSettings,
    runnable_fields,
)
from langchain_citeformer.steps import CallStep
from langchain_citeformer.tracing import AsyncBackendRun, BackendRun, Trace
from langchain_citeformer.verification import LazyDefault, check_verify, check_verify_options

OutputT = TypeVar("OutputT", default=AIMessage)
"""What ``invoke`` returns (and the stream yields chunks of), per ``output``."""


class CiteformerRunnable(RunnableSerializable[RunnableInput, OutputT], Generic[OutputT]):
    """Answer a question from documents; citation markers can only point at them.

    Input: ``{"question" | "input" | "query": str, "documents" | "context":
    [Document | str | Source, ...]}``, or a plain question string when built with
    :meth:`from_retriever` (a dict without documents also uses the retriever).
    ``documents[i]`` is cited as ``[i + 1]``.

    Output (``output="message"``, the default): an ``AIMessage`` whose one text
    content block carries LangChain ``Citation`` annotations (marker span in the
    answer, ``title``/``url`` from the document, ``extras`` with ``source_id``,
    ``source_index`` and ``document_id``); ``response_metadata`` holds the full
    citeformer result (see :func:`~langchain_citeformer.generation_result`) and the
    documents. Streaming yields ``AIMessageChunk`` s that add up to that message.
    ``output="str"`` gives the answer text, ``output="dict"`` gives
    ``{"answer", "citations", "context"}``.

    ``ainvoke``/``astream`` use citeformer's native async path; ``transform`` /
    ``atransform`` stream inside LCEL pipelines. Each resolved citation is also
    dispatched as the custom event ``citeformer_citation``, and the backend call
    appears as a nested chat-model run in traces.

    With ``verify=`` each answer is verified once complete (``result.verify`` on the
    sync paths, ``await result.averify`` on the async ones): the report's JSON form
    is in ``response_metadata["verification"]`` (see
    :func:`~langchain_citeformer.verification_report`), each annotation's ``extras``
    gains ``supported`` and ``score``, ``output="dict"`` gains ``"verification"``,
    and the custom event ``citeformer_verification`` carries the report. A verified
    stream yields its citation chunks after the text, once the verdicts are known,
    then the last chunk with the report; the chunks still add up to ``invoke``'s
    output.

    Args:
        citeformer: The configured :class:`~citeformer.Citeformer` (or pass
            ``backend=`` and optionally ``style``/``citation_policy``/
            ``marker_style`` to build one). The output type follows ``output``:
            ``CiteformerRunnable[AIMessage]`` (default), ``[str]`` or ``[dict]``.
        retriever: Finds documents for inputs that carry none.
        policy: Citation policy per call (default: the Citeformer's).
        strict: Raise on invalid markers instead of removing them (default: the
            Citeformer's).
        options: Backend options per call (``max_tokens``, ``temperature``...).
        output: ``"message"``, ``"str"`` or ``"dict"``.
        metadata_mapper: ``f(document) -> CSL-JSON`` replacing the default mapping.
        verify: ``True`` (citeformer's default scorer), a
            :class:`citeformer.verify.Scorer`, or a callable ``(premise, hypothesis)
            -> float``; ``False``/``None`` (the default) leaves outputs as they are.
            Switch it per call with ``configurable_fields(verify=...)``.
        verify_options: Keyword arguments of ``verify()``: ``threshold``,
            ``coverage``, ``top_k``, ``max_citations``, ``language``.
        chunk_size: Cut each document into citable sub-chunks of at most this many
            characters (at sentence and word boundaries), each its own source id with
            its offset into the document; the bibliography still lists the document
            once. Default: cite documents whole.
        chunk_overlap: Characters neighbouring sub-chunks share (below ``chunk_size``).

    Example:
        >>> from citeformer import MockBackend
        >>> from langchain_core.documents import Document
        >>> cite = CiteformerRunnable(backend=MockBackend("Paris [1]."))
        >>> cite.invoke({"question": "Capital?", "documents": [Document("Paris...")]}).text
        'Paris [1].'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    citeformer: Citeformer = Field(repr=False, exclude=True)
    retriever: BaseRetriever | None = Field(default=None, repr=False, exclude=True)
    policy: Policy | None = None
    strict: bool | None = None
    options: dict[str, Any] = Field(default_factory=dict, repr=False)
    output: OutputMode = "message"
    metadata_mapper: MetadataMapper | None = Field(default=None, repr=False, exclude=True)
    verify: Scorer | bool | None = Field(default=None, repr=False, exclude=True)
    verify_options: dict[str, Any] = Field(default_factory=dict, repr=False)
    chunk_size: int | None = None
    chunk_overlap: int = 0

    _default_scorer: LazyDefault = PrivateAttr(default_factory=LazyDefault)

    @overload
    def __init__(
        self: CiteformerRunnable[AIMessage],
        citeformer: Citeformer | None = None,
        *,
        output: Literal["message"] = "message",
        **settings: Unpack[RunnableSettings],
    ) -> None: ...

    @overload
    def __init__(
        self: CiteformerRunnable[str],
        citeformer: Citeformer | None = None,
        *,
        output: Literal["str"],
        **settings: Unpack[RunnableSettings],
    ) -> None: ...

    @overload
    def __init__(
        self: CiteformerRunnable[dict[str, Any]],
        citeformer: Citeformer | None = None,
        *,
        output: Literal["dict"],
        **settings: Unpack[RunnableSettings],
    ) -> None: ...

    def __init__(
        self, citeformer: Citeformer | None = None, *, output: str = "message", **settings: Any
    ) -> None:
        super().__init__(**runnable_fields(citeformer, output, settings))

    @field_validator("citeformer")
    @classmethod
    def _check_citeformer(cls, value: Citeformer) -> Citeformer:
        if not isinstance(value, Citeformer):
            raise TypeError(f"citeformer must be a citeformer.Citeformer, got {value!r}")
        return value

    @field_validator("policy", mode="before")
    @classmethod
    def _coerce_policy(cls, value: Any) -> Policy | None:
        return None if value is None else Policy.coerce(value, what="policy")

    @field_validator("verify", mode="before")
    @classmethod
    def _check_verify(cls, value: Any) -> Scorer | bool | None:
        return check_verify(value)

    @field_validator("verify_options", mode="before")
    @classmethod
    def _check_verify_options(cls, value: Any) -> dict[str, Any]:
        return check_verify_options(value)

    @classmethod
    def from_backend(
        cls, backend: Backend, **settings: Unpack[RetrieverSettings]
    ) -> CiteformerRunnable[AIMessage]:
        """Build the runnable around a new :class:`~citeformer.Citeformer`.

        Args:
            backend: Any citeformer backend.
            **settings: ``style``, ``citation_policy``, ``marker_style`` for the
                Citeformer, and the runnable's other fields (``options``...); build
                with ``CiteformerRunnable(backend=..., output=...)`` for another shape.
        """
        return CiteformerRunnable(backend=backend, **settings)

    @classmethod
    def from_retriever(
        cls,
        retriever: BaseRetriever,
        backend: Backend | Citeformer,
        **settings: Unpack[CiteformerSettings],
    ) -> CiteformerRunnable[AIMessage]:
        """A runnable that takes a plain question and retrieves its own documents.

        Args:
            retriever: Called with the question (nested in the trace).
            backend: A citeformer backend, or a configured Citeformer.
            **settings: The runnable's other fields, or Citeformer settings
                (``style``, ``citation_policy``, ``marker_style``) with a backend.
        """
        if isinstance(backend, Citeformer):
            return CiteformerRunnable(backend, retriever=retriever, **settings)
        return CiteformerRunnable(backend=backend, retriever=retriever, **settings)

    @override
    def as_tool(
        self,
        args_schema: type[BaseModel] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        arg_types: dict[str, type] | None = None,
        return_direct: bool = False,
    ) -> BaseTool:
        """This runnable as an agent tool (see :func:`~langchain_citeformer.citeformer_tool`).

        The tool takes a question; its content is the cited answer with references,
        its artifact the ``GenerationResult``. ``args_schema``/``arg_types`` are
        fixed (one ``question``) and must be left out.
        """
        if args_schema is not None or arg_types is not None:
            raise InvalidOptionError("a citeformer tool takes one question: drop args_schema")
        from langchain_citeformer.tool import DEFAULT_DESCRIPTION, DEFAULT_NAME, citeformer_tool

        return citeformer_tool(
            self,
            name=name or DEFAULT_NAME,
            description=description or DEFAULT_DESCRIPTION,
            return_direct=return_direct,
        )

    # -- LangChain metadata -------------------------------------------------------

    @classmethod
    @override
    def is_lc_serializable(cls) -> bool:
        """No: the backend (model, client, credentials) cannot be rebuilt from JSON."""
        return False

    @classmethod
    @override
    def get_lc_namespace(cls) -> list[str]:
        """``["langchain_citeformer"]``."""
        return ["langchain_citeformer"]

    @override
    def to_json(self) -> SerializedNotImplemented:
        """A "not implemented" stub naming the class; never the backend or its secrets."""
        return to_json_not_implemented(self)

    @property
    @override
    def InputType(self) -> Any:  # the schema's shape; conversations are also read
        return CiteformerInput | str

    @property
    @override
    def OutputType(self) -> Any:
        return {"message": AIMessage, "str": str, "dict": dict[str, Any]}[self.output]

    @override
    def get_name(self, suffix: str | None = None, *, name: str | None = None) -> str:
        return super().get_name(suffix, name=name or self.name or "Citeformer")

    # -- shared pieces -------------------------------------------------------------

    @property
    def _backend_name(self) -> str:
        """The backend's short name (``mock``, ``openai``...), for message metadata."""
        return self.citeformer.backend.name

    @property
    def _run_name(self) -> str:
        """The nested backend run's name: the backend's class (``MockBackend``...)."""
        return type(self.citeformer.backend).__name__

    def _step(self, grounding: Grounding, extra: Mapping[str, Any], *, traced: bool) -> CallStep:
        """One call's step; call and ``bind`` kwargs win over the fields.

        That holds for ``policy``, ``strict``, ``marker_style``, ``verify`` and backend
        options alike.
        """
        options = {**self.options, **extra}
        options.setdefault("policy", self.policy)  # the core checks a per-call one
        if self.strict is not None:
            options.setdefault("strict", self.strict)
        verify = check_verify(options.pop("verify", self.verify))
        scorer = None if verify is None or verify is False else verify
        if scorer is True:
            scorer = self._default_scorer.get()
        return CallStep(grounding, options, scorer, self.output, self._backend_name, traced=traced)

    def _ground(self, value: Any, config: RunnableConfig) -> Grounding:
        question = parse_input(value, has_retriever=self.retriever is not None)
        items = question.items
        if items is None:
            assert self.retriever is not None
            items = self.retriever.invoke(question.text, config)
        return ground(question.text, items, self.metadata_mapper, question.history, self._chunking)

    async def _aground(self, value: Any, config: RunnableConfig) -> Grounding:
        question = parse_input(value, has_retriever=self.retriever is not None)
        items = question.items
        if items is None:
            assert self.retriever is not None
            items = await self.retriever.ainvoke(question.text, config)
        return ground(question.text, items, self.metadata_mapper, question.history, self._chunking)

    @property
    def _chunking(self) -> tuple[int, int] | None:
        return None if self.chunk_size is None else (self.chunk_size, self.chunk_overlap)

    # -- invoke ---------------------------------------------------------------------

    @override
    def invoke(
        self, input: RunnableInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> OutputT:
        """Answer once; ``kwargs`` are per-call options (``policy``, backend options)."""
        return self._call_with_config(Bound(self._invoke), input, config, **kwargs)

    @fixed_signature
    def _invoke(
        self,
        value: Any,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        report = BackendRun(run_manager, config, self._run_name)
        step = self._step(self._ground(value, config), kwargs, traced=report.active)
        report.start(step.question, step.options)
        try:
            result = self.citeformer.generate(step.question, step.sources, **step.call_options)
        except BaseException as exc:
            report.error(exc)
            raise
        try:
            verification = None
            if step.scorer is not None:
                verification = result.verify(step.scorer, **self.verify_options)
        except BaseException:
            report.end(step.message(result))  # the backend call did finish
            raise
        output, traces, message = step.whole(result, verification)
        for trace in traces:
            report.report(trace)
        report.end(message)
        return output

    @override
    async def ainvoke(
        self, input: RunnableInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> OutputT:
        """Answer once on citeformer's native async path (``Citeformer.agenerate``)."""
        return await self._acall_with_config(Bound(self._ainvoke), input, config, **kwargs)

    @fixed_signature
    async def _ainvoke(
        self,
        value: Any,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        report = AsyncBackendRun(run_manager, config, self._run_name)
        step = self._step(await self._aground(value, config), kwargs, traced=report.active)
        await report.start(step.question, step.options)
        try:
            result = await self.citeformer.agenerate(
                step.question, step.sources, **step.call_options
            )
        except BaseException as exc:
            await report.error(exc)
            raise
        try:
            verification = None
            if step.scorer is not None:
                verification = await result.averify(step.scorer, **self.verify_options)
        except BaseException:
            await report.end(step.message(result))  # the backend call did finish
            raise
        output, traces, message = step.whole(result, verification)
        for trace in traces:
            await report.report(trace)
        await report.end(message)
        return output

    # -- streaming ------------------------------------------------------------------

    @override
    def transform(
        self,
        input: Iterator[RunnableInput],
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> Iterator[OutputT]:
        """Stream the answer; the input stream is joined first (it holds the question)."""
        yield from self._transform_stream_with_config(
            input, Bound(self._transform), config, **kwargs
        )

    @override
    def stream(
        self, input: RunnableInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[OutputT]:
        """Stream the answer: text chunks never hold part of a marker."""
        yield from self.transform(iter([input]), config, **kwargs)

    @fixed_signature
    def _transform(
        self,
        chunks: Iterator[Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Iterator[Any]:
        report = BackendRun(run_manager, config, self._run_name)
        step = self._step(self._ground(collect(chunks), config), kwargs, traced=report.active)
        stream = self.citeformer.stream(step.question, step.sources, **step.call_options)
        try:
            report.start(step.question, step.options)
            yield from step.start()
            for event in stream.events():
                for item in step.on_event(event):
                    if type(item) is Trace:
                        report.report(item)
                    else:
                        yield item
            report.end()
        except BaseException as exc:
            report.error(exc)
            raise
        finally:
            stream.close()
        if step.completed is not None and step.scorer is not None:
            verification = step.completed.verify(step.scorer, **self.verify_options)
            for item in step.verified(verification):
                if type(item) is Trace:
                    report.report(item)
                else:
                    yield item

    @override
    async def atransform(
        self,
        input: AsyncIterator[RunnableInput],
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[OutputT]:
        """Async :meth:`transform` on citeformer's native async stream."""
        # aclosing: `async for` alone leaves an abandoned inner generator to the
        # garbage collector, and the backend stream open until then.
        stream = cast(
            AsyncGenerator[OutputT, None],  # an async generator, typed as an iterator
            self._atransform_stream_with_config(input, Bound(self._atransform), config, **kwargs),
        )
        async with aclosing(stream):
            async for chunk in stream:
                yield chunk

    @override
    async def astream(
        self, input: RunnableInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[OutputT]:
        """Async :meth:`stream`; cancelling the consumer closes the backend stream."""
        stream = cast(AsyncGenerator[OutputT, None], self.atransform(once(input), config, **kwargs))
        async with aclosing(stream):
            async for chunk in stream:
                yield chunk

    @fixed_signature
    async def _atransform(
        self,
        chunks: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        report = AsyncBackendRun(run_manager, config, self._run_name)
        grounding = await self._aground(await acollect(chunks), config)
        step = self._step(grounding, kwargs, traced=report.active)
        stream = self.citeformer.astream(step.question, step.sources, **step.call_options)
        try:
            await report.start(step.question, step.options)
            for chunk in step.start():
                yield chunk
            async for event in stream.events():
                for item in step.on_event(event):
                    if type(item) is Trace:
                        await report.report(item)
                    else:
                        yield item
            await report.end()
        except BaseException as exc:
            await report.error(exc)
            raise
        finally:
            await stream.aclose()
        if step.completed is not None and step.scorer is not None:
            verification = await step.completed.averify(step.scorer, **self.verify_options)
            for item in step.verified(verification):
                if type(item) is Trace:
                    await report.report(item)
                else:
                    yield item
