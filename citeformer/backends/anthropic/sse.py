"""Server-sent events read from the raw HTTP body, as plain JSON values.

The anthropic SDK validates events into pydantic models whose lax mode coerces
values (``"document_index": true`` becomes ``1``); citeformer must see what the
server sent, so :class:`AnthropicBackend` reads the raw stream and decodes each
event's ``data`` with ``json``. An ``error`` event (a failure inside a 200 stream)
is raised as the SDK's own ``APIStatusError``, so it is translated like any other.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any


class SSEReader:
    """Turns SSE lines into events (``{"type": ..., ...}`` dicts); pure, incremental."""

    __slots__ = ("_data", "_event")

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def line(self, line: str) -> Any | None:
        """Take one line (without its line break); return an event when one ends."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment (keep-alive)
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        return None

    def end(self) -> Any | None:
        """The body ended: an event still being read is dispatched."""
        return self._dispatch()

    def _dispatch(self) -> Any | None:
        data, event = "\n".join(self._data), self._event
        self._data, self._event = [], ""
        if not data:
            return None
        value = json.loads(data)
        if isinstance(value, dict) and "type" not in value and event:
            value["type"] = event
        return value


def events(lines: Iterable[str]) -> Iterator[Any]:
    """Events from an iterable of SSE lines."""
    reader = SSEReader()
    for line in lines:
        event = reader.line(line.rstrip("\r"))
        if event is not None:
            yield event
    last = reader.end()
    if last is not None:
        yield last


async def aevents(lines: AsyncIterator[str]) -> AsyncIterator[Any]:
    """Async :func:`events`."""
    reader = SSEReader()
    async for line in lines:
        event = reader.line(line.rstrip("\r"))
        if event is not None:
            yield event
    last = reader.end()
    if last is not None:
        yield last


def raise_if_error(event: Any, response: Any) -> Any:
    """Raise an ``error`` event as the SDK's ``APIStatusError``; return other events."""
    if isinstance(event, dict) and event.get("type") == "error":
        from anthropic import APIStatusError

        error = event.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        raise APIStatusError(str(message or event), response=response, body=event)
    return event
