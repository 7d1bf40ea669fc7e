"""LangChain integration overhead: 500 concurrent calls through the runnable vs the core.

Same process, same run, same ``OpenAIBackend`` (schema mode, the real openai SDK)
talking to the same loopback OpenAI server (its own process, 200 ms per response):
500 concurrent ``Citeformer.agenerate`` (``asyncio.gather``) against 500 concurrent
``ainvoke`` via ``CiteformerRunnable.abatch`` (unbounded ``max_concurrency``),
message output with annotations and the full result in ``response_metadata``.
Both sides first run the same inputs once (warm-up: the SDK's connection pool,
bibliography caches); the core side turns the retrieved Documents into Sources
inside its timing, as a direct caller must. The two sides alternate over a few
rounds and the table shows each side's median.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from langchain_core.documents import Document

from benchmarks._loopback import openai_server
from benchmarks._timing import table
from citeformer import Citeformer, Source
from citeformer.backends.openai import OpenAIBackend

CALLS = 500
LATENCY = 0.2
ROUNDS = 3


def _documents(i: int) -> list[Document]:
    return [
        Document(
            f"Passage {j} for question {i % 50}: evidence text returned by a retriever.",
            id=f"q{i % 50}-d{j}",
            metadata={"title": f"Document {j}", "url": f"https://example.org/{i % 50}/{j}"},
        )
        for j in range(1, 6)
    ]


async def _measure(url: str, rounds: int) -> tuple[list[float], list[float]]:
    from langchain_citeformer import CiteformerRunnable

    citeformer = Citeformer(OpenAIBackend("gpt-test", api_key="sk-unused", base_url=url))
    runnable = CiteformerRunnable(citeformer=citeformer)
    inputs = [{"question": f"Question {i}?", "documents": _documents(i)} for i in range(CALLS)]

    def sources(documents: list[Document]) -> list[Source]:
        """What a direct caller does with retrieved documents: the same CSL fields."""
        return [
            Source(d.page_content, {"title": d.metadata["title"], "URL": d.metadata["url"],
                   "id": d.id, "type": "webpage"})
            for d in documents
        ]  # fmt: skip

    async def core() -> float:
        start = time.perf_counter()
        await asyncio.gather(
            *(citeformer.agenerate(i["question"], sources(i["documents"])) for i in inputs)
        )
        return time.perf_counter() - start

    async def adapter() -> float:
        start = time.perf_counter()
        await runnable.abatch(inputs)
        return time.perf_counter() - start

    async with citeformer:
        await core()  # warm-up: same inputs, so pools and caches are warm for both sides
        await adapter()
        cores, adapters = [], []
        for _ in range(rounds):
            cores.append(await core())
            adapters.append(await adapter())
    return cores, adapters


def run(rounds: int = ROUNDS) -> str:
    with openai_server(LATENCY) as url:
        cores, adapters = asyncio.run(_measure(url, rounds))
    core, adapter = statistics.median(cores), statistics.median(adapters)
    rows = [[
        f"{LATENCY * 1000:.0f} ms", f"{CALLS}", f"{core * 1000:.0f}", f"{adapter * 1000:.0f}",
        f"{(adapter - core) / CALLS * 1e6:.0f}", f"**{adapter / core:.2f}x**",
    ]]  # fmt: skip
    return table(
        f"LangChain adapter overhead ({CALLS} concurrent calls, OpenAIBackend on the loopback "
        f"OpenAI server, median of {rounds} alternating rounds)",
        ["server latency", "calls", "Citeformer.agenerate ms", "CiteformerRunnable.abatch ms",
         "overhead µs/call", "ratio"],
        rows,
    )  # fmt: skip


if __name__ == "__main__":
    print(run())
