"""The verification report: ALCE's scores, one verdict per sentence and per citation.

Every value is frozen and the report round-trips through JSON (``schema_version``),
so a report stored beside its result can be read back and compared.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from citeformer.errors import InvalidResultError, SchemaVersionError
from citeformer.verify.scorer import ScorerInfo

if TYPE_CHECKING:
    from pydantic import TypeAdapter

REPORT_SCHEMA_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where in a source the support was found: the window that scored best.

    Attributes:
        source_id: The source's 1-based id.
        start: Offset in that source's content.
        end: Offset just past the window.
        text: ``content[start:end]``.
    """

    source_id: int
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class SentenceVerdict:
    """One answer sentence, judged on its cited sources together (ALCE's recall).

    Attributes:
        index: Position among the answer's sentences.
        start: Offset in the answer.
        end: Offset just past the sentence (its markers included).
        text: The sentence as written.
        claim: The sentence without markers (the hypothesis scored).
        cited_ids: The distinct ids it cites, in order (at most ``max_citations``
            are judged; see ``VerificationReport.skipped``).
        supported: Whether the cited sources together support it; ``False`` for an
            uncited sentence (ALCE counts it as unsupported).
        score: The joint score; ``None`` when nothing was scored (no citations).
        evidence: The best window of each cited source.
    """

    index: int
    start: int
    end: int
    text: str
    claim: str
    cited_ids: tuple[int, ...]
    supported: bool
    score: float | None
    evidence: tuple[Evidence, ...] = ()

    @property
    def status(self) -> str:
        """``supported``, ``not supported`` or ``uncited``."""
        if not self.cited_ids:
            return "uncited"
        return "supported" if self.supported else "not supported"


@dataclass(frozen=True, slots=True)
class CitationVerdict:
    """One citation of one sentence (ALCE's precision).

    Attributes:
        sentence: Index of the citing sentence.
        source_id: The cited source.
        supported: Whether this source alone supports the sentence.
        score: Its score alone (best window).
        precise: Whether ALCE counts it as precise: its sentence is supported and
            it is not irrelevant.
        irrelevant: ALCE's rule: the sentence is supported, this source alone does
            not support it, and the sentence's other citations without it still do.
        evidence: Its best window.
    """

    sentence: int
    source_id: int
    supported: bool
    score: float
    precise: bool
    irrelevant: bool
    evidence: Evidence | None = None


@dataclass(frozen=True, slots=True)
class UncitedSupport:
    """Coverage: an uncited sentence that a source supports (a citation it could carry).

    Attributes:
        sentence: Index of the sentence.
        text: The sentence.
        source_id: The candidate source.
        score: Its score against that source.
        evidence: The best window.
    """

    sentence: int
    text: str
    source_id: int
    score: float
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something not judged, and why.

    Attributes:
        sentence: Index of the sentence concerned.
        reason: ``question``, ``heading``, ``meta``, ``too_short`` or ``fragment``
            (coverage only: the sentence still counts for recall), or
            ``beyond_max_citations`` (citations past ALCE's per-sentence limit).
        detail: What exactly, in words.
    """

    sentence: int
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class VerificationReport:
    """Does each cited source support its sentence? ALCE's scores and the evidence.

    Attributes:
        citation_recall: ALCE's citation recall: supported sentences over all
            sentences (uncited ones count as unsupported); ``None`` for an answer
            without sentences.
        citation_precision: ALCE's citation precision: precise citations over all
            judged citations; ``None`` when there are none.
        supported_rate: Supported sentences over cited sentences; ``None`` when no
            sentence cites.
        sentences: One verdict per sentence, in order.
        citations: One verdict per judged citation, in order.
        uncited: Uncited sentences that a source supports (when coverage ran).
        scorer: The scorer, its kind, model and threshold.
        skipped: What was not judged, and why.
        notes: Plain words about what the scores mean (for example that no
            entailment model was used).
        schema_version: Version of the JSON form.
    """

    citation_recall: float | None
    citation_precision: float | None
    supported_rate: float | None
    sentences: tuple[SentenceVerdict, ...]
    citations: tuple[CitationVerdict, ...]
    uncited: tuple[UncitedSupport, ...]
    scorer: ScorerInfo
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()
    schema_version: int = REPORT_SCHEMA_VERSION

    SCHEMA_VERSION: ClassVar[int] = REPORT_SCHEMA_VERSION

    @property
    def unsupported(self) -> tuple[SentenceVerdict, ...]:
        """Cited sentences their sources do not support."""
        return tuple(s for s in self.sentences if s.cited_ids and not s.supported)

    def format(self) -> str:
        """A plain-text summary: the scores, then each sentence with its status."""
        from citeformer.verify.summary import format_report

        return format_report(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (see :meth:`from_dict`)."""
        data: dict[str, Any] = _adapter().dump_python(self, mode="json")
        return data

    def to_json(self, *, indent: int | None = None) -> str:
        """Serialise to JSON with ``schema_version``."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerificationReport:
        """Rebuild a report from :meth:`to_dict` output.

        Raises:
            SchemaVersionError: Written by a newer schema version.
            InvalidResultError: Not a stored report (the message says what is wrong).
        """
        if not isinstance(data, Mapping):
            raise InvalidResultError(f"a stored report is a JSON object, got {type(data).__name__}")
        version = data.get("schema_version", REPORT_SCHEMA_VERSION)
        if (
            isinstance(version, bool)
            or not isinstance(version, int)
            or (version > REPORT_SCHEMA_VERSION)
        ):
            raise SchemaVersionError(
                f"report has schema_version {version!r}; this citeformer reads up to "
                f"{REPORT_SCHEMA_VERSION}. Upgrade citeformer to read it."
            )
        from pydantic import ValidationError

        try:
            report: VerificationReport = _adapter().validate_python(dict(data))
        except ValidationError as exc:
            raise InvalidResultError(f"not a stored VerificationReport: {exc}") from exc
        return report

    @classmethod
    def from_json(cls, data: str | bytes) -> VerificationReport:
        """Rebuild a report from :meth:`to_json` output.

        Raises:
            SchemaVersionError: Written by a newer schema version.
            InvalidResultError: Not valid JSON, or not a stored report.
        """
        try:
            parsed = json.loads(data)
        except (TypeError, ValueError) as exc:
            raise InvalidResultError(f"a stored report must be JSON text: {exc}") from exc
        return cls.from_dict(parsed)


@functools.cache
def _adapter() -> TypeAdapter[VerificationReport]:
    from pydantic import TypeAdapter

    return TypeAdapter(VerificationReport)
