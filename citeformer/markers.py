"""Incremental marker parsing and validation, shared by every generation path.

Definitions (one place, used by streaming and non-streaming alike):

* A *marker candidate* starts at the style's opening character immediately
  followed by an ASCII digit. The opening character followed by anything else
  is prose.
* Bracketed styles read the candidate's body (digits, commas, spaces, hyphens,
  dashes, semicolons; at most ``MAX_BODY`` characters) up to the closing
  character. The caret style reads a run of digits.
* A candidate is *valid* when its body is ids separated by commas, each in
  ``1..n`` without a leading zero, none repeated. Anything else is removed from
  the text together with the horizontal whitespace right before it, and
  reported as an :class:`~citeformer.core.InvalidMarker`.

:class:`MarkerParser` applies this to a stream: ``feed(chunk)`` returns events
for everything that is settled and holds back the rest (trailing spaces, and a
marker from its opening character until it is complete), ``flush()`` settles
the end. Text events therefore never contain part of a marker or an invalid one.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final, NamedTuple

from citeformer.core import InvalidMarker, MarkerStyle

MAX_BODY: Final = 32
"""Longest marker body read before a candidate is declared malformed."""

_BODY_CHARS: Final = frozenset("0123456789, -–—;")
_BODY_RUN: Final = re.compile("[0-9, \\-–—;]*")
_DIGIT_RUN: Final = re.compile("[0-9]*")
_HSPACE: Final = " \t"


class TextEvent(NamedTuple):
    """Settled answer text (never contains a partial or invalid marker)."""

    text: str


class MarkerEvent(NamedTuple):
    """A valid marker.

    Attributes:
        ids: The cited source ids, in the order written.
        text: The marker as it appears in the answer.
        start: Offset of the marker in the validated answer.
        end: Offset just past it.
        raw_start: Offset of the marker in the raw backend text.
    """

    ids: tuple[int, ...]
    text: str
    start: int
    end: int
    raw_start: int


class InvalidMarkerEvent(NamedTuple):
    """A marker that was removed from the answer."""

    marker: InvalidMarker


ParseEvent = TextEvent | MarkerEvent | InvalidMarkerEvent


@functools.lru_cache(maxsize=4096)
def parse_body(body: str, n: int) -> tuple[tuple[int, ...], str | None]:
    """Parse a marker body (``"1, 3"``) into ids, or give the rejection reason."""
    ids: list[int] = []
    for part in body.split(","):
        part = part.strip(" ")
        if not part:
            return (), "malformed"
        if not part.isdigit() or not part.isascii():
            return (), "range" if any(c in part for c in "-–—") else "malformed"
        if part[0] == "0":
            return (), "zero" if part.strip("0") == "" else "leading_zero"
        value = int(part)
        if value > n:
            return (), "out_of_range"
        if value in ids:
            return (), "duplicate"
        ids.append(value)
    return tuple(ids), None


class MarkerParser:
    """Stateful parser: feed raw backend text, get settled events.

    Args:
        n: Number of sources; valid ids are ``1..n`` (``n = 0`` rejects every marker,
            which is how marker-like text in free-text fields is neutralised).
        style: The marker style to recognise.
    """

    __slots__ = ("_buf", "_close", "_last", "_n", "_open", "_out_len", "_raw_base", "_style")

    def __init__(self, n: int, style: MarkerStyle) -> None:
        self._n = n
        self._style = style
        self._open = style.open
        self._close = style.close
        self._buf = ""
        self._raw_base = 0
        self._out_len = 0
        self._last = ""  # last character emitted as text

    @property
    def pending(self) -> str:
        """Raw text held back, not yet settled."""
        return self._buf

    def feed(self, chunk: str) -> list[ParseEvent]:
        """Add raw text; return the events it settles."""
        if not chunk:
            return []
        self._buf += chunk
        return self._process(final=False)

    def flush(self) -> list[ParseEvent]:
        """Settle everything held back (the raw text has ended)."""
        return self._process(final=True)

    def _process(self, *, final: bool) -> list[ParseEvent]:
        buf = self._buf
        events: list[ParseEvent] = []
        emit_from = 0
        search_from = 0
        hold_from = len(buf)
        open_char, closed, n = self._open, bool(self._close), self._n
        while True:
            j = buf.find(open_char, search_from)
            if j < 0:
                break
            end, reason = self._scan(buf, j, final)
            if end == 0:  # prose use of the opening character
                search_from = j + 1
                continue
            if end < 0:  # incomplete: hold from the whitespace before it
                hold_from = _strip_hspace_left(buf, j, emit_from)
                break
            if reason is None:
                ids, reason = parse_body(buf[j + 1 : end - 1] if closed else buf[j + 1 : end], n)
            else:
                ids = ()
            if reason is None:
                if j > emit_from:
                    events.append(TextEvent(buf[emit_from:j]))
                start = self._out_len + j - emit_from
                self._out_len = start + end - j
                events.append(
                    MarkerEvent(ids, buf[j:end], start, self._out_len, self._raw_base + j)
                )
                self._last = buf[end - 1]
            else:
                cut = _strip_hspace_left(buf, j, emit_from)
                self._emit(events, buf[emit_from:cut])
                if closed and self._last == open_char and (end < len(buf) or not final):
                    # "[" + "[9]" + "3]" must not become "[3]": keep them apart.
                    self._emit(events, " ")
                invalid = InvalidMarker(
                    buf[j:end], self._raw_base + j, self._raw_base + end, reason
                )
                events.append(InvalidMarkerEvent(invalid))
            emit_from = search_from = end
        if hold_from == len(buf) and not final:
            hold_from = _strip_hspace_left(buf, len(buf), emit_from)
        self._emit(events, buf[emit_from:hold_from])
        self._buf = buf[hold_from:]
        self._raw_base += hold_from
        return events

    def _scan(self, buf: str, j: int, final: bool) -> tuple[int, str | None]:
        """Classify the opening character at ``j``.

        Returns ``(0, None)`` for prose, ``(-1, None)`` when more text is needed,
        else ``(end, reason)``: the candidate spans ``buf[j:end]`` and ``reason``
        is set when it is already known to be invalid.
        """
        length = len(buf)
        k = j + 1
        if k == length:
            return (0, None) if final else (-1, None)
        if not ("0" <= buf[k] <= "9"):
            return 0, None
        if not self._close:
            k = _DIGIT_RUN.match(buf, k).end()  # type: ignore[union-attr]
            if k == length and not final:
                return -1, None
            return k, None
        k = _BODY_RUN.match(buf, k, min(length, j + 1 + MAX_BODY)).end()  # type: ignore[union-attr]
        if k < length and buf[k] == self._close:
            return k + 1, None
        if k == length and length < j + 1 + MAX_BODY and not final:
            return -1, None
        end = len(buf[:k].rstrip(" "))
        return end, "unclosed" if k == length or buf[k] not in _BODY_CHARS else "malformed"

    def _emit(self, events: list[ParseEvent], text: str) -> None:
        if text:
            self._out_len += len(text)
            self._last = text[-1]
            events.append(TextEvent(text))


def _strip_hspace_left(buf: str, j: int, floor: int) -> int:
    while j > floor and buf[j - 1] in _HSPACE:
        j -= 1
    return j


@dataclass(frozen=True, slots=True)
class Validation:
    """The outcome of validating a whole text.

    Attributes:
        text: The text with invalid markers removed.
        markers: The valid markers, in order.
        invalid: The removed markers.
    """

    text: str
    markers: tuple[MarkerEvent, ...]
    invalid: tuple[InvalidMarker, ...]


def validate(text: str, n: int, style: MarkerStyle) -> Validation:
    """Validate a complete text in one pass (same rules as the stream parser)."""
    if style.open not in text:
        return Validation(text, (), ())
    parser = MarkerParser(n, style)
    events = parser.feed(text) + parser.flush()
    parts: list[str] = []
    markers: list[MarkerEvent] = []
    invalid: list[InvalidMarker] = []
    for event in events:
        if isinstance(event, TextEvent):
            parts.append(event.text)
        elif isinstance(event, MarkerEvent):
            parts.append(event.text)
            markers.append(event)
        else:
            invalid.append(event.marker)
    return Validation("".join(parts), tuple(markers), tuple(invalid))


def neutralize(text: str, style: MarkerStyle) -> str:
    """Remove every marker-like candidate from free text (nothing is trusted)."""
    return validate(text, 0, style).text
