"""Value types shared by every part of citeformer.

All values are frozen dataclasses: cheap to build on the hot path, safe to share
between concurrent calls. JSON round trips go through pydantic (imported lazily)
and carry a ``schema_version`` so stored results stay readable.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

from citeformer._canonical import canonical_json
from citeformer._pydantic_errors import first_error, invariant_error
from citeformer._result_ops import ResultOperations
from citeformer._source_io import SourceConstructors
from citeformer.errors import (
    InvalidOptionError,
    InvalidResultError,
    InvalidSourceError,
    SchemaVersionError,
)

if TYPE_CHECKING:
    from pydantic import TypeAdapter


SCHEMA_VERSION = 1
"""Version of the JSON form of :class:`GenerationResult`."""


class _CoercibleEnum(enum.StrEnum):
    """A string enum that turns user input into a member or a clear error."""

    @classmethod
    def coerce(cls, value: object, *, what: str) -> Self:
        """Return the member for ``value`` (a member or its string value).

        Raises:
            InvalidOptionError: ``value`` names no member; the message lists them.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls(value.lower())
            except ValueError:
                pass
        choices = ", ".join(f"{cls.__name__}.{m.name}" for m in cls)
        raise InvalidOptionError(f"unknown {what} {value!r}; use one of {choices}")


class Policy(_CoercibleEnum):
    """Where citation markers may or must appear."""

    REQUIRED = "required"
    """Every sentence carries at least one marker before it ends."""
    QUOTES_ONLY = "quotes_only"
    """Markers appear only right after a quotation, and every quotation has one."""
    AUTO = "auto"
    """Markers are optional and may appear anywhere in the prose."""


class MarkerStyle(_CoercibleEnum):
    """How a citation marker looks in the answer text."""

    BRACKET = "bracket"
    """``[1]``, groups ``[1, 3]``."""
    PAREN = "paren"
    """``(1)``, groups ``(1, 3)``."""
    CURLY = "curly"
    """``{1}``, groups ``{1, 3}``."""
    CARET = "caret"
    """``^1``; one id per marker and never followed by a digit."""

    @property
    def open(self) -> str:
        """The character that starts a marker."""
        return _MARKER_CHARS[self][0]

    @property
    def close(self) -> str:
        """The character that ends a marker ('' for the caret style)."""
        return _MARKER_CHARS[self][1]

    @property
    def wide_open(self) -> str:
        """The full-width form of :attr:`open` (``［``): never a marker, but a lookalike."""
        return _WIDE_CHARS[self][0]

    @property
    def wide_close(self) -> str:
        """The full-width form of :attr:`close` ('' for the caret style)."""
        return _WIDE_CHARS[self][1]

    def marker(self, ids: Sequence[int]) -> str:
        """Render a marker for ``ids`` in this style (``[1, 3]``, ``^2``).

        A caret marker holds one id; several give space-separated markers (``^1 ^2``),
        since adjacent markers are not part of the citation language.
        """
        if self is MarkerStyle.CARET:
            return " ".join(f"^{i}" for i in ids)
        return f"{self.open}{', '.join(str(i) for i in ids)}{self.close}"


_MARKER_CHARS: dict[MarkerStyle, tuple[str, str]] = {
    MarkerStyle.BRACKET: ("[", "]"),
    MarkerStyle.PAREN: ("(", ")"),
    MarkerStyle.CURLY: ("{", "}"),
    MarkerStyle.CARET: ("^", ""),
}
_WIDE_CHARS: dict[MarkerStyle, tuple[str, str]] = {
    MarkerStyle.BRACKET: ("\uff3b", "\uff3d"),
    MarkerStyle.PAREN: ("\uff08", "\uff09"),
    MarkerStyle.CURLY: ("\uff5b", "\uff5d"),
    MarkerStyle.CARET: ("\uff3e", ""),
}


class Enforcement(_CoercibleEnum):
    """The strongest mechanism that kept markers in range for one result."""

    GRAMMAR = "grammar"
    """A decoding grammar masked every out-of-range marker before sampling."""
    SCHEMA = "schema"
    """A JSON schema bounded the ids to an enum; prose markers were neutralised."""
    PROVIDER = "provider"
    """The provider's own citation API produced the citations."""
    VALIDATED = "validated"
    """Only citeformer's post-generation validator applied."""


@dataclass(frozen=True, slots=True)
class Source(SourceConstructors):
    """One document the answer may cite; its 1-based list position is its id.

    Build one from text (``Source(text, metadata)``) or from an identifier or file
    with ``Source.from_doi``, ``from_arxiv``, ``from_url``, ``from_pdf``,
    ``from_bibtex``, ``from_ris``, ``from_csl_json`` (async twins: ``afrom_*``).

    A source can be one part of a larger document (a retrieved chunk, a page): give
    its parts the same ``document`` key and each part stays its own citable id while
    the bibliography lists the document once (see
    :func:`~citeformer.render.render_bibliography`); :func:`~citeformer.split_source`
    cuts a source into such parts.

    Attributes:
        content: The text given to the model as evidence.
        metadata: CSL-JSON for the bibliography (``title``, ``author``, ``issued``,
            ``URL``, ``DOI``...). Never shown to the model as evidence.
        document: Key of the document this source is part of (a file path, a
            document id); ``None``: the source is a document of its own.
        document_start: Offset of ``content`` in that document's text, where known,
            so a citation's ``source_start`` maps to ``document_start + source_start``.
    """

    content: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    document: str | None = field(default=None, kw_only=True)
    document_start: int | None = field(default=None, kw_only=True)
    _metadata_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.content, str):
            raise InvalidSourceError(
                f"Source.content must be str, got {type(self.content).__name__}; "
                "pass the document's text"
            )
        if not isinstance(self.metadata, Mapping):
            raise InvalidSourceError(
                f"Source.metadata must be a CSL-JSON mapping, got {type(self.metadata).__name__}"
            )
        if not self.content.strip() and not _nonblank(self.metadata.get("title")):
            raise InvalidSourceError(
                "a source needs content (the evidence the model reads) or at least a "
                f"title; got content {self.content[:20]!r} and no title"
            )
        if self.document is not None or self.document_start is not None:
            _check_document(self.document, self.document_start)
        object.__setattr__(self, "metadata", dict(self.metadata))
        # Computed once: bibliography caches key on it, and so does hashing.
        object.__setattr__(self, "_metadata_key", canonical_json(self.metadata))

    @property
    def metadata_key(self) -> str:
        """Canonical JSON of ``metadata`` (sorted keys), computed once."""
        return self._metadata_key

    @property
    def title(self) -> str | None:
        """The CSL ``title``, if any."""
        title = self.metadata.get("title")
        return str(title) if title is not None else None

    def __hash__(self) -> int:
        return hash((self.content, self._metadata_key, self.document, self.document_start))


def _check_document(document: object, start: object) -> None:
    if not _nonblank(document):
        raise InvalidSourceError(
            f"Source.document must be a non-blank str naming the document the source is "
            f"part of (a file path, a document id), got {document!r}"
        )
    if start is not None and (isinstance(start, bool) or not isinstance(start, int) or start < 0):
        raise InvalidSourceError(
            f"Source.document_start must be an int >= 0 (the content's offset in the "
            f"document), got {start!r}"
        )


def _nonblank(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


@dataclass(frozen=True, slots=True)
class Citation:
    """One cited id at one marker in the answer.

    A marker with several ids (``[1, 3]``) gives one Citation per id, sharing the span.

    Attributes:
        source_id: 1-based position of the cited source.
        start: Offset of the marker's first character in ``GenerationResult.text``.
        end: Offset just past the marker.
        marker: The marker text as it appears in the answer.
        cited_text: The supporting passage, where the backend reports one.
        source_start: Offset of ``cited_text`` in the source content, where known.
        source_end: Offset just past it, where known.
        document_title: The cited source's title, where it has one (the 0.3 field;
            informative only, so not part of equality).
    """

    source_id: int
    start: int
    end: int
    marker: str
    cited_text: str | None = None
    source_start: int | None = None
    source_end: int | None = None
    document_title: str | None = field(default=None, compare=False)

    @property
    def span(self) -> tuple[int, int]:
        """``(start, end)`` of the marker in the answer (the 0.3 name)."""
        return (self.start, self.end)

    @property
    def source_span(self) -> tuple[int, int] | None:
        """``(source_start, source_end)`` of the cited passage, or None (the 0.3 name)."""
        if self.source_start is None or self.source_end is None:
            return None
        return (self.source_start, self.source_end)

    def __post_init__(self) -> None:
        _check_id(self.source_id, "Citation")
        _check_span(self.start, self.end, "Citation")
        if not isinstance(self.marker, str) or len(self.marker) != self.end - self.start:
            raise InvalidResultError(
                f"Citation.marker must be the {self.end - self.start} characters at "
                f"{self.start}..{self.end}, got {self.marker!r}"
            )
        if str(self.source_id) not in _MARKER_IDS.findall(self.marker):
            raise InvalidResultError(
                f"Citation of source {self.source_id} at marker {self.marker!r}, "
                "which does not name that source"
            )
        if self.source_start is not None or self.source_end is not None:
            if self.source_start is None or self.source_end is None:
                raise InvalidResultError("Citation.source_start and source_end go together")
            _check_span(self.source_start, self.source_end, "Citation.source")


_MARKER_IDS: Final = re.compile("[0-9]+")


def _check_id(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidResultError(
            f"{what}.source_id must be an int >= 1 (ids are 1-based list positions), got {value!r}"
        )


def _check_span(start: object, end: object, what: str) -> None:
    for value in (start, end):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidResultError(f"{what} offsets must be ints >= 0, got {start!r}, {end!r}")
    assert isinstance(start, int)
    assert isinstance(end, int)
    if end < start:
        raise InvalidResultError(f"{what} span ends before it starts: {start}..{end}")


@dataclass(frozen=True, slots=True)
class PolicyViolation:
    """A place where the answer does not meet its citation policy.

    Reported on every tier after generation (a grammar enforces the policy while
    decoding, but an answer cut by the token limit, a schema server that ignored
    ``minItems``, or a provider's citation API can still leave text uncited).

    Attributes:
        kind: ``uncited_sentence`` (REQUIRED), ``uncited_quotation`` or
            ``marker_outside_quotation`` (QUOTES_ONLY).
        start: Offset in ``GenerationResult.text``.
        end: Offset just past the offending text.
        text: The offending sentence, quotation or marker.
        missing: What the policy asked for there, in words.
    """

    kind: str
    start: int
    end: int
    text: str
    missing: str

    def __post_init__(self) -> None:
        _check_span(self.start, self.end, "PolicyViolation")


@dataclass(frozen=True, slots=True)
class InvalidMarker:
    """A marker the validator removed, with what it was and where.

    Attributes:
        text: The marker as the backend wrote it (``[7]``, ``[1-999]``, ``[2``).
        start: Offset in the raw backend text.
        end: Offset just past it in the raw backend text.
        reason: Why it was rejected (``out_of_range``, ``zero``, ``leading_zero``,
            ``range``, ``malformed``, ``unclosed``, ``non_ascii_digit``, ``full_width``,
            ``not_in_schema``).
    """

    text: str
    start: int
    end: int
    reason: str


@dataclass(frozen=True, slots=True)
class Reference:
    """One rendered bibliography entry.

    Attributes:
        source_id: The id the answer's markers use for this source.
        text: The entry rendered in ``style`` (plain text, label included).
        style: The bibliography style id.
        locale: The locale it was rendered in, where known.
        source_ids: Every cited source the entry stands for: parts of one
            ``Source.document`` share an entry (default: ``(source_id,)``).
        inline_marker: The style's in-text citation of this entry (``[2]``,
            ``(Poe, 1845)``), where rendered.
    """

    source_id: int
    text: str
    style: str
    locale: str | None = None
    source_ids: tuple[int, ...] = ()
    inline_marker: str | None = None

    @property
    def rendered(self) -> str:
        """The entry's text (the 0.3 name of :attr:`text`)."""
        return self.text

    def __post_init__(self) -> None:
        _check_id(self.source_id, "Reference")
        if not self.source_ids:
            object.__setattr__(self, "source_ids", (self.source_id,))
        for source_id in self.source_ids:
            _check_id(source_id, "Reference")
        if self.source_ids[0] != self.source_id:
            raise InvalidResultError(
                f"Reference.source_ids must start with its source_id {self.source_id}, "
                f"got {self.source_ids!r}"
            )


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts for one call.

    Attributes:
        prompt_tokens: Tokens read (including cached ones).
        completion_tokens: Tokens written.
        cached_tokens: Prompt tokens served from a provider cache, where reported.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    def __post_init__(self) -> None:
        for name in ("prompt_tokens", "completion_tokens", "cached_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidResultError(f"TokenUsage.{name} must be an int >= 0, got {value!r}")

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    @property
    def input_tokens(self) -> int:
        """:attr:`prompt_tokens`, by the name most providers use."""
        return self.prompt_tokens

    @property
    def output_tokens(self) -> int:
        """:attr:`completion_tokens`, by the name most providers use."""
        return self.completion_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
        )


@dataclass(frozen=True, slots=True)
class GenerationResult(ResultOperations):
    """A validated, cited answer.

    Attributes:
        text: The answer; every marker in it points at a supplied source.
        citations: One entry per (marker, id), in text order.
        references: Bibliography entries for the cited sources, ordered per style.
        sources: The sources the call was given (ids are positions + 1).
        usage: Token usage of this call, where the backend reported it.
        finish_reason: ``stop``, ``length``, ``content_filter``... where reported.
        enforcement: The mechanism that bounded the markers.
        invalid_markers: Markers removed by the validator (empty on grammar backends).
        policy_violations: Where the answer does not meet its citation policy
            (``strict=True`` raises :class:`~citeformer.errors.CitationPolicyError`
            instead).
        schema_version: Version of the JSON form.

    Citations always point at the result's own sources and at a marker naming that
    source at that span; building a result that breaks this raises
    :class:`~citeformer.errors.InvalidResultError`.
    """

    text: str
    citations: tuple[Citation, ...] = ()
    references: tuple[Reference, ...] = ()
    sources: tuple[Source, ...] = ()
    usage: TokenUsage | None = None
    finish_reason: str | None = None
    enforcement: Enforcement = Enforcement.VALIDATED
    invalid_markers: tuple[InvalidMarker, ...] = ()
    policy_violations: tuple[PolicyViolation, ...] = ()
    schema_version: int = SCHEMA_VERSION

    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InvalidResultError(f"GenerationResult.text must be a str, got {self.text!r}")
        count = len(self.sources)
        text = self.text
        for citation in self.citations:
            if citation.source_id > count:
                raise InvalidResultError(
                    f"a citation of source {citation.source_id}, but the result has "
                    f"{count} source(s): ids run 1..{count}"
                )
            if text[citation.start : citation.end] != citation.marker:
                raise InvalidResultError(
                    f"citation of source {citation.source_id} at {citation.start}.."
                    f"{citation.end}: the text there is "
                    f"{text[citation.start : citation.end]!r}, not {citation.marker!r}"
                )
        for reference in self.references:
            if max(reference.source_ids) > count:
                raise InvalidResultError(
                    f"a reference to source {max(reference.source_ids)}, but the result "
                    f"has {count} source(s)"
                )

    @property
    def cited_ids(self) -> list[int]:
        """Distinct cited source ids in order of first citation."""
        return list(dict.fromkeys(c.source_id for c in self.citations))

    def format(self) -> str:
        """The answer followed by its reference list, as plain text."""
        if not self.references:
            return self.text
        refs = "\n".join(r.text for r in self.references)
        return f"{self.text}\n\nReferences\n{refs}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (see :meth:`from_dict`)."""
        result: dict[str, Any] = _result_adapter().dump_python(self, mode="json")
        return result

    def to_json(self, *, indent: int | None = None) -> str:
        """Serialise to JSON with ``schema_version``.

        Any text round-trips, lone surrogates included (written as JSON escapes).
        """
        data = self.to_dict()
        out = json.dumps(data, indent=indent, ensure_ascii=False, default=str)
        try:
            out.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: only an escape can carry it
            out = json.dumps(data, indent=indent, ensure_ascii=True, default=str)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationResult:
        """Rebuild a result from :meth:`to_dict` output.

        Raises:
            SchemaVersionError: The data was written by a newer schema version, or
                has none (the 0.3 line's results).
            InvalidResultError: The data does not describe a result (wrong shape or
                types, impossible citations); the message says what is wrong.
        """
        if not isinstance(data, Mapping):
            raise InvalidResultError(
                f"a stored result is a JSON object, got {type(data).__name__}; pass what "
                "GenerationResult.to_dict() or to_json() wrote"
            )
        if "schema_version" not in data:  # every result we write has one; 0.3's had none
            raise SchemaVersionError(
                "this JSON has no schema_version, so citeformer 0.4 did not write it (0.3 "
                "results are not read as if they were ours: their ids were unchecked); "
                "generate the answer again, see MIGRATING.md"
            )
        version = data["schema_version"]
        if isinstance(version, bool) or not isinstance(version, int) or version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"result has schema_version {version!r}; this citeformer reads up to "
                f"{SCHEMA_VERSION}. Upgrade citeformer to read it."
            )
        from pydantic import ValidationError

        try:
            result: GenerationResult = _result_adapter().validate_python(dict(data))
        except InvalidResultError:
            raise
        except ValidationError as exc:
            inner = invariant_error(exc)
            if inner is not None:
                raise inner from exc
            raise InvalidResultError(f"not a stored GenerationResult: {first_error(exc)}") from exc
        except (TypeError, ValueError, AttributeError) as exc:
            raise InvalidResultError(f"not a stored GenerationResult: {exc}") from exc
        return result

    @classmethod
    def from_json(cls, data: str | bytes) -> GenerationResult:
        """Rebuild a result from :meth:`to_json` output.

        Raises:
            SchemaVersionError: Written by a newer schema version.
            InvalidResultError: Not valid JSON, or not a stored result.
        """
        try:
            parsed = json.loads(data)
        except (TypeError, ValueError) as exc:
            raise InvalidResultError(
                f"a stored result must be JSON text (what to_json() wrote): {exc}"
            ) from exc
        return cls.from_dict(parsed)

    def replace(self, **changes: Any) -> GenerationResult:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@functools.cache
def _result_adapter() -> TypeAdapter[GenerationResult]:
    from pydantic import TypeAdapter

    return TypeAdapter(GenerationResult)
