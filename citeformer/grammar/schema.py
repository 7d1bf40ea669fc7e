"""The citation language as a JSON schema, for APIs with structured output.

The model answers with segments; each segment's ``citations`` is an array whose
items are an ``enum`` of the ids 1..N, so a schema-following decoder cannot name
a source that was not supplied. Only those schema-bounded ids become markers:
marker-like text the model writes inside free-text fields is removed
(:func:`citeformer.markers.neutralize`), never trusted.

Shape (``quote`` only under ``QUOTES_ONLY``)::

    {"segments": [{"text": "Paris is the capital.", "quote": "", "citations": [1]}]}
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from citeformer.core import InvalidMarker, MarkerStyle, Policy
from citeformer.grammar.language import CitationLanguage
from citeformer.markers import MarkerParser, TextEvent, canonical_markers, neutralize

_TRAILING_PUNCTUATION = ".!?。！？｡:;,"


@functools.lru_cache(maxsize=256)
def _schema_text(language: CitationLanguage, min_items: bool) -> str:
    ids: dict[str, Any] = {"type": "integer", "enum": list(range(1, language.n + 1))}
    citations: dict[str, Any] = {"type": "array", "items": ids}
    if min_items and language.policy is not Policy.AUTO:
        citations["minItems"] = 1
    properties: dict[str, Any] = {"text": {"type": "string"}}
    if language.policy is Policy.QUOTES_ONLY:
        properties["quote"] = {"type": "string"}
    properties["citations"] = citations
    segment = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    schema = {
        "type": "object",
        "properties": {"segments": {"type": "array", "items": segment}},
        "required": ["segments"],
        "additionalProperties": False,
    }
    return json.dumps(schema)


def to_json_schema(language: CitationLanguage, *, min_items: bool = True) -> dict[str, Any]:
    """The JSON schema for ``language`` (a fresh dict; built once per language).

    Args:
        language: The citation language.
        min_items: Require at least one citation per segment under ``REQUIRED`` and
            ``QUOTES_ONLY``. Turn it off for providers whose strict mode rejects
            ``minItems``; the validator still applies.
    """
    schema: dict[str, Any] = json.loads(_schema_text(language, min_items))
    return schema


@functools.lru_cache(maxsize=256)
def shared_json_schema(language: CitationLanguage, *, min_items: bool = True) -> dict[str, Any]:
    """:func:`to_json_schema`, one dict per language shared by every caller: never change it.

    For request payloads that are only serialised: each in-flight call then holds no
    schema of its own (with hundreds of calls in flight, fewer live objects means
    cheaper garbage collections).
    """
    return to_json_schema(language, min_items=min_items)


def segments_to_text(
    segments: Sequence[Mapping[str, Any]], language: CitationLanguage
) -> tuple[str, tuple[InvalidMarker, ...]]:
    """Turn parsed segments into answer text with inline markers.

    Free text is neutralised; ids outside 1..N (a server that ignored the schema)
    are dropped and reported with reason ``not_in_schema`` at the offset where their
    marker would have gone. The marker goes before a segment's final punctuation.

    Returns:
        The text, and the ids that were dropped.
    """
    writer = SegmentWriter(language)
    text = writer.update(segments, complete=True)
    return text, writer.dropped


class SegmentWriter:
    """Renders segments to answer text as they arrive, the same way whole or streamed.

    Feed it the segments parsed so far (from a partial-JSON parser) with
    :meth:`update`; it returns the text that is settled, which is always a prefix of
    what the finished segments render to. A segment is settled when a later one has
    begun or the document is complete; until then only its neutralised text up to
    any trailing punctuation is released (the marker goes before that punctuation,
    and the ids are not final until the segment closes).

    A caller that reads the document incrementally (:class:`SegmentDecoder
    <citeformer.backends._api.json_segments.SegmentDecoder>`) uses :meth:`stream` instead,
    handing over the open segment's strings as the pieces they arrived in: each call
    then costs what arrived, not the open segment's size, so streaming is linear in
    the document's size whatever its shape.
    """

    __slots__ = (
        "_dropped",
        "_emitted",
        "_group",
        "_language",
        "_last",
        "_length",
        "_marker_last",
        "_open",
        "_state",
        "_style",
    )

    def __init__(self, language: CitationLanguage) -> None:
        self._language = language
        self._style = language.marker_style
        self._group = language.group.max_size
        self._marker_last = False  # the settled text ends with a marker
        self._dropped: list[InvalidMarker] = []
        self._length = 0  # text of settled segments
        self._last = ""  # their last character
        self._open = 0  # index of the first unsettled segment
        self._emitted = 0  # characters of that segment already released
        self._state = _OpenSegment(self._style, streamed=False)  # that segment, read so far

    @property
    def dropped(self) -> tuple[InvalidMarker, ...]:
        """Ids outside 1..N seen in settled segments."""
        return tuple(self._dropped)

    def update(self, segments: Sequence[Mapping[str, Any]], *, complete: bool = False) -> str:
        """Return newly settled text, given all segments parsed so far.

        Args:
            segments: Every segment so far (the last may be partial).
            complete: The document has ended: every segment is settled.
        """
        return self._update(segments, complete, None)

    def stream(
        self, segments: Sequence[Mapping[str, Any]], pieces: Mapping[str, Sequence[str]]
    ) -> str:
        """:meth:`update` for a caller that streams the last segment's strings in pieces.

        Args:
            segments: Every segment so far. In the last one, a ``text`` or ``quote``
                still arriving may hold anything (a placeholder); one that has ended
                holds its whole string.
            pieces: The last segment's ``text`` and ``quote`` as they arrived, each the
                same list from one call to the next, only ever appended to (until a
                new segment begins). Only the pieces added since the last call are read.
        """
        return self._update(segments, False, pieces)

    def _update(
        self,
        segments: Sequence[Mapping[str, Any]],
        complete: bool,
        pieces: Mapping[str, Sequence[str]] | None,
    ) -> str:
        out: list[str] = []
        settled = len(segments) if complete else len(segments) - 1
        while self._open < settled:
            segment = segments[self._open]
            if not isinstance(segment, Mapping):
                segment = {}
            piece = self._settle(segment)
            out.append(piece[self._emitted :])
            self._open += 1
            self._emitted = 0
            self._state = _OpenSegment(self._style, streamed=self._state.streamed)
        if not complete and self._open < len(segments):
            segment = segments[self._open]
            if isinstance(segment, Mapping):
                self._provisional(segment, pieces, out)
        return "".join(out)

    def _settle(self, segment: Mapping[str, Any]) -> str:
        style = self._style
        text = neutralize(_str(segment.get("text")), style)
        quote = neutralize(_str(segment.get("quote")), style)
        ids, bad = _ids(segment.get("citations"), self._language.n)
        body, tail, quoted = self._split(text, quote, bool(ids or bad))
        piece = body
        if ids:
            if not body and self._marker_last:
                gap = " "  # markers side by side are not in the citation language
            else:
                gap = "" if style is MarkerStyle.CARET or quoted else " "
            piece = f"{body}{gap}{canonical_markers(ids, style, self._group)}"
        for shown in bad:
            at = self._length + len(body)
            marker = f"{style.open}{shown}{style.close}"  # what style.marker writes for an int
            self._dropped.append(InvalidMarker(marker, at, at, "not_in_schema"))
        piece += tail
        self._length += len(piece)
        self._last = piece[-1:] or self._last
        if piece:
            self._marker_last = bool(ids) and not tail
        return piece

    def _split(self, text: str, quote: str, cited: bool) -> tuple[str, str, bool]:
        """``(body, tail, quoted)``: the marker goes between body and tail."""
        if quote:
            text = f'{text}{" " if text and not text.endswith(" ") else ""}"{quote}"'
        body = text.rstrip(_TRAILING_PUNCTUATION + " ") if cited else text
        tail = text[len(body) :]
        first = text[:1]
        if self._lead(first):
            body = " " + body  # segments are sentences; also keeps "^1" "0" from reading "^10"
        return body, tail, bool(quote)

    def _lead(self, first: str) -> bool:
        """Whether a segment whose text begins with ``first`` begins with a space."""
        caret_digit = self._marker_last and self._style is MarkerStyle.CARET and first.isdecimal()
        return caret_digit or _needs_space(self._last, first)

    # -- the open segment -------------------------------------------------------------
    #
    # What no later data can change of an unfinished segment's piece: while its text
    # is open, or no quote has settled after it, its settled neutral text without the
    # trailing punctuation and spaces (the marker may go before them); once the text
    # has ended and a quote after it has begun to settle, the text, the gap, the
    # opening quotation mark and the quote so far (the closing mark may not be final).
    # Both only grow, so they are kept as lengths and held tails, and each call does
    # work in proportion to the text that arrived.

    def _provisional(
        self,
        segment: Mapping[str, Any],
        pieces: Mapping[str, Sequence[str]] | None,
        out: list[str],
    ) -> None:
        state = self._state
        if state.streamed != (pieces is not None):
            state = self._state = _OpenSegment(self._style, streamed=pieces is not None)
        if pieces is not None:
            text = state.text.extend(pieces.get("text", ()))
            quote = state.quote.extend(pieces.get("quote", ()))
        else:
            state, text, quote = self._read(state, segment)
        if state.quoting:
            if quote:
                self._release(state, quote, out)
            return
        if text:
            self._grow_text(state, text, out)
        if quote:
            state.quote_parts.append(quote)
        if state.quote_parts and _text_closed(segment):
            # The quote is certain: text, gap, opening quote, quote so far.
            state.quoting = True
            whole = neutralize(_str(segment.get("text")), self._style)
            quoted = "".join(state.quote_parts)
            state.quote_parts.clear()
            body, _, _ = self._split(whole, quoted, cited=False)
            self._release(state, body[state.body : -1], out)

    def _read(
        self, state: _OpenSegment, segment: Mapping[str, Any]
    ) -> tuple[_OpenSegment, str, str]:
        """Read a segment given whole (:meth:`update`): the state, and the new settled text."""
        raw_text, raw_quote = _str(segment.get("text")), _str(segment.get("quote"))
        fed = state.text.fed
        text, quote = state.text.of(raw_text), state.quote.of(raw_quote)
        changed = state.quoting and (state.text.fed != fed or not _text_closed(segment))
        if text is not None and quote is not None and not changed:
            return state, text, quote
        # Not a continuation (or the text under a quote changed): read it afresh,
        # releasing only what goes beyond what was already released.
        state = self._state = _OpenSegment(self._style, streamed=False)
        return state, state.text.of(raw_text) or "", state.quote.of(raw_quote) or ""

    def _grow_text(self, state: _OpenSegment, text: str, out: list[str]) -> None:
        """More settled text of the open segment: release it up to its trailing punctuation."""
        parts: list[str] = []
        if not state.started:
            state.started = True
            if self._lead(text[0]):
                parts.append(" ")
        body = text.rstrip(_TRAILING_PUNCTUATION + " ")
        if body:
            parts.extend(state.held)
            parts.append(body)
            state.held.clear()
            if len(body) < len(text):
                state.held.append(text[len(body) :])
        else:
            state.held.append(text)  # all punctuation and spaces: held until more comes
        if parts:
            self._release(state, "".join(parts), out)

    def _release(self, state: _OpenSegment, grown: str, out: list[str]) -> None:
        """The open segment's provisional piece grew by ``grown``: release what is new."""
        end = state.body + len(grown)
        if end > self._emitted:
            skip = self._emitted - state.body  # already released (before a fresh read)
            out.append(grown[skip:] if skip > 0 else grown)
            self._emitted = end
        state.body = end


class _OpenSegment:
    """What has been read of the open segment, and how long its provisional piece is."""

    __slots__ = ("body", "held", "quote", "quote_parts", "quoting", "started", "streamed", "text")

    def __init__(self, style: MarkerStyle, *, streamed: bool) -> None:
        self.streamed = streamed  # fed with SegmentWriter.stream (else update)
        self.text = _SettledText(style)
        self.quote = _SettledText(style)
        self.body = 0  # length of the provisional piece
        self.started = False  # some text has settled (whether a space leads is known)
        self.held: list[str] = []  # settled text's trailing punctuation and spaces
        self.quoting = False  # the piece is text, gap, opening mark and the quote so far
        self.quote_parts: list[str] = []  # settled quote text, until then


def _text_closed(segment: Mapping[str, Any]) -> bool:
    """Whether the segment's text has ended (a quote came after it)."""
    keys = list(segment)
    return "text" in keys and "quote" in keys and keys.index("text") < keys.index("quote")


class _SettledText:
    """The settled neutral text of a text that grows, fed incrementally.

    What more raw text cannot change: a marker-free prefix of the neutralised text
    (a :class:`MarkerParser` with no sources, never flushed). Each method returns the
    settled text added by the raw text it was given.
    """

    __slots__ = ("_count", "_parser", "_raw", "_style", "fed")

    def __init__(self, style: MarkerStyle) -> None:
        self._style = style
        self._parser: MarkerParser | None = None  # made on first use: most are never fed
        self._raw = ""  # the raw text so far (for of)
        self._count = 0  # pieces read so far (for extend)
        self.fed = 0  # raw characters read so far

    def extend(self, pieces: Sequence[str]) -> str:
        """Read the pieces after those already read (``pieces`` only ever grows)."""
        if len(pieces) <= self._count:
            return ""
        new = pieces[self._count :]
        self._count = len(pieces)
        return self._feed(new[0] if len(new) == 1 else "".join(new))

    def of(self, raw: str) -> str | None:
        """Read ``raw``, the whole raw text so far; None if it does not extend the last one."""
        if raw is self._raw:
            return ""
        if not raw.startswith(self._raw):
            return None
        chunk = raw[len(self._raw) :]
        self._raw = raw
        return self._feed(chunk)

    def _feed(self, chunk: str) -> str:
        self.fed += len(chunk)
        if self._parser is None:
            self._parser = MarkerParser(0, self._style)
        events = self._parser.feed(chunk)
        return "".join(e.text for e in events if isinstance(e, TextEvent))


def _needs_space(last: str, first: str) -> bool:
    """Whether a space must separate the previous segment from the next one."""
    if not last or not first or last.isspace() or first.isspace():
        return False
    if first in _TRAILING_PUNCTUATION or first in ")]}\u201d":
        return False
    return not (_is_wide(last) or _is_wide(first))  # CJK sentences run together


def _is_wide(char: str) -> bool:
    return "\u2e80" <= char <= "\u9fff" or "\uf900" <= char <= "\uffef"


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _ids(value: object, n: int) -> tuple[list[int], list[str]]:
    """The ids in 1..n (sorted, distinct), and every other item as written (dropped).

    Items of the wrong type (``1.0``, ``true``, ``null``, ``[2]``, ``"x"``) are dropped
    like ids outside 1..n, never silently.
    """
    if not isinstance(value, list):
        return [], []
    good: list[int] = []
    bad: list[str] = []
    for item in value:
        number = _as_id(item)
        if number is not None and 1 <= number <= n:
            if number not in good:
                good.append(number)
        else:
            bad.append(str(number) if number is not None else _shown(item))
    return sorted(good), bad


_DIGITS_MAX = 18  # longer digit strings are out of range for any n (and int() may refuse them)
_SHOWN_MAX = 40


def _as_id(item: object) -> int | None:
    """An integer item, or a digit string (schemas whose enums must be strings, as Gemini's)."""
    if isinstance(item, bool):
        return None
    if isinstance(item, int):
        return item if abs(item) < 10**_DIGITS_MAX else None
    if isinstance(item, str) and item.isascii() and item.isdigit() and len(item) <= _DIGITS_MAX:
        return int(item)
    return None


def _shown(item: object) -> str:
    """A dropped item as JSON text (shortened), for its :class:`InvalidMarker`."""
    try:
        shown = json.dumps(item, ensure_ascii=False)
    except (TypeError, ValueError):  # not a JSON value (a caller's own object), or a huge int
        shown = f"<{type(item).__name__}>"
    return shown if len(shown) <= _SHOWN_MAX else shown[: _SHOWN_MAX - 1] + "\u2026"
