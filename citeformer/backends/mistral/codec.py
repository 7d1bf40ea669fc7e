"""Mistral chat completions: request payloads and response decoding.

Pure: no I/O and no SDK import. Responses and stream events are read by
attribute, so the same functions serve mistralai's ``ChatCompletionResponse`` and
``CompletionEvent`` objects; a whole response is decoded by feeding it to the
stream decoder (:class:`ResponseDecoder`).

The request asks for JSON segments (:mod:`citeformer.grammar.schema`) with
``response_format={"type": "json_schema", "json_schema": {..., "strict": True}}``;
each segment's ``citations`` are an integer enum of ``1..N``, so only schema-bounded
ids become citations.

Finish reasons: ``stop`` stays ``stop``; ``length`` and ``model_length`` become
``length`` (the answer is kept as far as it parses); ``content_filter`` (where a
deployment reports one) is a typed outcome with the text settled so far;
``error`` (the model failed mid-answer) raises a retryable
:class:`~citeformer.errors.BackendError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citeformer.backends._api.json_segments import SegmentDecoder
from citeformer.backends.base import CitationRequest, Reply
from citeformer.core import TokenUsage
from citeformer.errors import BackendError
from citeformer.grammar.schema import to_json_schema

SCHEMA_NAME = "cited_answer"
_FINISH = {"model_length": "length"}


@dataclass(frozen=True, slots=True)
class RequestShape:
    """How a backend instance shapes its requests (fixed at construction).

    Attributes:
        model: Default model name.
        safe_prompt: Ask Mistral to prepend its safety prompt.
    """

    model: str
    safe_prompt: bool = False


def build_payload(
    shape: RequestShape, request: CitationRequest, options: Mapping[str, Any], timeout: float
) -> dict[str, Any]:
    """Keyword arguments for ``chat.complete``/``chat.stream`` (and their async twins).

    ``retries=None`` turns the SDK's retries off for the call (citeformer's
    :class:`~citeformer.backends.retry.RetryPolicy` retries, once), also on an
    injected client configured to retry; ``timeout_ms`` is the call's timeout.
    """
    payload: dict[str, Any] = {
        "model": options.get("model") or shape.model,
        "messages": [dict(m) for m in request.segment_messages],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": SCHEMA_NAME,
                "schema": to_json_schema(request.language),
                "strict": True,
            },
        },
        "retries": None,
        "timeout_ms": max(1, round(timeout * 1000)),
    }
    limit = options.get("max_tokens") or options.get("max_new_tokens")
    if limit:
        payload["max_tokens"] = int(limit)
    for name in ("temperature", "top_p", "stop"):
        if options.get(name) is not None:
            payload[name] = options[name]
    if options.get("seed") is not None:
        payload["random_seed"] = options["seed"]
    if shape.safe_prompt:
        payload["safe_prompt"] = True
    return payload


def usage_of(usage: Any) -> TokenUsage | None:
    """A :class:`TokenUsage` from Mistral's ``UsageInfo`` (cached tokens where reported)."""
    if usage is None:
        return None
    details = getattr(usage, "prompt_tokens_details", None)
    if isinstance(details, Mapping):
        cached = details.get("cached_tokens")
    else:
        cached = getattr(details, "cached_tokens", None)
    if cached is None:
        extra = getattr(usage, "model_extra", None) or {}
        cached = extra.get("num_cached_tokens")
        details = extra.get("prompt_tokens_details")
        if cached is None and isinstance(details, Mapping):
            cached = details.get("cached_tokens")
    return TokenUsage(
        prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        cached_tokens=int(cached or 0),
    )


def finish_reason(value: Any) -> str | None:
    """The common name of a Mistral finish reason."""
    if value is None or not isinstance(value, str) or not value:
        return None
    return _FINISH.get(value, value)


def content_text(content: Any) -> str:
    """Answer text from a message content: a str, or a list of chunks (text only)."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        out = []
        for chunk in content:
            kind = getattr(chunk, "type", None)
            text = getattr(chunk, "text", None)
            if isinstance(chunk, Mapping):
                kind, text = chunk.get("type"), chunk.get("text")
            if kind in (None, "text") and isinstance(text, str):
                out.append(text)  # "thinking" chunks are the model's, not the answer
        return "".join(out)
    return ""


class ResponseDecoder:
    """Decodes one call: a whole ``ChatCompletionResponse`` or stream events (pure)."""

    __slots__ = ("_finish", "_provider", "_segments", "_usage")

    def __init__(self, request: CitationRequest, provider: str) -> None:
        self._segments = SegmentDecoder(request.language, provider)
        self._provider = provider
        self._usage: TokenUsage | None = None
        self._finish: str | None = None

    def feed(self, event: Any, *, whole: bool = False) -> str:
        """Consume one ``CompletionEvent`` (or its ``.data`` chunk); return new text.

        ``whole=True``: a whole response, whose content is the entire document.
        """
        chunk = getattr(event, "data", event)
        usage = usage_of(getattr(chunk, "usage", None))
        if usage is not None:
            self._usage = usage
        out = ""
        for choice in getattr(chunk, "choices", None) or ():
            if getattr(choice, "index", 0) != 0:
                continue
            message = getattr(choice, "delta", None) or getattr(choice, "message", None)
            text = content_text(getattr(message, "content", None))
            if text:
                out += self._segments.feed(text, whole=whole)
            reason = finish_reason(getattr(choice, "finish_reason", None))
            if reason is not None:
                self._finish = reason
        return out

    def finish(self) -> Reply:
        """The rest of the text, with usage, finish reason and dropped ids.

        Raises:
            BackendError: The stream ended without a finish reason (it was cut),
                the model reported an error, or the document is not valid JSON.
        """
        finish = self._finish
        if finish == "error":
            raise BackendError(
                "the model stopped with finish_reason='error' before completing its answer",
                provider=self._provider,
                retryable=True,
            )
        return self._segments.finish_reply(finish, self._usage)


def decode_response(response: Any, request: CitationRequest, provider: str) -> Reply:
    """Answer text and facts from a whole ``ChatCompletionResponse``."""
    if not (getattr(response, "choices", None) or ()):
        raise BackendError("the response has no choices", provider=provider, retryable=True)
    decoder = ResponseDecoder(request, provider)
    text = decoder.feed(response, whole=True)
    return decoder.finish().after(text)
