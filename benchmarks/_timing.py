"""Small timing helpers shared by the benchmarks (median of repeated batches)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable


def per_call_us(fn: Callable[[], object], *, calls: int, repeats: int = 7) -> float:
    """Median over ``repeats`` batches of the mean time of one call, in µs."""
    fn()  # warm up caches the way a long-running server would have them
    samples = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter_ns() - start) / calls / 1000)
    return statistics.median(samples)


def async_per_call_us(
    make: Callable[[], Awaitable[object]], *, calls: int, repeats: int = 7
) -> float:
    """Like :func:`per_call_us` for a coroutine factory, awaited sequentially."""

    async def batch() -> float:
        await make()
        samples = []
        for _ in range(repeats):
            start = time.perf_counter_ns()
            for _ in range(calls):
                await make()
            samples.append((time.perf_counter_ns() - start) / calls / 1000)
        return statistics.median(samples)

    return asyncio.run(batch())


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table with a title line."""
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
