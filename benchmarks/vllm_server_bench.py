"""``vllm serve`` throughput with and without the citation grammar (runs in ``.venv-vllm``).

``python benchmarks/vllm_server_bench.py`` (with ``.venv-vllm/bin/python``) starts vLLM's
OpenAI-compatible server on the embedded SmolLM2 (CPU build), then sends 32 concurrent
``Citeformer.agenerate`` calls through ``OpenAIBackend.for_server(..., server="vllm")``
(each request with its own grammar: 1..4 sources, REQUIRED or AUTO) and the same 32
without a grammar (``constraint="none"``), alternating, best of ``REPEATS``. The ratio is
completion tokens per second with the grammar over without.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._timing import table
from benchmarks.vllm_bench import SOURCES
from citeformer import Citeformer, Policy

CONCURRENT = 32
MAX_TOKENS = 64
REPEATS = 3
MODEL = "smollm2"


@contextmanager
def vllm_server() -> Iterator[str]:
    """vLLM's OpenAI server on SmolLM2, on a free loopback port; yields its /v1 URL."""
    from citeformer.backends.embedded import smollm2_hf_dir

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(smollm2_hf_dir()), "--served-model-name", MODEL,
        "--host", "127.0.0.1", "--port", str(port), "--dtype", "bfloat16",
        "--enforce-eager", "--max-model-len", "1024", "--no-enable-chunked-prefill",
    ]  # fmt: skip
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("vllm serve did not start")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(30)


async def _round(cf: Citeformer) -> tuple[float, int]:
    calls = [
        cf.agenerate(
            f"Question {i}: what do these sources say?",
            SOURCES[: 1 + i % 4],
            Policy.REQUIRED if i % 2 else Policy.AUTO,
            temperature=0.8,
            seed=i,
            max_tokens=MAX_TOKENS,
        )
        for i in range(CONCURRENT)
    ]
    started = time.perf_counter()
    results = await asyncio.gather(*calls)
    elapsed = time.perf_counter() - started
    return elapsed, sum(r.usage.completion_tokens for r in results if r.usage)


async def _measure(url: str) -> list[list[str]]:
    from citeformer.backends.openai import OpenAIBackend

    grammar = Citeformer(OpenAIBackend.for_server(url, MODEL, server="vllm", retry=None))
    plain = Citeformer(OpenAIBackend(MODEL, base_url=url, constraint="none", retry=None))
    for cf in (grammar, plain):  # warm: grammar compilation, prefix cache, clients
        await _round(cf)
    best: dict[str, tuple[float, int]] = {}
    for turn in range(REPEATS):
        pair = [("grammar", grammar), ("no grammar", plain)]
        for name, cf in pair if turn % 2 == 0 else pair[::-1]:
            elapsed, tokens = await _round(cf)
            if name not in best or tokens / elapsed > best[name][1] / best[name][0]:
                best[name] = (elapsed, tokens)
    await grammar.aclose()
    await plain.aclose()
    base = best["no grammar"][1] / best["no grammar"][0]
    rows = []
    for name in ("grammar", "no grammar"):
        elapsed, tokens = best[name]
        rate = tokens / elapsed
        rows.append([name, str(tokens), f"{elapsed:.2f}", f"{rate:.0f}", f"**{rate / base:.2f}x**"])
    return rows


def run() -> str:
    with vllm_server() as url:
        rows = asyncio.run(_measure(url))
    return table(
        f"vllm serve (CPU), SmolLM2-135M: {CONCURRENT} concurrent agenerate calls through "
        f"OpenAIBackend.for_server, max {MAX_TOKENS} tokens, T=0.8, best of {REPEATS}",
        ["decoding", "completion tokens", "seconds", "tokens/s", "vs no grammar"],
        rows,
    )


if __name__ == "__main__":
    print(run())
