"""MistralBackend through the real mistralai SDK against the loopback Mistral server."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from citeformer import Citeformer
from citeformer.backends.mistral import MistralBackend
from citeformer.backends.retry import RetryPolicy
from citeformer.errors import BackendError, ConfigurationError, ContentFilteredError
from citeformer.testing import QUESTION, SOURCES
from tests.backends.schema_api_suite import DOC, SchemaApiSuite
from tests.loopback import mistral_wire as wire
from tests.loopback.server import LoopbackServer, Received

KEY = "ms-key-SECRET-0123456789"


class TestMistralSchemaApi(SchemaApiSuite):
    """The contract, the faults, streaming and concurrency, through mistralai."""

    backend_class = MistralBackend
    model = "mistral-test"
    wire = wire
    key = KEY
    provider = "mistral"
    sdk_module = "mistralai"
    key_header = "authorization"
    unauthorized = "Unauthorized"
    truncated_body = b'{"id": "x", "choices": [{"message": '
    error_request_id = "corr-err"

    def prompt_of(self, request: Received) -> str:
        return str(request.body["messages"][1]["content"])

    def schema_of(self, request: Received) -> dict[str, Any]:
        return dict(request.body["response_format"]["json_schema"]["schema"])

    def check_stream_requests(self, requests: Sequence[Received]) -> None:
        # The first request is the whole generate; every later one is a stream.
        assert all(r.headers["accept"] == "text/event-stream" for r in requests[1:])

    async def raw_sdk_call(self, backend: Any, i: int) -> Any:
        return await backend.async_client.chat.complete_async(
            model=self.model,
            messages=[
                {"role": "system", "content": "Answer."},
                {"role": "user", "content": f"question {i}"},
            ],
            retries=None,
        )


make = TestMistralSchemaApi.build


# -- the request ---------------------------------------------------------------------------


def test_request_carries_schema_enum_system_prompt_sources_and_key(
    loopback: LoopbackServer,
) -> None:
    loopback.reset(wire.answer(DOC))
    backend = make(loopback)
    Citeformer(backend).generate(QUESTION, SOURCES, max_tokens=50, temperature=0.2, seed=3)
    [sent] = loopback.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    fmt = sent.body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["name"] == "cited_answer"
    segment = fmt["json_schema"]["schema"]["properties"]["segments"]["items"]
    assert segment["properties"]["citations"]["items"] == {"type": "integer", "enum": [1, 2, 3]}
    body = sent.body
    assert (body["max_tokens"], body["temperature"], body["random_seed"]) == (50, 0.2, 3)
    system, user = body["messages"]
    assert system["role"] == "system"
    assert "numbered sources" in system["content"]
    for source in SOURCES:
        assert source.content in user["content"]
    assert QUESTION in user["content"]
    backend.close()


def test_key_from_environment_and_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="MISTRAL_API_KEY"):
        MistralBackend("mistral-test")
    monkeypatch.setenv("MISTRAL_API_KEY", "from-env")
    assert MistralBackend("mistral-test")._api_key_value() == "from-env"


def test_injected_client_serves_both_sides(loopback: LoopbackServer) -> None:
    from mistralai.client import Mistral

    loopback.reset(wire.answer(DOC))
    client = Mistral(api_key=KEY, server_url=loopback.url)
    backend = MistralBackend("mistral-test", client=client)
    assert backend.client is client
    assert backend.async_client is client
    cf = Citeformer(backend)

    async def both() -> str:
        text = (await cf.agenerate(QUESTION, SOURCES)).text
        await backend.aclose()  # injected: left open for its owner
        assert client.sdk_configuration.async_client is not None
        await client.__aexit__(None, None, None)
        return text

    assert cf.generate(QUESTION, SOURCES).text == asyncio.run(both())
    backend.close()
    assert client.sdk_configuration.client is not None
    assert len(loopback.requests) == 2
    client.__exit__(None, None, None)


def test_each_built_client_holds_only_its_own_side(loopback: LoopbackServer) -> None:
    import httpx2

    loopback.reset(wire.answer(DOC))
    backend = make(loopback)
    sync_http = backend.client.sdk_configuration.client
    assert isinstance(sync_http, httpx2.Client)
    assert not isinstance(backend.client.sdk_configuration.async_client, httpx2.AsyncClient)

    async def run() -> None:
        config = backend.async_client.sdk_configuration
        assert isinstance(config.async_client, httpx2.AsyncClient)
        assert not isinstance(config.client, httpx2.Client)
        with pytest.raises(RuntimeError, match="without a sync HTTP client"):
            config.client.send(None)
        await backend.aclose()
        assert config.async_client is None or config.async_client.is_closed

    asyncio.run(run())
    assert sync_http.is_closed  # aclose closes the sync side too


# -- the provider's refusals and finish reasons ----------------------------------------


def test_content_filter_is_a_typed_outcome(loopback: LoopbackServer) -> None:
    backend = make(loopback)
    cf = Citeformer(backend)
    partial = DOC[: DOC.index("It stands")]
    loopback.reset(wire.answer(partial, finish_reason="content_filter"))
    for result in (cf.generate(QUESTION, SOURCES), cf.stream(QUESTION, SOURCES).finalize()):
        assert result.finish_reason == "content_filter"
        assert result.text == "The Eiffel Tower is 330 metres tall [1]."
    loopback.reset(lambda r: wire.error(400, "Prompt rejected by the safety moderation"))
    with pytest.raises(ContentFilteredError) as info:
        cf.generate(QUESTION, SOURCES)
    assert not info.value.retryable
    assert len(loopback.requests) == 1
    backend.close()


def test_model_error_finish_is_retryable_backend_error(loopback: LoopbackServer) -> None:
    loopback.reset(wire.answer(DOC, finish_reason="error"))
    backend = make(loopback, retry=RetryPolicy.none())
    with pytest.raises(BackendError, match="finish_reason='error'") as info:
        Citeformer(backend).generate(QUESTION, SOURCES)
    assert info.value.retryable
    backend.close()
