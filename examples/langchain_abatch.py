"""Answer 200 questions concurrently with ``abatch`` on a native-async backend.

The backend simulates a hosted model's network latency with ``await
asyncio.sleep`` (no threads): 200 calls of 100 ms take about 100 ms in total when
run concurrently, and ``max_concurrency`` bounds how many are in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from langchain_citeformer import CiteformerRunnable
from langchain_core.documents import Document

from citeformer import Policy, Source
from citeformer.backends.base import Backend

LATENCY = 0.1


class RemoteLikeBackend(Backend):
    """Native async: each call waits ``LATENCY`` seconds, as a network call would."""

    name = "remote-like"

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0

    def _answer(self, sources: Sequence[Source]) -> str:
        return f"{sources[0].content} [1]. Also relevant [2]. Invented [{len(sources) + 1}]."

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        return self._answer(sources)

    async def agenerate(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> str:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(LATENCY)
            return self._answer(sources)
        finally:
            self.in_flight -= 1


def questions(n: int) -> list[dict[str, Any]]:
    return [
        {
            "question": f"What does fact {i} say?",
            "documents": [
                Document(f"Fact {i} says {i} squared is {i * i}", id=f"fact-{i}"),
                Document(f"Fact {i} is about the number {i}", id=f"about-{i}"),
            ],
        }
        for i in range(n)
    ]


async def main() -> None:
    backend = RemoteLikeBackend()
    cite = CiteformerRunnable(backend=backend, output="dict")
    inputs = questions(200)

    start = time.perf_counter()
    outputs = await cite.abatch(inputs)
    unbounded = time.perf_counter() - start
    print(f"200 questions, unbounded: {unbounded:.2f} s, peak in flight {backend.peak}")

    backend.peak = 0
    start = time.perf_counter()
    await cite.abatch(inputs, {"max_concurrency": 20})
    bounded = time.perf_counter() - start
    print(f"200 questions, max_concurrency=20: {bounded:.2f} s, peak in flight {backend.peak}")
    print(f"(sequentially: {200 * LATENCY:.0f} s of latency)")

    for out in outputs[:3]:
        cited = [a["extras"]["document_id"] for a in out["citations"]]
        print(f"- {out['answer']}  cites {cited}")
    assert all("Invented" in o["answer"] and "[3]" not in o["answer"] for o in outputs)
    print("every fabricated [3] was removed: only the 2 supplied documents are cited")


if __name__ == "__main__":
    asyncio.run(main())
