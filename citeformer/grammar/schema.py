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
        "_style",
        "_text",
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
        self._text = _SettledText(self._style)  # that segment's text, neutralised so far

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
            self._text = _SettledText(self._style)
        if not complete and self._open < len(segments):
            segment = segments[self._open]
            if isinstance(segment, Mapping):
                partial = self._provisional(segment)
                if len(partial) > self._emitted:
                    out.append(partial[self._emitted :])
                    self._emitted = len(partial)
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
        for value in bad:
            at = self._length + len(body)
            self._dropped.append(InvalidMarker(style.marker([value]), at, at, "not_in_schema"))
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
        caret_digit = self._marker_last and self._style is MarkerStyle.CARET and first.isdecimal()
        if caret_digit or _needs_space(self._last, first):
            body = " " + body  # segments are sentences; also keeps "^1" "0" from reading "^10"
        return body, tail, bool(quote)

    def _provisional(self, segment: Mapping[str, Any]) -> str:
        """The part of an unfinished segment's piece that no later data can change."""
        style = self._style
        raw_text = _str(segment.get("text"))
        keys = list(segment)
        text_closed = (
            "text" in keys and "quote" in keys and keys.index("text") < keys.index("quote")
        )
        if text_closed:
            quote = _settled(_str(segment.get("quote")), style)
            if quote:  # the quote is certain: text, gap, opening quote, quote so far
                body, _, _ = self._split(neutralize(raw_text, style), quote, cited=False)
                return body[:-1]  # the closing quotation mark may not be final
        body, _, _ = self._split(self._text.of(raw_text), "", cited=True)
        return body


class _SettledText:
    """:func:`_settled` for a text that grows chunk by chunk, fed incrementally."""

    __slots__ = ("_parser", "_raw", "_style", "_text")

    def __init__(self, style: MarkerStyle) -> None:
        self._style = style
        self._parser = MarkerParser(0, style)
        self._raw = ""
        self._text = ""

    def of(self, raw: str) -> str:
        """The settled neutral text of ``raw`` (which usually extends the last one)."""
        if not raw.startswith(self._raw):  # not a continuation: start again
            self._parser = MarkerParser(0, self._style)
            self._raw = self._text = ""
        events = self._parser.feed(raw[len(self._raw) :])
        self._raw = raw
        self._text += "".join(e.text for e in events if isinstance(e, TextEvent))
        return self._text


def _needs_space(last: str, first: str) -> bool:
    """Whether a space must separate the previous segment from the next one."""
    if not last or not first or last.isspace() or first.isspace():
        return False
    if first in _TRAILING_PUNCTUATION or first in ")]}\u201d":
        return False
    return not (_is_wide(last) or _is_wide(first))  # CJK sentences run together


def _is_wide(char: str) -> bool:
    return "\u2e80" <= char <= "\u9fff" or "\uf900" <= char <= "\uffef"


def _settled(raw: str, style: MarkerStyle) -> str:
    """The neutralised text that more raw text cannot change (a marker-free prefix)."""
    parser = MarkerParser(0, style)
    return "".join(e.text for e in parser.feed(raw) if isinstance(e, TextEvent))


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _ids(value: object, n: int) -> tuple[list[int], list[int]]:
    if not isinstance(value, list):
        return [], []
    good: list[int] = []
    bad: list[int] = []
    for item in value:
        if isinstance(item, str) and item.isdigit() and item.isascii():
            item = int(item)  # schemas whose enums must be strings (Gemini) send "1"
        if isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= n:
            if item not in good:
                good.append(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            bad.append(item)
    return sorted(good), bad
