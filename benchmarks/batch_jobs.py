"""``Citeformer.abatch`` against the loop a user would write: gather over a semaphore.

Side by side in one run: 1,000 requests to the loopback OpenAI server (50 ms per
response), at most 64 in flight, through ``cf.abatch(requests, concurrency=64)`` and
through ``asyncio.gather`` of ``cf.agenerate`` calls each taking an
``asyncio.Semaphore(64)``; alternating order, median of 3 rounds.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from benchmarks._loopback import openai_server
from benchmarks._timing import table
from benchmarks.api_fanout import QUESTION, SOURCES
from citeformer import Citeformer
from citeformer.backends.openai import OpenAIBackend

LATENCY = 0.05
REQUESTS = 1000
CONCURRENCY = 64
ROUNDS = 3


async def _measure(url: str) -> list[list[str]]:
    cf = Citeformer(OpenAIBackend("bench", api_key="unused", base_url=url))
    requests = [(f"{QUESTION} ({i})", SOURCES) for i in range(REQUESTS)]

    async def by_hand() -> float:
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(question: str) -> object:
            async with limit:
                return await cf.agenerate(question, SOURCES)

        started = time.perf_counter()
        await asyncio.gather(*(one(question) for question, _ in requests))
        return time.perf_counter() - started

    async def batch() -> float:
        started = time.perf_counter()
        await cf.abatch(requests, concurrency=CONCURRENCY)
        return time.perf_counter() - started

    await cf.abatch(requests[:100], concurrency=CONCURRENCY)  # warm the client and caches
    hand, ours = [], []
    for turn in range(ROUNDS):
        pair = [(hand, by_hand), (ours, batch)]
        for sink, run in pair if turn % 2 == 0 else pair[::-1]:
            sink.append(await run())
    await cf.aclose()
    floor, mine = statistics.median(hand), statistics.median(ours)
    return [
        [
            f"{REQUESTS:,}",
            str(CONCURRENCY),
            f"{floor:.2f} s",
            f"{mine:.2f} s",
            f"**{mine / floor:.2f}x**",
        ]
    ]


def run() -> str:
    with openai_server(LATENCY) as url:
        rows = asyncio.run(_measure(url))
    return table(
        f"Batch jobs: abatch vs asyncio.gather over a semaphore, loopback OpenAI server at "
        f"{LATENCY * 1000:.0f} ms (median of {ROUNDS} alternating rounds)",
        ["requests", "concurrency", "gather + semaphore", "cf.abatch", "ratio"],
        rows,
    )


if __name__ == "__main__":
    print(run())
