"""CiteformerSynthesizer: a LlamaIndex response synthesizer backed by citeformer.

It overrides ``synthesize``/``asynthesize`` (which see the retrieved ``NodeWithScore``
list; ``get_response``/``aget_response`` only see text chunks), numbers the nodes as
citeformer sources, calls citeformer's sync or async path, and maps the result back
onto the nodes. Citation logic (the language, validation, references) stays in
citeformer.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias, TypedDict

from llama_index.core.base.response.schema import (
    RESPONSE_TYPE,
    AsyncStreamingResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.callbacks.schema import CBEventType, EventPayload
from llama_index.core.instrumentation.events.synthesis import (
    SynthesizeEndEvent,
    SynthesizeStartEvent,
)
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.response_synthesizers.base import BaseSynthesizer, QueryTextType
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, QueryBundle
from llama_index.core.settings import Settings
from llama_index.response_synthesizers.citeformer._instrument import (
    aspan,
    receives_events,
    span,
)
from llama_index.response_synthesizers.citeformer.events import complete, verified
from llama_index.response_synthesizers.citeformer.nodes import (
    NodeToCSL,
    default_node_to_csl,
    nodes_to_sources,
)
from llama_index.response_synthesizers.citeformer.results import CitedCall
from llama_index.response_synthesizers.citeformer.streaming import (
    AsyncCitationStream,
    CitationStream,
)
from llama_index.response_synthesizers.citeformer.verification import (
    LazyDefault,
    Verifier,
    VerifySetting,
    check_verify,
    check_verify_options,
)
from llama_index_instrumentation import get_dispatcher  # core does not re-export it explicitly

from citeformer import (
    AsyncStreamingResult,
    Backend,
    Citeformer,
    GenerationResult,
    InvalidOptionError,
    Policy,
    Source,
    StreamingResult,
)
from citeformer.verify import Scorer, VerificationReport

dispatcher = get_dispatcher(__name__)

_Arguments: TypeAlias = tuple[str, list[Source], Policy | str | None]
"""``(prompt, sources, policy)``: the positional arguments of every citeformer call."""


class SynthesizerOptions(TypedDict, total=False):
    """:class:`CiteformerSynthesizer`'s keyword options but ``streaming`` (see there).

    What the chat engine's ``**synthesizer_options`` take, typed for type checkers.
    """

    policy: Policy | str | None
    metadata_mode: MetadataMode
    node_to_csl: NodeToCSL
    options: Mapping[str, Any] | None
    empty_response: str | None
    callback_manager: CallbackManager | None
    verify: VerifySetting
    verify_options: Mapping[str, Any] | None


class CiteformerSynthesizer(BaseSynthesizer):
    """Answer from retrieved nodes with citation markers that can only point at them.

    The i-th retrieved node is source ``i + 1``; ``additional_source_nodes`` join
    ``Response.source_nodes`` but are never numbered. ``Response.metadata`` carries the
    citations (node id, marker span, ``cited_text`` where known), the cited nodes in
    citation order, the rendered references and the full ``GenerationResult`` (keys in
    :mod:`~llama_index.response_synthesizers.citeformer.results`). With
    ``streaming=True`` the response is a ``StreamingResponse`` (``query``) or an
    ``AsyncStreamingResponse`` (``aquery``) whose tokens never hold a partial marker;
    its metadata is filled in when the stream ends.

    With ``verify=`` every answer is also verified once complete (``result.verify``
    on ``synthesize``/``query``, ``await result.averify`` on ``asynthesize``/
    ``aquery``; after the stream ends when streaming): ``Response.metadata
    ["verification"]`` holds the :class:`citeformer.verify.VerificationReport` (see
    :func:`~llama_index.response_synthesizers.citeformer.verification_report`) and a
    ``CitationVerificationEvent`` is dispatched. The text-chunk entry points
    (``get_response``) return bare text and never verify.

    No LlamaIndex LLM is involved: the model is citeformer's backend, so
    ``Settings.llm`` is never read.

    Args:
        citeformer: A configured :class:`citeformer.Citeformer`, or a citeformer
            ``Backend`` (wrapped with default settings: IEEE references, AUTO policy).
        policy: Citation policy for every call (default: the Citeformer's own).
        streaming: Return streaming responses.
        metadata_mode: What node metadata goes into each source's text. The default
            ``NONE`` keeps ``source_start``/``source_end`` aligned with ``node.text``;
            node metadata goes to the bibliography instead.
        node_to_csl: Builds a source's CSL-JSON metadata from a node (default:
            :func:`~llama_index.response_synthesizers.citeformer.nodes.default_node_to_csl`).
        options: Options passed to every citeformer call (``max_tokens``,
            ``temperature``, ``strict``...); per-call keyword arguments of
            ``synthesize`` win.
        empty_response: Text of LlamaIndex's empty response (nothing retrieved).
        callback_manager: Legacy LlamaIndex callback manager (default: Settings').
        verify: ``True`` (citeformer's default scorer, built once on first use), a
            :class:`citeformer.verify.Scorer`, or a callable ``(premise, hypothesis)
            -> float``; ``False``/``None`` (the default) leaves responses as they
            are. ``synthesize(..., verify=...)`` overrides it per call.
        verify_options: Keyword arguments of ``verify()``: ``threshold``,
            ``coverage``, ``top_k``, ``max_citations``, ``language``
            (``synthesize(..., verify_options=...)`` per call).

    Raises:
        InvalidOptionError: An argument has the wrong type or value; the message says
            what to pass.

    Example:
        >>> from citeformer import Citeformer, MockBackend
        >>> synth = CiteformerSynthesizer(Citeformer(MockBackend("Paris [1].")))
        >>> # RetrieverQueryEngine(retriever, response_synthesizer=synth)
    """

    def __init__(
        self,
        citeformer: Citeformer | Backend,
        *,
        policy: Policy | str | None = None,
        streaming: bool = False,
        metadata_mode: MetadataMode = MetadataMode.NONE,
        node_to_csl: NodeToCSL = default_node_to_csl,
        options: Mapping[str, Any] | None = None,
        empty_response: str | None = None,
        callback_manager: CallbackManager | None = None,
        verify: VerifySetting = None,
        verify_options: Mapping[str, Any] | None = None,
    ) -> None:
        # BaseSynthesizer.__init__ is deliberately not called: it resolves Settings.llm
        # (which needs an LLM package, or an OpenAI key) and builds prompt helpers for an
        # LLM context window, neither of which citeformer uses. The attributes its
        # concrete methods (the empty-response path) read are set here instead.
        if isinstance(citeformer, Backend):
            citeformer = Citeformer(citeformer)
        if not isinstance(citeformer, Citeformer):
            raise InvalidOptionError(
                f"citeformer must be a citeformer.Citeformer or a citeformer Backend, got "
                f"{type(citeformer).__name__}; a LlamaIndex LLM is not a backend: "
                "CiteformerSynthesizer(Citeformer(backend))"
            )
        if not isinstance(streaming, bool):
            raise InvalidOptionError(f"streaming must be a bool, got {streaming!r}")
        if not isinstance(metadata_mode, MetadataMode):
            raise InvalidOptionError(
                f"metadata_mode must be a llama_index MetadataMode, got {metadata_mode!r}"
            )
        if not callable(node_to_csl):
            raise InvalidOptionError(
                "node_to_csl must be a function NodeWithScore -> CSL-JSON dict, "
                f"got {type(node_to_csl).__name__}"
            )
        if options is not None and not isinstance(options, Mapping):
            raise InvalidOptionError(f"options must be a mapping, got {type(options).__name__}")
        if empty_response is not None and not isinstance(empty_response, str):
            raise InvalidOptionError(f"empty_response must be a str, got {empty_response!r}")
        if callback_manager is not None and not isinstance(callback_manager, CallbackManager):
            raise InvalidOptionError(
                f"callback_manager must be a CallbackManager, got {type(callback_manager).__name__}"
            )
        self._citeformer = citeformer
        self._policy = None if policy is None else Policy.coerce(policy, what="policy")
        self._metadata_mode = metadata_mode
        self._node_to_csl = node_to_csl
        self._options: dict[str, Any] = dict(options or {})
        self._llm = None  # type: ignore[assignment]  # no LlamaIndex LLM, by design
        self._callback_manager = callback_manager or Settings.callback_manager
        self._streaming = streaming
        self._output_cls = None
        self._empty_response = empty_response or "Empty Response"
        self._multimodal = False
        self._verify = check_verify(verify)
        self._verify_options = check_verify_options(verify_options)
        self._default_scorer = LazyDefault()

    @property
    def citeformer(self) -> Citeformer:
        """The Citeformer every call goes through."""
        return self._citeformer

    @property
    def verify(self) -> Scorer | bool | None:
        """The ``verify`` setting: ``None`` (off), ``True`` (default scorer) or a Scorer."""
        return self._verify

    @property
    def callback_manager(self) -> CallbackManager:
        """The legacy callback manager."""
        return self._callback_manager

    @callback_manager.setter
    def callback_manager(self, callback_manager: CallbackManager) -> None:
        self._callback_manager = callback_manager

    def _get_prompts(self) -> PromptDictType:
        """No LlamaIndex prompt templates: citeformer assembles its own prompt."""
        return {}

    def _update_prompts(self, prompts_dict: PromptDictType) -> None:
        """Refuse prompt templates, which would otherwise be silently ignored."""
        if prompts_dict:
            raise InvalidOptionError(
                f"CiteformerSynthesizer has no prompt templates ({', '.join(prompts_dict)}); "
                "citeformer assembles a source-grounded prompt itself. Shape it with "
                "Citeformer(prompt_budget=...) or a backend option."
            )

    # -- per-call preparation -------------------------------------------------------

    def _arguments(
        self, query_str: str, sources: list[Source], response_kwargs: Mapping[str, Any]
    ) -> tuple[_Arguments, dict[str, Any]]:
        """The citeformer call's positional arguments and options (per call wins)."""
        options = {**self._options, **response_kwargs}
        policy: Policy | str | None = options.pop("policy", self._policy)
        options.pop("verify", None)  # see _verifier
        options.pop("verify_options", None)
        return (query_str, sources, policy), options

    def _verifier(self, response_kwargs: Mapping[str, Any]) -> Verifier | None:
        """This call's verification (``verify=``/``verify_options=`` per call win)."""
        setting = (
            check_verify(response_kwargs["verify"]) if "verify" in response_kwargs else self._verify
        )
        if setting is None:
            return None
        options = (
            check_verify_options(response_kwargs["verify_options"])
            if "verify_options" in response_kwargs
            else self._verify_options
        )
        scorer = self._default_scorer.get() if setting is True else setting
        assert isinstance(scorer, Scorer)  # check_verify never returns False
        return Verifier(scorer, options)

    def _prepare(
        self,
        nodes: Sequence[NodeWithScore],
        additional_source_nodes: Sequence[NodeWithScore] | None,
        *,
        verifier: Verifier | None = None,
    ) -> CitedCall:
        # Bare nodes (TextNode) are cited as the retriever's scored nodes are.
        nodes = [NodeWithScore(node=n) if isinstance(n, BaseNode) else n for n in nodes]
        sources = nodes_to_sources(
            nodes, metadata_mode=self._metadata_mode, node_to_csl=self._node_to_csl
        )
        return CitedCall(nodes, sources, additional_source_nodes or (), verifier=verifier)

    @staticmethod
    def _bundle(query: QueryTextType) -> QueryBundle:
        return QueryBundle(query_str=query) if isinstance(query, str) else query

    @contextmanager
    def _synthesis(
        self,
        query: QueryTextType,
        nodes: Sequence[NodeWithScore],
        additional_source_nodes: Sequence[NodeWithScore] | None,
        response_kwargs: Mapping[str, Any],
    ) -> Iterator[_Synthesis]:
        """Everything around the one citeformer call of ``synthesize``/``asynthesize``.

        Dispatches ``SynthesizeStartEvent``, numbers the nodes and opens the legacy
        callback event; the body makes the call and hands its response to
        :meth:`_Synthesis.done`; then the callback event and ``SynthesizeEndEvent``
        get it. An error in the body skips the end event, as LlamaIndex's own do.
        """
        bundle = self._bundle(query)
        observed = receives_events(dispatcher)
        if observed:
            dispatcher.event(SynthesizeStartEvent(query=bundle))
        call = self._prepare(
            nodes, additional_source_nodes, verifier=self._verifier(response_kwargs)
        )
        synthesis = _Synthesis(bundle.query_str, call)
        with self._callback_manager.event(
            CBEventType.SYNTHESIZE, payload={EventPayload.QUERY_STR: bundle.query_str}
        ) as event:
            yield synthesis
            event.on_end(payload={EventPayload.RESPONSE: synthesis.response})
        if observed:
            assert synthesis.response is not None  # the body returns through done()
            dispatcher.event(SynthesizeEndEvent(query=bundle, response=synthesis.response))

    def _finish(
        self,
        call: CitedCall,
        result: GenerationResult,
        verification: VerificationReport | None = None,
    ) -> Response:
        complete(call, result, citations_emitted=False)
        if verification is not None:
            verified(call, verification)
        return Response(result.text, source_nodes=call.source_nodes, metadata=call.metadata)

    # -- the citeformer calls (spans of their own) -----------------------------------

    @span(dispatcher)
    def _cite(
        self, query_str: str, call: CitedCall, response_kwargs: Mapping[str, Any]
    ) -> Response | StreamingResponse:
        args, options = self._arguments(query_str, call.sources, response_kwargs)
        if self._streaming:
            return CitationStream(self._citeformer.stream(*args, **options), call).response()
        result = self._citeformer.generate(*args, **options)
        verifier = call.verifier
        return self._finish(call, result, None if verifier is None else verifier.verify(result))

    @aspan(dispatcher)
    async def _acite(
        self, query_str: str, call: CitedCall, response_kwargs: Mapping[str, Any]
    ) -> Response | AsyncStreamingResponse:
        args, options = self._arguments(query_str, call.sources, response_kwargs)
        if self._streaming:
            return AsyncCitationStream(self._citeformer.astream(*args, **options), call).response()
        result = await self._citeformer.agenerate(*args, **options)
        verifier = call.verifier
        verification = None if verifier is None else await verifier.averify(result)
        return self._finish(call, result, verification)

    # -- BaseSynthesizer entry points -----------------------------------------------

    @span(dispatcher)
    def synthesize(
        self,
        query: QueryTextType,
        nodes: list[NodeWithScore],
        additional_source_nodes: Sequence[NodeWithScore] | None = None,
        **response_kwargs: Any,
    ) -> RESPONSE_TYPE:
        """Answer ``query`` citing ``nodes``; see the class docstring for the result.

        Args:
            query: The question (str or ``QueryBundle``).
            nodes: Retrieved nodes; ``nodes[i]`` is cited as ``i + 1``.
            additional_source_nodes: Added to ``source_nodes``, never numbered.
            **response_kwargs: Per-call citeformer options (``policy=``, ``strict=``,
                ``verify=``, ``verify_options=``, backend options).

        Raises:
            InvalidSourceError: A node has no text, or an item is not a node.
            CiteformerError: Any other citeformer error (bad option, backend failure).
        """
        if not nodes:  # LlamaIndex's own empty-response path; the backend is not called
            return super().synthesize(query, nodes, additional_source_nodes, **response_kwargs)
        with self._synthesis(query, nodes, additional_source_nodes, response_kwargs) as synthesis:
            return synthesis.done(self._cite(synthesis.query_str, synthesis.call, response_kwargs))

    @aspan(dispatcher)
    async def asynthesize(
        self,
        query: QueryTextType,
        nodes: list[NodeWithScore],
        additional_source_nodes: Sequence[NodeWithScore] | None = None,
        **response_kwargs: Any,
    ) -> RESPONSE_TYPE:
        """Async :meth:`synthesize`, on citeformer's native async path."""
        if not nodes:
            return await super().asynthesize(
                query, nodes, additional_source_nodes, **response_kwargs
            )
        with self._synthesis(query, nodes, additional_source_nodes, response_kwargs) as synthesis:
            response = await self._acite(synthesis.query_str, synthesis.call, response_kwargs)
            return synthesis.done(response)

    # -- text-chunk entry points (no node identity: plain sources, plain text) --------

    @span(dispatcher)
    def get_response(
        self, query_str: str, text_chunks: Sequence[str], **response_kwargs: Any
    ) -> str | Generator[str, None, None]:
        """Answer from bare text chunks (``text_chunks[i]`` is source ``i + 1``).

        Returns the answer text, or a generator of text chunks when streaming. Prefer
        :meth:`synthesize`, which keeps node identity and returns the citations.
        """
        args, options = self._arguments(query_str, _chunks(text_chunks), response_kwargs)
        if self._streaming:
            return _tokens(self._citeformer.stream(*args, **options))
        return self._citeformer.generate(*args, **options).text

    @aspan(dispatcher)
    async def aget_response(
        self, query_str: str, text_chunks: Sequence[str], **response_kwargs: Any
    ) -> str | AsyncGenerator[str, None]:
        """Async :meth:`get_response` (an async generator when streaming)."""
        args, options = self._arguments(query_str, _chunks(text_chunks), response_kwargs)
        if self._streaming:
            return _atokens(self._citeformer.astream(*args, **options))
        return (await self._citeformer.agenerate(*args, **options)).text


@dataclass(slots=True)
class _Synthesis:
    """One ``synthesize`` call inside :meth:`CiteformerSynthesizer._synthesis`.

    Attributes:
        query_str: The question.
        call: The numbered nodes and the response metadata.
        response: The response, once :meth:`done` was given it.
    """

    query_str: str
    call: CitedCall
    response: RESPONSE_TYPE | None = None

    def done(self, response: RESPONSE_TYPE) -> RESPONSE_TYPE:
        """Keep the call's response (for the end events); returns it."""
        self.response = response
        return response


def _chunks(text_chunks: Sequence[str]) -> list[Source]:
    return [Source(chunk) for chunk in text_chunks]


def _tokens(stream: StreamingResult) -> Generator[str, None, None]:
    try:
        yield from stream
    finally:
        stream.close()


async def _atokens(stream: AsyncStreamingResult) -> AsyncGenerator[str, None]:
    try:
        async for chunk in stream:
            yield chunk
    finally:
        await stream.aclose()
