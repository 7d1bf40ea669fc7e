"""Gemini's generateContent: request payloads and response decoding.

Pure: no I/O and no SDK import. Responses and stream chunks are read by
attribute, so the same functions serve google-genai's ``GenerateContentResponse``
objects; a whole response is decoded by feeding it to the stream decoder
(:class:`ResponseDecoder`).

The request asks for JSON segments (:mod:`citeformer.grammar.schema`) with
``response_mime_type="application/json"``. Two schema dialects:

=================  =============================================================
dialect            request field
=================  =============================================================
``json_schema``    ``response_json_schema``: the same JSON Schema as the other
                   schema-tier backends; citation ids are an *integer* enum 1..N
                   (the default; Gemini's JSON Schema support covers ``enum``,
                   ``minItems``, ``additionalProperties``, ``propertyOrdering``)
``openapi``        ``response_schema``: Gemini's OpenAPI subset, whose enums must be
                   strings, so ids are the enum ``"1"``..``"N"`` (older models)
=================  =============================================================

Either way only enum ids become citations; digit-string ids are read as ints.

Finish reasons map to the common vocabulary:

==========================================================  ================
Gemini                                                      citeformer
==========================================================  ================
``STOP``                                                    ``stop``
``MAX_TOKENS``                                              ``length``
``SAFETY``, ``RECITATION``, ``BLOCKLIST``,                  ``content_filter``
``PROHIBITED_CONTENT``, ``SPII``, ``IMAGE_SAFETY``...
a blocked prompt (``prompt_feedback.block_reason``)         ``content_filter``
anything else                                               lower-cased name
==========================================================  ================

A content block is a typed outcome, not an exception: the call returns the text
settled before the block (empty for a blocked prompt) with
``finish_reason="content_filter"``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from citeformer.backends._api.json_segments import SegmentDecoder
from citeformer.backends.base import CitationRequest, Reply
from citeformer.core import TokenUsage
from citeformer.errors import InvalidOptionError
from citeformer.grammar.language import CitationLanguage
from citeformer.grammar.schema import to_json_schema

SchemaDialect = Literal["json_schema", "openapi"]
SCHEMA_DIALECTS: tuple[str, ...] = ("json_schema", "openapi")

_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "LANGUAGE",
    }
)
_SEGMENT_ORDER = ("text", "quote", "citations")


@dataclass(frozen=True, slots=True)
class RequestShape:
    """How a backend instance shapes its requests (fixed at construction).

    Attributes:
        model: Default model name.
        schema_dialect: ``json_schema`` (integer enum ids) or ``openapi`` (string enum ids).
        safety_settings: Passed through as ``safety_settings`` when given.
    """

    model: str
    schema_dialect: SchemaDialect = "json_schema"
    safety_settings: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.schema_dialect not in SCHEMA_DIALECTS:
            raise InvalidOptionError(
                f"schema_dialect={self.schema_dialect!r} is unknown; use one of"
                f" {', '.join(SCHEMA_DIALECTS)}"
            )


def response_schema(language: CitationLanguage, dialect: SchemaDialect) -> dict[str, Any]:
    """The segment schema in ``dialect`` (a fresh dict).

    Both dialects fix the property order to text, quote, citations, so the model
    writes a sentence before choosing its ids (Gemini otherwise orders properties
    alphabetically) and streamed text is released early.
    """
    schema = to_json_schema(language)
    segment = schema["properties"]["segments"]["items"]
    order = [name for name in _SEGMENT_ORDER if name in segment["properties"]]
    segment["propertyOrdering"] = order
    if dialect == "json_schema":
        return schema
    converted: dict[str, Any] = _openapi(schema)
    return converted


def _openapi(node: Any) -> Any:
    """Gemini's OpenAPI subset: upper-case types, string enums, no additionalProperties."""
    if isinstance(node, list):
        return [_openapi(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "additionalProperties":
            continue  # rejected by the Gemini Developer API's OpenAPI schemas
        if key == "enum":
            out["enum"] = [str(v) for v in value]
            out["format"] = "enum"
        elif key == "type":
            out["type"] = "STRING" if "enum" in node else str(value).upper()
        else:
            out[key] = _openapi(value)
    return out


def build_payload(
    shape: RequestShape, request: CitationRequest, options: Mapping[str, Any], timeout: float
) -> dict[str, Any]:
    """Keyword arguments for ``models.generate_content(_stream)``: model, contents, config.

    System messages become the ``system_instruction``; user and assistant messages
    become ``contents`` with roles ``user`` and ``model``. The per-call
    ``http_options`` carry the timeout (milliseconds) and turn the SDK's own
    retries off (citeformer's :class:`~citeformer.backends.retry.RetryPolicy`
    retries, once), even on an injected client configured to retry.
    """
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    for message in request.segment_messages:
        if message["role"] == "system":
            system.append(message["content"])
        else:
            role = "model" if message["role"] == "assistant" else "user"
            contents.append({"role": role, "parts": [{"text": message["content"]}]})
    config: dict[str, Any] = {
        "response_mime_type": "application/json",
        "candidate_count": 1,
        "automatic_function_calling": {"disable": True},
        "http_options": {
            "timeout": max(1, round(timeout * 1000)),
            "retry_options": {"attempts": 1},
        },
    }
    if system:
        config["system_instruction"] = "\n\n".join(system)
    schema = response_schema(request.language, shape.schema_dialect)
    if shape.schema_dialect == "json_schema":
        config["response_json_schema"] = schema
    else:
        config["response_schema"] = schema
    limit = options.get("max_tokens") or options.get("max_new_tokens")
    if limit:
        config["max_output_tokens"] = int(limit)
    for name in ("temperature", "top_p", "seed"):
        if options.get(name) is not None:
            config[name] = options[name]
    stop = options.get("stop")
    if stop:
        config["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if shape.safety_settings:
        config["safety_settings"] = [dict(s) for s in shape.safety_settings]
    return {"model": options.get("model") or shape.model, "contents": contents, "config": config}


def finish_reason(value: Any) -> str | None:
    """The common name of a Gemini finish reason (enum, str or None)."""
    if value is None:
        return None
    name = value.value if isinstance(value, enum.Enum) else str(value)
    name = name.rsplit(".", 1)[-1].upper()
    if not name or name == "FINISH_REASON_UNSPECIFIED":
        return None
    if name == "STOP":
        return "stop"
    if name == "MAX_TOKENS":
        return "length"
    if name in _FILTERED:
        return "content_filter"
    return name.lower()


def usage_of(metadata: Any) -> TokenUsage | None:
    """A :class:`TokenUsage` from ``usage_metadata`` (thinking tokens count as written)."""
    if metadata is None:
        return None
    return TokenUsage(
        prompt_tokens=getattr(metadata, "prompt_token_count", 0) or 0,
        completion_tokens=(getattr(metadata, "candidates_token_count", 0) or 0)
        + (getattr(metadata, "thoughts_token_count", 0) or 0),
        cached_tokens=getattr(metadata, "cached_content_token_count", 0) or 0,
    )


def prompt_blocked(response: Any) -> bool:
    """Whether Gemini refused the prompt itself (no candidate was generated)."""
    feedback = getattr(response, "prompt_feedback", None)
    reason = getattr(feedback, "block_reason", None)
    return reason is not None and finish_reason(reason) is not None


def _candidate(response: Any) -> Any:
    candidates = getattr(response, "candidates", None) or ()
    return candidates[0] if candidates else None


def _answer_text(candidate: Any) -> str:
    """The text parts of a candidate, skipping the model's thoughts."""
    content = getattr(candidate, "content", None)
    parts = getattr(content, "parts", None) or ()
    return "".join(
        p.text for p in parts if getattr(p, "text", None) and not getattr(p, "thought", False)
    )


class ResponseDecoder:
    """Decodes one call's responses: a whole one, or a stream chunk by chunk (pure).

    The JSON document is fed to a :class:`SegmentDecoder` as it grows, so whole
    and streamed answers are rendered by the same code. Usage metadata is
    cumulative in Gemini streams: the last report wins.
    """

    __slots__ = ("_blocked", "_finish", "_provider", "_segments", "_usage")

    def __init__(self, request: CitationRequest, provider: str) -> None:
        self._segments = SegmentDecoder(request.language, provider)
        self._provider = provider
        self._usage: TokenUsage | None = None
        self._finish: str | None = None
        self._blocked = False

    def feed(self, response: Any, *, whole: bool = False) -> str:
        """Consume one ``GenerateContentResponse`` (or stream chunk); return new text.

        ``whole=True``: a whole response, whose text is the entire document.
        """
        usage = usage_of(getattr(response, "usage_metadata", None))
        if usage is not None:
            self._usage = usage
        if prompt_blocked(response):
            self._blocked = True
            self._finish = "content_filter"
            return ""
        candidate = _candidate(response)
        if candidate is None:
            return ""
        text = _answer_text(candidate)
        out = self._segments.feed(text, whole=whole) if text else ""
        reason = finish_reason(getattr(candidate, "finish_reason", None))
        if reason is not None:
            self._finish = reason
        return out

    def finish(self, *, whole: bool = False) -> Reply:
        """The rest of the text, with usage, finish reason and dropped ids.

        Args:
            whole: The responses were a whole (non-streamed) answer, where a
                missing finish reason means the model stopped normally.

        Raises:
            BackendError: The stream ended before a finish reason (it was cut), or
                the document is not valid JSON (a server that ignored the schema).
        """
        finish = self._finish or ("stop" if whole else None)
        return self._segments.finish_reply(finish, self._usage, blocked=self._blocked)


def decode_response(response: Any, request: CitationRequest, provider: str) -> Reply:
    """Answer text and facts from a whole ``GenerateContentResponse``."""
    decoder = ResponseDecoder(request, provider)
    text = decoder.feed(response, whole=True)
    return decoder.finish(whole=True).after(text)
