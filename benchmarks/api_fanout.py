"""Async fan-out: N concurrent requests to the loopback OpenAI server (200 ms latency).

Side by side in one run, per N:

* **raw AsyncOpenAI**: the SDK call alone, the same request (messages and strict
  JSON schema), read as the SDK's typed objects: what calling the SDK directly costs;
* **raw response**: the same SDK call through ``with_raw_response`` (streams:
  ``with_streaming_response``), its JSON read by hand, no typed objects: the floor of
  the way citeformer reads responses;
* **citeformer**: ``Citeformer.agenerate`` with ``OpenAIBackend`` (native async);
* **thread pool**: the same backend forced through the Backend default
  (``asyncio.to_thread(generate)``), what a sync-only backend gets.

Then streaming time to first token: the median time from the request to the first
answer text, at the same N: for raw calls, the first delta that reaches past the JSON
opening ``{"segments": [{"text": "``; for citeformer, the first text chunk.
"""

from __future__ import annotations

import asyncio
import json
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
ROUNDS = 5
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


def _rotation(turn: int) -> list[int]:
    """The order of the three compared paths in round ``turn``."""
    return [(turn + i) % 3 for i in range(3)]


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

    async def bytes_call() -> None:
        response = await raw.chat.completions.with_raw_response.create(**payload)
        json.loads(response.content)

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

    async def bytes_ttft() -> float:
        started = time.perf_counter()
        first, content = None, ""
        create = raw.chat.completions.with_streaming_response.create
        async with create(**stream_payload) as response:
            async for line in response.iter_lines():
                if first is None and line.startswith("data: {"):
                    chunk = json.loads(line[6:])
                    delta = chunk["choices"][0]["delta"] if chunk["choices"] else {}
                    content += delta.get("content") or ""
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

    for make in (raw_call, bytes_call, cf_call, thread_call):  # warm clients, caches, pools
        await _fan_out(make, 20)
    rows, ttft_rows = [], []
    for n in SIZES:
        # ROUNDS rounds, the paths in a rotating order (first and later places differ by
        # GC and pool growth on a 2-core machine); the medians are compared.
        walls: list[list[float]] = [[], [], []]
        firsts: list[list[float]] = [[], [], []]
        for turn in range(ROUNDS):
            for i in _rotation(turn):
                walls[i].append(await _fan_out((raw_call, bytes_call, cf_call)[i], n))
            for i in _rotation(turn):
                make = (raw_ttft, bytes_ttft, cf_ttft)[i]
                firsts[i].append(
                    statistics.median(await asyncio.gather(*(make() for _ in range(n))))
                )
        floor, bare, mine = (statistics.median(w) for w in walls)
        pooled = await _fan_out(thread_call, n)
        rows.append(
            [
                str(n),
                f"{floor:.2f} s",
                f"{bare:.2f} s",
                f"{mine:.2f} s",
                f"**{mine / floor:.2f}x**",
                f"{mine / bare:.2f}x",
                f"{pooled:.2f} s",
                f"{pooled / floor:.1f}x",
            ]
        )
        raw_first, bare_first, cf_first = (statistics.median(f) for f in firsts)
        ttft_rows.append(
            [
                str(n),
                f"{raw_first * 1000:.1f} ms",
                f"{bare_first * 1000:.1f} ms",
                f"{cf_first * 1000:.1f} ms",
                f"**{(cf_first - raw_first) / raw_first:+.1%}**",
                f"{(cf_first - bare_first) / bare_first:+.1%}",
            ]
        )
    sequential = []
    for _ in range(30):
        sequential.append((await raw_ttft(), await bytes_ttft(), await cf_ttft()))
    raw_seq, bare_seq, cf_seq = (statistics.median(row[i] for row in sequential) for i in range(3))
    ttft_rows.append(
        [
            "1 (30 in a row)",
            f"{raw_seq * 1000:.1f} ms",
            f"{bare_seq * 1000:.1f} ms",
            f"{cf_seq * 1000:.1f} ms",
            f"**{(cf_seq - raw_seq) * 1000:+.1f} ms**",
            f"{(cf_seq - bare_seq) * 1000:+.1f} ms",
        ]
    )
    await raw.close()
    await cf.aclose()
    return rows, ttft_rows


PATHS = ["raw AsyncOpenAI", "raw response", "citeformer", "vs AsyncOpenAI", "vs raw response"]


def run() -> str:
    with openai_server(LATENCY) as url:
        rows, ttft_rows = asyncio.run(_measure(url))
    return (
        table(
            f"Async fan-out: N concurrent calls, loopback OpenAI server at {LATENCY * 1000:.0f} ms"
            f" (median of {ROUNDS} rounds in rotating order; the thread pool once)",
            ["N", *PATHS, "thread pool", "vs AsyncOpenAI"],
            rows,
        )
        + "\n"
        + table(
            "Streaming time to first answer text (median over the N concurrent streams,"
            f" median of {ROUNDS} rounds; one stream at a time: added ms)",
            ["N", *PATHS],
            ttft_rows,
        )
    )


if __name__ == "__main__":
    print(run())
