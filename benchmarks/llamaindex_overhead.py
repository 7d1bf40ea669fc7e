"""LlamaIndex adapter overhead: 500 concurrent ``aquery`` vs 500 concurrent ``agenerate``.

One run, one ``OpenAIBackend`` (schema mode, the real openai SDK) talking to the
loopback OpenAI server in its own process at 200 ms latency. Rows:

- ``Citeformer.agenerate``: the core alone, given the sources directly (the floor).
- ``synthesizer.asynthesize``: the adapter without retrieval (nodes retrieved once up
  front): node -> source mapping, citeformer, mapping back, spans and events. This is
  the row the <= 1.3x target applies to.
- ``engine.aquery``: the whole ``RetrieverQueryEngine``, retrieval included (in-memory
  ``VectorStoreIndex``, ``HashingEmbedding``), with ``engine.aretrieve`` alone beside it.

One run: after a warm-up fan-out of every row, the rows take turns (order rotated
each round) for ``ROUNDS`` rounds of 500 concurrent calls; the table gives each row's
median and range. A fan-out of 500 calls through the SDK costs seconds of CPU on a
small machine (client and server share its cores), so single fan-outs vary by ~20%.
A second table gives the adapter's CPU per call with no I/O at all (an in-process
backend that answers at once, calls one after another): ``asynthesize`` minus
``agenerate``, and what the engine adds on top. Needs
``llama-index-response-synthesizers-citeformer`` installed; skipped otherwise.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._loopback import openai_server
from benchmarks._timing import table
from citeformer import Citeformer, Policy, Source
from citeformer.backends.base import Backend
from citeformer.backends.openai import OpenAIBackend

CONCURRENT = 500
ROUNDS = 3
LATENCY = 0.2
TOP_K = 4
SEQUENTIAL = 2000  # calls per CPU measurement
TOPICS = ("Eiffel", "Rhine", "Everest", "Danube", "Sahara", "Amazon", "Kilimanjaro", "Baikal")


class InstantBackend(Backend):
    """Native async, no I/O: answers at once, citing sources 1-3 (CPU-only rows)."""

    name = "instant"

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        return "The passage says so [1]. Another one agrees [2]. A third adds detail [3]."

    async def agenerate(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> str:
        return self.generate(prompt, sources, policy)

    async def astream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> AsyncIterator[str]:
        yield self.generate(prompt, sources, policy)


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


async def _concurrent(make: Callable[[int], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(make(i) for i in range(CONCURRENT)))
    return time.perf_counter() - start


async def _sequential(make: Callable[[int], Awaitable[object]]) -> float:
    for i in range(200):  # warm-up
        await make(i)
    start = time.process_time()
    for i in range(SEQUENTIAL):
        await make(i)
    return (time.process_time() - start) / SEQUENTIAL


async def _paths(cf: Citeformer) -> dict[str, Callable[[int], Awaitable[object]]]:
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import QueryBundle
    from llama_index.response_synthesizers.citeformer import (
        CiteformerSynthesizer,
        HashingEmbedding,
        citation_query_engine,
        nodes_to_sources,
    )

    index = VectorStoreIndex(_nodes(), embed_model=HashingEmbedding())
    synthesizer = CiteformerSynthesizer(cf)
    engine = citation_query_engine(index, synthesizer, similarity_top_k=TOP_K)
    questions = [f"Tell me about the {TOPICS[i % len(TOPICS)]}" for i in range(CONCURRENT)]
    retrieved = [await engine.aretrieve(QueryBundle(q)) for q in questions]
    sources = [nodes_to_sources(nodes) for nodes in retrieved]
    n = len(questions)
    return {
        "agenerate": lambda i: cf.agenerate(questions[i % n], sources[i % n]),
        "asynthesize": lambda i: synthesizer.asynthesize(questions[i % n], retrieved[i % n]),
        "aretrieve": lambda i: engine.aretrieve(QueryBundle(questions[i % n])),
        "aquery": lambda i: engine.aquery(questions[i % n]),
    }


async def _measure_concurrent(url: str) -> dict[str, list[float]]:
    async with Citeformer(OpenAIBackend("gpt-test", api_key="sk-unused", base_url=url)) as cf:
        paths = await _paths(cf)
        for make in paths.values():  # warm the client, its pool and the reference cache
            await _concurrent(make)
        names = list(paths)
        walls: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(ROUNDS):
            for name in names[round_:] + names[:round_]:
                walls[name].append(await _concurrent(paths[name]))
        return walls


async def _measure_cpu() -> dict[str, float]:
    paths = await _paths(Citeformer(InstantBackend()))
    return {name: await _sequential(make) for name, make in paths.items()}


def run() -> str:
    try:
        import llama_index.response_synthesizers.citeformer  # noqa: F401
    except ImportError:
        return (
            "### LlamaIndex adapter overhead\n\nskipped: pip install -e integrations/llama-index\n"
        )
    with openai_server(LATENCY) as url:
        walls = asyncio.run(_measure_concurrent(url))
    cpu = asyncio.run(_measure_cpu())
    t = {name: statistics.median(runs) for name, runs in walls.items()}
    base = t["agenerate"]

    def row(label: str, name: str, ratio: str) -> list[str]:
        low, high = min(walls[name]), max(walls[name])
        return [label, f"{t[name] * 1000:.0f}", f"{low * 1000:.0f}–{high * 1000:.0f}", ratio]

    rows = [
        row("Citeformer.agenerate", "agenerate", "1.00x"),
        row("synthesizer.asynthesize (retrieval excluded)", "asynthesize",
            f"**{t['asynthesize'] / base:.2f}x**"),
        row("engine.aretrieve only", "aretrieve", "—"),
        row("engine.aquery (retrieval included)", "aquery", f"{t['aquery'] / base:.2f}x"),
    ]  # fmt: skip
    us = {name: seconds * 1e6 for name, seconds in cpu.items()}
    cpu_rows = [
        ["Citeformer.agenerate", f"{us['agenerate']:.0f}", "—"],
        ["synthesizer.asynthesize", f"{us['asynthesize']:.0f}",
         f"{us['asynthesize'] - us['agenerate']:+.0f}"],
        ["engine.aretrieve", f"{us['aretrieve']:.0f}", "—"],
        ["engine.aquery", f"{us['aquery']:.0f}", f"{us['aquery'] - us['agenerate']:+.0f}"],
    ]  # fmt: skip
    return (
        table(
            f"LlamaIndex adapter: {CONCURRENT} concurrent calls, OpenAIBackend on the loopback "
            f"OpenAI server at {LATENCY * 1000:.0f} ms, one run, median of {ROUNDS} "
            "interleaved rounds (target <= 1.3x)",
            ["path", "wall ms", "range ms", "vs agenerate"],
            rows,
        )
        + "\n"
        + table(
            f"LlamaIndex adapter CPU per call ({SEQUENTIAL} sequential calls, in-process "
            f"backend, no I/O, {TOP_K} nodes)",
            ["path", "CPU µs/call", "vs agenerate"],
            cpu_rows,
        )
    )


if __name__ == "__main__":
    print(run())
