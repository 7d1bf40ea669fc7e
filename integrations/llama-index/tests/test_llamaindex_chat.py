"""CiteformerChatEngine: a conversation that keeps the guarantee, through the real SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.response_synthesizers.citeformer import (
    CiteformerChatEngine,
    HashingEmbedding,
    citations,
    cited_source_nodes,
    generation_result,
)

from citeformer import Citeformer, InvalidOptionError, MockBackend
from citeformer.backends.openai import OpenAIBackend
from tests.loopback import openai_wire as wire
from tests.loopback.server import LoopbackServer

DOCUMENTS = [
    Document(text="The Eiffel Tower is 330 metres tall.", metadata={"title": "Eiffel Tower"}),
    Document(text="Gustave Eiffel's company built the tower.", metadata={"title": "Eiffel"}),
]


@pytest.fixture
def backend(openai_server: LoopbackServer) -> Iterator[OpenAIBackend]:
    openai_server.reset(wire.answer(wire.numbered_turns))
    made = OpenAIBackend("gpt-test", api_key="sk-test-chat", base_url=f"{openai_server.url}/v1")
    yield made
    made.close()


def _engine(backend: object, **kwargs: object) -> CiteformerChatEngine:
    index = VectorStoreIndex.from_documents(DOCUMENTS, embed_model=HashingEmbedding())
    return CiteformerChatEngine.from_index(index, Citeformer(backend), similarity_top_k=2, **kwargs)  # type: ignore[arg-type]


def test_three_turns_send_the_history_and_cite_each_turns_nodes(
    backend: OpenAIBackend, openai_server: LoopbackServer
) -> None:
    engine = _engine(backend)
    replies = [engine.chat(q) for q in ("How tall is it?", "Who built it?", "When?")]
    assert [r.response for r in replies] == ["Answer 1 [2].", "Answer 2 [1].", "Answer 3 [2]."]
    last = wire.chat_turns(openai_server.requests[-1])
    assert last[:4] == [
        ("user", "How tall is it?"), ("assistant", "Answer 1 [2]."),
        ("user", "Who built it?"), ("assistant", "Answer 2 [1]."),
    ]  # fmt: skip
    assert last[4][1].endswith("Question: When?") and len(last) == 5
    (citation,) = citations(replies[2])  # unwrapped from the chat response
    assert citation.source_id == 2
    assert cited_source_nodes(replies[2])[0].node.node_id == citation.node_id
    assert [m.role for m in engine.chat_history] == [MessageRole.USER, MessageRole.ASSISTANT] * 3
    engine.reset()
    assert engine.chat_history == []


async def test_achat_and_both_streams(
    backend: OpenAIBackend, openai_server: LoopbackServer
) -> None:
    engine = _engine(backend)
    first = await engine.achat("How tall is it?")
    assert generation_result(first).text == "Answer 1 [2]."  # type: ignore[union-attr]
    streamed = await engine.astream_chat("Who built it?")
    text = "".join([token async for token in streamed.async_response_gen()])
    assert text == "Answer 2 [1]."
    assert citations(streamed)[0].source_id == 1
    assert engine.chat_history[-1].content == "Answer 2 [1]."
    assert len(wire.chat_turns(openai_server.requests[-1])) == 3
    await backend.aclose()


def test_sync_stream_writes_the_answer_to_memory(backend: OpenAIBackend) -> None:
    engine = _engine(backend)
    streamed = engine.stream_chat("How tall is it?")
    assert "".join(streamed.response_gen) == "Answer 1 [2]."  # joins the memory writer
    assert [m.content for m in engine.chat_history] == ["How tall is it?", "Answer 1 [2]."]


def test_condense_rewrites_the_retrieval_query_only() -> None:
    seen: list[str] = []

    def condense(history: object, question: str) -> str:
        seen.append(question)
        return "Who built the Eiffel Tower?"

    engine = _engine(MockBackend("Eiffel built it [1]."), condense=condense)
    engine.chat("How tall is it?")  # no history yet: nothing to condense
    reply = engine.chat("Who built it?")
    assert seen == ["Who built it?"]
    assert reply.sources[0].raw_input == {"query": "Who built the Eiffel Tower?"}
    history = [ChatMessage(role=MessageRole.USER, content="Earlier?")]
    engine.chat("And now?", chat_history=history)
    assert engine.chat_history[0].content == "Earlier?"


def test_wrong_arguments() -> None:
    index = VectorStoreIndex.from_documents(DOCUMENTS, embed_model=HashingEmbedding())
    with pytest.raises(InvalidOptionError, match="per call"):
        CiteformerChatEngine(index.as_retriever(), MockBackend("x"), streaming=True)
    with pytest.raises(InvalidOptionError, match="retriever"):
        CiteformerChatEngine(index, MockBackend("x"))  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="non-empty question"):
        _engine(MockBackend("x")).chat("  ")


def test_citations_unwrap_a_condense_question_chat_response() -> None:
    from llama_index.core.chat_engine import CondenseQuestionChatEngine
    from llama_index.core.llms import MockLLM
    from llama_index.core.memory import ChatMemoryBuffer
    from llama_index.response_synthesizers.citeformer import citation_query_engine

    index = VectorStoreIndex.from_documents(DOCUMENTS, embed_model=HashingEmbedding())
    query_engine = citation_query_engine(index, Citeformer(MockBackend("Tall [1].")))
    # Its default memory opens an aiosqlite connection nobody closes: a plain buffer.
    chat = CondenseQuestionChatEngine.from_defaults(
        query_engine=query_engine, llm=MockLLM(), memory=ChatMemoryBuffer.from_defaults()
    )
    reply = chat.chat("How tall is it?")
    assert [c.source_id for c in citations(reply)] == [1]  # was [] before the unwrap
    with pytest.raises(TypeError, match="holds no response from CiteformerSynthesizer"):
        citations(type("Reply", (), {"sources": [], "metadata": None})())
