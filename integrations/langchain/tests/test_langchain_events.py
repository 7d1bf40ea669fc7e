"""Callbacks, config propagation, astream_events and custom citation events."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from citeformer import BackendError, MockBackend
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.runnables import RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_citeformer import CITATION_EVENT, MARKER_REMOVED_EVENT, CiteformerRunnable

REPLY = "Tall [1]. High [2]. Both [1, 2]. Fake [9]."
DOCS = [Document("Eiffel", id="e"), Document("Everest", id="v")]
INPUT = {"question": "Q?", "documents": DOCS}


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        self.events.append(("chain_start", kwargs))

    def on_chain_end(self, outputs: Any, **kwargs: Any) -> None:
        self.events.append(("chain_end", {"outputs": outputs, **kwargs}))

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.events.append(("chat_model_start", {"messages": messages, **kwargs}))

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.events.append(("token", {"token": token, **kwargs}))

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self.events.append(("llm_end", {"response": response, **kwargs}))

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.events.append((name, {"data": data, **kwargs}))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kw for n, kw in self.events if n == name]


async def test_astream_events_v2_in_a_rag_chain(vectorstore: InMemoryVectorStore) -> None:
    retriever = vectorstore.as_retriever(search_kwargs={"k": 2})
    cite = CiteformerRunnable(backend=MockBackend(REPLY, chunks=2))
    chain = {"documents": retriever, "question": RunnablePassthrough()} | cite
    events = [e async for e in chain.astream_events("Eiffel Tower height", version="v2")]
    kinds = [(e["event"], e["name"]) for e in events]
    assert kinds[0][0] == "on_chain_start"
    assert kinds[-1][0] == "on_chain_end"
    (own_start,) = [
        e for e in events if e["event"] == "on_chain_start" and e["name"] == "Citeformer"
    ]
    own_id = own_start["run_id"]
    assert ("on_retriever_end", "VectorStoreRetriever") in kinds
    streams = [e for e in events if e["event"] == "on_chain_stream" and e["name"] == "Citeformer"]
    assert len(streams) > 10
    citations = [
        e for e in events if e["event"] == "on_custom_event" and e["name"] == CITATION_EVENT
    ]
    assert [c["data"]["extras"]["source_id"] for c in citations] == [1, 2, 1, 2]
    assert all(c["run_id"] == own_id for c in citations)
    retrieved = await retriever.ainvoke("Eiffel Tower height")
    assert [c["data"]["extras"]["document_id"] for c in citations] == [
        retrieved[0].id, retrieved[1].id, retrieved[0].id, retrieved[1].id,
    ]  # fmt: skip
    removed = [e for e in events if e["name"] == MARKER_REMOVED_EVENT]
    assert [r["data"]["text"] for r in removed] == ["[9]"]
    # The backend call is a chat-model run nested under the runnable's run.
    model = [e for e in events if e["event"].startswith("on_chat_model")]
    assert model[0]["event"] == "on_chat_model_start"
    assert model[-1]["event"] == "on_chat_model_end"
    assert sum(e["event"] == "on_chat_model_stream" for e in model) > 10
    assert all(e["name"] == "MockBackend" and own_id in e["parent_ids"] for e in model)
    assert model[-1]["data"]["output"].text == "Tall [1]. High [2]. Both [1, 2]. Fake."
    (own_end,) = [e for e in events if e["event"] == "on_chain_end" and e["name"] == "Citeformer"]
    assert own_end["data"]["output"].text == "Tall [1]. High [2]. Both [1, 2]. Fake."
    assert own_start["parent_ids"] == [events[0]["run_id"]]


def test_callbacks_tags_metadata_and_run_name_propagate() -> None:
    recorder = Recorder()
    cite = CiteformerRunnable(backend=MockBackend(REPLY, chunks=3))
    config = {
        "callbacks": [recorder],
        "tags": ["rag"],
        "metadata": {"tenant": "t1"},
        "run_name": "cited-answer",
    }
    message = cite.invoke(INPUT, config)
    (start,) = recorder.named("chain_start")
    assert start["name"] == "cited-answer"
    assert "rag" in start["tags"]
    assert start["metadata"]["tenant"] == "t1"
    (model,) = recorder.named("chat_model_start")
    assert model["parent_run_id"] == start["run_id"]
    assert "rag" in model["tags"]
    assert model["metadata"]["tenant"] == "t1"
    assert model["messages"][0][0].content == "Q?"
    assert len(recorder.named(CITATION_EVENT)) == 4
    assert all(e["run_id"] == start["run_id"] for e in recorder.named(CITATION_EVENT))
    (llm_end,) = recorder.named("llm_end")
    assert llm_end["response"].generations[0][0].message == message
    (end,) = recorder.named("chain_end")
    assert end["outputs"] == message


def test_sync_stream_reports_tokens_on_the_nested_run() -> None:
    recorder = Recorder()
    cite = CiteformerRunnable(backend=MockBackend(REPLY, chunks=2), output="str")
    pieces = list(cite.stream(INPUT, {"callbacks": [recorder]}))
    tokens = [e["token"] for e in recorder.named("token")]
    assert "".join(tokens) == "".join(pieces) == "Tall [1]. High [2]. Both [1, 2]. Fake."
    assert all(isinstance(e["run_id"], UUID) for e in recorder.named("token"))
    assert len(recorder.named(CITATION_EVENT)) == 4
    (llm_end,) = recorder.named("llm_end")
    assert llm_end["response"].generations[0][0].message.text == "".join(pieces)
    (end,) = recorder.named("chain_end")
    assert end["outputs"] == "".join(pieces)


async def test_async_callbacks_get_custom_events_and_errors() -> None:
    recorder = Recorder()
    cite = CiteformerRunnable(backend=MockBackend(REPLY))
    await cite.ainvoke(INPUT, {"callbacks": [recorder]})
    assert len(recorder.named(CITATION_EVENT)) == 4
    assert len(recorder.named(MARKER_REMOVED_EVENT)) == 1
    errors: list[BaseException] = []

    class ErrorRecorder(BaseCallbackHandler):
        def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
            errors.append(error)

    broken = CiteformerRunnable(backend=MockBackend("x", error=RuntimeError("down")))
    with pytest.raises(BackendError, match="RuntimeError: down") as raised:
        await broken.ainvoke(INPUT, {"callbacks": [ErrorRecorder()]})
    # The typed error reaches the callbacks; the backend's own is its cause.
    assert errors == [raised.value]
    assert isinstance(raised.value.__cause__, RuntimeError)


def test_configurable_fields_switch_policy_and_output() -> None:
    from langchain_core.runnables import ConfigurableField

    seen: list[str] = []

    class Recording(MockBackend):
        def generate(self, prompt, sources, policy, **options):  # type: ignore[no-untyped-def]
            seen.append(policy.value)
            return "Yes [1]."

    cite = CiteformerRunnable(backend=Recording()).configurable_fields(
        policy=ConfigurableField(id="citation_policy"),
        output=ConfigurableField(id="output"),
    )
    assert cite.invoke(INPUT).text == "Yes [1]."
    out = cite.invoke(INPUT, {"configurable": {"citation_policy": "REQUIRED", "output": "str"}})
    assert out == "Yes [1]."
    assert seen == ["auto", "required"]
