"""OpenAI chat-completions wire format: whole responses and SSE streams."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from typing import Any

from tests.loopback.server import Received, Reply

_ids = itertools.count(1)


def usage(prompt: int = 11, completion: int = 7, cached: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def segments(*parts: tuple[str, Sequence[int]], quote: str | None = None) -> str:
    """A JSON segment document: ``segments(("Paris is big.", [1]), ...)``."""
    items = []
    for text, ids in parts:
        item: dict[str, Any] = {"text": text}
        if quote is not None:
            item["quote"] = quote
        item["citations"] = list(ids)
        items.append(item)
    return json.dumps({"segments": items})


def completion(
    content: str | None,
    *,
    finish_reason: str = "stop",
    use: dict[str, Any] | None = None,
    refusal: str | None = None,
    model: str = "gpt-test",
    request_id: str = "req_loopback",
) -> Reply:
    """A whole ``chat.completion``."""
    body = {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": use or usage(),
    }
    return Reply(body=body, headers={"x-request-id": request_id})


def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stream",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-test",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        **extra,
    }


def stream(
    content: str,
    *,
    size: int = 5,
    finish_reason: str | None = "stop",
    use: dict[str, Any] | None = None,
    refusal: str | None = None,
    event_delay: float = 0.0,
    cut_after: int | None = None,
    delay: float = 0.0,
) -> Reply:
    """An SSE stream sending ``content`` ``size`` characters at a time, then usage."""
    events: list[tuple[str | None, Any]] = [(None, chunk({"role": "assistant", "content": ""}))]
    if refusal is not None:
        events += [
            (None, chunk({"refusal": refusal[i : i + size]})) for i in range(0, len(refusal), size)
        ]
    events += [
        (None, chunk({"content": content[i : i + size]})) for i in range(0, len(content), size)
    ]
    if finish_reason is not None:
        events.append((None, chunk({}, finish_reason)))
        final = {**chunk({}), "choices": [], "usage": use or usage()}
        events.append((None, final))
        events.append((None, "[DONE]"))
    return Reply(events=events, event_delay=event_delay, cut_after=cut_after, delay=delay)


def answer(
    content: str | Callable[[Received], str],
    *,
    size: int = 5,
    use: dict[str, Any] | Callable[[Received], dict[str, Any]] | None = None,
    finish_reason: str = "stop",
) -> Callable[[Received], Reply]:
    """A responder answering ``content`` whole or streamed, as the request asks."""

    def respond(request: Received) -> Reply:
        text = content(request) if callable(content) else content
        tokens = use(request) if callable(use) else use
        if request.body.get("stream"):
            return stream(text, size=size, use=tokens, finish_reason=finish_reason)
        return completion(text, use=tokens, finish_reason=finish_reason)

    return respond


def error(status: int, message: str, *, headers: dict[str, str] | None = None) -> Reply:
    """An OpenAI-style error body."""
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return Reply(status, body, headers={"x-request-id": "req_err", **(headers or {})})
