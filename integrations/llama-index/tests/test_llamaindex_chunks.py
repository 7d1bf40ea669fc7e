"""``citation_chunk_size``: citable sub-chunks with offsets into the document; no silent kwargs."""

from __future__ import annotations

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.response_synthesizers.citeformer import (
    CitationChunker,
    HashingEmbedding,
    citation_query_engine,
)
from llama_index.response_synthesizers.citeformer.chunking import PARENT_KEY, _sentences

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


def test_sub_chunks_of_one_document_share_one_reference() -> None:
    engine = citation_query_engine(
        _index(), Citeformer(MockBackend("Rivets [1]. More [3]. Again [2].")),
        citation_chunk_size=64, similarity_top_k=1,
    )  # fmt: skip
    response = engine.query("rivets?")
    result = response.metadata["citeformer_result"]
    assert [r.source_ids for r in result.references] == [(1, 2, 3)]
    (entry,) = response.metadata["references"]
    assert entry["source_ids"] == [1, 2, 3] and entry["text"] == result.references[0].text
    assert entry["node_ids"] == [p.node.node_id for p in response.source_nodes[:3]]
    assert result.references[0].text.startswith("[1], [2], [3] ")
    for source, piece in zip(result.sources, response.source_nodes, strict=True):
        assert source.document == "doc-1"
        assert source.document_start == piece.node.start_char_idx
        start = source.document_start
        assert start is not None and TEXT[start : start + len(source.content)] == source.content


def test_retrieved_nodes_of_one_document_share_one_reference() -> None:
    documents = [
        Document(text=" ".join(SENTENCES[:20]), metadata={"title": "Tower facts"}, id_="doc-1"),
        Document(text="The Rhine flows north to the sea.", metadata={"title": "Rhine"}, id_="r"),
    ]
    from llama_index.core.node_parser import SentenceSplitter

    splitter = SentenceSplitter(chunk_size=64, chunk_overlap=0, chunking_tokenizer_fn=_sentences)
    nodes = splitter.get_nodes_from_documents(documents)
    index = VectorStoreIndex(nodes, embed_model=HashingEmbedding())
    cite_all = MockBackend(
        lambda q, sources: " ".join(f"F [{i}]." for i in range(1, len(sources) + 1))
    )
    response = citation_query_engine(index, cite_all, similarity_top_k=len(nodes)).query("?")
    result = response.metadata["citeformer_result"]
    by_doc = {s.document for s in result.sources}
    assert by_doc == {"doc-1", "r"}
    assert len(result.references) == 2
    assert sorted(len(r.source_ids) for r in result.references) == [1, len(nodes) - 1]
