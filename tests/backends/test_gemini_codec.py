"""The Gemini codec: request payloads and decoding, with no SDK and no network."""

from __future__ import annotations

import json
from types import SimpleNamespace as NS
from typing import Any

import pytest

from citeformer import Policy, Source
from citeformer.backends.base import CitationRequest
from citeformer.backends.gemini.codec import (
    RequestShape,
    ResponseDecoder,
    build_payload,
    decode_response,
    finish_reason,
    response_schema,
    usage_of,
)
from citeformer.errors import BackendError, InvalidOptionError

SOURCES = [Source("Alpha is first.", {"title": "A"}), Source("Beta is second.", {"title": "B"})]
SOURCES.append(Source("Gamma is third.", {"title": "G"}))


def request(policy: Policy = Policy.AUTO) -> CitationRequest:
    return CitationRequest.build("What is alpha?", SOURCES, policy)


def response(text: str | None, finish: str | None = "STOP", **extra: Any) -> Any:
    content = None if text is None else NS(parts=[NS(text=text, thought=None)])
    candidate = NS(content=content, finish_reason=finish)
    return NS(candidates=[candidate], usage_metadata=extra.get("usage"), prompt_feedback=None)


def doc(*parts: tuple[str, list[Any]]) -> str:
    return json.dumps({"segments": [{"text": t, "citations": ids} for t, ids in parts]})


def test_request_maps_messages_schema_and_options() -> None:
    options = {"max_tokens": 64, "temperature": 0.1, "top_p": 0.9, "seed": 7, "stop": "END"}
    kwargs = build_payload(RequestShape("gemini-x"), request(), options, timeout=2.5)
    config = kwargs["config"]
    assert kwargs["model"] == "gemini-x"
    assert "numbered sources" in config["system_instruction"]
    [user] = kwargs["contents"]
    assert user["role"] == "user"
    assert "Alpha is first." in user["parts"][0]["text"]
    assert "What is alpha?" in user["parts"][0]["text"]
    assert config["response_mime_type"] == "application/json"
    ids = config["response_json_schema"]["properties"]["segments"]["items"]["properties"]
    assert ids["citations"]["items"] == {"type": "integer", "enum": [1, 2, 3]}
    assert "response_schema" not in config
    assert config["max_output_tokens"] == 64
    assert (config["temperature"], config["top_p"], config["seed"]) == (0.1, 0.9, 7)
    assert config["stop_sequences"] == ["END"]
    assert config["http_options"] == {"timeout": 2500, "retry_options": {"attempts": 1}}
    assert config["automatic_function_calling"] == {"disable": True}


def test_per_call_model_and_max_new_tokens() -> None:
    kwargs = build_payload(RequestShape("a"), request(), {"model": "b", "max_new_tokens": 9}, 1.0)
    assert kwargs["model"] == "b"
    assert kwargs["config"]["max_output_tokens"] == 9


def test_openapi_dialect_uses_string_enums_and_no_additional_properties() -> None:
    schema = response_schema(request(Policy.QUOTES_ONLY).language, "openapi")
    segment = schema["properties"]["segments"]["items"]
    assert segment["type"] == "OBJECT"
    assert segment["properties"]["citations"]["items"] == {
        "type": "STRING",
        "enum": ["1", "2", "3"],
        "format": "enum",
    }
    assert segment["propertyOrdering"] == ["text", "quote", "citations"]
    assert "additionalProperties" not in json.dumps(schema)
    kwargs = build_payload(RequestShape("m", schema_dialect="openapi"), request(), {}, 1.0)
    assert "response_schema" in kwargs["config"]
    assert "response_json_schema" not in kwargs["config"]


def test_unknown_dialect_is_a_usage_error() -> None:
    with pytest.raises(InvalidOptionError, match="schema_dialect"):
        RequestShape("m", schema_dialect="xml")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("gemini", "ours"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("FinishReason.SAFETY", "content_filter"),
        ("OTHER", "other"),
        ("FINISH_REASON_UNSPECIFIED", None),
        (None, None),
    ],
)
def test_finish_reasons(gemini: str | None, ours: str | None) -> None:
    assert finish_reason(gemini) == ours


def test_usage_counts_cached_and_thinking_tokens() -> None:
    meta = NS(
        prompt_token_count=10,
        candidates_token_count=4,
        thoughts_token_count=3,
        cached_content_token_count=6,
    )
    usage = usage_of(meta)
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) == (10, 7, 6)
    assert usage_of(None) is None


def test_whole_response_neutralises_prose_markers_and_drops_ids_outside_the_enum() -> None:
    text = decode_response(
        response(doc(("Alpha [9] leads.", [1, 9]), ("Beta too.", ["2"]))), request(), "gemini"
    )
    assert text.text == "Alpha leads [1]. Beta too [2]."
    assert [m.text for m in text.info.invalid_markers] == ["[9]"]
    assert text.info.finish_reason == "stop"


def test_thought_parts_are_not_answer_text() -> None:
    parts = [NS(text="thinking...", thought=True), NS(text=doc(("A.", [1])), thought=None)]
    whole = NS(
        candidates=[NS(content=NS(parts=parts), finish_reason="STOP")],
        usage_metadata=None,
        prompt_feedback=None,
    )
    assert decode_response(whole, request(), "gemini").text == "A [1]."


def test_stream_chunks_decode_like_the_whole_response() -> None:
    document = doc(("Alpha is first.", [1]), ("Gamma third.", [3]))
    decoder = ResponseDecoder(request(), "gemini")
    pieces = [document[i : i + 7] for i in range(0, len(document), 7)]
    out = "".join(decoder.feed(response(p, None)) for p in pieces[:-1])
    out += decoder.feed(response(pieces[-1], "STOP"))
    rest = decoder.finish()
    assert out + rest.text == decode_response(response(document), request(), "gemini").text


def test_blocked_prompt_is_a_content_filter_outcome() -> None:
    blocked = NS(candidates=None, usage_metadata=None, prompt_feedback=NS(block_reason="SAFETY"))
    text = decode_response(blocked, request(), "gemini")
    assert text.text == ""
    assert text.info.finish_reason == "content_filter"


def test_safety_stop_keeps_settled_text() -> None:
    partial = '{"segments": [{"text": "Alpha is first.", "citations": [1]}, {"text": "Bad'
    text = decode_response(response(partial, "SAFETY"), request(), "gemini")
    assert text.info.finish_reason == "content_filter"
    assert text.text.startswith("Alpha is first [1].")


def test_stream_without_finish_reason_is_an_error() -> None:
    decoder = ResponseDecoder(request(), "gemini")
    decoder.feed(response('{"segments": [', None))
    with pytest.raises(BackendError, match="finish_reason"):
        decoder.finish()


def test_prose_instead_of_json_is_a_backend_error() -> None:
    with pytest.raises(BackendError, match="not valid JSON"):
        decode_response(response("Alpha [9] is first."), request(), "gemini")
