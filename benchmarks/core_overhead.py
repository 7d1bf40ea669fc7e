"""Orchestrator overhead per call over the raw backend call (MockBackend).

Both sides run in the same process, same run: the raw ``backend.generate`` /
``backend.agenerate`` call, and the same backend through ``Citeformer``
(input checks, prompt assembly, language lookup, validation, citations,
references). Answers are ~2 kB with markers, some invalid.
"""

from __future__ import annotations

from citeformer import Citeformer, MockBackend, Policy, Source
from citeformer.backends.base import Backend

from ._timing import async_per_call_us, per_call_us, table


def _answer(n: int) -> str:
    sentences = []
    i = 0
    while sum(len(s) + 1 for s in sentences) < 2000:
        ids = f"{i % n + 1}" if i % 4 else f"{i % n + 1}, {(i + 1) % n + 1}"
        if n < 20 and i % 4 == 0 and (i + 1) % n + 1 <= i % n + 1:
            ids = str(i % n + 1)
        marker = f"[{ids}]" if i % 9 else f"[{n + 1 + i}]"  # every ninth is out of range
        sentences.append(f"Claim number {i} about the topic holds in this setting {marker}.")
        i += 1
    return " ".join(sentences)


def _sources(n: int) -> list[Source]:
    return [
        Source(
            f"Passage {i} with some evidence text that a retriever returned for the question.",
            {"title": f"Document {i}", "author": [{"family": f"Author{i}", "given": "A."}],
             "issued": {"date-parts": [[2000 + i % 25]]}},
        )
        for i in range(1, n + 1)
    ]  # fmt: skip


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
        answer = _answer(n)
        backend: Backend = MockBackend(answer)
        cf = Citeformer(backend)
        calls = 300 if n == 10 else 40
        raw, full, araw, afull = _measure(backend, cf, sources, calls)
        cited = cf.generate("q", sources).cited_ids
        rows.append([f"N = {n}", "generate", f"{raw:.1f}", f"{full:.1f}", f"{full - raw:.1f}",
                     f"{len(answer)} chars, {len(cited)} cited"])  # fmt: skip
        rows.append([f"N = {n}", "agenerate", f"{araw:.1f}", f"{afull:.1f}", f"{afull - araw:.1f}",
                     "thread default on both sides"])  # fmt: skip
    return table(
        "Orchestrator overhead per call (MockBackend, ~2 kB answers; references cached)",
        ["sources", "path", "raw backend µs", "Citeformer µs", "overhead µs", "notes"],
        rows,
    )
