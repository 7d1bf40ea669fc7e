"""Chunks of one document: one bibliography entry, each chunk its own citable id.

Inside real LCEL pipelines (an ``InMemoryVectorStore`` retriever, ``chunk_size``
sub-chunking, ``astream``), with offsets that point back into the document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from citeformer import Citation, Citeformer, InvalidOptionError, MockBackend, Source, split_spans
from langchain_core.documents import Document
from langchain_core.messages import AIMessage
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_citeformer import CiteformerRunnable, documents_to_sources, generation_result
from langchain_citeformer.documents import PARENT_START
from langchain_citeformer.messages import citation_annotation

from .conftest import HashEmbeddings

TOWER = (
    "The Eiffel Tower was built by the company of Gustave Eiffel for the fair of 1889. "
    "It is made of wrought iron and was the tallest structure in the world for decades. "
    "Today it is the most visited paid monument on Earth, with millions of visitors. "
    "Its lights sparkle every evening for five minutes at the start of each hour."
)
META = {"source": "docs/eiffel.txt", "title": "Eiffel Tower", "author": "G. Eiffel"}


def splitter_chunks(text: str, size: int) -> list[Document]:
    """What a text splitter with ``add_start_index=True`` returns for one file."""
    return [
        Document(text[a:b], metadata={**META, "start_index": a}) for a, b in split_spans(text, size)
    ]


def cite_all(question: str, sources: Sequence[Source]) -> str:
    return " ".join(f"Fact {i} [{i}]." for i in range(1, len(sources) + 1))


def annotations(message: AIMessage) -> list[dict[str, Any]]:
    return [a for block in message.content_blocks for a in block.get("annotations", [])]  # type: ignore[misc]


def test_retrieved_chunks_of_one_file_share_one_entry() -> None:
    chunks = splitter_chunks(TOWER, 90)
    other = Document("The Rhine flows north.", metadata={"source": "rhine.txt", "title": "Rhine"})
    store = InMemoryVectorStore(HashEmbeddings())
    store.add_documents([*chunks, other])
    chain = CiteformerRunnable.from_retriever(
        store.as_retriever(search_kwargs={"k": len(chunks) + 1}), MockBackend(cite_all)
    )
    message = chain.invoke("Tell me about the tower and the Rhine.")
    result = generation_result(message)
    assert result.cited_ids == list(range(1, len(chunks) + 2))
    assert len(result.references) == 2  # the file once, the Rhine once
    tower = next(r for r in result.references if "Eiffel Tower" in r.text)
    assert len(tower.source_ids) == len(chunks)
    assert tower.text.startswith(", ".join(f"[{i}]" for i in tower.source_ids))
    for annotation in annotations(message):
        extras = annotation["extras"]
        part = result.sources[extras["source_id"] - 1]
        if extras.get("document") == "docs/eiffel.txt":  # the span lies in the file
            assert TOWER[extras["document_start"] : extras["document_end"]] == part.content


async def test_chunk_size_cuts_documents_into_citable_parts_with_offsets() -> None:
    whole = Document(TOWER, metadata={**META, "start_index": 0}, id="tower")
    cite = CiteformerRunnable(backend=MockBackend(cite_all), chunk_size=100, chunk_overlap=20)
    message = await cite.ainvoke({"question": "Tower?", "documents": [whole]})
    result = generation_result(message)
    documents = message.response_metadata["documents"]
    assert len(result.sources) == len(documents) >= 4
    for source, document in zip(result.sources, documents, strict=True):
        start = document.metadata["start_index"]
        assert document.metadata[PARENT_START] == start
        assert TOWER[start : start + len(source.content)] == source.content
        assert source.document == "docs/eiffel.txt" and source.document_start == start
        assert len(source.content) <= 100
        assert str(document.id).startswith("tower#")
    assert [r.source_ids for r in result.references] == [tuple(range(1, len(documents) + 1))]
    spans = [
        (a["extras"]["document_start"], a["extras"]["document_end"]) for a in annotations(message)
    ]
    assert [TOWER[a:b] for a, b in spans] == [s.content for s in result.sources]
    chunks = [chunk async for chunk in cite.astream({"question": "Tower?", "documents": [whole]})]
    streamed = chunks[0]
    for chunk in chunks[1:]:
        streamed += chunk
    assert annotations(streamed) == annotations(message)  # type: ignore[arg-type]


def test_offsets_into_a_file_are_not_guessed() -> None:
    page = Document(
        TOWER, metadata={**META, "page": 3}
    )  # a page: its offset in the file is unknown
    cite = CiteformerRunnable(backend=MockBackend(cite_all), chunk_size=100)
    message = cite.invoke({"question": "Tower?", "documents": [page]})
    result = generation_result(message)
    for source, document in zip(
        result.sources, message.response_metadata["documents"], strict=True
    ):
        assert source.document == "docs/eiffel.txt" and source.document_start is None
        assert "start_index" not in document.metadata
        start = document.metadata[PARENT_START]  # the offset in the page given
        assert TOWER[start : start + len(source.content)] == source.content
    assert all("document_start" not in a["extras"] for a in annotations(message))


def test_sub_chunks_of_a_document_without_a_source_still_group() -> None:
    cite = CiteformerRunnable(backend=MockBackend(cite_all), chunk_size=100)
    message = cite.invoke({"question": "Tower?", "documents": [TOWER, "The Rhine flows north."]})
    result = generation_result(message)
    assert len(result.references) == 2
    assert {s.document for s in result.sources[:-1]} == {result.sources[0].document}
    assert result.sources[-1].document is None  # short: cited whole, as given


def test_a_reported_passage_maps_into_the_document() -> None:
    part = documents_to_sources([Document(TOWER[82:170], metadata={**META, "start_index": 82})])
    citation = Citation(1, 0, 3, "[1]", cited_text="wrought iron", source_start=14, source_end=26)
    extras = citation_annotation(citation, part, [Document(part[0].content)])["extras"]
    assert TOWER[extras["document_start"] : extras["document_end"]] == "wrought iron"


@pytest.mark.parametrize(
    "settings", [{"chunk_size": 0}, {"chunk_size": 10, "chunk_overlap": 10}, {"chunk_overlap": 5}]
)
def test_bad_chunking_is_a_typed_error(settings: dict[str, Any]) -> None:
    with pytest.raises(InvalidOptionError, match="chunk_"):
        CiteformerRunnable(Citeformer(MockBackend("x [1].")), **settings)
