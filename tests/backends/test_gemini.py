"""GeminiBackend through the real google-genai SDK against the loopback Gemini server."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from citeformer import Citeformer
from citeformer.backends.gemini import GeminiBackend
from citeformer.errors import ConfigurationError, ContentFilteredError
from citeformer.testing import QUESTION, SOURCES
from tests.backends.schema_api_suite import DOC, SchemaApiSuite
from tests.loopback import gemini_wire as wire
from tests.loopback.server import LoopbackServer, Received

KEY = "gm-key-SECRET-0123456789"


class TestGeminiSchemaApi(SchemaApiSuite):
    """The contract, the faults, streaming and concurrency, through google-genai."""

    backend_class = GeminiBackend
    model = "gemini-test"
    wire = wire
    key = KEY
    provider = "gemini"
    sdk_module = "google.genai"
    key_header = "x-goog-api-key"
    unauthorized = "API key not valid"
    truncated_body = b'{"candidates": [{"content": '
    # Its async stream leaves the generators reading the response to the collector.
    sdk_leaves_stream_generators_to_gc = True

    def prompt_of(self, request: Received) -> str:
        return str(request.body["contents"][0]["parts"][0]["text"])

    def schema_of(self, request: Received) -> dict[str, Any]:
        return dict(request.body["generationConfig"]["responseJsonSchema"])

    def check_stream_requests(self, requests: Sequence[Received]) -> None:
        assert all(r.query.get("alt") == "sse" for r in requests if wire.is_stream(r))

    async def raw_sdk_call(self, backend: Any, i: int) -> Any:
        return await backend.async_client.models.generate_content(
            model=self.model,
            contents=f"question {i}",
            config={
                "response_mime_type": "application/json",
                "http_options": {"retry_options": {"attempts": 1}},
            },
        )


make = TestGeminiSchemaApi.build


# -- the request ---------------------------------------------------------------------------


def test_request_carries_schema_enum_system_prompt_sources_and_key(
    loopback: LoopbackServer,
) -> None:
    loopback.reset(wire.answer(DOC))
    backend = make(loopback)
    Citeformer(backend).generate(QUESTION, SOURCES, max_tokens=50, temperature=0.2, seed=3)
    [sent] = loopback.requests
    assert sent.path.endswith("/models/gemini-test:generateContent")
    assert sent.headers["x-goog-api-key"] == KEY
    config = sent.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    segment = config["responseJsonSchema"]["properties"]["segments"]["items"]
    assert segment["properties"]["citations"]["items"] == {"type": "integer", "enum": [1, 2, 3]}
    assert (config["maxOutputTokens"], config["temperature"], config["seed"]) == (50, 0.2, 3)
    assert "numbered sources" in sent.body["systemInstruction"]["parts"][0]["text"]
    prompt = sent.body["contents"][0]["parts"][0]["text"]
    for source in SOURCES:
        assert source.content in prompt
    assert QUESTION in prompt
    backend.close()


def test_openapi_dialect_sends_string_enum_ids_and_reads_them_back(
    loopback: LoopbackServer,
) -> None:
    loopback.reset(wire.answer(wire.segments(("Tall.", ["1"]), ("Old.", ["2", "7"]))))
    backend = make(loopback, schema_dialect="openapi")
    result = Citeformer(backend).generate(QUESTION, SOURCES)
    items = loopback.requests[0].body["generationConfig"]["responseSchema"]["properties"]
    ids = items["segments"]["items"]["properties"]["citations"]["items"]
    assert ids["enum"] == ["1", "2", "3"]
    assert ids["type"] == "STRING"
    assert result.text == "Tall [1]. Old [2]."
    assert [m.text for m in result.invalid_markers] == ["[7]"]
    backend.close()


def test_key_from_environment_and_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY"):
        GeminiBackend("gemini-test")
    monkeypatch.setenv("GOOGLE_API_KEY", "from-google-env")
    assert GeminiBackend("gemini-test")._api_key_value() == "from-google-env"
    monkeypatch.setenv("GEMINI_API_KEY", "from-gemini-env")
    assert GeminiBackend("gemini-test")._api_key_value() == "from-gemini-env"
    assert GeminiBackend("m", client_kwargs={"vertexai": True})._api_key_value() is not None


def test_injected_client_serves_both_sides(loopback: LoopbackServer) -> None:
    import httpx2
    from google.genai import Client

    loopback.reset(wire.answer(DOC))
    # An httpx transport: genai's default aiohttp session class warns on creation
    # with aiohttp >= 3.14 (a DeprecationWarning, an error under this suite's filters).
    transport = {"transport": httpx2.AsyncHTTPTransport()}
    client = Client(
        api_key=KEY, http_options={"base_url": loopback.url, "async_client_args": transport}
    )
    backend = GeminiBackend("gemini-test", client=client)
    assert backend.client is client
    assert backend.async_client is client.aio
    cf = Citeformer(backend)

    async def both() -> str:
        text = (await cf.agenerate(QUESTION, SOURCES)).text
        await backend.aclose()  # injected: left open for its owner
        assert not client.aio._api_client._async_resources_are_closed()
        await client.aio.aclose()
        return text

    assert cf.generate(QUESTION, SOURCES).text == asyncio.run(both())
    backend.close()
    assert len(loopback.requests) == 2
    client.close()


# -- the provider's refusals -----------------------------------------------------------


def test_safety_blocks_are_typed_outcomes(loopback: LoopbackServer) -> None:
    backend = make(loopback)
    cf = Citeformer(backend)
    loopback.reset(lambda r: wire.blocked("PROHIBITED_CONTENT", streamed=wire.is_stream(r)))
    for result in (cf.generate(QUESTION, SOURCES), cf.stream(QUESTION, SOURCES).finalize()):
        assert result.finish_reason == "content_filter"
        assert result.text == ""
        assert result.citations == ()
    partial = DOC[: DOC.index("It stands")]
    loopback.reset(wire.answer(partial, finish_reason="SAFETY"))
    result = cf.generate(QUESTION, SOURCES)
    assert result.finish_reason == "content_filter"
    assert result.text == "The Eiffel Tower is 330 metres tall [1]."
    loopback.reset(lambda r: wire.error(400, "The request was blocked by safety filters"))
    with pytest.raises(ContentFilteredError):
        cf.generate(QUESTION, SOURCES)
    backend.close()
