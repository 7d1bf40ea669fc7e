"""``citation_chunk_size``: citable sub-chunks with offsets into the document; no silent kwargs."""

from __future__ import annotations

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.response_synthesizers.citeformer import (
    CitationChunker,
    HashingEmbedding,
    citation_query_engine,
)
from llama_index.response_synthesizers.citeformer.chunking import PARENT_KEY

from citeformer import Citeformer, InvalidOptionError, MockBackend

SENTENCES = [f"Fact number {i} is about the tower and its {i} rivets." for i in range(40)]
TEXT = " ".join(SENTENCES)


def _index() -> VectorStoreIndex:
    document = Document(text=TEXT, metadata={"title": "Tower facts"}, id_="doc-1")
    return VectorStoreIndex.from_documents([document], embed_model=HashingEmbedding())


def test_sub_chunks_are_sources_with_offsets_into_the_document() -> None:
    engine = citation_query_engine(
        _index(), Citeformer(MockBackend("Rivets [2].")), citation_chunk_size=64,
        citation_chunk_overlap=0, similarity_top_k=1,
    )  # fmt: skip
    response = engine.query("rivets?")
    pieces = response.source_nodes
    assert len(pieces) > 3  # one retrieved node became several sources
    for piece in pieces:
        node = piece.node
        start, end = node.start_char_idx, node.end_char_idx
        assert start is not None and end is not None
        assert TEXT[start:end] == node.get_content()  # offsets point into the document
        assert node.ref_doc_id == "doc-1" and node.metadata[PARENT_KEY]
        assert node.metadata["title"] == "Tower facts"
    (citation,) = response.metadata["citations"]
    assert citation["source_id"] == 2 and citation["node_id"] == pieces[1].node.node_id


def test_without_a_chunk_size_nodes_are_cited_whole() -> None:
    engine = citation_query_engine(_index(), Citeformer(MockBackend("R [1].")), similarity_top_k=1)
    assert len(engine.query("rivets?").source_nodes) == 1


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"bogus": 1}, "unknown option(s) ['bogus']"),
        ({"citation_qa_template": "x"}, "citation_qa_template"),
        ({"citation_chunk_size": 0}, "positive int"),
        ({"citation_chunk_size": 64, "citation_chunk_overlap": 64}, "below citation_chunk_size"),
    ],
)
def test_wrong_arguments_are_refused(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        citation_query_engine(_index(), Citeformer(MockBackend("x")), **kwargs)
    assert words in str(caught.value)


def test_retriever_options_still_pass() -> None:
    engine = citation_query_engine(_index(), Citeformer(MockBackend("x")), similarity_top_k=3)
    assert engine.retriever.similarity_top_k == 3  # type: ignore[attr-defined]
    assert CitationChunker(100, 10).chunk_size == 100
