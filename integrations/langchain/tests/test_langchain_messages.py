"""Output shapes: the message and its annotations, chunks adding up, str and dict modes."""

from __future__ import annotations

import re
from functools import reduce
from operator import add

import pytest
from citeformer import Citeformer, GenerationResult, MockBackend, Source, TokenUsage
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.messages.utils import message_chunk_to_message
from langchain_core.output_parsers import StrOutputParser

from langchain_citeformer import CiteformerRunnable, generation_result

REPLY = "The tower is 330 m tall [1]. Everest is high [2, 1]. Made up [7]. Amazon [3]."
DOCS = [
    Document("The Eiffel Tower is 330 metres tall.", id="d-eiffel",
             metadata={"title": "Eiffel Tower", "url": "https://example.org/eiffel"}),
    Document("Mount Everest is the highest mountain.", id="d-everest",
             metadata={"title": "Mount Everest"}),
    Document("The Amazon is the largest rainforest.", id="d-amazon"),
]  # fmt: skip
INPUT = {"question": "Tell me facts.", "documents": DOCS}


def runnable(chunks: int = 4, **kwargs: object) -> CiteformerRunnable:
    backend = MockBackend(REPLY, chunks=chunks, usage=TokenUsage(50, 20, 5))
    return CiteformerRunnable(backend=backend, **kwargs)


def test_invoke_message_carries_standard_citation_annotations() -> None:
    message = runnable().invoke(INPUT)
    assert isinstance(message, AIMessage)
    assert (
        # [2, 1] is rewritten into the citation language's order; [7] is removed.
        message.text == "The tower is 330 m tall [1]. Everest is high [1, 2]. Made up. Amazon [3]."
    )
    (block,) = message.content_blocks
    assert block["type"] == "text"
    annotations = block["annotations"]
    assert [a["extras"]["source_id"] for a in annotations] == [1, 1, 2, 3]
    for annotation in annotations:
        assert annotation["type"] == "citation"
        marker = message.text[annotation["start_index"] : annotation["end_index"]]
        assert marker == annotation["extras"]["marker"]
        assert re.fullmatch(r"\[\d(, \d)*\]", marker)
        position = annotation["extras"]["source_index"]
        assert annotation["extras"]["document_id"] == DOCS[position].id
    first = annotations[0]
    assert first["title"] == "Eiffel Tower"
    assert first["url"] == "https://example.org/eiffel"
    assert "url" not in annotations[2]  # Everest has no URL
    assert "title" not in annotations[3]  # the third document has no title
    assert message.usage_metadata == {
        "input_tokens": 50,
        "output_tokens": 20,
        "total_tokens": 70,
        "input_token_details": {"cache_read": 5},
    }


def test_response_metadata_holds_the_full_result_and_documents() -> None:
    message = runnable().invoke(INPUT)
    result = generation_result(message)
    assert isinstance(result, GenerationResult)
    direct = Citeformer(MockBackend(REPLY, usage=TokenUsage(50, 20, 5))).generate(
        "Tell me facts.", [Source(d.page_content) for d in DOCS]
    )
    assert result.text == direct.text
    assert [(c.source_id, c.start, c.end) for c in result.citations] == [
        (c.source_id, c.start, c.end) for c in direct.citations
    ]
    assert [m.text for m in result.invalid_markers] == ["[7]"]
    assert message.response_metadata["documents"] == DOCS
    assert message.response_metadata["finish_reason"] == "stop"
    assert message.response_metadata["enforcement"] == "validated"
    assert [r.source_id for r in result.references] == [1, 2, 3]
    assert "Eiffel Tower" in result.references[0].text


@pytest.mark.parametrize("chunks", [1, 2, 3, 5, 100])
def test_streamed_chunks_add_up_to_the_invoke_message(chunks: int) -> None:
    cite = runnable(chunks=chunks)
    streamed = list(cite.stream(INPUT))
    assert all(isinstance(c, AIMessageChunk) for c in streamed)
    assert streamed[-1].chunk_position == "last"
    total = reduce(add, streamed)
    assert message_chunk_to_message(total) == cite.invoke(INPUT)


@pytest.mark.parametrize("chunks", [1, 2, 3])
async def test_async_streamed_chunks_add_up_to_the_ainvoke_message(chunks: int) -> None:
    cite = runnable(chunks=chunks)
    streamed = [c async for c in cite.astream(INPUT)]
    total = reduce(add, streamed)
    assert message_chunk_to_message(total) == await cite.ainvoke(INPUT)


def test_no_chunk_holds_a_partial_or_invalid_marker() -> None:
    # Splits of 1..3 characters fall inside every marker of the reply.
    cite = runnable(chunks=[1, 2, 3])
    texts = [c.text for c in cite.stream(INPUT)]
    assert len([t for t in texts if t]) > 20
    for text in texts:
        assert text.count("[") == text.count("]")
        for marker in re.findall(r"\[[^\]]*\]", text):
            assert marker in {"[1]", "[1, 2]", "[3]"}
        assert "[7" not in text


def test_str_output_parser_streams_plain_text() -> None:
    chain = runnable(chunks=2) | StrOutputParser()
    pieces = list(chain.stream(INPUT))
    assert len([p for p in pieces if p]) > 10
    assert all(isinstance(p, str) for p in pieces)
    assert "".join(pieces) == runnable().invoke(INPUT).text
    assert chain.invoke(INPUT) == runnable().invoke(INPUT).text


def test_str_output_mode() -> None:
    cite = runnable(chunks=3, output="str")
    answer = cite.invoke(INPUT)
    assert answer == "The tower is 330 m tall [1]. Everest is high [1, 2]. Made up. Amazon [3]."
    pieces = list(cite.stream(INPUT))
    assert all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces) == answer


def test_dict_output_mode_and_its_chunks_add_up() -> None:
    cite = runnable(chunks=3, output="dict")
    out = cite.invoke(INPUT)
    assert set(out) == {"answer", "citations", "context"}
    assert out["context"] == DOCS
    assert [a["extras"]["document_id"] for a in out["citations"]] == [
        "d-eiffel", "d-eiffel", "d-everest", "d-amazon",
    ]  # fmt: skip
    streamed = list(cite.stream(INPUT))
    assert streamed[0]["context"] == DOCS
    assert reduce(add, streamed) == out


def test_empty_answer_gives_empty_content_both_ways() -> None:
    cite = CiteformerRunnable(backend=MockBackend(""))
    message = cite.invoke(INPUT)
    assert message.content == []
    assert message_chunk_to_message(reduce(add, cite.stream(INPUT))) == message


def test_cited_text_and_source_span_appear_when_the_backend_reports_them() -> None:
    from citeformer.backends.base import BackendText, CallInfo, ProviderCitation

    class ProviderStyle(MockBackend):
        def generate(self, prompt, sources, policy, **options):  # type: ignore[no-untyped-def]
            text = "Tall [1]."
            citation = ProviderCitation(5, 1, "330 metres tall", 20, 35)
            return BackendText(text, CallInfo(citations=(citation,)))

    message = CiteformerRunnable(backend=ProviderStyle()).invoke(INPUT)
    (annotation,) = message.content_blocks[0]["annotations"]
    assert annotation["cited_text"] == "330 metres tall"
    assert annotation["extras"]["source_start"] == 20
    assert annotation["extras"]["source_end"] == 35
