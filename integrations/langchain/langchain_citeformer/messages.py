"""citeformer results and stream events as LangChain messages.

The answer is one standard text content block whose ``annotations`` are
LangChain ``Citation`` dicts. Streamed chunks carry the same block under
``index`` 0, so ``sum(chunks)`` merges into exactly the message ``invoke`` returns:
text deltas concatenate, each citation arrives in its own chunk and is appended
to the block's annotations, and the last chunk brings the metadata. With
``verify=`` the citation chunks come once the stream has ended and the answer is
verified (each annotation then carries its verdict), just before the last chunk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from citeformer import Citation, GenerationResult, Source
from citeformer.verify import VerificationReport
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages import content as types
from langchain_core.messages.ai import UsageMetadata

from langchain_citeformer.verification import VERIFICATION_KEY, with_verdicts

RESULT_KEY = "citeformer"
"""``response_metadata`` key of the full result, in its JSON form."""
DOCUMENTS_KEY = "documents"
"""``response_metadata`` key of the cited documents (``documents[i]`` is id ``i + 1``)."""
BLOCK_INDEX = 0
"""The content-block index every chunk's text block uses."""


def citation_annotation(
    citation: Citation, sources: Sequence[Source], documents: Sequence[Document]
) -> types.Citation:
    """LangChain's standard ``Citation`` annotation for one citeformer citation.

    ``start_index``/``end_index`` span the marker in the answer; ``title`` and ``url``
    come from the source's CSL metadata; ``cited_text`` is set where the backend
    reported the supporting passage. ``extras`` holds ``source_id`` (1-based),
    ``source_index`` (0-based position in the documents), ``document_id``
    (``Document.id``), ``marker``, and the passage's span in the source where known.
    For a part of a document (a chunk with a ``source``, a sub-chunk of
    ``chunk_size``) it also holds ``document`` (the key the bibliography groups by)
    and, where the part's offset is known, ``document_start``/``document_end``: the
    span in the document that is cited (the passage's, else the whole part's).
    """
    position = citation.source_id - 1
    source = sources[position]
    metadata = source.metadata
    extras: dict[str, Any] = {
        "source_id": citation.source_id,
        "source_index": position,
        "document_id": documents[position].id,
        "marker": citation.marker,
    }
    if citation.source_start is not None:
        extras["source_start"] = citation.source_start
        extras["source_end"] = citation.source_end
    if source.document is not None:
        extras["document"] = source.document
        if (base := source.document_start) is not None:
            start, end = citation.source_start, citation.source_end
            if start is None or end is None:
                start, end = 0, len(source.content)
            extras["document_start"], extras["document_end"] = base + start, base + end
    annotation: types.Citation = {
        "type": "citation",
        "start_index": citation.start,
        "end_index": citation.end,
        "extras": extras,
    }
    if isinstance(title := metadata.get("title"), str):
        annotation["title"] = title
    if isinstance(url := metadata.get("URL"), str):
        annotation["url"] = url
    if citation.cited_text is not None:
        annotation["cited_text"] = citation.cited_text
    return annotation


def usage_metadata(result: GenerationResult) -> UsageMetadata | None:
    """LangChain usage metadata from the result's token usage, if reported."""
    usage = result.usage
    if usage is None:
        return None
    out: UsageMetadata = {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cached_tokens:
        out["input_token_details"] = {"cache_read": usage.cached_tokens}
    return out


def response_metadata(
    result: GenerationResult,
    documents: Sequence[Document],
    backend: str,
    verification: VerificationReport | None = None,
) -> dict[str, Any]:
    """``response_metadata`` for the final message or chunk.

    ``verification`` (when the call verified) is stored under
    :data:`~langchain_citeformer.verification.VERIFICATION_KEY` in its JSON form.
    """
    metadata: dict[str, Any] = {
        "model_provider": "citeformer",
        "model_name": backend,
        "finish_reason": result.finish_reason,
        "enforcement": result.enforcement.value,
        RESULT_KEY: result.to_dict(),
        DOCUMENTS_KEY: list(documents),
    }
    if verification is not None:
        metadata[VERIFICATION_KEY] = verification.to_dict()
    return metadata


def _block(text: str, annotations: list[types.Citation] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text, "index": BLOCK_INDEX}
    if annotations:
        block["annotations"] = annotations
    return block


def result_annotations(
    result: GenerationResult,
    documents: Sequence[Document],
    verification: VerificationReport | None = None,
) -> list[types.Citation]:
    """The result's citations as annotations (with their verdicts when verified)."""
    annotations = [citation_annotation(c, result.sources, documents) for c in result.citations]
    return annotations if verification is None else with_verdicts(annotations, verification)


def result_message(
    result: GenerationResult,
    documents: Sequence[Document],
    backend: str,
    verification: VerificationReport | None = None,
) -> AIMessage:
    """The whole answer as one ``AIMessage`` (what ``invoke`` returns)."""
    annotations = result_annotations(result, documents, verification)
    content: list[str | dict[str, Any]] = [_block(result.text, annotations)] if result.text else []
    return AIMessage(
        content=content,
        response_metadata=response_metadata(result, documents, backend, verification),
        usage_metadata=usage_metadata(result),
    )


def text_chunk(text: str) -> AIMessageChunk:
    """A chunk with new answer text (never part of a marker)."""
    return AIMessageChunk(content=[_block(text)])


def citation_chunk(annotation: types.Citation) -> AIMessageChunk:
    """A chunk that adds one citation annotation to the text block."""
    return AIMessageChunk(content=[_block("", [annotation])])


def final_chunk(
    result: GenerationResult,
    documents: Sequence[Document],
    backend: str,
    verification: VerificationReport | None = None,
) -> AIMessageChunk:
    """The last chunk: no text, the metadata (with the verification) and usage."""
    return AIMessageChunk(
        content=[],
        response_metadata=response_metadata(result, documents, backend, verification),
        usage_metadata=usage_metadata(result),
        chunk_position="last",
    )


def generation_result(message: BaseMessage | Mapping[str, Any]) -> GenerationResult:
    """The citeformer result behind an output message (or dict output).

    Args:
        message: A message (or summed chunks) this package produced, or its
            ``response_metadata``.

    Raises:
        KeyError: ``message`` carries no citeformer result.
    """
    metadata = message.response_metadata if isinstance(message, BaseMessage) else message
    return GenerationResult.from_dict(metadata[RESULT_KEY])
