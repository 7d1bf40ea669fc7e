"""OpenAIBackend and its hosts through the real openai SDK against the loopback server."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import pickle
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest

from citeformer import Citeformer, Source
from citeformer.backends.base import call_info
from citeformer.backends.openai import (
    FireworksBackend,
    OpenAIBackend,
    OpenRouterBackend,
    TogetherBackend,
)
from citeformer.backends.retry import RetryPolicy
from citeformer.core import Enforcement, Policy
from citeformer.errors import (
    BackendError,
    ConfigurationError,
    MissingDependencyError,
    RateLimitError,
)
from citeformer.grammar.language import citation_language
from citeformer.grammar.notation import to_gbnf
from citeformer.testing import QUESTION, SOURCES
from tests.backends.api_suite import ApiSuite
from tests.backends.schema_api_suite import SchemaApiSuite
from tests.loopback import openai_wire as wire
from tests.loopback.server import LoopbackServer, Received

KEY = "sk-test-SECRET-0123456789"
FAST_RETRY = RetryPolicy(max_retries=2, initial_backoff=0.01, max_backoff=0.05)
ANSWER = wire.segments(
    ("The Eiffel Tower is 330 metres tall [9].", [1]),
    ("It stands in Paris", [1, 7]),
    ("Rome's Colosseum held 50,000 people!", [2]),
)
EXPECTED_TEXT = (
    "The Eiffel Tower is 330 metres tall [1]. It stands in Paris [1]"
    " Rome's Colosseum held 50,000 people [2]!"
)


def make(server: LoopbackServer, cls: type[OpenAIBackend] = OpenAIBackend, **kwargs: Any) -> Any:
    kwargs.setdefault("retry", FAST_RETRY)
    return cls("gpt-test", api_key=KEY, base_url=f"{server.url}/v1", **kwargs)


@pytest.fixture
def backend(loopback: LoopbackServer) -> Iterator[OpenAIBackend]:
    loopback.reset(wire.answer(ANSWER))
    backend = make(loopback)
    yield backend
    backend.close()


class OpenAIHooks:
    """Where the openai SDK puts things, for the API suites (hooks only, no tests)."""

    model = "gpt-test"
    wire = wire
    key = KEY
    base_path = "/v1"
    sdk_module = "openai"
    key_header = "authorization"
    unauthorized = "Incorrect API key provided"
    truncated_body = b'{"id": "chatcmpl-x", "object": "chat.completion", "choices": [{"message": '
    error_request_id = "req_err"
    # AsyncStream.close() closes the response, not the generators reading it.
    sdk_leaves_stream_generators_to_gc = True

    def prompt_of(self, request: Received) -> str:
        return str(request.body["messages"][1]["content"])

    def schema_of(self, request: Received) -> dict[str, Any]:
        return dict(request.body["response_format"]["json_schema"]["schema"])

    def check_stream_requests(self, requests: Sequence[Received]) -> None:
        streams = [r for r in requests if r.body.get("stream")]
        assert streams
        assert all(r.body["stream_options"] == {"include_usage": True} for r in streams)

    async def raw_sdk_call(self, backend: Any, i: int) -> Any:
        return await backend.async_client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "system", "content": "Answer."},
                {"role": "user", "content": f"question {i}"},
            ],
        )

    def connection_pool(self, backend: Any) -> Any:
        return backend.async_client._client._transport._pool  # httpcore's pool


class TestOpenAIApi(OpenAIHooks, SchemaApiSuite):
    """The contract, the schema tier, faults, streaming and concurrency, through openai."""

    backend_class = OpenAIBackend
    provider = "openai"


class TestOpenRouterApi(OpenAIHooks, SchemaApiSuite):
    """OpenRouter: OpenAI's client with its own headers and body fields."""

    backend_class = OpenRouterBackend
    model = "openai/gpt-4.1-mini"
    provider = "openrouter"


class TestTogetherApi(OpenAIHooks, SchemaApiSuite):
    backend_class = TogetherBackend
    model = "meta-llama/Llama-3.3-70B"
    provider = "together"


class TestFireworksApi(OpenAIHooks, ApiSuite):
    """Fireworks' grammar mode: prose with markers, so the suite without the schema tier."""

    backend_class = FireworksBackend
    model = "accounts/fireworks/models/llama-v3p1-8b"
    provider = "fireworks"
    answer = (
        "The Eiffel Tower is 330 metres tall [1]. It stands in Paris, unlike the Colosseum [1, 2]."
    )

    def scripted(self, n: int) -> str:
        return f"Answer {n} [{n % 3 + 1}]."


# -- requests --------------------------------------------------------------------------


def test_schema_request_bounds_ids_to_an_enum(
    backend: OpenAIBackend, loopback: LoopbackServer
) -> None:
    result = Citeformer(backend).generate(QUESTION, SOURCES, policy="required", max_tokens=99)
    body = loopback.requests[0].body
    schema = body["response_format"]["json_schema"]
    assert schema["strict"] is True
    citations = schema["schema"]["properties"]["segments"]["items"]["properties"]["citations"]
    assert citations["items"] == {"type": "integer", "enum": [1, 2, 3]}
    assert citations["minItems"] == 1
    assert body["max_tokens"] == 99 and "temperature" not in body  # never forced
    assert "JSON" in body["messages"][0]["content"]
    assert all(s.content in body["messages"][1]["content"] for s in SOURCES)
    assert loopback.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert result.enforcement is Enforcement.SCHEMA
    assert not backend._async_clients  # a sync-only user never builds AsyncOpenAI


async def test_the_shared_schema_survives_the_sdk(loopback: LoopbackServer) -> None:
    """Every call sends the one cached schema dict: the SDK must leave it as it was."""
    from citeformer.grammar.schema import shared_json_schema, to_json_schema

    loopback.reset(wire.answer(ANSWER))
    language = citation_language(len(SOURCES), Policy.REQUIRED)
    async with Citeformer(make(loopback)) as cf:
        for _ in range(3):
            await cf.agenerate(QUESTION, SOURCES, policy="required")
            async for _ in cf.astream(QUESTION, SOURCES, policy="required"):
                pass
    shared = shared_json_schema(language)
    assert shared is shared_json_schema(language) and shared == to_json_schema(language)
    sent = [r.body["response_format"]["json_schema"]["schema"] for r in loopback.requests]
    assert len(sent) == 6 and all(schema == shared for schema in sent)


def test_reasoning_models_get_max_completion_tokens_and_no_sampling(
    loopback: LoopbackServer,
) -> None:
    loopback.reset(wire.answer(ANSWER))
    backend = OpenAIBackend("o3-mini", api_key=KEY, base_url=f"{loopback.url}/v1")
    Citeformer(backend).generate(
        QUESTION, SOURCES, max_tokens=50, temperature=0.3, reasoning_effort="low"
    )
    body = loopback.requests[0].body
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body and "temperature" not in body
    assert body["reasoning_effort"] == "low"
    backend.close()


def test_streaming_requests_ask_for_usage(backend: OpenAIBackend, loopback: LoopbackServer) -> None:
    result = Citeformer(backend).stream(QUESTION, SOURCES).finalize()
    assert loopback.requests[0].body["stream_options"] == {"include_usage": True}
    assert result.usage is not None and result.usage.prompt_tokens == 11


def test_hosts_are_declared_by_their_facts(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "or-key-123456")
    monkeypatch.setenv("TOGETHER_API_KEY", "tg-key-123456")
    monkeypatch.setenv("FIREWORKS_API_KEY", "fw-key-123456")
    assert OpenRouterBackend.base_url == "https://openrouter.ai/api/v1"
    assert TogetherBackend.base_url == "https://api.together.xyz/v1"
    assert FireworksBackend.base_url == "https://api.fireworks.ai/inference/v1"
    url = f"{loopback.url}/v1"

    loopback.reset(wire.answer(ANSWER))
    router = OpenRouterBackend(
        "openai/gpt-4.1-mini",
        base_url=url,
        app_url="https://app.example",
        app_name="Demo",
        fallback_models=["anthropic/claude-sonnet-4"],
    )
    assert Citeformer(router).generate(QUESTION, SOURCES).enforcement is Enforcement.SCHEMA
    sent = loopback.requests[-1]
    assert (
        sent.headers["http-referer"] == "https://app.example" and sent.headers["x-title"] == "Demo"
    )
    assert sent.headers["authorization"] == "Bearer or-key-123456"
    assert sent.body["models"] == ["openai/gpt-4.1-mini", "anthropic/claude-sonnet-4"]
    assert sent.body["provider"] == {"require_parameters": True}

    together = TogetherBackend("meta-llama/Llama-3.3-70B", base_url=url)
    Citeformer(together).generate(QUESTION, SOURCES)
    assert loopback.requests[-1].headers["authorization"] == "Bearer tg-key-123456"
    assert loopback.requests[-1].body["response_format"]["type"] == "json_schema"

    loopback.reset(wire.answer("The tower is 330 metres tall [1]."))
    fireworks = FireworksBackend("accounts/fireworks/models/llama-v3p1-8b", base_url=url)
    result = Citeformer(fireworks).generate(QUESTION, SOURCES, policy="required")
    body = loopback.requests[-1].body
    assert body["response_format"] == {
        "type": "grammar",
        "grammar": to_gbnf(citation_language(3, Policy.REQUIRED)),
    }
    assert "JSON" not in body["messages"][0]["content"]  # the prompt matches grammar mode
    assert result.enforcement is Enforcement.GRAMMAR and result.cited_ids == [1]
    for b in (router, together, fireworks):
        b.close()


@pytest.mark.parametrize(
    ("dialect", "field"),
    [("vllm", "structured_outputs"), ("sglang", "ebnf"), ("llama.cpp", "grammar")],
)
def test_server_grammar_dialects_use_each_servers_field(
    loopback: LoopbackServer, dialect: Any, field: str
) -> None:
    loopback.reset(wire.answer("Tall [1]."))
    backend = OpenAIBackend.for_server(f"{loopback.url}/v1", "served-model", server=dialect)
    result = Citeformer(backend).generate(QUESTION, SOURCES)
    body = loopback.requests[0].body
    assert field in body and "response_format" not in body
    assert "authorization" in loopback.requests[0].headers  # a placeholder key, not the env's
    assert result.enforcement is Enforcement.GRAMMAR
    backend.close()


def test_missing_key_and_missing_extra_are_misuse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        OpenAIBackend("gpt-test")
    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'citeformer\[openai\]'"):
        OpenAIBackend("gpt-test", api_key=KEY)


# -- streaming -------------------------------------------------------------------------


def test_text_reaches_the_caller_while_the_model_writes(loopback: LoopbackServer) -> None:
    reply = wire.stream(ANSWER, size=4, event_delay=0.05)
    loopback.reset(lambda _: reply)
    backend = make(loopback)
    stream = Citeformer(backend).stream(QUESTION, SOURCES)
    started = time.perf_counter()
    first = next(iter(stream))
    first_at = time.perf_counter() - started
    stream.finalize()
    total = time.perf_counter() - started
    assert first and first_at < total / 3  # not one chunk at the end
    backend.close()


# -- reliability -----------------------------------------------------------------------


def test_a_retry_after_beyond_the_policy_is_not_waited_for(loopback: LoopbackServer) -> None:
    loopback.reset(
        lambda _: wire.error(429, "come back tomorrow", headers={"retry-after": "86400"})
    )
    backend = make(loopback, retry=RetryPolicy())
    with pytest.raises(RateLimitError) as caught:
        Citeformer(backend).generate(QUESTION, SOURCES)
    assert caught.value.retry_after == 86400 and len(loopback.requests) == 1
    backend.close()


def test_bad_credentials_say_so_without_the_key(
    backend: OpenAIBackend, loopback: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    loopback.queue(wire.error(401, f"Incorrect API key provided: {KEY}"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(BackendError, match="check the API key") as caught:
        Citeformer(backend).generate(QUESTION, SOURCES)
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)
    assert KEY not in repr(backend) and KEY not in repr(Citeformer(backend))
    assert KEY not in caplog.text
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(backend)


def test_a_refusal_is_an_outcome_not_a_crash(
    backend: OpenAIBackend, loopback: LoopbackServer
) -> None:
    refusal = "I can't help with that [2]."
    loopback.queue(wire.completion(None, refusal=refusal))
    loopback.queue(wire.stream("", refusal=refusal))
    cf = Citeformer(backend)
    for result in (cf.generate(QUESTION, SOURCES), cf.stream(QUESTION, SOURCES).finalize()):
        assert result.finish_reason == "refusal"
        assert result.text == "I can't help with that." and result.citations == ()


def test_a_content_filter_stop_keeps_the_settled_text(
    backend: OpenAIBackend, loopback: LoopbackServer
) -> None:
    partial = ANSWER[: ANSWER.index("Rome")]
    loopback.reset(wire.answer(partial, finish_reason="content_filter"))
    result = Citeformer(backend).generate(QUESTION, SOURCES)
    assert result.finish_reason == "content_filter"
    assert result.text.startswith("The Eiffel Tower is 330 metres tall [1].")


# -- concurrency -----------------------------------------------------------------------


def _question_number(request: Received) -> int:
    return int(request.body["messages"][1]["content"].rsplit("question ", 1)[1].rstrip("?"))


def _per_call_answer(request: Received) -> str:
    i = _question_number(request)
    return wire.segments((f"Answer number {i}.", [i % 3 + 1]))


def _per_call_usage(request: Received) -> dict[str, Any]:
    i = _question_number(request)
    return wire.usage(prompt=1000 + i, completion=i)


async def test_per_call_facts_at_the_backend_level(loopback: LoopbackServer) -> None:
    loopback.reset(wire.answer(_per_call_answer, use=_per_call_usage))
    backend = make(loopback)
    outs = await asyncio.gather(
        *(backend.agenerate(f"question {i}?", SOURCES, Policy.AUTO) for i in range(50))
    )
    assert [call_info(o).usage.prompt_tokens for o in outs] == [1000 + i for i in range(50)]  # type: ignore[union-attr]
    await backend.aclose()


async def test_1000_streams_with_a_fifth_cancelled_leave_nothing_behind(
    loopback: LoopbackServer,
) -> None:
    # The streams to be cancelled are slow (they cannot finish first, however loaded
    # the machine is); the others are quick. All run at once.
    slow = wire.stream(ANSWER, size=2, event_delay=0.5)  # ~20 s: cancelled long before
    quick = wire.stream(ANSWER, size=10, event_delay=0.01)
    loopback.reset(lambda r: slow if "slow" in r.body["messages"][1]["content"] else quick)
    backend = make(loopback)
    cf = Citeformer(backend)
    mid_stream = [asyncio.Event() for _ in range(1000)]

    async def consume(i: int) -> str:
        parts = []
        async for chunk in cf.astream("slow?" if i % 5 == 0 else QUESTION, SOURCES):
            parts.append(chunk)
            mid_stream[i].set()
        return "".join(parts)

    try:
        tasks = [asyncio.create_task(consume(i)) for i in range(1000)]
        await asyncio.gather(*(mid_stream[i].wait() for i in range(0, 1000, 5)))
        for task in tasks[::5]:
            task.cancel()  # each has text already and is waiting for more
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(results[i], asyncio.CancelledError) for i in range(0, 1000, 5))
        assert {r for i, r in enumerate(results) if i % 5} == {EXPECTED_TEXT}
        await asyncio.sleep(0.1)
        assert asyncio.all_tasks() == {asyncio.current_task()}
        pool = backend.async_client._client._transport._pool  # httpcore's pool
        assert all(connection.is_idle() for connection in pool.connections)
        await _until(lambda: loopback.open_streams == 0)  # the server saw every stream end
    finally:
        await cf.aclose()


async def _until(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110 (another thread)
        await asyncio.sleep(0.05)
    assert condition()


async def test_an_abandoned_stream_is_closed_when_collected(loopback: LoopbackServer) -> None:
    loopback.reset(lambda _: wire.stream(ANSWER, size=2, event_delay=0.05))
    async with Citeformer(make(loopback)) as cf:
        async for _ in cf.astream(QUESTION, SOURCES):
            break  # no aclose(), no async with: the stream object is just dropped
        assert loopback.open_streams == 1
        gc.collect()  # asyncio's async-generator finaliser closes the chain
        await _until(lambda: loopback.open_streams == 0)
        async with cf.astream(QUESTION, SOURCES) as stream:  # the deterministic way
            async for _ in stream:
                break
        await _until(lambda: loopback.open_streams == 0)


async def test_injected_async_client_is_used_and_never_closed(loopback: LoopbackServer) -> None:
    from openai import AsyncOpenAI

    loopback.reset(wire.answer(ANSWER))
    client = AsyncOpenAI(api_key=KEY, base_url=f"{loopback.url}/v1", max_retries=0)
    backend = OpenAIBackend("gpt-test", async_client=client)
    assert backend.async_client is client
    assert (await Citeformer(backend).agenerate(QUESTION, SOURCES)).cited_ids == [1, 2]
    await backend.aclose()
    assert not client.is_closed()
    await client.close()


def test_logs_name_no_secret(loopback: LoopbackServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    loopback.reset(wire.answer(ANSWER))
    backend = make(loopback)
    Citeformer(backend).generate(QUESTION, SOURCES)
    assert caplog.records and KEY not in caplog.text
    assert KEY not in json.dumps(loopback.requests[0].body)
    backend.close()


async def _aiter(items: list[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


def test_sources_as_strings_work_too(backend: OpenAIBackend) -> None:
    result = Citeformer(backend).generate(QUESTION, [s.content for s in SOURCES])
    assert isinstance(result.sources[0], Source) and result.cited_ids == [1, 2]
