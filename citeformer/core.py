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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self

from citeformer._canonical import canonical_json
from citeformer.errors import InvalidOptionError, InvalidSourceError, SchemaVersionError

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
class Source:
    """One document the answer may cite; its 1-based list position is its id.

    Attributes:
        content: The text given to the model as evidence.
        metadata: CSL-JSON for the bibliography (``title``, ``author``, ``issued``,
            ``URL``, ``DOI``...). Never shown to the model as evidence.
    """

    content: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
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
        return hash((self.content, self._metadata_key))


def coerce_sources(sources: object) -> list[Source]:
    """Accept a non-empty sequence of ``Source`` or ``str``; say what is wrong otherwise."""
    if isinstance(sources, (str, bytes)) or not isinstance(sources, Sequence):
        raise InvalidSourceError(
            f"sources must be a list of Source (or str), got {type(sources).__name__}; "
            "wrap a single document as [Source(text)]"
        )
    if not sources:
        raise InvalidSourceError(
            "sources is empty: citeformer needs at least one source to cite; "
            "retrieve documents first, or call the model without citeformer"
        )
    if all(type(source) is Source for source in sources):
        return list(sources)
    out: list[Source] = []
    for i, source in enumerate(sources):
        if isinstance(source, Source):
            out.append(source)
        elif isinstance(source, str):
            out.append(Source(source))
        else:
            raise InvalidSourceError(
                f"sources[{i}] is a {type(source).__name__}; "
                "pass Source(content, metadata) or a str"
            )
    return out


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
    """

    source_id: int
    start: int
    end: int
    marker: str
    cited_text: str | None = None
    source_start: int | None = None
    source_end: int | None = None


@dataclass(frozen=True, slots=True)
class InvalidMarker:
    """A marker the validator removed, with what it was and where.

    Attributes:
        text: The marker as the backend wrote it (``[7]``, ``[1-999]``, ``[2``).
        start: Offset in the raw backend text.
        end: Offset just past it in the raw backend text.
        reason: Why it was rejected (``out_of_range``, ``zero``, ``leading_zero``,
            ``duplicate``, ``malformed``, ``unclosed``, ``not_in_schema``).
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
        text: The entry rendered in ``style`` (plain text).
        style: The bibliography style name.
    """

    source_id: int
    text: str
    style: str


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

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
        )


@dataclass(frozen=True, slots=True)
class GenerationResult:
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
        schema_version: Version of the JSON form.
    """

    text: str
    citations: tuple[Citation, ...] = ()
    references: tuple[Reference, ...] = ()
    sources: tuple[Source, ...] = ()
    usage: TokenUsage | None = None
    finish_reason: str | None = None
    enforcement: Enforcement = Enforcement.VALIDATED
    invalid_markers: tuple[InvalidMarker, ...] = ()
    schema_version: int = SCHEMA_VERSION

    SCHEMA_VERSION: ClassVar[int] = SCHEMA_VERSION

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
        """Serialise to JSON with ``schema_version``."""
        return _result_adapter().dump_json(self, indent=indent).decode()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationResult:
        """Rebuild a result from :meth:`to_dict` output.

        Raises:
            SchemaVersionError: The data was written by a newer schema version.
        """
        version = data.get("schema_version", SCHEMA_VERSION)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"result has schema_version {version!r}; this citeformer reads up to "
                f"{SCHEMA_VERSION}. Upgrade citeformer to read it."
            )
        result: GenerationResult = _result_adapter().validate_python(dict(data))
        return result

    @classmethod
    def from_json(cls, data: str | bytes) -> GenerationResult:
        """Rebuild a result from :meth:`to_json` output."""
        return cls.from_dict(json.loads(data))

    def replace(self, **changes: Any) -> GenerationResult:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


@functools.cache
def _result_adapter() -> TypeAdapter[GenerationResult]:
    from pydantic import TypeAdapter

    return TypeAdapter(GenerationResult)
