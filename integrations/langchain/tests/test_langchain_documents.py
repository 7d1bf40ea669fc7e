"""Documents to sources: the exported converter and what loaders' metadata becomes."""

from __future__ import annotations

import pytest
from citeformer import Citeformer, InvalidSourceError, MockBackend, Source
from langchain_core.documents import Document

from langchain_citeformer import CiteformerRunnable, csl_metadata, documents_to_sources


def test_documents_to_sources_numbers_what_the_runnable_would() -> None:
    docs = [
        Document("Paris is in France.", metadata={"title": "France"}, id="d1"),
        "Berlin is in Germany.",
        Source("Rome is in Italy.", {"title": "Italy"}),
    ]
    sources = documents_to_sources(docs)
    assert [s.content for s in sources] == [
        "Paris is in France.", "Berlin is in Germany.", "Rome is in Italy.",
    ]  # fmt: skip
    assert sources[0].metadata == {"title": "France", "id": "d1", "type": "document"}
    assert sources[2] is docs[2]
    result = Citeformer(MockBackend("Paris [1]. Rome [3].")).generate("Where?", sources)
    assert [c.source_id for c in result.citations] == [1, 3]
    mapped = documents_to_sources(docs[:1], metadata_mapper=lambda d: {"title": "Mine"})
    assert mapped[0].metadata == {"title": "Mine"}
    with pytest.raises(InvalidSourceError, match=r"documents\[0\] is a int"):
        documents_to_sources([3])  # type: ignore[list-item]


def test_the_core_names_the_converter_for_a_document() -> None:
    with pytest.raises(InvalidSourceError, match="documents_to_sources"):
        Citeformer(MockBackend("x")).generate("q", [Document("text")])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("metadata", "title", "page"),
    [
        ({"source": "reports/q3.pdf", "page": 0}, "q3.pdf", "1"),  # PyPDFLoader
        ({"source": "q3.pdf", "page": 4, "page_label": "iv"}, "q3.pdf", "iv"),
        ({"file_name": "notes.md", "page_number": 2}, "notes.md", "2"),
        ({"title": "Own", "file_name": "x.txt"}, "Own", None),
        ({"source": "https://example.org/a"}, None, None),  # a URL is the URL, not a title
    ],
)
def test_loader_metadata(metadata: dict[str, object], title: str | None, page: str | None) -> None:
    csl = csl_metadata(Document("The quarterly revenue grew by 12 percent.", metadata=metadata))
    assert csl.get("title") == title
    assert csl.get("page") == page


def test_a_titleless_chunk_is_listed_by_its_file_not_its_text() -> None:
    doc = Document("The quarterly revenue grew by 12 percent.", metadata={"source": "q3.pdf"})
    cite = CiteformerRunnable(backend=MockBackend("Revenue grew [1]."))
    message = cite.invoke({"question": "Revenue?", "documents": [doc]})
    (reference,) = message.response_metadata["citeformer"]["references"]
    assert "q3.pdf" in reference["text"] and "quarterly revenue" not in reference["text"]
