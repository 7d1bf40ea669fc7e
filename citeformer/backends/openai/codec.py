"""Chat-completions APIs: request payloads and response decoding.

Pure: no I/O and no SDK import. Responses and stream chunks are read by
attribute: the backend hands over the wire JSON as ``SimpleNamespace`` objects
(:mod:`citeformer.backends._api.wire`), and the same functions serve the SDK's typed
objects and the tests' plain ones. A whole completion is decoded by feeding it to the stream
decoder (:class:`ResponseDecoder`), so whole and streamed answers, refusals
included, are rendered by the same code.

Constraint modes (what the request asks the server to enforce):

==============  =========================================================  ==========
mode            request                                                    tier
==============  =========================================================  ==========
``json_schema`` ``response_format`` strict JSON schema; ids are an enum    schema
``grammar``     the citation grammar in the server's field (see dialects)  grammar
``none``        plain prompt with inline markers; only validated           validated
==============  =========================================================  ==========

Grammar dialects: where each server reads a grammar from the request.

=============  ===========================================================
dialect        request field
=============  ===========================================================
``vllm``       ``structured_outputs: {"grammar": <EBNF>}`` (vLLM >= 0.10 serve)
``llama.cpp``  ``grammar: <GBNF>`` (llama.cpp server, llama-cpp-python server)
``sglang``     ``ebnf: <EBNF>``
``fireworks``  ``response_format: {"type": "grammar", "grammar": <GBNF>}``
=============  ===========================================================
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from citeformer.backends._api.json_segments import TRUNCATING, SegmentDecoder
from citeformer.backends.base import CallInfo, CitationRequest, Reply
from citeformer.core import Enforcement, InvalidMarker, TokenUsage
from citeformer.errors import BackendError, InvalidOptionError
from citeformer.grammar.language import CitationLanguage
from citeformer.grammar.notation import to_ebnf, to_gbnf
from citeformer.grammar.schema import shared_json_schema
from citeformer.markers import neutralize

Constraint = Literal["json_schema", "grammar", "none"]
GrammarDialect = Literal["vllm", "llama.cpp", "sglang", "fireworks"]
CONSTRAINTS: tuple[str, ...] = ("json_schema", "grammar", "none")
DIALECTS: tuple[str, ...] = ("vllm", "llama.cpp", "sglang", "fireworks")
TIERS: Mapping[str, Enforcement] = {
    "json_schema": Enforcement.SCHEMA,
    "grammar": Enforcement.GRAMMAR,
    "none": Enforcement.VALIDATED,
}
SCHEMA_NAME = "cited_answer"

_REASONING_MODEL = re.compile(r"(^|/)(o\d|gpt-5)")


def is_reasoning_model(model: str) -> bool:
    """Models that take ``max_completion_tokens`` and reject sampling parameters."""
    return bool(_REASONING_MODEL.search(model))


@dataclass(frozen=True, slots=True)
class RequestShape:
    """How a backend instance shapes its requests (fixed at construction).

    Attributes:
        model: Default model name.
        constraint: The constraint mode.
        dialect: Where the grammar goes, in ``grammar`` mode.
        reasoning: Reasoning-model parameter handling.
        min_items: Whether the schema may use ``minItems``.
        stream_usage: Ask for usage in the last stream chunk.
        extra_body: Provider fields added to every request.
        extra_headers: Headers added to every request.
    """

    model: str
    constraint: Constraint = "json_schema"
    dialect: GrammarDialect | None = None
    reasoning: bool = False
    min_items: bool = True
    stream_usage: bool = True
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.constraint not in CONSTRAINTS:
            raise InvalidOptionError(
                f"constraint={self.constraint!r} is unknown; use one of {', '.join(CONSTRAINTS)}"
            )
        if self.constraint == "grammar" and self.dialect not in DIALECTS:
            raise InvalidOptionError(
                f"constraint='grammar' needs grammar_dialect= one of {', '.join(DIALECTS)}"
                " (the server that enforces it)"
            )

    @property
    def tier(self) -> Enforcement:
        """The enforcement tier these requests get."""
        return TIERS[self.constraint]


def build_payload(
    shape: RequestShape, request: CitationRequest, options: Mapping[str, Any], *, stream: bool
) -> dict[str, Any]:
    """Keyword arguments for ``client.chat.completions.create``."""
    language = request.language
    schema_mode = shape.constraint == "json_schema"
    messages = request.segment_messages if schema_mode else request.messages
    payload: dict[str, Any] = {
        "model": options.get("model") or shape.model,
        # The request's own dicts (the SDK only reads them); other mappings as dicts.
        "messages": [m if type(m) is dict else dict(m) for m in messages],
    }
    limit = options.get("max_tokens") or options.get("max_new_tokens")
    if limit:
        payload["max_completion_tokens" if shape.reasoning else "max_tokens"] = limit
    if not shape.reasoning:  # reasoning models reject sampling parameters
        for name in ("temperature", "top_p"):
            if options.get(name) is not None:
                payload[name] = options[name]
    elif options.get("reasoning_effort"):
        payload["reasoning_effort"] = options["reasoning_effort"]
    for name in ("seed", "stop"):
        if options.get(name) is not None:
            payload[name] = options[name]
    extra_body = dict(shape.extra_body)
    if schema_mode:
        payload["response_format"] = schema_format(language, shape.min_items)
    elif shape.constraint == "grammar":
        put_grammar(shape, payload, extra_body, ebnf=to_ebnf(language), gbnf=to_gbnf(language))
    if extra_body:
        payload["extra_body"] = extra_body
    if shape.extra_headers:
        payload["extra_headers"] = dict(shape.extra_headers)
    if stream:
        payload["stream"] = True
        if shape.stream_usage:
            payload["stream_options"] = {"include_usage": True}
    return payload


@functools.lru_cache(maxsize=256)
def schema_format(language: CitationLanguage, min_items: bool) -> dict[str, Any]:
    """The strict ``response_format`` for ``language``, shared by every request.

    The SDK only serialises it, so in-flight calls hold no copy of their own.
    """
    return {
        "type": "json_schema",
        "json_schema": {
            "name": SCHEMA_NAME,
            "strict": True,
            "schema": shared_json_schema(language, min_items=min_items),
        },
    }


def put_grammar(
    shape: RequestShape,
    payload: dict[str, Any],
    extra_body: dict[str, Any],
    *,
    ebnf: str,
    gbnf: str,
) -> None:
    """Put a grammar where ``shape``'s server reads it (the dialect table above)."""
    if shape.dialect == "fireworks":
        payload["response_format"] = {"type": "grammar", "grammar": gbnf}
    elif shape.dialect == "llama.cpp":
        extra_body["grammar"] = gbnf
    elif shape.dialect == "vllm":
        extra_body["structured_outputs"] = {"grammar": ebnf}
    else:
        extra_body["ebnf"] = ebnf


def usage_of(usage: Any) -> TokenUsage | None:
    """A :class:`TokenUsage` from an OpenAI-style usage object (or None)."""
    if usage is None:
        return None
    details = getattr(usage, "prompt_tokens_details", None)
    return TokenUsage(
        prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        cached_tokens=getattr(details, "cached_tokens", 0) or 0,
    )


class ResponseDecoder:
    """Decodes one call: a whole chat completion, or a stream chunk by chunk (pure).

    Schema mode parses the JSON as it grows and releases text as soon as it is
    settled; grammar and plain modes pass content through (the orchestrator's
    marker parser holds back partial markers). A refusal is held until the end and
    follows the content there, neutralised, with ``finish_reason="refusal"``: the
    same text whole or streamed, however the deltas interleave.
    """

    __slots__ = (
        "_finish",
        "_provider",
        "_refusal",
        "_refusal_style",
        "_said",
        "_segments",
        "_shape",
        "_usage",
    )

    def __init__(self, shape: RequestShape, request: CitationRequest, provider: str) -> None:
        self._shape = shape
        self._provider = provider
        self._segments = (
            SegmentDecoder(request.language, provider)
            if shape.constraint == "json_schema"
            else None
        )
        self._refusal: list[str] = []
        self._refusal_style = request.language.marker_style
        self._said = False  # content text has been released
        self._usage: TokenUsage | None = None
        self._finish: str | None = None

    def feed(self, chunk: Any, *, whole: bool = False) -> str:
        """Consume one ``ChatCompletionChunk`` (or a whole ``ChatCompletion``); return new text.

        A whole completion's ``choices[0].message`` is read like a chunk's delta
        (``whole=True``: its content is the entire document).
        """
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self._usage = usage_of(usage)
        out = ""
        for choice in getattr(chunk, "choices", None) or ():
            if getattr(choice, "index", 0) != 0:
                continue
            delta = getattr(choice, "delta", None) or getattr(choice, "message", None)
            refusal = getattr(delta, "refusal", None)
            if refusal:
                self._refusal.append(refusal)  # it goes after the content
            content = getattr(delta, "content", None)
            if content:
                out += self._segments.feed(content, whole=whole) if self._segments else content
            finish = getattr(choice, "finish_reason", None)
            if finish:
                self._finish = finish
        self._said = self._said or bool(out)
        return out

    def finish(self, *, whole: bool = False) -> Reply:
        """The rest of the text, with usage, finish reason and dropped ids.

        Args:
            whole: The chunk was a whole (non-streamed) completion, which is complete
                even without a finish reason (it is then reported as None).

        Raises:
            BackendError: The stream ended without a finish reason (it was cut).
        """
        dropped: tuple[InvalidMarker, ...] = ()
        finish = self._finish
        refusal = "".join(self._refusal)
        if finish is None and not refusal and not whole:
            raise BackendError(
                "the stream ended before the model finished (no finish_reason)",
                provider=self._provider,
                retryable=True,
            )
        text = ""
        if self._segments is not None and (self._segments.raw or not refusal):
            truncated = finish in TRUNCATING or bool(refusal)
            text = self._segments.finish(truncated=truncated)
            dropped = self._segments.dropped
        if refusal:
            said = self._said or bool(text)
            text = _with_refusal(text, neutralize(refusal, self._refusal_style), said=said)
            finish = "refusal"
        info = CallInfo(
            usage=self._usage,
            finish_reason=finish,
            invalid_markers=dropped,
            enforcement=self._shape.tier,
        )
        return Reply(text, info)


def decode_response(
    response: Any, shape: RequestShape, request: CitationRequest, provider: str
) -> Reply:
    """Answer text and facts from a whole chat completion (through :class:`ResponseDecoder`).

    Raises:
        BackendError: The response has no choices (retryable), or its structured
            output is not valid JSON of the schema's shape.
    """
    if not (getattr(response, "choices", None) or ()):
        raise BackendError("the response has no choices", provider=provider, retryable=True)
    decoder = ResponseDecoder(shape, request, provider)
    text = decoder.feed(response, whole=True)
    return decoder.finish(whole=True).after(text)


def _with_refusal(text: str, refusal: str, *, said: bool) -> str:
    """The answer text followed by the (neutralised) refusal.

    A reply may carry both (a model that began answering, then refused). The
    refusal goes last, after a paragraph break when there is content before it: a
    line break also keeps a marker begun in raw content from taking the refusal's
    digits (``[1,`` then ``2]``).

    Args:
        text: The content text not yet released.
        refusal: The neutralised refusal.
        said: Whether there is content text before the refusal (released, or ``text``).
    """
    return f"{text}\n\n{refusal}" if said and refusal else text + refusal
