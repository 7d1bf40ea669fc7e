"""Async fan-out: N concurrent requests to the loopback OpenAI server (200 ms latency).

Side by side in one run, per N:

* **raw AsyncOpenAI**: the SDK call alone, the same request (messages and strict
  JSON schema): the floor;
* **citeformer**: ``Citeformer.agenerate`` with ``OpenAIBackend`` (native async);
* **thread pool**: the same backend forced through the Backend default
  (``asyncio.to_thread(generate)``), what a sync-only backend gets.

Then streaming time to first token: the median time from the request to the first
answer text, at the same N: for raw calls, the first delta that reaches past the JSON
opening ``{"segments": [{"text": "``; for citeformer, the first text chunk.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from benchmarks._loopback import openai_server
from benchmarks._timing import table
from citeformer import Citeformer, Policy, Source
from citeformer.backends.base import Backend
from citeformer.backends.openai import OpenAIBackend

LATENCY = 0.2
SIZES = (100, 500, 1000)
ROUNDS = 3
SOURCES = [
    Source("The Eiffel Tower is 330 metres tall and stands in Paris.", {"title": "Eiffel Tower"}),
    Source("The Colosseum in Rome held about 50,000 spectators.", {"title": "Colosseum"}),
    Source("Big Ben is the nickname of the bell in the Elizabeth Tower.", {"title": "Big Ben"}),
]
QUESTION = "Tell me about these landmarks."
TEXT_KEY = '"text": "'


class ThreadPath(Backend):
    """The OpenAI backend's sync path behind the default to_thread ``agenerate``."""

    name = "openai-threads"

    def __init__(self, inner: OpenAIBackend) -> None:
        self.inner = inner

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        return self.inner.generate(prompt, sources, policy, **options)


async def _fan_out(make: Any, n: int) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(make() for _ in range(n)))
    return time.perf_counter() - started


async def _measure(url: str) -> tuple[list[list[str]], list[list[str]]]:
    from openai import AsyncOpenAI

    backend = OpenAIBackend("bench", api_key="unused", base_url=url)
    cf = Citeformer(backend)
    threads = Citeformer(ThreadPath(OpenAIBackend("bench", api_key="unused", base_url=url)))
    raw = AsyncOpenAI(api_key="unused", base_url=url, max_retries=0)
    payload = backend._prepare(
        backend.build_call(QUESTION, SOURCES, Policy.AUTO, {}).request, {}, stream=False
    ).payload
    stream_payload = {**payload, "stream": True, "stream_options": {"include_usage": True}}

    async def raw_call() -> None:
        await raw.chat.completions.create(**payload)

    async def cf_call() -> None:
        await cf.agenerate(QUESTION, SOURCES)

    async def thread_call() -> None:
        await threads.agenerate(QUESTION, SOURCES)

    async def raw_ttft() -> float:
        started = time.perf_counter()
        stream = await raw.chat.completions.create(**stream_payload)
        first, content = None, ""
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                # The first answer text, as for citeformer: past '{"segments": [{"text": "'.
                content += chunk.choices[0].delta.content
                opening = content.find(TEXT_KEY)
                if opening >= 0 and len(content) > opening + len(TEXT_KEY):
                    first = time.perf_counter() - started
        return first or 0.0

    async def cf_ttft() -> float:
        started = time.perf_counter()
        first = None
        async for _ in cf.astream(QUESTION, SOURCES):
            if first is None:
                first = time.perf_counter() - started
        return first or 0.0

    for make in (raw_call, cf_call, thread_call):  # warm clients, caches, pools
        await _fan_out(make, 20)
    rows, ttft_rows = [], []
    for n in SIZES:
        # Three rounds in alternating order (first and second place differ by GC and
        # pool growth on a 2-core machine); the medians are compared.
        floors, ours, raw_firsts, cf_firsts = [], [], [], []
        for turn in range(ROUNDS):
            pair = [(floors, raw_call), (ours, cf_call)]
            for sink, make in pair if turn % 2 == 0 else pair[::-1]:
                sink.append(await _fan_out(make, n))
            pair = [(raw_firsts, raw_ttft), (cf_firsts, cf_ttft)]
            for sink, make in pair if turn % 2 == 0 else pair[::-1]:
                sink.append(statistics.median(await asyncio.gather(*(make() for _ in range(n)))))
        floor, mine = statistics.median(floors), statistics.median(ours)
        pooled = await _fan_out(thread_call, n)
        rows.append(
            [
                str(n),
                f"{floor:.2f} s",
                f"{mine:.2f} s",
                f"**{mine / floor:.2f}x**",
                f"{pooled:.2f} s",
                f"{pooled / floor:.1f}x",
            ]
        )
        raw_first, cf_first = statistics.median(raw_firsts), statistics.median(cf_firsts)
        ttft_rows.append(
            [
                str(n),
                f"{raw_first * 1000:.1f} ms",
                f"{cf_first * 1000:.1f} ms",
                f"**{(cf_first - raw_first) * 1000:+.1f} ms**",
            ]
        )
    sequential = []
    for _ in range(30):
        sequential.append((await raw_ttft(), await cf_ttft()))
    raw_seq = statistics.median(a for a, _ in sequential)
    cf_seq = statistics.median(b for _, b in sequential)
    ttft_rows.append(
        [
            "1 (30 in a row)",
            f"{raw_seq * 1000:.1f} ms",
            f"{cf_seq * 1000:.1f} ms",
            f"**{(cf_seq - raw_seq) * 1000:+.1f} ms**",
        ]
    )
    await raw.close()
    await cf.aclose()
    return rows, ttft_rows


def run() -> str:
    with openai_server(LATENCY) as url:
        rows, ttft_rows = asyncio.run(_measure(url))
    return (
        table(
            f"Async fan-out: N concurrent calls, loopback OpenAI server at {LATENCY * 1000:.0f} ms"
            f" (median of {ROUNDS} alternating rounds; the thread pool once)",
            ["N", "raw AsyncOpenAI", "citeformer", "ratio", "thread pool", "ratio"],
            rows,
        )
        + "\n"
        + table(
            "Streaming time to first answer text (median over the N concurrent streams,"
            f" median of {ROUNDS} rounds)",
            ["N", "raw AsyncOpenAI", "citeformer", "added"],
            ttft_rows,
        )
    )


if __name__ == "__main__":
    print(run())
