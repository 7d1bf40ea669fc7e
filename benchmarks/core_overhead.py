"""Orchestrator overhead per call over the raw backend call (MockBackend).

Both sides run in the same process, same run: the raw ``backend.generate`` /
``backend.agenerate`` call, and the same backend through ``Citeformer``
(input checks, prompt assembly, language lookup, validation, citations,
references). Answers are ~2 kB with markers, some invalid.
"""

from __future__ import annotations

from typing import Any

from citeformer import Citeformer, MockBackend, Policy, Source
from citeformer.backends.base import Backend

from ._timing import async_per_call_us, per_call_us, table


def _answer(n: int, filler: str) -> str:
    """~2 kB of sentences, each ending in a marker; every ninth marker is out of range."""
    sentences: list[str] = []
    i = 0
    while sum(len(x) + 1 for x in sentences) < 2000:
        first, second = i % n + 1, (i + 1) % n + 1
        ids = f"{first}, {second}" if i % 4 == 0 and second > first else str(first)
        marker = f"[{ids}]" if i % 9 else f"[{n + 1 + i}]"
        sentences.append(f"Claim {i} {filler} {marker}.")
        i += 1
    return " ".join(sentences)[:2000]


DENSITIES = {
    "dense": "about the topic holds in this setting",
    "typical": "about the topic holds in this setting, as the retrieved passage explains "
    "with a figure and a caveat worth keeping",
}


def _sources(n: int) -> list[Source]:
    return [
        Source(
            f"Passage {i} with some evidence text that a retriever returned for the question.",
            {"title": f"Document {i}", "author": [{"family": f"Author{i}", "given": "A."}],
             "issued": {"date-parts": [[2000 + i % 25]]}},
        )
        for i in range(1, n + 1)
    ]  # fmt: skip


class NativeAsyncMock(MockBackend):
    """MockBackend with a native ``agenerate`` (no thread hop), to isolate the
    orchestrator's own async overhead from ``asyncio.to_thread`` jitter."""

    async def agenerate(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> str:
        return self.generate(prompt, sources, policy, **options)


def _measure(
    backend: Backend, cf: Citeformer, sources: list[Source], calls: int
) -> tuple[float, float, float, float]:
    return (
        per_call_us(lambda: backend.generate("q", sources, Policy.AUTO), calls=calls),
        per_call_us(lambda: cf.generate("q", sources), calls=calls),
        async_per_call_us(lambda: backend.agenerate("q", sources, Policy.AUTO), calls=calls),
        async_per_call_us(lambda: cf.agenerate("q", sources), calls=calls),
    )


def run() -> str:
    rows = []
    for n in (10, 1000):
        sources = _sources(n)
        for density, filler in DENSITIES.items():
            answer = _answer(n, filler)
            backend: Backend = MockBackend(answer)
            cf = Citeformer(backend)
            calls = 100 if n == 10 else 40
            raw, full, araw, afull = _measure(backend, cf, sources, calls)
            native: Backend = NativeAsyncMock(answer)
            _, _, nraw, nfull = _measure(native, Citeformer(native), sources, calls)
            markers = answer.count("[")
            paths = (
                ("generate", raw, full),
                ("agenerate, thread default", araw, afull),
                ("agenerate, native async", nraw, nfull),
            )
            for path, base, total in paths:
                rows.append([f"{n:,}", f"{density}: {markers} markers", path, f"{base:.1f}",
                             f"{total:.1f}", f"{total - base:.1f}"])  # fmt: skip
    return table(
        "Orchestrator overhead per call (MockBackend, 2 kB answers; references cached)",
        ["N", "answer", "path", "raw backend µs", "Citeformer µs", "overhead µs"],
        rows,
    )
