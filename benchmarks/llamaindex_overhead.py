"""LlamaIndex adapter overhead: 500 concurrent ``aquery`` vs 500 concurrent ``agenerate``.

Same process, same run, same native-async backend (``await asyncio.sleep(latency)``,
then a scripted cited answer; no thread hop). Rows:

- ``Citeformer.agenerate``: the core alone, given the sources directly.
- ``synthesizer.asynthesize``: the adapter without retrieval (nodes retrieved once up
  front): node -> source mapping, citeformer, mapping back, spans and events.
- ``engine.aquery``: the whole RetrieverQueryEngine, retrieval included (in-memory
  VectorStoreIndex, HashingEmbedding), with ``engine.aretrieve`` alone beside it.

Each row is one run of 500 concurrent calls after one warm-up run. Needs
``llama-index-response-synthesizers-citeformer`` installed; skipped otherwise.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._timing import table
from citeformer import Citeformer, Policy, Source
from citeformer.backends.base import Backend

CONCURRENT = 500
LATENCIES = (0.0, 0.05, 0.5)
TOPICS = ("Eiffel", "Rhine", "Everest", "Danube", "Sahara", "Amazon", "Kilimanjaro", "Baikal")


class LatencyBackend(Backend):
    """Native async: waits ``latency`` on the event loop, cites the topic's source."""

    name = "latency"

    def __init__(self, latency: float) -> None:
        self.latency = latency

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        hits = [i for i, s in enumerate(sources, 1) if s.content.split()[1] in prompt]
        cited = " ".join(f"The passage says so [{i}]." for i in hits) or "Nothing found."
        return f"{cited} An unsupported claim [{len(sources) + 1}]."

    async def agenerate(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> str:
        await asyncio.sleep(self.latency)
        return self.generate(prompt, sources, policy)

    async def astream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> AsyncIterator[str]:
        yield await self.agenerate(prompt, sources, policy)


def _nodes() -> list[Any]:
    from llama_index.core.schema import TextNode

    return [
        TextNode(
            id_=topic.lower(),
            text=f"The {topic} passage: a paragraph of retrieved evidence about {topic}, "
            "long enough to look like a real chunk of a document in an index.",
            metadata={"title": topic, "url": f"https://example.org/{topic.lower()}"},
        )
        for topic in TOPICS
    ]


async def _wall(make: Callable[[int], Awaitable[object]]) -> float:
    await asyncio.gather(*(make(i) for i in range(CONCURRENT)))  # warm-up run
    start = time.perf_counter()
    await asyncio.gather(*(make(i) for i in range(CONCURRENT)))
    return time.perf_counter() - start


async def _measure(latency: float) -> dict[str, float]:
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import QueryBundle
    from llama_index.response_synthesizers.citeformer import (
        CiteformerSynthesizer,
        HashingEmbedding,
        citation_query_engine,
        nodes_to_sources,
    )

    cf = Citeformer(LatencyBackend(latency))
    index = VectorStoreIndex(_nodes(), embed_model=HashingEmbedding())
    engine = citation_query_engine(index, CiteformerSynthesizer(cf), similarity_top_k=4)
    questions = [f"Tell me about the {TOPICS[i % len(TOPICS)]}" for i in range(CONCURRENT)]
    retrieved = [await engine.aretrieve(QueryBundle(q)) for q in questions]
    sources = [nodes_to_sources(nodes) for nodes in retrieved]
    synthesizer = engine._response_synthesizer  # the one the engine calls
    return {
        "agenerate": await _wall(lambda i: cf.agenerate(questions[i], sources[i])),
        "asynthesize": await _wall(lambda i: synthesizer.asynthesize(questions[i], retrieved[i])),
        "aretrieve": await _wall(lambda i: engine.aretrieve(QueryBundle(questions[i]))),
        "aquery": await _wall(lambda i: engine.aquery(questions[i])),
    }


def run() -> str:
    try:
        import llama_index.response_synthesizers.citeformer  # noqa: F401
    except ImportError:
        return (
            "### LlamaIndex adapter overhead\n\nskipped: pip install -e integrations/llama-index\n"
        )
    rows = []
    for latency in LATENCIES:
        t = asyncio.run(_measure(latency))
        base = t["agenerate"]
        label = f"{latency * 1000:.0f} ms"
        rows += [
            [label, "Citeformer.agenerate", f"{base * 1000:.1f}", "1.00x"],
            [label, "synthesizer.asynthesize (retrieval excluded)",
             f"{t['asynthesize'] * 1000:.1f}", f"{t['asynthesize'] / base:.2f}x"],
            [label, "engine.aretrieve only", f"{t['aretrieve'] * 1000:.1f}", "—"],
            [label, "engine.aquery (retrieval included)",
             f"{t['aquery'] * 1000:.1f}", f"{t['aquery'] / base:.2f}x"],
        ]  # fmt: skip
    return table(
        f"LlamaIndex adapter: {CONCURRENT} concurrent calls, native-async backend, one run",
        ["backend latency", "path", "wall ms", "vs agenerate"],
        rows,
    )


if __name__ == "__main__":
    print(run())
