"""A full LCEL RAG pipeline: vector store -> retriever -> CiteformerRunnable.

Runs offline: a deterministic bag-of-words embedding ranks the documents, and a
scripted MockBackend stands in for the model. The script answers from the
top-ranked documents and also writes one fabricated marker, [9], which
citeformer removes: only the retrieved documents can be cited.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections.abc import Sequence

from langchain_citeformer import CiteformerRunnable, generation_result
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore

from citeformer import MockBackend, Source


class HashEmbeddings(Embeddings):
    """Words hashed into 256 dimensions: deterministic, no model needed."""

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * 256
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % 256] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


DOCUMENTS = [
    Document(
        "The Eiffel Tower is 330 metres tall. It was completed in 1889 for the World's Fair.",
        id="eiffel",
        metadata={"title": "Eiffel Tower", "url": "https://example.org/eiffel", "year": 2023},
    ),
    Document(
        "Gustave Eiffel's company designed and built the tower in Paris.",
        id="gustave",
        metadata={"title": "Gustave Eiffel", "author": "A. Historian", "year": 2019},
    ),
    Document(
        "Mount Everest is the highest mountain above sea level.",
        id="everest",
        metadata={"title": "Mount Everest", "url": "https://example.org/everest"},
    ),
    Document(
        "The Great Wall of China was built over many centuries.",
        id="wall",
        metadata={"title": "Great Wall of China"},
    ),
]


def scripted_model(question: str, sources: Sequence[Source]) -> str:
    """What a model might write: two real citations and one fabricated one."""
    first = sources[0].content.split(". ")[0].rstrip(".")
    second = sources[1].content.split(". ")[0].rstrip(".")
    return f"{first} [1]. {second} [2]. It is also the oldest tower in Europe [9]."


def build_chain() -> object:
    store = InMemoryVectorStore(HashEmbeddings())
    store.add_documents(DOCUMENTS)
    retriever = store.as_retriever(search_kwargs={"k": 2})
    cite = CiteformerRunnable(backend=MockBackend(scripted_model, chunks=5), style="apa")
    chain = {"documents": retriever, "question": RunnablePassthrough()} | cite
    return chain


def main() -> None:
    chain = build_chain()
    question = "How tall is the Eiffel Tower and who built it?"
    message = chain.invoke(question)
    print("Question:", question)
    print("Answer:  ", message.text)
    print("Citations:")
    for annotation in message.content_blocks[0]["annotations"]:
        extras = annotation["extras"]
        print(
            f"  {extras['marker']} at {annotation['start_index']}-{annotation['end_index']}"
            f" -> document {extras['document_id']!r}: {annotation.get('title')}"
            f" {annotation.get('url', '')}".rstrip()
        )
    result = generation_result(message)
    print("Removed:", ", ".join(f"{m.text} ({m.reason})" for m in result.invalid_markers))
    print("References (APA):")
    for reference in result.references:
        print("  ", reference.text)

    print("Streaming through StrOutputParser:")
    pieces = list((chain | StrOutputParser()).stream(question))
    print("  ", " | ".join(p for p in pieces if p))

    async def ask_async() -> str:
        return (await chain.ainvoke("Which is the highest mountain?")).text

    print("Async:", asyncio.run(ask_async()))


if __name__ == "__main__":
    main()
