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
from citeformer.markers import neutralize

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
    style = language.marker_style
    out: list[str] = []
    dropped: list[InvalidMarker] = []
    length = 0
    last = ""
    for segment in segments:
        text = neutralize(_str(segment.get("text")), style)
        quote = neutralize(_str(segment.get("quote")), style)
        if quote:
            text = f'{text}{" " if text and not text.endswith(" ") else ""}"{quote}"'
        ids, bad = _ids(segment.get("citations"), language.n)
        body = text.rstrip(_TRAILING_PUNCTUATION + " ") if ids or bad else text
        tail = text[len(body) :]
        if style is MarkerStyle.CARET and last.isdigit() and (body or tail)[:1].isdigit():
            body = " " + body  # "^1" then "0" would read as "^10"
        piece = body
        if ids:
            gap = "" if style is MarkerStyle.CARET or quote else " "
            piece = f"{body}{gap}{style.marker(ids)}"
        for value in bad:
            at = length + len(body)
            dropped.append(InvalidMarker(style.marker([value]), at, at, "not_in_schema"))
        piece += tail
        out.append(piece)
        length += len(piece)
        last = piece[-1:] or last
    return "".join(out), tuple(dropped)


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _ids(value: object, n: int) -> tuple[list[int], list[int]]:
    if not isinstance(value, list):
        return [], []
    good: list[int] = []
    bad: list[int] = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= n:
            if item not in good:
                good.append(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            bad.append(item)
    return sorted(good), bad
