"""Inside real LCEL pipelines: InMemoryVectorStore -> retriever -> the runnable."""

from __future__ import annotations

from functools import reduce
from operator import add

from citeformer import MockBackend
from langchain_core.documents import Document
from langchain_core.messages.utils import message_chunk_to_message
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_citeformer import CiteformerRunnable, generation_result

QUESTION = "How tall is the Eiffel Tower?"


def assert_annotations_map_to(message: object, retrieved: list[Document]) -> None:
    by_id = {d.id: d for d in retrieved}
    annotations = message.content_blocks[0]["annotations"]  # type: ignore[attr-defined]
    assert annotations
    for annotation in annotations:
        document = by_id[annotation["extras"]["document_id"]]
        assert retrieved[annotation["extras"]["source_index"]] is document or (
            retrieved[annotation["extras"]["source_index"]] == document
        )
        assert annotation.get("title") == document.metadata.get("title")


def test_lcel_rag_chain_sync(vectorstore: InMemoryVectorStore, native_backend_cls: type) -> None:
    retriever = vectorstore.as_retriever(search_kwargs={"k": 3})
    backend = native_backend_cls()
    chain = {"documents": retriever, "question": RunnablePassthrough()} | CiteformerRunnable(
        backend=backend
    )
    message = chain.invoke(QUESTION)
    retrieved = retriever.invoke(QUESTION)
    assert retrieved[0].id == "eiffel"  # the deterministic embedding ranks it first
    assert message.text == "The Eiffel Tower is 330 metres tall [1]. See also [2]."
    assert message.response_metadata["documents"] == retrieved
    assert_annotations_map_to(message, retrieved)
    streamed = list(chain.stream(QUESTION))
    assert len(streamed) > 5
    assert message_chunk_to_message(reduce(add, streamed)) == message
    assert backend.async_calls == 0


async def test_lcel_rag_chain_async(
    vectorstore: InMemoryVectorStore, native_backend_cls: type
) -> None:
    retriever = vectorstore.as_retriever(search_kwargs={"k": 2})
    backend = native_backend_cls()
    chain = {"context": retriever, "input": RunnablePassthrough()} | CiteformerRunnable(
        backend=backend
    )
    message = await chain.ainvoke("Which is the highest mountain?")
    retrieved = await retriever.ainvoke("Which is the highest mountain?")
    assert retrieved[0].id == "everest"
    assert_annotations_map_to(message, retrieved)
    streamed = [c async for c in chain.astream("Which is the highest mountain?")]
    assert message_chunk_to_message(reduce(add, streamed)) == message
    assert backend.sync_calls == 0
    assert backend.async_calls == 2


def test_from_retriever_takes_a_plain_question(vectorstore: InMemoryVectorStore) -> None:
    retriever = vectorstore.as_retriever(search_kwargs={"k": 2})
    cite = CiteformerRunnable.from_retriever(retriever, MockBackend("Since 1991 [1]. Not [3]."))
    message = cite.invoke("When was Python released?")
    retrieved = retriever.invoke("When was Python released?")
    assert retrieved[0].id == "python"
    assert message.text == "Since 1991 [1]. Not."
    assert_annotations_map_to(message, retrieved)
    # A dict without documents retrieves too.
    assert cite.invoke({"query": "When was Python released?"}).text == message.text
    assert [m.text for m in generation_result(message).invalid_markers] == ["[3]"]


async def test_from_retriever_async_and_streaming(
    vectorstore: InMemoryVectorStore, native_backend_cls: type
) -> None:
    retriever = vectorstore.as_retriever(search_kwargs={"k": 2})
    backend = native_backend_cls(chunk_size=2)
    cite = CiteformerRunnable.from_retriever(retriever, backend, output="str")
    text = await cite.ainvoke("the largest rainforest")
    assert text.startswith("The Amazon is the largest rainforest on Earth [1].")
    pieces = [p async for p in cite.astream("the largest rainforest")]
    assert "".join(pieces) == text
    assert len(pieces) > 10


def test_rag_chain_with_parallel_outputs_and_str_parser(vectorstore: InMemoryVectorStore) -> None:
    retriever = vectorstore.as_retriever(search_kwargs={"k": 2})
    cite = CiteformerRunnable(backend=MockBackend("It is tall [1].", chunks=2))
    chain = RunnableParallel(question=RunnablePassthrough(), documents=retriever) | {
        "answer": cite | StrOutputParser(),
        "sources": RunnableLambda(lambda x: [d.id for d in x["documents"]]),
    }
    out = chain.invoke(QUESTION)
    assert out == {
        "answer": "It is tall [1].",
        "sources": ["eiffel", retriever.invoke(QUESTION)[1].id],
    }
    answer_chunks = [c["answer"] for c in chain.stream(QUESTION) if "answer" in c]
    assert len(answer_chunks) > 3
    assert "".join(answer_chunks) == "It is tall [1]."


def test_batch_runs_each_input(vectorstore: InMemoryVectorStore, native_backend_cls: type) -> None:
    retriever = vectorstore.as_retriever(search_kwargs={"k": 1})
    cite = CiteformerRunnable.from_retriever(retriever, native_backend_cls(), output="str")
    questions = ["Eiffel Tower height", "highest mountain", "Great Wall of China length"]
    answers = cite.batch(questions, config={"max_concurrency": 2})
    assert [a.split(" [")[0] for a in answers] == [
        "The Eiffel Tower is 330 metres tall",
        "Mount Everest is the highest mountain above sea level",
        "The Great Wall of China is thousands of kilometres long",
    ]
