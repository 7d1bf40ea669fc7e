"""The chat-completions codec: request payloads and decoding (no SDK, no network)."""

from __future__ import annotations

from types import SimpleNamespace as NS
from typing import Any

import pytest

from citeformer.backends.base import CitationRequest
from citeformer.backends.openai.codec import (
    RequestShape,
    ResponseDecoder,
    build_payload,
    decode_response,
    is_reasoning_model,
)
from citeformer.core import Enforcement, Policy, Source
from citeformer.errors import BackendError, InvalidOptionError
from citeformer.grammar.notation import to_ebnf

REQUEST = CitationRequest.build("Q?", [Source("a"), Source("b")], Policy.AUTO)


def completion(content: str | None, finish: str | None = "stop", refusal: str | None = None) -> Any:
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
    out = decode_response(
        completion('{"segments": [{"text": "A.", "citations": [2]}]}'), shape, REQUEST, "p"
    )
    info = out.info
    assert out.text == "A [2]." and info.enforcement is Enforcement.SCHEMA
    assert info.usage is not None and info.usage.cached_tokens == 3
    refused = decode_response(completion(None, refusal="No [1]."), shape, REQUEST, "p")
    assert refused.text == "No." and refused.info.finish_reason == "refusal"
    with pytest.raises(BackendError, match="no choices"):
        decode_response(NS(choices=[], usage=None), shape, REQUEST, "p")


def test_a_whole_completion_is_decoded_by_the_stream_decoder() -> None:
    shape = RequestShape("m")
    document = '{"segments": [{"text": "A.", "citations": [2]}, {"text": " B [1]."}]}'
    whole = decode_response(completion(document, refusal="No [1]."), shape, REQUEST, "p")
    decoder = ResponseDecoder(shape, REQUEST, "p")
    text = decoder.feed(completion(document, refusal="No [1]."))
    rest = decoder.finish(whole=True)
    assert whole.text == text + rest.text == "A [2]. B.\n\nNo."
    assert whole.info == rest.info


def test_a_whole_completion_needs_no_finish_reason_a_stream_does() -> None:
    shape = RequestShape("m", constraint="none")
    whole = decode_response(completion("Tall [1].", finish=None), shape, REQUEST, "p")
    assert whole.text == "Tall [1]." and whole.info.finish_reason is None
    decoder = ResponseDecoder(shape, REQUEST, "p")
    assert decoder.feed(chunk("Tall [1].")) == "Tall [1]."
    with pytest.raises(BackendError, match="before the model finished"):
        decoder.finish()


def test_stream_decoder_plain_mode_passes_content_through() -> None:
    decoder = ResponseDecoder(RequestShape("m", constraint="none"), REQUEST, "p")
    assert decoder.feed(chunk("Tall [")) == "Tall ["  # the orchestrator holds markers back
    assert decoder.feed(chunk("1].", finish="stop")) == "1]."
    usage = NS(prompt_tokens=1, completion_tokens=1, prompt_tokens_details=None)
    assert decoder.feed(NS(choices=[], usage=usage)) == ""
    final = decoder.finish()
    assert final.text == "" and final.info.finish_reason == "stop"
    assert final.info.enforcement is Enforcement.VALIDATED


def test_stream_decoder_refusal_is_neutralised() -> None:
    decoder = ResponseDecoder(RequestShape("m"), REQUEST, "p")
    text = decoder.feed(chunk(refusal="Sorry [")) + decoder.feed(
        chunk(refusal="3].", finish="stop")
    )
    final = decoder.finish()
    assert text + final.text == "Sorry." and final.info.finish_reason == "refusal"


CONTENT = '{"segments": [{"text": "Content text.", "citations": [1]}]}'


def interleavings(content: str, refusal: str) -> list[list[tuple[str, str]]]:
    """Deltas carrying both fields, in several orders and sizes."""

    def pieces(field: str, text: str, size: int) -> list[tuple[str, str]]:
        return [(field, text[i : i + size]) for i in range(0, len(text), size)]

    orders = []
    for size in (1, 3, 7, 1000):
        c, r = pieces("content", content, size), pieces("refusal", refusal, size)
        orders += [r + c, c + r, c[: len(c) // 2] + r + c[len(c) // 2 :]]
        mixed = [x for pair in zip(c, r, strict=False) for x in pair]
        orders.append(mixed + c[len(r) :] + r[len(c) :])
    return orders


def stream_of(events: list[tuple[str, str]], shape: RequestShape, finish: str = "stop") -> Any:
    decoder = ResponseDecoder(shape, REQUEST, "p")
    text = ""
    for i, (field, piece) in enumerate(events):
        last = i == len(events) - 1
        text += decoder.feed(
            chunk(finish=finish if last else None, **{"content": None, field: piece})
        )
    final = decoder.finish()
    return text + final.text, final.info


@pytest.mark.parametrize(
    ("constraint", "content", "expected"),
    [
        ("json_schema", CONTENT, "Content text [1].\n\nNo."),
        ("json_schema", '{"segments": [{"text": "Cut', "Cut\n\nNo."),  # kept as far as it parsed
        ("none", "Tall [1].", "Tall [1].\n\nNo."),
    ],
)
def test_a_refusal_with_content_is_one_answer_whole_and_streamed(
    constraint: Any, content: str, expected: str
) -> None:
    shape = RequestShape("m", constraint=constraint)
    whole = decode_response(completion(content, refusal="No [2]."), shape, REQUEST, "p")
    assert whole.text == expected and whole.info.finish_reason == "refusal"
    for events in interleavings(content, "No [2]."):
        text, info = stream_of(events, shape)
        assert text == expected, events
        assert info.finish_reason == "refusal"
        assert info.invalid_markers == whole.info.invalid_markers


def test_a_refusal_alone_is_the_answer_whole_and_streamed() -> None:
    shape = RequestShape("m")
    for content in (None, ""):
        whole = decode_response(completion(content, refusal="Sorry [3]."), shape, REQUEST, "p")
        assert whole.text == "Sorry." and whole.info.finish_reason == "refusal"
    assert stream_of([("refusal", "Sorry [3]."), ("content", "")], shape)[0] == "Sorry."
