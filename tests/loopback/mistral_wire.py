"""Mistral chat-completions wire format: whole responses, SSE streams, errors.

mistralai posts to ``/v1/chat/completions`` for both; a stream request carries
``"stream": true`` and gets ``data:`` events of ``chat.completion.chunk`` objects
ending with ``data: [DONE]``, usage in the last chunk.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from tests.loopback.openai_wire import segments
from tests.loopback.server import Received, Reply

__all__ = ["answer", "completion", "error", "segments", "stream", "usage"]

_ids = itertools.count(1)


def usage(prompt: int = 11, completion: int = 7, cached: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached:
        body["prompt_tokens_details"] = {"cached_tokens": cached}
    return body


def completion(
    content: str | list[dict[str, Any]] | None,
    *,
    finish_reason: str = "stop",
    use: dict[str, Any] | None = None,
    model: str = "mistral-test",
) -> Reply:
    """A whole ``chat.completion``."""
    body = {
        "id": f"cmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "tool_calls": None},
                "finish_reason": finish_reason,
            }
        ],
        "usage": use or usage(),
    }
    return Reply(body=body, headers={"mistral-correlation-id": "corr-loopback"})


def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "cmpl-stream",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "mistral-test",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        **extra,
    }


def stream(
    content: str,
    *,
    size: int = 5,
    finish_reason: str | None = "stop",
    use: dict[str, Any] | None = None,
    event_delay: float = 0.0,
    cut_after: int | None = None,
    delay: float = 0.0,
) -> Reply:
    """An SSE stream: ``content`` ``size`` characters per chunk; the last has usage."""
    events: list[tuple[str | None, Any]] = [(None, chunk({"role": "assistant", "content": ""}))]
    events += [
        (None, chunk({"content": content[i : i + size]})) for i in range(0, len(content), size)
    ]
    if finish_reason is not None:
        events.append((None, chunk({"content": ""}, finish_reason, usage=use or usage())))
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
    """A Mistral error body."""
    body = {"object": "error", "message": message, "type": "invalid_request_error", "code": status}
    return Reply(status, body, headers={"mistral-correlation-id": "corr-err", **(headers or {})})
