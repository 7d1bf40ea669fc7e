"""Anthropic's Messages API with the Citations API: request payloads, response decoding.

Pure: no I/O and no SDK import. Responses and stream events are read by
attribute (or key), so the same code serves the anthropic SDK's objects and
plain test objects.

Request: every source becomes one ``document`` block (plain text, its title,
``citations: {"enabled": true}``) in the user turn, before the question; the
last document block carries ``cache_control: {"type": "ephemeral"}`` so the
instructions and sources are a cacheable prefix (on by default). The model is
told not to write markers itself: the API attaches citations to the text blocks
it answers with.

Response: the answer arrives as text blocks, some of them carrying citations
(``char_location`` for plain-text documents: ``document_index``, ``cited_text``,
``start_char_index``/``end_char_index``). :class:`CitationAssembler` maps them
onto the provider-neutral :class:`~citeformer.backends.cited_blocks.CitedBlockAssembler`
(``document_index`` + 1 is the source id), which writes one marker at the end
of each cited block and neutralises marker-like prose; a ``document_index``
outside the supplied sources (a broken server) is reported as an invalid marker.

The same assembler serves whole messages (:func:`decode_response`) and streams
(:class:`ResponseDecoder`), so streamed and whole output cannot drift: the
joined stream equals the whole answer, citations and offsets included.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from citeformer.backends.base import CallInfo, CitationRequest, Reply
from citeformer.backends.cited_blocks import CitedBlockAssembler
from citeformer.core import Enforcement, Policy, TokenUsage
from citeformer.errors import BackendError, InvalidOptionError
from citeformer.prompts import PromptBudget, fit_contents

DEFAULT_MAX_TOKENS = 1024
"""``max_tokens`` when the call does not set one (the Messages API requires it)."""

FINISH_REASONS: Mapping[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "refusal",
}
"""Anthropic ``stop_reason`` -> citeformer ``finish_reason`` (others pass through)."""


@dataclass(frozen=True, slots=True)
class RequestShape:
    """How a backend instance shapes its requests (fixed at construction).

    Attributes:
        model: Default model name.
        max_tokens: Default ``max_tokens``.
        cache_sources: Mark the documents as a prompt-cache breakpoint.
        extra_body: Provider fields added to every request.
        extra_headers: Headers added to every request.
    """

    model: str
    max_tokens: int = DEFAULT_MAX_TOKENS
    cache_sources: bool = True
    extra_body: Mapping[str, Any] | None = None
    extra_headers: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_tokens, bool)
            or not isinstance(self.max_tokens, int)
            or self.max_tokens < 1
        ):
            raise InvalidOptionError(f"max_tokens must be an int >= 1, got {self.max_tokens!r}")
        if not isinstance(self.cache_sources, bool):
            raise InvalidOptionError("cache_sources must be a bool")


# -- requests ----------------------------------------------------------------------------


def instructions(policy: Policy) -> str:
    """The system prompt: answer from the documents; the API attaches the citations."""
    lines = [
        "Answer the question using only the documents provided.",
        "Cite the documents that support what you write; citations are attached to your"
        " answer automatically.",
        "Never write citation markers, source numbers or a reference list yourself.",
    ]
    if policy is Policy.REQUIRED:
        lines.append("Every sentence of the answer must be supported by, and cite, a document.")
    elif policy is Policy.QUOTES_ONLY:
        lines.append("Support your answer with passages quoted word for word from the documents.")
    else:
        lines.append("Cite a document for each statement it supports.")
    return "\n".join(lines)


def document_blocks(request: CitationRequest, *, cache: bool) -> list[dict[str, Any]]:
    """One ``document`` block per source, in id order (source ``i`` is index ``i - 1``)."""
    contents = fit_contents([s.content for s in request.sources], request.budget or PromptBudget())
    blocks: list[dict[str, Any]] = []
    for source, content in zip(request.sources, contents, strict=True):
        block: dict[str, Any] = {
            "type": "document",
            # The API rejects empty text blocks; a blank document is still a document.
            "source": {"type": "text", "media_type": "text/plain", "data": content or " "},
            "citations": {"enabled": True},
        }
        if source.title:
            block["title"] = source.title
        blocks.append(block)
    if cache and blocks:
        blocks[-1]["cache_control"] = {"type": "ephemeral"}
    return blocks


def build_payload(
    shape: RequestShape, request: CitationRequest, options: Mapping[str, Any], *, stream: bool
) -> dict[str, Any]:
    """Keyword arguments for ``client.messages.create``.

    Per-call options: ``max_tokens`` (or ``max_new_tokens``), ``temperature``,
    ``top_p``, ``top_k``, ``stop`` (a str or list: ``stop_sequences``), ``model``,
    ``cache_sources``.
    """
    cache = options.get("cache_sources")
    documents = document_blocks(request, cache=shape.cache_sources if cache is None else cache)
    system, messages = _conversation(request, documents)
    limit = options.get("max_tokens") or options.get("max_new_tokens") or shape.max_tokens
    payload: dict[str, Any] = {
        "model": options.get("model") or shape.model,
        "max_tokens": int(limit),
        "system": system,
        "messages": messages,
    }
    stop = options.get("stop")
    if stop:
        payload["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    # Sampling parameters go in the body as such: recent SDKs dropped them from
    # ``messages.create`` (recent models reject them), older models still take them.
    extra_body = dict(shape.extra_body or {})
    for name in ("temperature", "top_p", "top_k"):
        if options.get(name) is not None:
            extra_body[name] = options[name]
    if extra_body:
        payload["extra_body"] = extra_body
    if shape.extra_headers:
        payload["extra_headers"] = dict(shape.extra_headers)
    if stream:
        payload["stream"] = True
    return payload


def _conversation(
    request: CitationRequest, documents: list[dict[str, Any]]
) -> tuple[str, list[dict[str, Any]]]:
    """System prompt and messages; the documents open the new question's user turn."""
    if request.custom_messages is None:
        question = {"type": "text", "text": request.question}
        system = instructions(request.language.policy)
        earlier = [{"role": m["role"], "content": m["content"]} for m in request.history]
        return system, [*earlier, {"role": "user", "content": [*documents, question]}]
    systems: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in request.custom_messages:
        if message["role"] == "system":
            systems.append(message["content"])
        else:
            messages.append({"role": message["role"], "content": message["content"]})
    first_user = next((m for m in messages if m["role"] == "user"), None)
    if first_user is None:
        first_user = {"role": "user", "content": request.question}
        messages.insert(0, first_user)
    first_user["content"] = [*documents, {"type": "text", "text": first_user["content"]}]
    return "\n\n".join(systems) or instructions(request.language.policy), messages


# -- responses ---------------------------------------------------------------------------


def finish_reason(stop_reason: str | None) -> str | None:
    """Map Anthropic's ``stop_reason`` to citeformer's ``finish_reason``."""
    if stop_reason is None:
        return None
    return FINISH_REASONS.get(stop_reason, stop_reason)


def usage_of(*reports: Any) -> TokenUsage | None:
    """A :class:`TokenUsage` from usage objects, later reports overriding earlier ones.

    ``prompt_tokens`` counts every input token (uncached, written to and read from
    the cache); ``cached_tokens`` those read from the cache.
    """
    fields: dict[str, int] = {}
    for usage in reports:
        if usage is None:
            continue
        for name in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ):
            value = _get(usage, name)
            if isinstance(value, int):
                fields[name] = value
    if not fields:
        return None
    cached = fields.get("cache_read_input_tokens", 0)
    prompt = fields.get("input_tokens", 0) + cached + fields.get("cache_creation_input_tokens", 0)
    return TokenUsage(
        prompt_tokens=prompt,
        completion_tokens=fields.get("output_tokens", 0),
        cached_tokens=cached,
    )


class CitationAssembler(CitedBlockAssembler):
    """The cited-block assembler reading Anthropic's citation objects.

    Call :meth:`start_block`, then :meth:`text` and :meth:`cite` in any order and
    any pieces, then :meth:`end_block`; :meth:`finish` at the end. Each returns the
    text settled by it. The output is the same however the blocks were split.

    Args:
        n: Number of sources.
        style: The marker style.
    """

    __slots__ = ()

    def cite(self, citation: Any) -> None:
        """A citation of the current block (``char_location`` or another document kind).

        ``document_index`` ``i`` is source ``i + 1``; an index that is not an int
        (``true``, ``1.5``, ``"1"``) is reported as ``malformed``, never guessed
        into an id (``true`` is not document 1).
        """
        index = _get(citation, "document_index")
        if index is None:
            return  # not a document citation (web search results...): nothing to map
        if not isinstance(index, int) or isinstance(index, bool):
            scalar = isinstance(index, (bool, float, str))
            shown = json.dumps(index)[:40] if scalar else f"<{type(index).__name__}>"
            self.reject(f"document {shown}", "malformed")
            return
        if index < 0:
            self.reject(f"document {index}", "out_of_range")
            return
        start = _get(citation, "start_char_index")
        end = _get(citation, "end_char_index")
        char_span = _get(citation, "type") == "char_location"
        self.cite_source(
            index + 1,
            cited_text=_get(citation, "cited_text"),
            source_start=start if char_span and isinstance(start, int) else None,
            source_end=end if char_span and isinstance(end, int) else None,
        )


def _get(obj: Any, name: str) -> Any:
    """An attribute of an SDK object, or a key of a plain dict."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _info(
    assembler: CitationAssembler,
    *,
    usage: TokenUsage | None = None,
    finish: str | None = None,
) -> CallInfo:
    citations, invalid = assembler.take_facts()
    return CallInfo(
        usage=usage,
        finish_reason=finish,
        citations=citations,
        invalid_markers=invalid,
        enforcement=Enforcement.PROVIDER,
    )


def decode_response(response: Any, request: CitationRequest) -> Reply:
    """Answer text and facts from a whole ``Message``."""
    language = request.language
    assembler = CitationAssembler(language.n, language.marker_style)
    parts: list[str] = []
    for block in _get(response, "content") or ():
        if _get(block, "type") != "text":
            continue  # thinking, tool use...: not part of the answer
        parts.append(assembler.start_block())
        for citation in _get(block, "citations") or ():
            assembler.cite(citation)
        parts.append(assembler.text(_get(block, "text") or ""))
        parts.append(assembler.end_block())
    parts.append(assembler.finish())
    info = _info(
        assembler,
        usage=usage_of(_get(response, "usage")),
        finish=finish_reason(_get(response, "stop_reason")),
    )
    return Reply("".join(parts), info)


class ResponseDecoder:
    """Decodes one streamed message, raw event by raw event (pure).

    Text is released as it arrives (only a cited block's trailing punctuation and
    marker-like prose wait); a cited block's marker is released when the block
    stops, carrying its :class:`~citeformer.backends.call.ProviderCitation`
    details in the chunk's :class:`CallInfo`, so citation events reach the caller mid-stream.

    Args:
        request: The citation request.
        provider: Backend name for errors.
    """

    __slots__ = ("_assembler", "_delta_usage", "_provider", "_start_usage", "_stop", "_text_blocks")

    def __init__(self, request: CitationRequest, provider: str) -> None:
        language = request.language
        self._assembler = CitationAssembler(language.n, language.marker_style)
        self._provider = provider
        self._text_blocks: set[int] = set()
        self._start_usage: Any = None
        self._delta_usage: Any = None
        self._stop: str | None = None

    def feed(self, event: Any) -> str | Reply:
        """Consume one raw stream event; return new answer text (with facts, a Reply)."""
        kind = _get(event, "type")
        assembler = self._assembler
        out = ""
        if kind == "content_block_delta":
            if _get(event, "index") in self._text_blocks:
                delta = _get(event, "delta")
                delta_type = _get(delta, "type")
                if delta_type == "text_delta":
                    out = assembler.text(_get(delta, "text") or "")
                elif delta_type == "citations_delta":
                    assembler.cite(_get(delta, "citation"))
        elif kind == "content_block_start":
            block = _get(event, "content_block")
            if _get(block, "type") == "text":
                self._text_blocks.add(_get(event, "index"))
                out = assembler.start_block()
                for citation in _get(block, "citations") or ():
                    assembler.cite(citation)
                out += assembler.text(_get(block, "text") or "")
        elif kind == "content_block_stop":
            if _get(event, "index") in self._text_blocks:
                out = assembler.end_block()
        elif kind == "message_start":
            self._start_usage = _get(_get(event, "message"), "usage")
        elif kind == "message_delta":
            self._delta_usage = _get(event, "usage")
            stop = _get(_get(event, "delta"), "stop_reason")
            if stop:
                self._stop = stop
        if out:
            # Facts ride on the chunk that holds their marker (a chunk without text
            # is not passed on, so facts reported with none wait for the next one).
            citations, invalid = assembler.take_facts()
            if citations or invalid:
                return Reply(out, CallInfo(citations=citations, invalid_markers=invalid))
        return out

    def finish(self) -> Reply:
        """The rest of the text, with usage, finish reason and any facts still held.

        Raises:
            BackendError: The stream ended before the model finished (no stop reason).
        """
        if self._stop is None:
            raise BackendError(
                "the stream ended before the model finished (no stop_reason)",
                provider=self._provider,
                retryable=True,
            )
        text = self._assembler.finish()
        info = _info(
            self._assembler,
            usage=usage_of(self._start_usage, self._delta_usage),
            finish=finish_reason(self._stop),
        )
        return Reply(text, info)
