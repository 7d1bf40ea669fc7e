"""The prepared call and what a backend gives back for it.

The orchestrator prepares one :class:`BackendCall` per call (the
:class:`CitationRequest`, built once, and the call's checked options) and hands it
to the backend's ``complete``/``complete_stream`` hooks, which answer with a
:class:`Reply` (text and its :class:`CallInfo`), or yield text pieces and
:class:`CallInfo` facts. The public ``generate(prompt, sources, policy, **options)``
contract (SPEC 2.1) keeps its ``str``: :class:`BackendText` carries the facts there.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from citeformer._coerce import coerce_sources
from citeformer.core import (
    Enforcement,
    InvalidMarker,
    MarkerStyle,
    Policy,
    Source,
    TokenUsage,
)
from citeformer.errors import BackendContractError
from citeformer.grammar.language import CitationLanguage, citation_language
from citeformer.options import Check, normalize_options
from citeformer.prompts import Message, PromptBudget, build_messages, check_history


@dataclass(frozen=True, slots=True)
class ProviderCitation:
    """A citation detail reported by the backend for one marker.

    Attributes:
        raw_offset: Offset of the marker's opening character in the raw text of
            this call (the concatenation of all chunks).
        source_id: The cited source (1-based).
        cited_text: The supporting passage.
        source_start: Offset of the passage in the source content.
        source_end: Offset just past it.
    """

    raw_offset: int
    source_id: int
    cited_text: str | None = None
    source_start: int | None = None
    source_end: int | None = None


@dataclass(frozen=True, slots=True)
class CallInfo:
    """Facts about one call, travelling with its own return value.

    Attributes:
        usage: Token usage.
        finish_reason: ``stop``, ``length``, ``content_filter``...
        citations: Provider-reported citation details.
        invalid_markers: Markers the backend itself dropped (for example ids outside
            a schema's enum returned by a server that ignored the schema).
        enforcement: Overrides the backend's class-level enforcement for this call.
    """

    usage: TokenUsage | None = None
    finish_reason: str | None = None
    citations: tuple[ProviderCitation, ...] = ()
    invalid_markers: tuple[InvalidMarker, ...] = ()
    enforcement: Enforcement | None = None

    def merge(self, later: CallInfo) -> CallInfo:
        """Combine with facts reported later in the same call (later wins)."""
        return CallInfo(
            usage=later.usage if later.usage is not None else self.usage,
            finish_reason=later.finish_reason or self.finish_reason,
            citations=self.citations + later.citations,
            invalid_markers=self.invalid_markers + later.invalid_markers,
            enforcement=later.enforcement or self.enforcement,
        )


EMPTY_INFO = CallInfo()


class BackendText(str):
    """A ``str`` that also carries the :class:`CallInfo` of the call that made it."""

    __slots__ = ("info",)
    info: CallInfo

    def __new__(cls, text: str = "", info: CallInfo = EMPTY_INFO) -> Self:
        """Wrap ``text`` with ``info``."""
        obj = super().__new__(cls, text)
        obj.info = info
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        return (BackendText, (str(self), self.info))


def call_info(value: str) -> CallInfo:
    """The info a backend attached to ``value`` (empty for a plain ``str``)."""
    return value.info if isinstance(value, BackendText) else EMPTY_INFO


@dataclass(frozen=True)
class CitationRequest:
    """What the orchestrator prepared for one call.

    Attributes:
        question: The user's prompt.
        sources: The sources, in id order.
        language: The citation language (render it with ``citeformer.grammar``).
        budget: How much source text the prompt may hold.
        custom_messages: Messages to use instead of the assembled ones.
        history: Earlier ``user``/``assistant`` turns of the conversation, oldest
            first; they precede the sources and question in :attr:`messages`.
    """

    question: str
    sources: tuple[Source, ...]
    language: CitationLanguage
    budget: PromptBudget | None = None
    custom_messages: tuple[Message, ...] | None = None
    history: tuple[Message, ...] = ()

    @functools.cached_property
    def messages(self) -> tuple[Message, ...]:
        """Chat messages: instructions, numbered source contents, the question.

        Assembled on first access, so backends that build their own prompt (or none,
        like ``MockBackend``) never pay for it.
        """
        if self.custom_messages is not None:
            return self.custom_messages
        return tuple(
            build_messages(
                self.question, self.sources, self.language, self.budget, history=self.history
            )
        )

    @functools.cached_property
    def segment_messages(self) -> tuple[Message, ...]:
        """Messages asking for the JSON segment format (schema-tier APIs)."""
        if self.custom_messages is not None:
            return self.custom_messages
        return tuple(
            build_messages(
                self.question,
                self.sources,
                self.language,
                self.budget,
                segments=True,
                history=self.history,
            )
        )

    @classmethod
    def build(
        cls,
        question: str,
        sources: object,
        policy: Policy | str,
        *,
        marker_style: MarkerStyle | str = MarkerStyle.BRACKET,
        budget: PromptBudget | None = None,
        history: object = (),
        max_content_chars: int | None = None,
    ) -> CitationRequest:
        """Prepare a request (what the orchestrator does before every call).

        ``max_content_chars`` (Policy.REQUIRED only) bounds the characters of a sentence
        before its first marker (see :func:`~citeformer.grammar.language.citation_language`).

        Raises:
            InvalidSourceError: ``sources`` is not a non-empty list of Source or str.
            InvalidPromptError: ``history`` is not a list of user/assistant turns.
            InvalidOptionError: ``max_content_chars`` is out of range or not for REQUIRED.
        """
        source_list = coerce_sources(sources)
        language = citation_language(
            len(source_list), policy, marker_style, max_content_chars=max_content_chars
        )
        return cls(question, tuple(source_list), language, budget, history=check_history(history))

    def with_messages(self, messages: Sequence[Message]) -> CitationRequest:
        """A copy that uses ``messages`` instead of the assembled ones."""
        return dataclasses.replace(self, custom_messages=tuple(messages))


@dataclass(frozen=True, slots=True)
class BackendCall:
    """One prepared call, travelling to the backend once and explicitly.

    Attributes:
        request: The citation request: question, sources, citation language and the
            assembled messages.
        options: The call's checked options (``max_tokens``, ``temperature``...;
            the marker style and policy live in ``request.language``).
    """

    request: CitationRequest
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        """The user's question."""
        return self.request.question

    @property
    def sources(self) -> list[Source]:
        """The sources, in id order."""
        return list(self.request.sources)

    @property
    def policy(self) -> Policy:
        """The citation policy."""
        return self.request.language.policy

    @property
    def marker_style(self) -> MarkerStyle:
        """How markers look."""
        return self.request.language.marker_style

    def public_options(self) -> dict[str, Any]:
        """The options as the public ``generate(..., **options)`` takes them.

        With ``marker_style``, which a backend that writes markers needs, and the
        language's ``max_content_chars`` when it has one.
        """
        bound = self.request.language.max_content_chars
        extra = {} if bound is None else {"max_content_chars": bound}
        return {**self.options, "marker_style": self.marker_style, **extra}

    @classmethod
    def build(
        cls,
        prompt: str,
        sources: Sequence[Source | str],
        policy: Policy | str,
        options: Mapping[str, Any],
        *,
        checks: Mapping[str, Check] | None = None,
        budget: PromptBudget | None = None,
    ) -> BackendCall:
        """The call a backend's public method was given (what the orchestrator prepares).

        Args:
            prompt: The question.
            sources: The sources.
            policy: The citation policy.
            options: The public options; ``marker_style`` picks the language's style,
                ``max_content_chars`` its content bound (Policy.REQUIRED only).
            checks: The backend's own option checks.
            budget: How much source text the prompt may hold.

        Raises:
            InvalidSourceError: ``sources`` is not a non-empty list of Source or str.
            InvalidOptionError: An option has the wrong type.
        """
        rest = {k: v for k, v in options.items() if k not in ("marker_style", "max_content_chars")}
        style = options.get("marker_style", MarkerStyle.BRACKET)
        request = CitationRequest.build(
            prompt,
            sources,
            policy,
            marker_style=style,
            budget=budget,
            max_content_chars=options.get("max_content_chars"),
        )
        return cls(request, normalize_options(rest, checks))


@dataclass(frozen=True, slots=True)
class Reply:
    """What a backend answered for one call: the text and the call's own facts."""

    text: str
    info: CallInfo = field(default_factory=lambda: EMPTY_INFO)

    def as_text(self) -> BackendText:
        """The public form: a ``str`` carrying the facts."""
        return BackendText(self.text, self.info)

    @classmethod
    def of(cls, value: object, backend: str) -> Reply:
        """A public ``generate`` result as a reply.

        Raises:
            BackendContractError: ``value`` is not a ``str`` (the backend is named).
        """
        text = _checked(value, backend)
        return cls(str(text), call_info(text))

    def after(self, text: str) -> Reply:
        """This reply with ``text`` (released earlier in the same call) in front."""
        return Reply(text + self.text, self.info) if text else self

    @property
    def pieces(self) -> tuple[Piece, ...]:
        """As stream pieces: the facts (when there are any), then the text."""
        if self.info is EMPTY_INFO:
            return (self.text,) if self.text else ()
        return (self.info, self.text) if self.text else (self.info,)


Piece = str | CallInfo
"""What a streaming hook yields: answer text, or facts about the call so far."""


def pieces(chunk: object, backend: str) -> tuple[Piece, ...]:
    """A public stream chunk as hook pieces: its facts (if it carries any), then its text.

    Raises:
        BackendContractError: ``chunk`` is not a ``str`` (the backend is named).
    """
    text = _checked(chunk, backend)
    if type(text) is str:
        return (text,) if text else ()
    return Reply(str(text), call_info(text)).pieces


def _checked(value: object, backend: str) -> str:
    if isinstance(value, str):
        return value
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise BackendContractError(
        f"returned {shown} ({type(value).__name__}), not text: the Backend contract is "
        "that generate() returns a str and stream() yields str chunks; fix the backend",
        provider=backend,
    )
