"""Cited answers from a LlamaIndex query engine: sync, async and streaming, offline.

An in-memory VectorStoreIndex over a few encyclopaedia-style passages, embedded with the
deterministic HashingEmbedding; the model is citeformer's MockBackend, scripted to
answer from whichever retrieved passages mention the question's subject (and to
write one out-of-range marker, which citeformer removes). Swap in a real backend
(OpenAIBackend, HFBackend...) and nothing else changes.

Run: python examples/llamaindex_query.py
"""

from __future__ import annotations

import asyncio
import re

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.response.schema import Response
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.response_synthesizers.citeformer import (
    HashingEmbedding,
    NodeCitationEvent,
    citation_query_engine,
    cited_source_nodes,
    stream_events,
)

from citeformer import Citeformer, Completed, MarkerRemoved, MockBackend, Source, TextDelta

DOCUMENTS = [
    Document(
        id_="eiffel-tower",
        text="The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris. "
        "It was designed and built by the company of the engineer Gustave Eiffel between "
        "1887 and 1889, as the centrepiece of the 1889 World's Fair.",
        metadata={"title": "Eiffel Tower", "url": "https://en.wikipedia.org/wiki/Eiffel_Tower"},
    ),
    Document(
        id_="statue-of-liberty",
        text="The Statue of Liberty is a colossal copper statue on Liberty Island in New York "
        "Harbor. Its iron framework was designed by Gustave Eiffel, and it was dedicated "
        "on October 28, 1886.",
        metadata={"title": "Statue of Liberty", "author": "Wikipedia contributors", "year": 2024},
    ),
    Document(
        id_="rhine",
        text="The Rhine is one of the major rivers of Europe. It rises in the Swiss Alps and "
        "flows through Germany and the Netherlands into the North Sea.",
        metadata={"title": "Rhine", "url": "https://en.wikipedia.org/wiki/Rhine"},
    ),
]


def scripted_model(prompt: str, sources: list[Source]) -> str:
    """Answer with the first sentence of each retrieved passage about the subject."""
    subject = "Eiffel" if "Eiffel" in prompt else prompt.split()[-1].strip("?")
    sentences = [
        f"{re.split(r'(?<=[.!?]) ', source.content)[0].rstrip('.')} [{number}]."
        for number, source in enumerate(sources, start=1)
        if subject in source.content
    ]
    return " ".join([*sentences, f"It is also on the Moon [{len(sources) + 3}]."])


def build_engine(*, streaming: bool = False) -> RetrieverQueryEngine:
    index = VectorStoreIndex.from_documents(DOCUMENTS, embed_model=HashingEmbedding())
    backend = MockBackend(scripted_model, chunks=5)
    return citation_query_engine(
        index, Citeformer(backend, style="ieee"), streaming=streaming, similarity_top_k=2
    )


def show(response: Response) -> None:
    print(response.response)
    result = response.metadata["citeformer_result"]
    print(f"  removed markers: {[m.text for m in result.invalid_markers]}")
    for node in cited_source_nodes(response):
        print(f"  cited node {node.node.ref_doc_id} (score {node.score:.2f})")
    for reference in response.metadata["references"]:
        print(f"  {reference['text']}")


def sync_query() -> None:
    print("== query (sync)")
    show(build_engine().query("Who designed the Eiffel Tower?"))


async def async_query() -> None:
    print("== aquery (async, three questions concurrently)")
    engine = build_engine()
    questions = ["Who designed the Eiffel Tower?", "Where does the Rhine", "Tell me about Liberty"]
    for response in await asyncio.gather(*(engine.aquery(q) for q in questions)):
        show(response)


def sync_stream() -> None:
    print("== query (streaming tokens)")
    response = build_engine(streaming=True).query("Who designed the Eiffel Tower?")
    for token in response.response_gen:
        print(token, end="|", flush=True)
    print(f"\n  cited documents: {[n.node.ref_doc_id for n in cited_source_nodes(response)]}")


async def async_stream() -> None:
    print("== aquery (streaming typed events)")
    response = await build_engine(streaming=True).aquery("Who designed the Eiffel Tower?")
    async for event in stream_events(response):
        if isinstance(event, TextDelta):
            print(event.text, end="", flush=True)
        elif isinstance(event, NodeCitationEvent):
            print(f"<{event.node.node.ref_doc_id}>", end="")
        elif isinstance(event, MarkerRemoved):
            print(f"<removed {event.marker.text}>", end="")
        elif isinstance(event, Completed):
            print(f"\n  {len(event.result.citations)} citations")
    print(f"  references: {len(response.metadata['references'])}")


def main() -> None:
    sync_query()
    asyncio.run(async_query())
    sync_stream()
    asyncio.run(async_stream())


if __name__ == "__main__":
    main()
