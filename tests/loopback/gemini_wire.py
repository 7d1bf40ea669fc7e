"""Gemini generateContent wire format: whole responses, SSE streams, errors.

google-genai posts to ``/{version}/models/{model}:generateContent`` and, for
streams, ``:streamGenerateContent?alt=sse`` (each SSE event one
``GenerateContentResponse`` chunk carrying a text delta; the last one carries
``finishReason`` and the usage).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from tests.loopback.openai_wire import segments
from tests.loopback.server import Received, Reply

__all__ = [
    "answer",
    "blocked",
    "error",
    "is_stream",
    "response",
    "segments",
    "stream",
    "usage",
]

_ids = itertools.count(1)


def usage(prompt: int = 11, completion: int = 7, cached: int = 0) -> dict[str, Any]:
    body = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion,
        "totalTokenCount": prompt + completion,
    }
    if cached:
        body["cachedContentTokenCount"] = cached
    return body


def is_stream(request: Received) -> bool:
    """Whether the SDK asked for ``streamGenerateContent``."""
    return request.path.endswith(":streamGenerateContent")


def model_of(request: Received) -> str:
    """The model named in the path (``/v1beta/models/<model>:generateContent``)."""
    return request.path.rsplit("/", 1)[-1].split(":", 1)[0]


def _candidate(text: str | None, finish_reason: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"index": 0}
    if text is not None:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    if finish_reason is not None:
        candidate["finishReason"] = finish_reason
    return candidate


def response(
    text: str,
    *,
    finish_reason: str = "STOP",
    use: dict[str, Any] | None = None,
    model: str = "gemini-test",
) -> Reply:
    """A whole ``GenerateContentResponse``."""
    body = {
        "candidates": [_candidate(text, finish_reason)],
        "usageMetadata": use or usage(),
        "modelVersion": model,
        "responseId": f"resp-{next(_ids)}",
    }
    return Reply(body=body)


def stream(
    text: str,
    *,
    size: int = 5,
    finish_reason: str | None = "STOP",
    use: dict[str, Any] | None = None,
    event_delay: float = 0.0,
    cut_after: int | None = None,
    delay: float = 0.0,
) -> Reply:
    """An SSE stream sending ``text`` ``size`` characters per chunk.

    Every chunk carries the usage so far, as Gemini does; the last carries the
    finish reason (none when ``finish_reason`` is None: a stream that just ends).
    """
    pieces = [text[i : i + size] for i in range(0, len(text), size)] or [""]
    total = use or usage()
    events: list[tuple[str | None, Any]] = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        chunk = {
            "candidates": [_candidate(piece, finish_reason if last else None)],
            "usageMetadata": total if last else {"promptTokenCount": total["promptTokenCount"]},
            "modelVersion": "gemini-test",
            "responseId": "resp-stream",
        }
        events.append((None, chunk))
    return Reply(events=events, event_delay=event_delay, cut_after=cut_after, delay=delay)


def blocked(reason: str = "SAFETY", *, streamed: bool = False) -> Reply:
    """Gemini refusing the prompt itself: no candidates, ``promptFeedback.blockReason``."""
    body = {
        "promptFeedback": {"blockReason": reason},
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
        "modelVersion": "gemini-test",
    }
    if streamed:
        return Reply(events=[(None, body)])
    return Reply(body=body)


def answer(
    text: str | Callable[[Received], str],
    *,
    size: int = 5,
    use: dict[str, Any] | Callable[[Received], dict[str, Any]] | None = None,
    finish_reason: str = "STOP",
) -> Callable[[Received], Reply]:
    """A responder answering ``text`` whole or streamed, as the request asks."""

    def respond(request: Received) -> Reply:
        content = text(request) if callable(text) else text
        tokens = use(request) if callable(use) else use
        if is_stream(request):
            return stream(content, size=size, use=tokens, finish_reason=finish_reason)
        return response(content, use=tokens, finish_reason=finish_reason)

    return respond


_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def error(status: int, message: str, *, headers: dict[str, str] | None = None) -> Reply:
    """A Google API error body: ``{"error": {"code", "message", "status"}}``."""
    body = {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}
    return Reply(status, body, headers=headers or {})
