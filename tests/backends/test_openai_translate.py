"""Pure request/response translation for chat-completions APIs (no SDK, no network)."""

from __future__ import annotations

from types import SimpleNamespace as NS
from typing import Any

import pytest

from citeformer.backends.base import CitationRequest, call_info
from citeformer.backends.openai.translate import (
    ChatStreamDecoder,
    RequestShape,
    build_payload,
    decode_completion,
    is_reasoning_model,
)
from citeformer.core import Enforcement, Policy, Source
from citeformer.errors import BackendError, InvalidOptionError
from citeformer.grammar.render import to_ebnf

REQUEST = CitationRequest.build("Q?", [Source("a"), Source("b")], Policy.AUTO)


def completion(content: str | None, finish: str = "stop", refusal: str | None = None) -> Any:
    message = NS(content=content, refusal=refusal)
    usage = NS(prompt_tokens=5, completion_tokens=2, prompt_tokens_details=NS(cached_tokens=3))
    return NS(choices=[NS(message=message, finish_reason=finish)], usage=usage)


def chunk(content: str | None = None, finish: str | None = None, **delta: Any) -> Any:
    return NS(
        choices=[NS(index=0, delta=NS(content=content, **delta), finish_reason=finish)], usage=None
    )


def test_shape_validation_says_what_to_do() -> None:
    with pytest.raises(InvalidOptionError, match="json_schema, grammar, none"):
        RequestShape("m", constraint="regex")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="grammar_dialect"):
        RequestShape("m", constraint="grammar")


def test_reasoning_model_names() -> None:
    assert all(map(is_reasoning_model, ["o1", "o3-mini", "o4-mini", "gpt-5", "openai/o3"]))
    assert not any(map(is_reasoning_model, ["gpt-4.1", "gpt-4o-mini", "llama-3-70b"]))


def test_payload_options_and_modes() -> None:
    shape = RequestShape("m", extra_body={"x": 1}, extra_headers={"h": "v"})
    payload = build_payload(
        shape,
        REQUEST,
        {"max_new_tokens": 9, "temperature": 0, "seed": 3, "stop": ["\n"]},
        stream=True,
    )
    assert payload["max_tokens"] == 9 and payload["temperature"] == 0 and payload["seed"] == 3
    assert payload["stop"] == ["\n"] and payload["stream"] is True
    assert payload["extra_body"] == {"x": 1} and payload["extra_headers"] == {"h": "v"}
    plain = build_payload(RequestShape("m", constraint="none"), REQUEST, {}, stream=False)
    assert "response_format" not in plain and "extra_body" not in plain
    assert plain["messages"] == [dict(m) for m in REQUEST.messages]
    vllm = build_payload(
        RequestShape("m", constraint="grammar", dialect="vllm"), REQUEST, {}, stream=False
    )
    assert vllm["extra_body"] == {"structured_outputs": {"grammar": to_ebnf(REQUEST.language)}}


def test_decoding_whole_completions() -> None:
    shape = RequestShape("m")
    out = decode_completion(
        completion('{"segments": [{"text": "A.", "citations": [2]}]}'), shape, REQUEST, "p"
    )
    info = call_info(out)
    assert out == "A [2]." and info.enforcement is Enforcement.SCHEMA
    assert info.usage is not None and info.usage.cached_tokens == 3
    refused = decode_completion(completion(None, refusal="No [1]."), shape, REQUEST, "p")
    assert refused == "No." and call_info(refused).finish_reason == "refusal"
    with pytest.raises(BackendError, match="no choices"):
        decode_completion(NS(choices=[], usage=None), shape, REQUEST, "p")


def test_stream_decoder_plain_mode_passes_content_through() -> None:
    decoder = ChatStreamDecoder(RequestShape("m", constraint="none"), REQUEST, "p")
    assert decoder.feed(chunk("Tall [")) == "Tall ["  # the orchestrator holds markers back
    assert decoder.feed(chunk("1].", finish="stop")) == "1]."
    usage = NS(prompt_tokens=1, completion_tokens=1, prompt_tokens_details=None)
    assert decoder.feed(NS(choices=[], usage=usage)) == ""
    final = decoder.finish()
    assert final == "" and call_info(final).finish_reason == "stop"
    assert call_info(final).enforcement is Enforcement.VALIDATED


def test_stream_decoder_refusal_is_neutralised() -> None:
    decoder = ChatStreamDecoder(RequestShape("m"), REQUEST, "p")
    text = decoder.feed(chunk(refusal="Sorry [")) + decoder.feed(
        chunk(refusal="3].", finish="stop")
    )
    final = decoder.finish()
    assert text + final == "Sorry." and call_info(final).finish_reason == "refusal"
