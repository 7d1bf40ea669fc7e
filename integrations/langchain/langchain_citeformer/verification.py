"""``verify=``: check each citation against its source after the answer is complete.

The runnable's ``verify`` field is a :class:`citeformer.verify.Scorer`, a plain
callable ``(premise, hypothesis) -> float``, or ``True`` for citeformer's default
scorer (``citeformer.verify.default_scorer()``: the NLI model
``CITEFORMER_NLI_MODEL`` names when it is on disk, else ``LexicalScorer``);
``False``/``None`` turns verification off and leaves every output as it was.

With verification on, the :class:`~citeformer.verify.VerificationReport` is stored
in ``response_metadata[VERIFICATION_KEY]`` in its JSON form (``to_dict()``), read
back with :func:`verification_report`, and each ``Citation`` annotation's
``extras`` gains ``supported`` and ``score``: the verdict of that citation alone
(ALCE's per-citation judgement), or ``None`` for both when it was not judged
(beyond ``max_citations`` per sentence).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from citeformer.verify import CitationVerdict, VerificationReport
from citeformer.verify.setting import (  # the setting is checked in the core, for both adapters
    VERIFY_OPTIONS,
    LazyDefault,
    check_verify,
    check_verify_options,
)
from langchain_core.messages import BaseMessage
from langchain_core.messages import content as types

VERIFICATION_KEY = "verification"
"""``response_metadata`` key of the verification report, in its JSON form."""
DICT_VERIFICATION_KEY = "verification"
"""The ``output="dict"`` key of the verification report, in its JSON form."""

__all__ = [
    "DICT_VERIFICATION_KEY",
    "VERIFICATION_KEY",
    "VERIFY_OPTIONS",
    "LazyDefault",
    "check_verify",
    "check_verify_options",
    "sentence_at",
    "verification_report",
    "with_verdicts",
]


def _verdicts(report: VerificationReport) -> dict[tuple[int, int], CitationVerdict]:
    return {(c.sentence, c.source_id): c for c in report.citations}


def sentence_at(report: VerificationReport, offset: int) -> int | None:
    """Index of the report's sentence whose span holds ``offset`` (a marker's start)."""
    for sentence in report.sentences:
        if sentence.start <= offset < sentence.end:
            return sentence.index
    return None


def with_verdicts(
    annotations: Sequence[types.Citation], report: VerificationReport
) -> list[types.Citation]:
    """Copies of ``annotations`` whose ``extras`` carry ``supported`` and ``score``.

    A citation's verdict is the report's ``CitationVerdict`` for its source in the
    sentence that holds its marker; ``None`` for both where it was not judged.
    """
    verdicts = _verdicts(report)
    out: list[types.Citation] = []
    for annotation in annotations:
        extras = dict(annotation.get("extras") or {})
        start = annotation.get("start_index")
        sentence = None if start is None else sentence_at(report, start)
        source_id = extras.get("source_id")
        verdict = (
            verdicts.get((sentence, source_id))
            if sentence is not None and isinstance(source_id, int)
            else None
        )
        extras["supported"] = None if verdict is None else verdict.supported
        extras["score"] = None if verdict is None else verdict.score
        copy: types.Citation = {**annotation, "extras": extras}
        out.append(copy)
    return out


def verification_report(
    message: BaseMessage | Mapping[str, Any],
) -> VerificationReport | None:
    """The verification report of an output message (or dict output), if verified.

    Args:
        message: A message (or summed chunks) this package produced, its
            ``response_metadata``, or an ``output="dict"`` result.

    Returns:
        The report, or ``None`` when the call ran without ``verify=``.

    Raises:
        InvalidResultError: The stored report is not a valid report.
    """
    metadata = message.response_metadata if isinstance(message, BaseMessage) else message
    data = metadata.get(VERIFICATION_KEY)
    if data is None:
        data = metadata.get(DICT_VERIFICATION_KEY)
    if data is None:
        return None
    if isinstance(data, VerificationReport):
        return data
    return VerificationReport.from_dict(data)
