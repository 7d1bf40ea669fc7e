"""Input shapes, CSL metadata mapping, and clear errors for bad input."""

from __future__ import annotations

from typing import Any

import pytest
from citeformer import InvalidSourceError, MockBackend, Source, UsageError
from citeformer.errors import InvalidPromptError
from langchain_core.documents import Document
from langchain_core.messages import HumanMessage

from langchain_citeformer import CiteformerRunnable, csl_metadata, generation_result


def echo_sources(question: str, sources: Any) -> str:
    """Cite every source, so the result shows what the runnable passed on."""
    return " ".join(f"{s.content[:12]} [{i}]." for i, s in enumerate(sources, 1))


@pytest.fixture
def cite() -> CiteformerRunnable:
    return CiteformerRunnable(backend=MockBackend(echo_sources))


@pytest.mark.parametrize("question_key", ["question", "input", "query"])
@pytest.mark.parametrize("documents_key", ["documents", "context"])
def test_accepts_every_documented_key(
    cite: CiteformerRunnable, question_key: str, documents_key: str
) -> None:
    message = cite.invoke({question_key: "Q?", documents_key: [Document("alpha text")]})
    assert message.text == "alpha text [1]."


def test_accepts_documents_strings_and_sources_together(cite: CiteformerRunnable) -> None:
    items = [Document("doc text", id="x"), "plain text", Source("source text", {"title": "S"})]
    message = cite.invoke({"question": "Q?", "documents": items})
    result = generation_result(message)
    assert [s.content for s in result.sources] == ["doc text", "plain text", "source text"]
    assert result.sources[2].metadata == {"title": "S"}
    docs = message.response_metadata["documents"]
    assert [d.page_content for d in docs] == ["doc text", "plain text", "source text"]
    assert docs[2].metadata == {"csl": {"title": "S"}}
    annotations = message.content_blocks[0]["annotations"]
    assert [a["extras"]["document_id"] for a in annotations] == ["x", None, None]
    assert annotations[2]["title"] == "S"


def test_a_message_question_is_read_as_its_text(cite: CiteformerRunnable) -> None:
    message = cite.invoke({"question": HumanMessage("Q?"), "documents": ["t"]})
    assert message.text == "t [1]."


def test_default_csl_metadata_from_common_keys() -> None:
    doc = Document(
        "x",
        id="doc-1",
        metadata={
            "title": "A Title",
            "source": "https://example.org/a",
            "author": ["Ann Lee", {"family": "Roe", "given": "R."}],
            "date": "2021-05-04",
            "doi": "10.1/xyz",
        },
    )
    assert csl_metadata(doc) == {
        "title": "A Title",
        "URL": "https://example.org/a",
        "author": [{"literal": "Ann Lee"}, {"family": "Roe", "given": "R."}],
        "issued": {"date-parts": [[2021, 5, 4]]},
        "DOI": "10.1/xyz",
        "id": "doc-1",
        "type": "webpage",
    }
    local = Document("x", metadata={"source": "/tmp/notes.txt", "year": 1999, "csl": {"x": 1}})
    assert csl_metadata(local) == {
        "x": 1,
        "issued": {"date-parts": [[1999]]},
        "title": "notes.txt",  # the file, never the chunk's text
        "type": "document",
    }


def test_metadata_mapper_hook_replaces_the_default() -> None:
    def mapper(doc: Document) -> dict[str, Any]:
        return {"title": doc.metadata["name"].upper(), "URL": f"https://kb.example/{doc.id}"}

    cite = CiteformerRunnable(backend=MockBackend("Yes [1]."), metadata_mapper=mapper)
    document = Document("t", id="7", metadata={"name": "kb"})
    message = cite.invoke({"question": "Q?", "documents": [document]})
    (annotation,) = message.content_blocks[0]["annotations"]
    assert annotation["title"] == "KB"
    assert annotation["url"] == "https://kb.example/7"
    assert generation_result(message).sources[0].metadata == {
        "title": "KB",
        "URL": "https://kb.example/7",
    }


def test_bad_mapper_output_is_a_clear_error() -> None:
    cite = CiteformerRunnable(backend=MockBackend("x"), metadata_mapper=lambda d: ["nope"])
    with pytest.raises(InvalidSourceError, match="metadata_mapper must return a CSL-JSON mapping"):
        cite.invoke({"question": "Q?", "documents": ["t"]})


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ({"documents": ["t"]}, InvalidPromptError, "input has no question: use one of the keys"),
        ({"question": "", "documents": ["t"]}, InvalidPromptError, "non-empty question"),
        ({"question": 42, "documents": ["t"]}, InvalidPromptError, "non-empty question"),
        ({"question": "Q?"}, InvalidSourceError, "input has no documents"),
        ({"question": "Q?", "documents": []}, InvalidSourceError, "no documents to cite"),
        ({"question": "Q?", "documents": [1, 2]}, InvalidSourceError, r"documents\[0\] is a int"),
        ({"question": "Q?", "context": "joined docs"}, InvalidSourceError, "formatted string"),
        ({"question": "Q?", "documents": 3.5}, InvalidSourceError, "list of Documents"),
        ("just a question", InvalidSourceError, "from_retriever"),
        (["not", "a", "dict"], InvalidPromptError, "input must be a dict"),
    ],
)
def test_bad_input_gives_clear_typed_errors(
    cite: CiteformerRunnable, value: Any, error: type[UsageError], match: str
) -> None:
    with pytest.raises(error, match=match):
        cite.invoke(value)
    with pytest.raises(error, match=match):
        list(cite.stream(value))


async def test_bad_input_errors_on_the_async_paths(cite: CiteformerRunnable) -> None:
    with pytest.raises(InvalidSourceError, match="no documents to cite"):
        await cite.ainvoke({"question": "Q?", "documents": []})
    with pytest.raises(InvalidPromptError, match="no question"):
        async for _ in cite.astream({"docs": ["t"]}):
            pass


def test_construction_errors() -> None:
    with pytest.raises(ValueError, match="either citeformer= or backend="):
        CiteformerRunnable(backend=MockBackend("x"), citeformer=object())
    with pytest.raises(ValueError, match="backend must be a citeformer Backend"):
        CiteformerRunnable(backend="openai")
    with pytest.raises(ValueError, match="unknown policy"):
        CiteformerRunnable(backend=MockBackend("x"), policy="sometimes")
    with pytest.raises(ValueError, match="unknown citation style"):
        CiteformerRunnable(backend=MockBackend("x"), style="klingon")


def test_policy_strict_and_options_reach_citeformer() -> None:
    seen: list[dict[str, Any]] = []

    class Recording(MockBackend):
        def generate(self, prompt, sources, policy, **options):  # type: ignore[no-untyped-def]
            seen.append({"policy": policy, **options})
            return "Bad [9]."

    cite = CiteformerRunnable(
        backend=Recording(), policy="required", options={"max_tokens": 77}, strict=False
    )
    assert cite.invoke({"question": "Q?", "documents": ["t"]}).text == "Bad."
    assert seen[-1]["policy"].value == "required"
    assert seen[-1]["max_tokens"] == 77
    cite.invoke({"question": "Q?", "documents": ["t"]}, temperature=0.5)
    assert seen[-1]["temperature"] == 0.5
    strict = CiteformerRunnable(backend=Recording(), strict=True)
    with pytest.raises(Exception, match="invalid citation marker"):
        strict.invoke({"question": "Q?", "documents": ["t"]})
