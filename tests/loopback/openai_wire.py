"""OpenAI chat-completions wire format: whole responses and SSE streams."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from typing import Any

from tests.loopback.server import Received, Reply

_ids = itertools.count(1)


def usage(
    prompt: int = 11, completion: int = 7, cached: int = 0, *, always_details: bool = True
) -> dict[str, Any]:
    """Token usage; ``always_details=False`` leaves out ``prompt_tokens_details`` when
    nothing was cached (as Mistral does)."""
    body: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if always_details or cached:
        body["prompt_tokens_details"] = {"cached_tokens": cached}
    return body


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
    body = completion_body(
        f"chatcmpl-{next(_ids)}",
        {"role": "assistant", "content": content, "refusal": refusal},
        finish_reason=finish_reason,
        use=use or usage(),
        model=model,
        logprobs=None,
    )
    return Reply(body=body, headers={"x-request-id": request_id})


def completion_body(
    completion_id: str,
    message: dict[str, Any],
    *,
    finish_reason: str,
    use: dict[str, Any],
    model: str,
    **choice: Any,
) -> dict[str, Any]:
    """A ``chat.completion`` object with one choice (Mistral's has the same shape).

    ``choice`` adds keys to the choice (OpenAI's ``logprobs``).
    """
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, **choice}],
        "usage": use,
    }


def chunk(
    delta: dict[str, Any],
    finish_reason: str | None = None,
    *,
    chunk_id: str = "chatcmpl-stream",
    model: str = "gpt-test",
    **extra: Any,
) -> dict[str, Any]:
    """A ``chat.completion.chunk`` (Mistral's chunks have the same shape)."""
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        **extra,
    }


def deltas(
    field: str, text: str, size: int, make: Callable[[dict[str, Any]], dict[str, Any]] = chunk
) -> list[tuple[str | None, Any]]:
    """SSE events sending ``text`` as ``{field: piece}`` deltas, ``size`` characters each."""
    return [(None, make({field: text[i : i + size]})) for i in range(0, len(text), size)]


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
        events += deltas("refusal", refusal, size)
    events += deltas("content", content, size)
    if finish_reason is not None:
        events.append((None, chunk({}, finish_reason)))
        final = {**chunk({}), "choices": [], "usage": use or usage()}
        events.append((None, final))
        events.append((None, "[DONE]"))
    return Reply(events=events, event_delay=event_delay, cut_after=cut_after, delay=delay)


def asks_stream(request: Received) -> bool:
    """Whether a chat-completions request carries ``"stream": true``."""
    return bool(request.body.get("stream"))


def responder(
    whole: Callable[..., Reply],
    streamed: Callable[..., Reply],
    content: str | Callable[[Received], str],
    *,
    size: int,
    use: dict[str, Any] | Callable[[Received], dict[str, Any]] | None,
    finish_reason: str,
    is_stream: Callable[[Received], bool] = asks_stream,
) -> Callable[[Received], Reply]:
    """A responder answering ``content`` with ``whole(...)`` or ``streamed(...)``.

    ``content`` and ``use`` may be functions of the request; ``is_stream`` says
    which way the request asks to be answered.
    """

    def respond(request: Received) -> Reply:
        text = content(request) if callable(content) else content
        tokens = use(request) if callable(use) else use
        if is_stream(request):
            return streamed(text, size=size, use=tokens, finish_reason=finish_reason)
        return whole(text, use=tokens, finish_reason=finish_reason)

    return respond


def answer(
    content: str | Callable[[Received], str],
    *,
    size: int = 5,
    use: dict[str, Any] | Callable[[Received], dict[str, Any]] | None = None,
    finish_reason: str = "stop",
) -> Callable[[Received], Reply]:
    """A responder answering ``content`` whole or streamed, as the request asks."""
    return responder(completion, stream, content, size=size, use=use, finish_reason=finish_reason)


def error(status: int, message: str, *, headers: dict[str, str] | None = None) -> Reply:
    """An OpenAI-style error body."""
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return Reply(status, body, headers={"x-request-id": "req_err", **(headers or {})})


def numbered_turns(request: Received) -> str:
    """A segment answer naming the turn: "Answer n." citing source ``n % 2 + 1``.

    ``n`` counts the request's user messages, so a chat's third turn answers "Answer 3."
    """
    turn = sum(1 for m in request.body["messages"] if m["role"] == "user")
    return segments((f"Answer {turn}.", [turn % 2 + 1]))


def chat_turns(request: Received) -> list[tuple[str, str]]:
    """``(role, content)`` of every message after the system prompt."""
    return [(m["role"], m["content"]) for m in request.body["messages"][1:]]
