"""Citable sub-chunks: ``CitationQueryEngine``'s ``citation_chunk_size``, done as a postprocessor.

Each retrieved node is split into pieces of about ``chunk_size`` tokens; each piece is
its own node, so its own source to cite, keeping the parent's metadata and document
(``ref_doc_id``), with ``start_char_idx``/``end_char_idx`` into the document where
the parent had them and the parent's node id in ``metadata["citeformer_parent_id"]``.
"""

from __future__ import annotations

import re
from typing import Any

from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode
from llama_index.response_synthesizers.citeformer.nodes import PARENT_KEY
from pydantic import Field, PrivateAttr

from citeformer.splitting import check_chunking

_SENTENCE = re.compile(r"\S.*?(?:[.!?]+(?=\s|$)|$)\s*", re.S)


def _sentences(text: str) -> list[str]:
    """Sentences with their trailing space, so the pieces are exact spans of the text.

    LlamaIndex's default reads NLTK's punkt data from its package folder, which NLTK
    refuses to open when the installer hard-linked it (uv does).
    """
    return _SENTENCE.findall(text)


class CitationChunker(BaseNodePostprocessor):
    """Split retrieved nodes into citable sub-chunks (each one a source).

    Args:
        chunk_size: Tokens per piece (``CitationQueryEngine``'s ``citation_chunk_size``).
        chunk_overlap: Tokens shared by neighbouring pieces.
    """

    chunk_size: int = Field(default=512, gt=0)
    chunk_overlap: int = Field(default=20, ge=0)
    _splitter: SentenceSplitter = PrivateAttr()

    def __init__(self, chunk_size: int = 512, chunk_overlap: int = 20, **kwargs: Any) -> None:
        check_chunking(chunk_size, chunk_overlap, ("citation_chunk_size", "citation_chunk_overlap"))
        # pydantic's dataclass_transform gives mypy the parent's field list for
        # super().__init__; these are this model's own fields, which pydantic validates.
        super().__init__(chunk_size=chunk_size, chunk_overlap=chunk_overlap, **kwargs)  # type: ignore[call-arg]
        self._splitter = SentenceSplitter(
            chunk_size=chunk_size, chunk_overlap=chunk_overlap, chunking_tokenizer_fn=_sentences
        )

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's registry name."""
        return "CitationChunker"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        return [piece for scored in nodes for piece in self._pieces(scored)]

    def _pieces(self, scored: NodeWithScore) -> list[NodeWithScore]:
        parent = scored.node
        text = parent.get_content(metadata_mode=MetadataMode.NONE)
        chunks = self._splitter.split_text(text) if text else []
        if len(chunks) <= 1:
            return [scored]
        # Only text nodes carry offsets into their document (BaseNode has none).
        base = parent.start_char_idx if isinstance(parent, TextNode) else None
        pieces: list[NodeWithScore] = []
        cursor = 0
        for number, chunk in enumerate(chunks):
            found = text.find(chunk, cursor)
            start = found if found >= 0 else None
            if start is not None:
                cursor = start + 1
            node = TextNode(
                id_=f"{parent.node_id}#{number}",
                text=chunk,
                metadata={**parent.metadata, PARENT_KEY: parent.node_id},
                excluded_embed_metadata_keys=[*parent.excluded_embed_metadata_keys, PARENT_KEY],
                excluded_llm_metadata_keys=[*parent.excluded_llm_metadata_keys, PARENT_KEY],
                relationships=dict(parent.relationships),
                start_char_idx=None if start is None or base is None else base + start,
                end_char_idx=None if start is None or base is None else base + start + len(chunk),
            )
            pieces.append(NodeWithScore(node=node, score=scored.score))
        return pieces
