"""vLLM batch throughput with and without the citation grammar (runs in ``.venv-vllm``).

``python benchmarks/vllm_bench.py`` (with ``.venv-vllm/bin/python``) prints the table.
32 prompts (different questions, source subsets and policies) go to
``VLLMBackend.generate_batch`` in one batch, each under its own grammar, and again
without grammars (``constrain=False``); a few sequential ``generate`` calls show what
batching buys. Each batch runs once to warm up (grammar compilation, prefix cache),
then the best of ``REPEATS`` timed runs is reported.

Importable from the main venv: vLLM is imported only inside :func:`run` and
:func:`fabrication_factory`.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import fabrication
from benchmarks._timing import table
from citeformer import Policy, Source

if TYPE_CHECKING:
    from citeformer.backends.vllm import BatchItem, VLLMBackend

PROMPTS = 32
SEQUENTIAL = 4
MAX_NEW_TOKENS = 64
REPEATS = 2

SOURCES = [
    Source("The Eiffel Tower is 330 metres tall and stands in Paris.", {"title": "Eiffel"}),
    Source("The Colosseum in Rome held about 50,000 spectators.", {"title": "Colosseum"}),
    Source("Big Ben is the nickname of the great bell in London.", {"title": "Big Ben"}),
    Source("The Sagrada Familia in Barcelona has been under construction since 1882.", {}),
    Source("The Parthenon in Athens was completed in 438 BC.", {"title": "Parthenon"}),
]
QUESTIONS = [
    "How tall is the Eiffel Tower?",
    "How many people did the Colosseum hold?",
    "What is Big Ben?",
    "When did work on the Sagrada Familia start?",
    "When was the Parthenon completed?",
    "Compare the ages of these monuments.",
    "Which of these landmarks is the tallest?",
    "Summarise the sources.",
]


def _environment() -> None:
    """Offline model loading and a small CPU KV cache, unless already set."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")


def fabrication_factory() -> VLLMBackend:
    """A ready VLLMBackend on the embedded SmolLM2 (for ``benchmarks/fabrication.py``)."""
    _environment()
    from citeformer.backends.vllm import VLLMBackend

    return VLLMBackend.default(max_model_len=1024)


def _items() -> list[BatchItem]:
    policies = list(Policy)
    return [
        (
            QUESTIONS[i % len(QUESTIONS)],
            SOURCES[: 2 + i % (len(SOURCES) - 1)],
            policies[i % len(policies)],
        )
        for i in range(PROMPTS)
    ]


def _timed_batch(backend: VLLMBackend, items: list[BatchItem], **options: Any) -> tuple[float, int]:
    """Best wall time over REPEATS (after one warm-up) and the completion tokens."""
    backend.generate_batch(items, **options)
    best, tokens = float("inf"), 0
    for _ in range(REPEATS):
        start = time.perf_counter()
        outs = backend.generate_batch(items, **options)
        elapsed = time.perf_counter() - start
        if elapsed < best:
            best = elapsed
            tokens = sum(o.info.usage.completion_tokens for o in outs if o.info.usage)
    return best, tokens


def _timed_sequential(
    backend: VLLMBackend, items: list[BatchItem], **options: Any
) -> tuple[float, int]:
    """Wall time of one ``generate_batch`` call per item, one after another."""
    backend.generate_batch(items[:1], **options)
    start = time.perf_counter()
    tokens = 0
    for item in items:
        (out,) = backend.generate_batch([item], **options)
        tokens += out.info.usage.completion_tokens if out.info.usage else 0
    return time.perf_counter() - start, tokens


def run() -> str:
    """Start the engine, time the batches, return a Markdown table."""
    backend = fabrication_factory()
    try:
        fabrication_rows = fabrication.measure("vLLM (xgrammar)", backend)
        items = _items()
        options: dict[str, Any] = {"temperature": 0, "max_new_tokens": MAX_NEW_TOKENS}
        measured = {
            "grammar": _timed_batch(backend, items, **options),
            "no grammar": _timed_batch(backend, items, constrain=False, **options),
        }
        sequential = _timed_sequential(backend, items[:SEQUENTIAL], **options)
    finally:
        backend.close()
    base_rate = measured["no grammar"][1] / measured["no grammar"][0]
    rows = []
    for mode, (seconds, tokens) in measured.items():
        rate = tokens / seconds
        rows.append(
            [f"batch of {PROMPTS}", mode, str(tokens), f"{seconds:.2f}", f"{rate:.0f}",
             f"{rate / base_rate:.2f}"]
        )  # fmt: skip
    seconds, tokens = sequential
    rows.append(
        [f"{SEQUENTIAL} sequential calls", "grammar", str(tokens), f"{seconds:.2f}",
         f"{tokens / seconds:.0f}", f"{tokens / seconds / base_rate:.2f}"]
    )  # fmt: skip
    return table(fabrication.TITLE, fabrication.HEADER, fabrication_rows) + "\n" + table(
        f"vLLM (CPU) generate_batch throughput, SmolLM2-135M, greedy, "
        f"max {MAX_NEW_TOKENS} new tokens, best of {REPEATS}",
        ["workload", "decoding", "completion tokens", "seconds", "tokens/s",
         "vs batch without grammar"],
        rows,
    )  # fmt: skip


if __name__ == "__main__":
    print(run())
