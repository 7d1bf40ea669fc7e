"""OpenAIBackend's server-side grammar mode against a real OpenAI-compatible server.

The server is llama-cpp-python's own (``python -m llama_cpp.server``) running the
embedded SmolLM2 GGUF on 127.0.0.1; the openai SDK talks to it over HTTP. This is
the path users take to point citeformer at a vLLM, SGLang or llama.cpp cluster:
only the request field holding the grammar differs between those servers.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator

import pytest

from citeformer import Citeformer, Policy
from citeformer.backends.base import CitationRequest
from citeformer.backends.embedded import smollm2_gguf
from citeformer.backends.openai import OpenAIBackend
from citeformer.core import Enforcement, MarkerStyle
from citeformer.grammar.language import citation_language
from citeformer.grammar.notation import to_gbnf
from citeformer.markers import validate
from citeformer.testing import QUESTION, SOURCES, BackendConformance
from tests.backends.calls import call_with
from tests.backends.test_llamacpp import FABRICATION_MESSAGES
from tests.servers import free_port, running

pytestmark = pytest.mark.slow

OPTIONS = {"temperature": 0, "max_tokens": 40, "seed": 1}


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on SmolLM2, for this module."""
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()),
        "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", str(min(2, os.cpu_count() or 1)),
        "--verbose", "false",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    # llama_cpp.server needs llama-cpp-python[server].
    with running(command, f"{url}/v1/models", what="llama_cpp.server"):
        yield f"{url}/v1"


def grammar_backend(url: str) -> OpenAIBackend:
    return OpenAIBackend.for_server(url, "smollm2", server="llama.cpp", retry=None)


class TestLlamaCppServerConformance(BackendConformance):
    options = OPTIONS

    @pytest.fixture(autouse=True)
    def _url(self, server_url: str) -> None:
        self.url = server_url

    def make_backend(self) -> OpenAIBackend:
        backend = grammar_backend(self.url)
        # The server reuses the KV cache of the previous request's common prefix, so
        # the first call after a different prompt is evaluated in other batch splits
        # and greedy decoding can differ in its last bits. One warm-up call puts the
        # server in the state every compared call then starts from.
        backend.generate(QUESTION, SOURCES, Policy.AUTO, **OPTIONS)
        return backend


def fabricated_markers(backend: OpenAIBackend) -> int:
    """Invalid markers in 6 sampled answers to a prompt that demands [7] and [8]."""
    request = CitationRequest.build(QUESTION, SOURCES, Policy.REQUIRED).with_messages(
        FABRICATION_MESSAGES  # type: ignore[arg-type]
    )
    count = 0
    for seed in range(6):
        raw = call_with(
            backend,
            request,
            temperature=0.8,
            seed=seed,
            max_tokens=64,
        )
        count += len(validate(raw, len(SOURCES), MarkerStyle.BRACKET).invalid)
    return count


def test_the_server_side_grammar_stops_fabricated_markers(server_url: str) -> None:
    grammar = grammar_backend(server_url)
    plain = OpenAIBackend("smollm2", base_url=server_url, constraint="none")
    assert fabricated_markers(grammar) == 0
    assert fabricated_markers(plain) > 0  # the control: same server, same prompt, no grammar


def test_the_grammar_travels_in_the_llama_cpp_field(server_url: str) -> None:
    backend = grammar_backend(server_url)
    payload = backend._prepare(
        CitationRequest.build(QUESTION, SOURCES, Policy.AUTO), {}, stream=False
    ).payload
    assert payload["extra_body"]["grammar"] == to_gbnf(citation_language(3, Policy.AUTO))
    result = Citeformer(backend).generate(QUESTION, SOURCES, **OPTIONS)
    assert result.enforcement is Enforcement.GRAMMAR
    assert result.usage is not None and result.usage.completion_tokens > 0


async def test_concurrent_async_calls_share_one_server(server_url: str) -> None:
    backend = grammar_backend(server_url)
    cf = Citeformer(backend)
    results = await asyncio.gather(*(cf.agenerate(QUESTION, SOURCES, **OPTIONS) for _ in range(3)))
    assert all(r.enforcement is Enforcement.GRAMMAR for r in results)
    assert backend._client is None  # the sync client was never built
    await backend.aclose()
