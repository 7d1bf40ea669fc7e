"""Build a citing query engine from an index without any LlamaIndex LLM package.

``index.as_query_engine()`` resolves ``Settings.llm`` (an OpenAI default) even when a
response synthesizer is passed; this helper builds the same ``RetrieverQueryEngine``
from the index's retriever and a :class:`CiteformerSynthesizer` only.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.indices.base import BaseIndex
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.response_synthesizers.citeformer.base import CiteformerSynthesizer
from llama_index.response_synthesizers.citeformer.chunking import CitationChunker
from llama_index.response_synthesizers.citeformer.verification import VerifySetting

from citeformer import Backend, Citeformer, InvalidOptionError


def citation_query_engine(
    index_or_retriever: BaseIndex[Any] | BaseRetriever,
    citeformer: Citeformer | Backend | CiteformerSynthesizer,
    *,
    streaming: bool = False,
    node_postprocessors: Sequence[BaseNodePostprocessor] | None = None,
    callback_manager: CallbackManager | None = None,
    verify: VerifySetting = None,
    verify_options: Mapping[str, Any] | None = None,
    citation_chunk_size: int | None = None,
    citation_chunk_overlap: int | None = None,
    **retriever_kwargs: Any,
) -> RetrieverQueryEngine:
    """A ``RetrieverQueryEngine`` whose answers cite the retrieved nodes.

    Args:
        index_or_retriever: An index (its ``as_retriever(**retriever_kwargs)`` is used)
            or a ready retriever.
        citeformer: A ``Citeformer``, a citeformer ``Backend``, or a ready
            :class:`CiteformerSynthesizer` (then ``streaming`` must be left unset).
        streaming: Return streaming responses (``StreamingResponse`` from ``query``,
            ``AsyncStreamingResponse`` from ``aquery``).
        node_postprocessors: Applied to the retrieved nodes before synthesis.
        callback_manager: Legacy LlamaIndex callback manager.
        verify: Verify each answer: ``True`` (the default scorer), a
            ``citeformer.verify.Scorer`` or a callable ``(premise, hypothesis) ->
            float`` (see :class:`CiteformerSynthesizer`); with a ready synthesizer,
            leave it unset and pass ``verify=`` to the synthesizer.
        verify_options: ``verify()``'s keyword arguments (``threshold``...).
        citation_chunk_size: Split each retrieved node into citable pieces of about
            this many tokens, as ``CitationQueryEngine`` does (it splits at 512 by
            default; this engine cites whole nodes unless asked). Each piece is its own
            source, mapped back to its node and document (see :class:`CitationChunker`).
        citation_chunk_overlap: Tokens shared by neighbouring pieces (default 20).
        **retriever_kwargs: Passed to ``index.as_retriever`` (``similarity_top_k=``...);
            a name the retriever does not take is an error, not silently dropped.

    Raises:
        InvalidOptionError: A wrong argument; the message says what to pass.

    Example:
        >>> engine = citation_query_engine(index, Citeformer(backend), similarity_top_k=3)
        >>> response = await engine.aquery("What is the capital of France?")
    """
    if isinstance(index_or_retriever, BaseIndex):
        retriever = index_or_retriever.as_retriever(**retriever_kwargs)
        _check_retriever_options(index_or_retriever, retriever, retriever_kwargs)
    elif isinstance(index_or_retriever, BaseRetriever):
        if retriever_kwargs:
            raise InvalidOptionError(
                f"retriever options {sorted(retriever_kwargs)} apply to an index, not to a "
                "ready retriever; configure the retriever itself"
            )
        retriever = index_or_retriever
    else:
        raise InvalidOptionError(
            f"expected a LlamaIndex index or retriever, got {type(index_or_retriever).__name__}"
        )
    if isinstance(citeformer, CiteformerSynthesizer):
        if streaming:
            raise InvalidOptionError(
                "streaming=True with a ready CiteformerSynthesizer: build the synthesizer "
                "with CiteformerSynthesizer(..., streaming=True) instead"
            )
        if verify is not None or verify_options is not None:
            raise InvalidOptionError(
                "verify= with a ready CiteformerSynthesizer: build the synthesizer "
                "with CiteformerSynthesizer(..., verify=...) instead"
            )
        synthesizer = citeformer
    else:
        synthesizer = CiteformerSynthesizer(
            citeformer,
            streaming=streaming,
            callback_manager=callback_manager,
            verify=verify,
            verify_options=verify_options,
        )
    postprocessors = list(node_postprocessors or [])
    if citation_chunk_size is not None or citation_chunk_overlap is not None:
        postprocessors.append(
            CitationChunker(
                512 if citation_chunk_size is None else citation_chunk_size,
                20 if citation_chunk_overlap is None else citation_chunk_overlap,
            )
        )
    return RetrieverQueryEngine(
        retriever,
        response_synthesizer=synthesizer,
        node_postprocessors=postprocessors,
        callback_manager=callback_manager,
    )


def _check_retriever_options(
    index: BaseIndex[Any], retriever: BaseRetriever, options: Mapping[str, Any]
) -> None:
    """Refuse option names neither ``as_retriever`` nor the retriever names.

    Retrievers take ``**kwargs`` and drop what they do not know, so a typo (or
    ``CitationQueryEngine``'s ``citation_qa_template``) would vanish silently.
    """
    known: set[str] = set()
    # Each class's own __init__ (vars, not k.__init__: the inherited ones come later in
    # the MRO anyway), so the names are those every __init__ along the MRO takes.
    inits = (vars(k)["__init__"] for k in type(retriever).__mro__ if "__init__" in vars(k))
    for function in (type(index).as_retriever, *inits):
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):
            continue
        known.update(p.name for p in parameters if p.kind is not p.VAR_KEYWORD)
    unknown = sorted(set(options) - known - {"self"})
    if unknown:
        takes = ", ".join(sorted(known - {"self", "index", "args"}))
        raise InvalidOptionError(
            f"citation_query_engine got unknown option(s) {unknown}; {type(retriever).__name__} "
            f"takes: {takes}"
        )
