"""A provider's response JSON read straight from the wire: whole bodies and SSE streams.

An SDK's typed response models cost more CPU than everything citeformer does with
them: the openai SDK builds a ``ChatCompletionChunk`` in ~50 µs, against ~5 µs to
parse the event and decode its text. A backend whose decoders read responses by
attribute can ask its SDK for the raw HTTP response instead (the request, auth,
status errors and timeouts stay the SDK's) and read the JSON here, into plain
attribute objects: ``SimpleNamespace``, as the decoders' unit tests build them.

Server-sent events follow the WHATWG parsing rules, as the SDKs' own decoders do:
``data:`` lines of one event are joined by newlines, an event is dispatched at a
blank line, ``:`` lines are comments, other fields are ignored. Text is UTF-8
whatever the headers say (SSE has no other encoding).
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from citeformer.errors import BackendError


def read_json(body: str | bytes, provider: str) -> Any:
    """A JSON document with every object as a ``SimpleNamespace``.

    Raises:
        BackendError: ``body`` is not JSON (a proxy's error page, a cut response).
    """
    try:
        return json.loads(body, object_hook=_attributes)
    except (ValueError, RecursionError) as exc:
        shown = body[:80] if isinstance(body, str) else body[:80].decode("utf-8", "replace")
        raise BackendError(
            f"the provider's response is not JSON ({exc}); it begins {shown!r}:"
            " check base_url points at the provider's API",
            provider=provider,
            retryable=True,
        ) from exc


def _attributes(fields: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(**fields)


class SseParser:
    """Turns the lines of an event stream into the ``data`` of each event.

    Events with no data (a bare ``event:`` line, a keep-alive) are skipped.

    Args:
        end: Data that ends the stream (OpenAI's ``[DONE]``): that event and every
            later line yield nothing, while the caller reads the body to its end (so
            the HTTP connection goes back to the pool).
    """

    __slots__ = ("_data", "_end", "_ended")

    def __init__(self, end: str | None = None) -> None:
        self._data: list[str] = []
        self._end = end
        self._ended = False

    def line(self, line: str) -> str | None:
        """Consume one line (without its terminator); an event's data when one ends."""
        if self._ended:
            return None
        if not line:
            if not self._data:
                return None
            data = "\n".join(self._data)
            self._data.clear()
            if self._end is not None and data.startswith(self._end):
                self._ended = True
                return None
            return data
        if line.startswith("data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(" ") else value)
        elif line == "data":  # a field with no colon has the empty value
            self._data.append("")
        return None  # comments and other fields (event, id, retry) say nothing we use
