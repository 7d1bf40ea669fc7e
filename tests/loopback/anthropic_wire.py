"""Anthropic Messages wire format: whole messages, SSE streams with citation deltas, errors.

A scripted answer is a list of text blocks, each ``(text, [citation, ...])``;
citations are built with :func:`cite` (``char_location``, as the API returns for
plain-text documents). Streams follow the API's event sequence: ``message_start``,
per block ``content_block_start`` / ``content_block_delta`` (``citations_delta``
and ``text_delta``) / ``content_block_stop``, ``message_delta`` with the stop
reason and usage, ``message_stop``; a ``ping`` is sent too (clients skip it).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, Literal

from tests.loopback.server import Received, Reply

Block = tuple[str, Sequence[dict[str, Any]]]

_ids = itertools.count(1)


def usage(
    input_tokens: int = 11, output_tokens: int = 7, cache_read: int = 0, cache_creation: int = 0
) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_creation,
    }


def cite(
    document_index: int,
    cited_text: str,
    start: int,
    end: int,
    *,
    title: str | None = None,
) -> dict[str, Any]:
    """A ``char_location`` citation."""
    return {
        "type": "char_location",
        "cited_text": cited_text,
        "document_index": document_index,
        "document_title": title,
        "start_char_index": start,
        "end_char_index": end,
    }


def cite_source(document_index: int, content: str, passage: str) -> dict[str, Any]:
    """A citation of ``passage`` inside a document whose text is ``content``."""
    start = content.index(passage)
    return cite(document_index, passage, start, start + len(passage))


def _text_block(text: str, citations: Sequence[dict[str, Any]]) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if citations:
        block["citations"] = list(citations)
    return block


def message(
    blocks: Sequence[Block],
    *,
    stop_reason: str = "end_turn",
    use: dict[str, Any] | None = None,
    model: str = "claude-test",
    request_id: str = "req_loopback",
) -> Reply:
    """A whole ``Message``."""
    body = {
        "id": f"msg_{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [_text_block(text, cites) for text, cites in blocks],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": use or usage(),
    }
    return Reply(body=body, headers={"request-id": request_id})


def stream(
    blocks: Sequence[Block],
    *,
    size: int = 5,
    stop_reason: str | None = "end_turn",
    use: dict[str, Any] | None = None,
    citations_at: Literal["start", "end"] = "start",
    event_delay: float = 0.0,
    cut_after: int | None = None,
    delay: float = 0.0,
    error: dict[str, Any] | None = None,
) -> Reply:
    """An SSE stream: text ``size`` characters per delta, citations as deltas.

    Args:
        blocks: The answer's text blocks.
        size: Characters per ``text_delta``.
        stop_reason: ``None`` ends the stream without ``message_delta``/``message_stop``.
        use: Usage; input tokens go in ``message_start``, the rest in ``message_delta``.
        citations_at: Send each block's ``citations_delta`` events before or after its text.
        event_delay: Seconds between events.
        cut_after: Drop the connection after this many events.
        delay: Seconds before the response starts.
        error: Send this ``error`` event after the blocks instead of finishing.
    """
    tokens = use or usage()
    start_usage = {**tokens, "output_tokens": 1}
    events: list[tuple[str | None, Any]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_{next(_ids)}",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-test",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    for index, (text, citations) in enumerate(blocks):
        start_block: dict[str, Any] = {"type": "text", "text": ""}
        if citations:
            start_block["citations"] = []
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start_block},
            )
        )
        cite_events = [
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "citations_delta", "citation": c},
                },
            )
            for c in citations
        ]
        text_events = [
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": text[i : i + size]},
                },
            )
            for i in range(0, len(text), size)
        ]
        events += (
            cite_events + text_events if citations_at == "start" else text_events + cite_events
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    if error is not None:
        events.append(("error", {"type": "error", "error": error}))
    elif stop_reason is not None:
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": tokens["output_tokens"]},
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
    return Reply(
        events=events,
        event_delay=event_delay,
        cut_after=cut_after,
        delay=delay,
        headers={"request-id": "req_stream"},
    )


def answer(
    blocks: Sequence[Block] | Callable[[Received], Sequence[Block]],
    *,
    size: int = 5,
    use: dict[str, Any] | Callable[[Received], dict[str, Any]] | None = None,
    stop_reason: str = "end_turn",
    citations_at: Literal["start", "end"] = "start",
) -> Callable[[Received], Reply]:
    """A responder answering ``blocks`` whole or streamed, as the request asks."""

    def respond(request: Received) -> Reply:
        script = blocks(request) if callable(blocks) else blocks
        tokens = use(request) if callable(use) else use
        if request.body.get("stream"):
            return stream(
                script, size=size, use=tokens, stop_reason=stop_reason, citations_at=citations_at
            )
        return message(script, use=tokens, stop_reason=stop_reason)

    return respond


def error(
    status: int,
    message: str,
    *,
    kind: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
) -> Reply:
    """An Anthropic error body: ``{"type": "error", "error": {"type", "message"}}``."""
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_err"}
    return Reply(status, body, headers={"request-id": "req_err", **(headers or {})})


def overloaded() -> Reply:
    """HTTP 529, Anthropic's "overloaded"."""
    return error(529, "Overloaded", kind="overloaded_error")
