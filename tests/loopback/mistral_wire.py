"""Mistral chat-completions wire format: whole responses, SSE streams, errors.

mistralai posts to ``/v1/chat/completions`` for both; a stream request carries
``"stream": true`` and gets ``data:`` events of ``chat.completion.chunk`` objects
ending with ``data: [DONE]``, usage in the last chunk.

Completions, chunks and usage have OpenAI's shape, so :mod:`tests.loopback.openai_wire`
builds them (and the segment documents, and the whole-or-streamed responder). What
differs, and stays here: usage leaves out ``prompt_tokens_details`` when nothing
was cached, a completion's message has ``tool_calls`` (no ``refusal``, no
``logprobs``), the last chunk carries the finish reason *and* the usage (OpenAI
sends usage in a separate chunk with no choices), the correlation header, and
the error body.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

from tests.loopback import openai_wire
from tests.loopback.openai_wire import segments
from tests.loopback.server import Reply

__all__ = ["answer", "completion", "error", "segments", "stream", "usage"]

_ids = itertools.count(1)
usage = functools.partial(openai_wire.usage, always_details=False)


def completion(
    content: str | list[dict[str, Any]] | None,
    *,
    finish_reason: str = "stop",
    use: dict[str, Any] | None = None,
    model: str = "mistral-test",
) -> Reply:
    """A whole ``chat.completion``: the message has ``tool_calls``, not ``refusal``."""
    body = openai_wire.completion_body(
        f"cmpl-{next(_ids)}",
        {"role": "assistant", "content": content, "tool_calls": None},
        finish_reason=finish_reason,
        use=use or usage(),
        model=model,
    )
    return Reply(body=body, headers={"mistral-correlation-id": "corr-loopback"})


chunk = functools.partial(openai_wire.chunk, chunk_id="cmpl-stream", model="mistral-test")


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
    events += openai_wire.deltas("content", content, size, chunk)
    if finish_reason is not None:
        events.append((None, chunk({"content": ""}, finish_reason, usage=use or usage())))
        events.append((None, "[DONE]"))
    return Reply(events=events, event_delay=event_delay, cut_after=cut_after, delay=delay)


# A responder answering ``content`` whole or streamed, as the request asks:
# ``answer(content, *, size=5, use=None, finish_reason="stop")``.
answer = functools.partial(
    openai_wire.responder, completion, stream, size=5, use=None, finish_reason="stop"
)


def error(status: int, message: str, *, headers: dict[str, str] | None = None) -> Reply:
    """A Mistral error body."""
    body = {"object": "error", "message": message, "type": "invalid_request_error", "code": status}
    return Reply(status, body, headers={"mistral-correlation-id": "corr-err", **(headers or {})})
