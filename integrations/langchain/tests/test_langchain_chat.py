"""Chat history through the runnable: LangChain's conventions in, chat turns to the backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from citeformer.backends.openai import OpenAIBackend
from citeformer.errors import InvalidPromptError
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.retrievers import BaseRetriever
from tests.loopback import openai_wire as wire
from tests.loopback.server import LoopbackServer

from langchain_citeformer import CiteformerRunnable

DOCS = [
    Document("The Eiffel Tower is 330 metres tall.", metadata={"title": "Eiffel Tower"}),
    Document("Gustave Eiffel's company built it for 1889.", metadata={"title": "Eiffel"}),
]


@pytest.fixture
def backend(loopback: LoopbackServer) -> Iterator[OpenAIBackend]:
    loopback.reset(wire.answer(wire.numbered_turns))
    backend = OpenAIBackend("gpt-test", api_key="sk-test-chat", base_url=f"{loopback.url}/v1")
    yield backend
    backend.close()


async def test_three_turns_with_a_chat_message_history(
    backend: OpenAIBackend, loopback: LoopbackServer
) -> None:
    # LangChain's chat-history classes are deprecated for LangGraph's persistence;
    # either way the conversation reaches the runnable as "chat_history" messages.
    history: list[BaseMessage] = []
    cite = CiteformerRunnable(backend=backend)
    answers = []
    for question in ["How tall is it?", "Who built it?", "When?"]:
        answer = await cite.ainvoke(
            {"question": question, "documents": DOCS, "chat_history": list(history)}
        )
        history += [HumanMessage(question), answer]
        answers.append(answer)
    await backend.aclose()  # its async client belongs to this test's event loop
    assert [a.text for a in answers] == ["Answer 1 [2].", "Answer 2 [1].", "Answer 3 [2]."]
    last = wire.chat_turns(loopback.requests[-1])
    assert last[:4] == [
        ("user", "How tall is it?"), ("assistant", "Answer 1 [2]."),
        ("user", "Who built it?"), ("assistant", "Answer 2 [1]."),
    ]  # fmt: skip
    assert last[4][0] == "user" and last[4][1].endswith("Question: When?")
    assert len(last) == 5
    # The markers of this answer point at this call's documents.
    assert answers[2].response_metadata["citeformer"]["citations"][0]["source_id"] == 2


def test_a_message_list_whose_last_human_turn_is_the_question(
    backend: OpenAIBackend, loopback: LoopbackServer
) -> None:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Be brief."), MessagesPlaceholder("history"), ("human", "{question}")]
    )
    cite = CiteformerRunnable.from_retriever(_Fixed(), backend)
    chain = prompt | cite
    history = [HumanMessage("How tall is it?"), AIMessage("330 m [1].")]
    chain.invoke({"history": history, "question": "Who built it?"})
    assert wire.chat_turns(loopback.requests[-1])[:2] == [
        ("user", "How tall is it?"), ("assistant", "330 m [1]."),
    ]  # fmt: skip
    # The system message is the user's; citeformer's own instructions govern the call.
    assert "Be brief." not in str(loopback.requests[-1].body["messages"])
    cite.invoke({"messages": [*history, HumanMessage("Who built it?")], "documents": DOCS})
    assert len(wire.chat_turns(loopback.requests[-1])) == 3


def test_history_as_pairs_and_bad_shapes(backend: OpenAIBackend, loopback: LoopbackServer) -> None:
    cite = CiteformerRunnable(backend=backend)
    cite.invoke(
        {"input": "Who?", "context": DOCS, "chat_history": [("human", "Hi"), ("ai", "Hello")]}
    )
    assert wire.chat_turns(loopback.requests[-1])[:2] == [("user", "Hi"), ("assistant", "Hello")]
    with pytest.raises(InvalidPromptError, match="must end with the user's question"):
        cite.invoke([HumanMessage("Q"), AIMessage("A")])
    with pytest.raises(InvalidPromptError, match="list of messages"):
        cite.invoke({"question": "Q", "documents": DOCS, "chat_history": "earlier text"})
    with pytest.raises(InvalidPromptError, match="role"):
        cite.invoke({"question": "Q", "documents": DOCS, "chat_history": [("robot", "x")]})
    cite.invoke({"question": "Q", "documents": DOCS, "chat_history": [SystemMessage("s")]})
    assert len(wire.chat_turns(loopback.requests[-1])) == 1  # a system message is not a turn


class _Fixed(BaseRetriever):
    """Always the two documents."""

    def _get_relevant_documents(self, query: str, *, run_manager: Any) -> list[Document]:
        return DOCS
