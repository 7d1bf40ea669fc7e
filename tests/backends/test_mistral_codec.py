"""The Mistral codec: request payloads and decoding, with no SDK and no network."""

from __future__ import annotations

import json
from types import SimpleNamespace as NS
from typing import Any

import pytest

from citeformer import Policy, Source
from citeformer.backends.base import CitationRequest
from citeformer.backends.mistral.codec import (
    RequestShape,
    ResponseDecoder,
    build_payload,
    content_text,
    decode_response,
    finish_reason,
    usage_of,
)
from citeformer.errors import BackendError

SOURCES = [
    Source("Alpha is first.", {"title": "A"}),
    Source("Beta is second.", {"title": "B"}),
    Source("Gamma is third.", {"title": "G"}),
]


def request(policy: Policy = Policy.AUTO) -> CitationRequest:
    return CitationRequest.build("What is alpha?", SOURCES, policy)


def response(content: Any, finish: str | None = "stop", use: Any = None) -> Any:
    choice = NS(index=0, message=NS(content=content), finish_reason=finish)
    return NS(choices=[choice], usage=use)


def event(content: str, finish: str | None = None, use: Any = None) -> Any:
    choice = NS(index=0, delta=NS(content=content), finish_reason=finish)
    return NS(data=NS(choices=[choice], usage=use))


def doc(*parts: tuple[str, list[Any]]) -> str:
    return json.dumps({"segments": [{"text": t, "citations": ids} for t, ids in parts]})


def test_request_maps_messages_schema_and_options() -> None:
    options = {"max_tokens": 64, "temperature": 0.1, "top_p": 0.9, "seed": 7, "stop": ["END"]}
    kwargs = build_payload(RequestShape("mistral-x"), request(Policy.REQUIRED), options, 2.5)
    assert kwargs["model"] == "mistral-x"
    system, user = kwargs["messages"]
    assert system["role"] == "system"
    assert "numbered sources" in system["content"]
    assert "Alpha is first." in user["content"]
    assert "What is alpha?" in user["content"]
    fmt = kwargs["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True
    citations = fmt["json_schema"]["schema"]["properties"]["segments"]["items"]["properties"]
    assert citations["citations"]["items"] == {"type": "integer", "enum": [1, 2, 3]}
    assert citations["citations"]["minItems"] == 1
    assert (kwargs["max_tokens"], kwargs["temperature"], kwargs["top_p"]) == (64, 0.1, 0.9)
    assert (kwargs["random_seed"], kwargs["stop"]) == (7, ["END"])
    assert kwargs["retries"] is None
    assert kwargs["timeout_ms"] == 2500
    assert "safe_prompt" not in kwargs
    assert build_payload(RequestShape("m", safe_prompt=True), request(), {}, 1)["safe_prompt"]


@pytest.mark.parametrize(
    ("mistral", "ours"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("model_length", "length"),
        ("error", "error"),
        ("content_filter", "content_filter"),
        (None, None),
        ("", None),
    ],
)
def test_finish_reasons(mistral: str | None, ours: str | None) -> None:
    assert finish_reason(mistral) == ours


def test_usage_with_and_without_cached_tokens() -> None:
    plain = usage_of(NS(prompt_tokens=10, completion_tokens=4))
    assert plain is not None
    assert (plain.prompt_tokens, plain.completion_tokens, plain.cached_tokens) == (10, 4, 0)
    extra = NS(prompt_tokens=10, completion_tokens=4, model_extra={"num_cached_tokens": 6})
    assert usage_of(extra).cached_tokens == 6  # type: ignore[union-attr]
    details = NS(prompt_tokens=1, completion_tokens=1, prompt_tokens_details={"cached_tokens": 3})
    assert usage_of(details).cached_tokens == 3  # type: ignore[union-attr]
    assert usage_of(None) is None


def test_content_chunks_keep_text_and_drop_thinking() -> None:
    chunks = [
        NS(type="thinking", text=None),
        NS(type="text", text='{"se'),
        {"type": "text", "text": "g"},
    ]
    assert content_text(chunks) == '{"seg'
    assert content_text(None) == ""
    assert content_text("abc") == "abc"


def test_whole_response_neutralises_prose_markers_and_drops_ids_outside_the_enum() -> None:
    text = decode_response(
        response(doc(("Alpha [9] leads.", [1, 9]), ("Beta.", [2]))), request(), "mistral"
    )
    assert text.text == "Alpha leads [1]. Beta [2]."
    assert [m.text for m in text.info.invalid_markers] == ["[9]"]
    assert text.info.finish_reason == "stop"


def test_stream_events_decode_like_the_whole_response() -> None:
    document = doc(("Alpha is first.", [1]), ("Gamma third.", [3]))
    decoder = ResponseDecoder(request(), "mistral")
    pieces = [document[i : i + 6] for i in range(0, len(document), 6)]
    out = "".join(decoder.feed(event(p)) for p in pieces)
    out += decoder.feed(event("", "stop", NS(prompt_tokens=3, completion_tokens=2)))
    rest = decoder.finish()
    assert out + rest.text == decode_response(response(document), request(), "mistral").text
    assert rest.info.usage is not None
    assert rest.info.usage.prompt_tokens == 3


def test_length_keeps_what_parses() -> None:
    partial = '{"segments": [{"text": "Alpha is first.", "citations": [1]}, {"text": "Gam'
    text = decode_response(response(partial, "length"), request(), "mistral")
    assert text.info.finish_reason == "length"
    assert text.text.startswith("Alpha is first [1].")


def test_errors() -> None:
    with pytest.raises(BackendError, match="no choices"):
        decode_response(NS(choices=[], usage=None), request(), "mistral")
    with pytest.raises(BackendError, match="finish_reason='error'"):
        decode_response(response(doc(("A.", [1])), "error"), request(), "mistral")
    with pytest.raises(BackendError, match="not valid JSON"):
        decode_response(response("Alpha [9]."), request(), "mistral")
    decoder = ResponseDecoder(request(), "mistral")
    decoder.feed(event('{"segments": ['))
    with pytest.raises(BackendError, match="no finish_reason"):
        decoder.finish()
