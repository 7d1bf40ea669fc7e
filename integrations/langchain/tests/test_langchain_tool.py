"""The runnable as a tool, called the way an agent calls it (a tool-calling model's turn)."""

from __future__ import annotations

import pytest
from citeformer import GenerationResult, InvalidOptionError, MockBackend
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_citeformer import CiteformerRunnable

DOCS = [Document("The Eiffel Tower is 330 metres tall.", metadata={"title": "Eiffel Tower"})]
CALL = {"name": "cited_answer", "args": {"question": "How tall is it?"}, "id": "call_1"}


def _runnable() -> CiteformerRunnable:
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=32))
    store.add_documents(DOCS)
    retriever = store.as_retriever(search_kwargs={"k": 1})
    return CiteformerRunnable.from_retriever(retriever, MockBackend("It is 330 m tall [1][4]."))


def _agent_model() -> GenericFakeChatModel:
    """A tool-calling model: first it calls the tool, then it would answer itself."""
    turns = [AIMessage("", tool_calls=[CALL]), AIMessage("The tower is 330 m tall.")]
    return GenericFakeChatModel(messages=iter(turns))


def test_an_agent_turn_gets_the_cited_answer_and_the_result() -> None:
    tool = _runnable().as_tool(return_direct=True)
    assert tool.name == "cited_answer" and tool.return_direct
    assert set(tool.args) == {"question"}
    turn = _agent_model().invoke([HumanMessage("How tall is the Eiffel Tower?")])
    (call,) = turn.tool_calls
    reply = tool.invoke({**call, "type": "tool_call"})
    assert isinstance(reply, ToolMessage) and reply.tool_call_id == "call_1"
    assert reply.content.startswith("It is 330 m tall [1].")  # the invented [4] is gone
    assert "References\n[1]" in reply.content
    assert isinstance(reply.artifact, GenerationResult)
    assert [c.source_id for c in reply.artifact.citations] == [1]


async def test_the_tool_runs_on_the_async_path() -> None:
    tool = _runnable().as_tool(name="search_docs", description="Cited answers.")
    reply = await tool.ainvoke({**CALL, "name": "search_docs", "type": "tool_call"})
    assert reply.artifact.text == "It is 330 m tall [1]."
    assert tool.description == "Cited answers."


def test_a_tool_needs_a_retriever_and_takes_no_schema() -> None:
    with pytest.raises(InvalidOptionError, match="retriever"):
        CiteformerRunnable(backend=MockBackend("x")).as_tool()
    with pytest.raises(InvalidOptionError, match="one question"):
        _runnable().as_tool(arg_types={"question": str})
