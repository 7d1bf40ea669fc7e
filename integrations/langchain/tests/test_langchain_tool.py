"""The runnable as a tool, called the way an agent calls it (a tool-calling model's turn)."""

from __future__ import annotations

from typing import Any

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


class ToolCallingFakeModel(GenericFakeChatModel):
    """The scripted model with ``bind_tools``, which ``create_agent`` calls."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def _agent(tool: Any) -> Any:
    from langchain.agents import create_agent

    return create_agent(_agent_model_with_tools(), tools=[tool])


def _agent_model_with_tools() -> ToolCallingFakeModel:
    turns = [AIMessage("", tool_calls=[CALL]), AIMessage("The tower is 330 m tall [4].")]
    return ToolCallingFakeModel(messages=iter(turns))


def test_create_agent_with_return_direct_ends_on_the_cited_answer() -> None:
    agent = _agent(_runnable().as_tool(return_direct=True))
    state = agent.invoke({"messages": [HumanMessage("How tall is the Eiffel Tower?")]})
    last = state["messages"][-1]
    assert isinstance(last, ToolMessage)  # the run ended on the tool's checked answer
    assert last.content.startswith("It is 330 m tall [1].")
    assert isinstance(last.artifact, GenerationResult)
    assert [c.source_id for c in last.artifact.citations] == [1]


async def test_create_agent_rewording_is_not_citation_checked() -> None:
    agent = _agent(_runnable().as_tool())
    state = await agent.ainvoke({"messages": [HumanMessage("How tall is the Eiffel Tower?")]})
    tool_turn = next(m for m in state["messages"] if isinstance(m, ToolMessage))
    assert tool_turn.artifact.text == "It is 330 m tall [1]."  # checked, async path
    final = state["messages"][-1]
    assert isinstance(final, AIMessage)
    assert final.text == "The tower is 330 m tall [4]."  # the agent's own words: unchecked
