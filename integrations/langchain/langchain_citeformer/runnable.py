"""CiteformerRunnable: citeformer as a drop-in LCEL component."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import aclosing
from typing import Any

from citeformer import (
    CitationEvent,
    Citeformer,
    Completed,
    GenerationResult,
    InvalidOptionError,
    MarkerRemoved,
    MarkerStyle,
    Policy,
    TextDelta,
)
from citeformer.backends.base import Backend
from citeformer.verify import Scorer, VerificationReport
from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
)
from langchain_core.load.serializable import SerializedNotImplemented, to_json_not_implemented
from langchain_core.messages import AIMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from typing_extensions import override

from langchain_citeformer.documents import MetadataMapper
from langchain_citeformer.inputs import CiteformerInput, Grounding, ground, parse_input
from langchain_citeformer.messages import citation_annotation, text_chunk
from langchain_citeformer.outputs import OutputMode, Shaper
from langchain_citeformer.tracing import AsyncBackendRun, BackendRun
from langchain_citeformer.verification import LazyDefault, check_verify, check_verify_options


def _collect(chunks: Iterator[Any]) -> Any:
    """Join an input stream the way LangChain does (``+`` where supported)."""
    final: Any = None
    for chunk in chunks:
        final = chunk if final is None else _add(final, chunk)
    return final


async def _acollect(chunks: AsyncIterator[Any]) -> Any:
    final: Any = None
    async for chunk in chunks:
        final = chunk if final is None else _add(final, chunk)
    return final


def _add(left: Any, right: Any) -> Any:
    try:
        return left + right
    except TypeError:
        return right


async def _once(value: Any) -> AsyncIterator[Any]:
    yield value


def _fixed_signature(method: Any) -> Any:
    """Store a method's signature once: LangChain inspects it on every call it wraps.

    ``_call_with_config`` asks ``accepts_config``/``accepts_run_manager`` each time;
    see :func:`_bound`.
    """
    method.__signature__ = inspect.signature(method)
    signature = method.__signature__
    method.__bound_signature__ = signature.replace(
        parameters=list(signature.parameters.values())[1:]
    )
    return method


class _Bound:
    """A bound method with its signature stored, for LangChain's per-call checks.

    ``inspect.signature`` of a bound method rebuilds a signature without ``self``
    every time, even when the function has ``__signature__`` (~8 µs per call, twice
    per call); on this object it reads ``__signature__`` back.
    """

    __slots__ = ("__signature__", "_method")

    def __init__(self, method: Any) -> None:
        self._method = method
        self.__signature__ = method.__func__.__bound_signature__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._method(*args, **kwargs)


class CiteformerRunnable(RunnableSerializable[CiteformerInput | str, Any]):
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
    is in ``response_metadata["citeformer_verification"]`` (see
    :func:`~langchain_citeformer.verification_report`), each annotation's ``extras``
    gains ``supported`` and ``score``, ``output="dict"`` gains ``"verification"``,
    and the custom event ``citeformer_verification`` carries the report. A verified
    stream yields its citation chunks after the text, once the verdicts are known,
    then the last chunk with the report; the chunks still add up to ``invoke``'s
    output.

    Args:
        citeformer: The configured :class:`~citeformer.Citeformer` (or pass
            ``backend=`` and optionally ``style``/``citation_policy``/
            ``marker_style`` to build one).
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

    _default_scorer: LazyDefault = PrivateAttr(default_factory=LazyDefault)

    @model_validator(mode="before")
    @classmethod
    def _build_citeformer(cls, data: Any) -> Any:
        """Accept ``backend=`` (plus Citeformer's settings) instead of ``citeformer=``."""
        if not isinstance(data, Mapping) or "backend" not in data:
            return data
        data = dict(data)
        if "citeformer" in data:
            raise ValueError("pass either citeformer= or backend=, not both")
        settings = {
            key: data.pop(key)
            for key in ("style", "citation_policy", "marker_style")
            if key in data
        }
        data["citeformer"] = Citeformer(data.pop("backend"), **settings)
        return data

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
        cls,
        backend: Backend,
        *,
        style: str = "ieee",
        citation_policy: Policy | str = Policy.AUTO,
        marker_style: MarkerStyle | str = MarkerStyle.BRACKET,
        **kwargs: Any,
    ) -> CiteformerRunnable:
        """Build the runnable around a new :class:`~citeformer.Citeformer`.

        Args:
            backend: Any citeformer backend.
            style: Bibliography style of the result's references.
            citation_policy: Default citation policy.
            marker_style: How markers look.
            **kwargs: The runnable's other fields (``output``, ``options``...).
        """
        citeformer = Citeformer(
            backend, style=style, citation_policy=citation_policy, marker_style=marker_style
        )
        return cls(citeformer=citeformer, **kwargs)

    @classmethod
    def from_retriever(
        cls, retriever: BaseRetriever, backend: Backend | Citeformer, **kwargs: Any
    ) -> CiteformerRunnable:
        """A runnable that takes a plain question and retrieves its own documents.

        Args:
            retriever: Called with the question (nested in the trace).
            backend: A citeformer backend, or a configured Citeformer.
            **kwargs: The runnable's other fields, or Citeformer settings
                (``style``, ``citation_policy``, ``marker_style``) with a backend.
        """
        if isinstance(backend, Citeformer):
            return cls(citeformer=backend, retriever=retriever, **kwargs)
        return cls(backend=backend, retriever=retriever, **kwargs)

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
    def InputType(self) -> Any:
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

    def _call_options(self, extra: Mapping[str, Any]) -> tuple[dict[str, Any], Scorer | None]:
        """The core's options and the scorer for one call.

        Call and ``bind`` kwargs win over the fields: ``policy``, ``strict``,
        ``marker_style``, ``verify`` and backend options alike.
        """
        options = {**self.options, **extra}
        options.setdefault("policy", self.policy)  # the core checks a per-call one
        if self.strict is not None:
            options.setdefault("strict", self.strict)
        verify = options.pop("verify", self.verify)
        return options, self._scorer(check_verify(verify))

    def _shaper(self, grounding: Grounding) -> Shaper:
        return Shaper(self.output, grounding.documents, self._backend_name)

    def _ground(self, value: Any, config: RunnableConfig) -> Grounding:
        question = parse_input(value, has_retriever=self.retriever is not None)
        items = question.items
        if items is None:
            assert self.retriever is not None
            items = self.retriever.invoke(question.text, config)
        return ground(question.text, items, self.metadata_mapper, question.history)

    async def _aground(self, value: Any, config: RunnableConfig) -> Grounding:
        question = parse_input(value, has_retriever=self.retriever is not None)
        items = question.items
        if items is None:
            assert self.retriever is not None
            items = await self.retriever.ainvoke(question.text, config)
        return ground(question.text, items, self.metadata_mapper, question.history)

    def _message_for(
        self,
        result: GenerationResult,
        grounding: Grounding,
        verification: VerificationReport | None = None,
    ) -> Any:
        shaper = Shaper("message", grounding.documents, self._backend_name)
        return shaper.whole(result, verification)

    def _scorer(self, verify: Scorer | bool | None) -> Scorer | None:
        """The scorer a call verifies with (None: verification is off)."""
        if verify is None or verify is False:
            return None
        if verify is True:
            return self._default_scorer.get()
        return verify

    def _verify(self, result: GenerationResult, scorer: Scorer | None) -> VerificationReport | None:
        return None if scorer is None else result.verify(scorer, **self.verify_options)

    async def _averify(
        self, result: GenerationResult, scorer: Scorer | None
    ) -> VerificationReport | None:
        return None if scorer is None else await result.averify(scorer, **self.verify_options)

    # -- invoke ---------------------------------------------------------------------

    @override
    def invoke(
        self, input: CiteformerInput | str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        """Answer once; ``kwargs`` are extra backend options for this call."""
        return self._call_with_config(_Bound(self._invoke), input, config, **kwargs)

    @_fixed_signature
    def _invoke(
        self,
        value: Any,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        grounding = self._ground(value, config)
        options, scorer = self._call_options(kwargs)
        report = BackendRun(run_manager, config, self._run_name, grounding.question, options)
        try:
            result = self.citeformer.generate(
                grounding.question, list(grounding.sources), **grounding.call_options(options)
            )
        except BaseException as exc:
            report.error(exc)
            raise
        try:
            verification = self._verify(result, scorer)
        except BaseException:
            report.end(self._message_for(result, grounding))  # the backend call did finish
            raise
        shaper = self._shaper(grounding)
        output = shaper.whole(result, verification)
        if report.active:
            for marker in result.invalid_markers:
                report.removed(marker)
            for annotation in shaper.annotations(result, verification):
                report.citation(annotation)
            if verification is not None:
                report.verification(verification)
            report.end(
                output
                if self.output == "message"
                else self._message_for(result, grounding, verification)
            )
        return output

    @override
    async def ainvoke(
        self, input: CiteformerInput | str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        """Answer once on citeformer's native async path (``Citeformer.agenerate``)."""
        return await self._acall_with_config(_Bound(self._ainvoke), input, config, **kwargs)

    @_fixed_signature
    async def _ainvoke(
        self,
        value: Any,
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        grounding = await self._aground(value, config)
        options, scorer = self._call_options(kwargs)
        report = AsyncBackendRun(run_manager, config, self._run_name)
        await report.start(grounding.question, options)
        try:
            result = await self.citeformer.agenerate(
                grounding.question, list(grounding.sources), **grounding.call_options(options)
            )
        except BaseException as exc:
            await report.error(exc)
            raise
        try:
            verification = await self._averify(result, scorer)
        except BaseException:
            await report.end(self._message_for(result, grounding))  # the backend call finished
            raise
        shaper = self._shaper(grounding)
        output = shaper.whole(result, verification)
        if report.active:
            for marker in result.invalid_markers:
                await report.removed(marker)
            for annotation in shaper.annotations(result, verification):
                await report.citation(annotation)
            if verification is not None:
                await report.verification(verification)
            message = (
                output
                if self.output == "message"
                else self._message_for(result, grounding, verification)
            )
            await report.end(message)
        return output

    # -- streaming ------------------------------------------------------------------

    @override
    def transform(
        self,
        input: Iterator[CiteformerInput | str],
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Stream the answer; the input stream is joined first (it holds the question)."""
        yield from self._transform_stream_with_config(
            input, _Bound(self._transform), config, **kwargs
        )

    @override
    def stream(
        self, input: CiteformerInput | str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        """Stream the answer: text chunks never hold part of a marker."""
        yield from self.transform(iter([input]), config, **kwargs)

    @_fixed_signature
    def _transform(
        self,
        chunks: Iterator[Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Iterator[Any]:
        grounding = self._ground(_collect(chunks), config)
        options, scorer = self._call_options(kwargs)
        stream = self.citeformer.stream(
            grounding.question, list(grounding.sources), **grounding.call_options(options)
        )
        shaper = self._shaper(grounding)
        completed: GenerationResult | None = None  # held for verification
        report = BackendRun(run_manager, config, self._run_name, grounding.question, options)
        try:
            yield from shaper.start()
            for event in stream.events():
                if isinstance(event, TextDelta):
                    if report.active:
                        report.chunk(text_chunk(event.text))
                    yield shaper.text(event.text)
                elif isinstance(event, CitationEvent):
                    annotation = citation_annotation(
                        event.citation, grounding.sources, grounding.documents
                    )
                    report.citation(annotation)
                    # Verified: the chunk comes with its verdict, after the stream.
                    if scorer is None and (chunk := shaper.citation(annotation)) is not None:
                        yield chunk
                elif isinstance(event, MarkerRemoved):
                    report.removed(event.marker)
                elif isinstance(event, Completed):
                    if scorer is not None:
                        completed = event.result
                    elif end := shaper.end(event.result):
                        yield end
            report.end()
        except BaseException as exc:
            report.error(exc)
            raise
        finally:
            stream.close()
        if completed is not None:
            verification = completed.verify(scorer, **self.verify_options)
            report.verification(verification)
            yield from shaper.verified(completed, verification)

    @override
    async def atransform(
        self,
        input: AsyncIterator[CiteformerInput | str],
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        """Async :meth:`transform` on citeformer's native async stream."""
        # aclosing: `async for` alone leaves an abandoned inner generator to the
        # garbage collector, and the backend stream open until then.
        stream = self._atransform_stream_with_config(
            input, _Bound(self._atransform), config, **kwargs
        )
        async with aclosing(stream):
            async for chunk in stream:
                yield chunk

    @override
    async def astream(
        self, input: CiteformerInput | str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Async :meth:`stream`; cancelling the consumer closes the backend stream."""
        stream = self.atransform(_once(input), config, **kwargs)
        async with aclosing(stream):
            async for chunk in stream:
                yield chunk

    @_fixed_signature
    async def _atransform(
        self,
        chunks: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        grounding = await self._aground(await _acollect(chunks), config)
        options, scorer = self._call_options(kwargs)
        stream = self.citeformer.astream(
            grounding.question, list(grounding.sources), **grounding.call_options(options)
        )
        shaper = self._shaper(grounding)
        completed: GenerationResult | None = None  # held for verification
        report = AsyncBackendRun(run_manager, config, self._run_name)
        try:
            await report.start(grounding.question, options)
            for chunk in shaper.start():
                yield chunk
            async for event in stream.events():
                if isinstance(event, TextDelta):
                    if report.active:
                        await report.chunk(text_chunk(event.text))
                    yield shaper.text(event.text)
                elif isinstance(event, CitationEvent):
                    annotation = citation_annotation(
                        event.citation, grounding.sources, grounding.documents
                    )
                    await report.citation(annotation)
                    # Verified: the chunk comes with its verdict, after the stream.
                    if scorer is None and (chunk := shaper.citation(annotation)) is not None:
                        yield chunk
                elif isinstance(event, MarkerRemoved):
                    await report.removed(event.marker)
                elif isinstance(event, Completed):
                    if scorer is not None:
                        completed = event.result
                    elif end := shaper.end(event.result):
                        yield end
            await report.end()
        except BaseException as exc:
            await report.error(exc)
            raise
        finally:
            await stream.aclose()
        if completed is not None:
            verification = await completed.averify(scorer, **self.verify_options)
            await report.verification(verification)
            for chunk in shaper.verified(completed, verification):
                yield chunk
