"""Small timing helpers shared by the benchmarks.

Micro-timings take the best of several batches: on a shared 2-core VM the slow
batches measure the neighbours, the fastest one the code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


def per_call_us(fn: Callable[[], object], *, calls: int, repeats: int = 25) -> float:
    """Best over ``repeats`` batches of the mean time of one call, in µs."""
    deadline = time.perf_counter() + 0.2
    while time.perf_counter() < deadline:  # warm caches as a long-running server has them
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter_ns() - start) / calls / 1000)
    return min(samples)


def async_per_call_us(
    make: Callable[[], Awaitable[object]], *, calls: int, repeats: int = 25
) -> float:
    """Like :func:`per_call_us` for a coroutine factory, awaited sequentially."""

    async def batch() -> float:
        deadline = time.perf_counter() + 0.2
        while time.perf_counter() < deadline:
            await make()
        samples = []
        for _ in range(repeats):
            start = time.perf_counter_ns()
            for _ in range(calls):
                await make()
            samples.append((time.perf_counter_ns() - start) / calls / 1000)
        return min(samples)

    return asyncio.run(batch())


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table with a title line."""
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
