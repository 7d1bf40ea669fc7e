"""LangChain integration overhead: 500 concurrent calls through the runnable vs the core.

Same process, same run, same native-async backend (``await asyncio.sleep(latency)``
then a ~300-character answer with markers, one out of range): 500 concurrent
``Citeformer.agenerate`` (``asyncio.gather``) against 500 concurrent ``ainvoke`` via
``CiteformerRunnable.abatch`` (unbounded ``max_concurrency``), message output with
annotations and the full result in ``response_metadata``. Both sides first run the
same inputs once, so bibliography caches are warm for both; the core side turns
the retrieved Documents into Sources inside its timing, as a direct caller must.
Rows: no latency (pure CPU overhead) and 50 ms (a fast hosted model).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from langchain_core.documents import Document

from citeformer import Citeformer, Policy, Source
from citeformer.backends.base import Backend

from ._timing import table

CALLS = 500


class SleepBackend(Backend):
    """Native async: waits ``latency`` seconds on the event loop, then answers."""

    name = "sleep"

    def __init__(self, latency: float) -> None:
        self.latency = latency

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        return (
            "The first passage states the main claim clearly [1]. A second source adds "
            "context about the setting [2], and both agree on the figure [1, 3]. A later "
            "study extends it [4]. One marker points nowhere [9]. The conclusion follows "
            "from the evidence gathered above [3]."
        )

    async def agenerate(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> str:
        await asyncio.sleep(self.latency)
        return self.generate(prompt, sources, policy)


def _documents(i: int) -> list[Document]:
    return [
        Document(
            f"Passage {j} for question {i % 50}: evidence text returned by a retriever.",
            id=f"q{i % 50}-d{j}",
            metadata={"title": f"Document {j}", "url": f"https://example.org/{i % 50}/{j}"},
        )
        for j in range(1, 6)
    ]


async def _measure(latency: float) -> tuple[float, float]:
    from langchain_citeformer import CiteformerRunnable

    citeformer = Citeformer(SleepBackend(latency))
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

    await core()  # warm-up: same inputs, so reference caches are warm for both sides
    await adapter()
    return await core(), await adapter()


def run() -> str:
    rows = []
    for latency in (0.0, 0.05):
        core, adapter = asyncio.run(_measure(latency))
        rows.append([
            f"{latency * 1000:.0f} ms", f"{CALLS}", f"{core * 1000:.0f}", f"{adapter * 1000:.0f}",
            f"{(adapter - core) / CALLS * 1e6:.0f}", f"{adapter / core:.2f}x",
        ])  # fmt: skip
    return table(
        "LangChain adapter overhead (500 concurrent calls, native-async backend, one run)",
        ["backend latency", "calls", "Citeformer.agenerate ms", "CiteformerRunnable.abatch ms",
         "overhead µs/call", "ratio"],
        rows,
    )  # fmt: skip
