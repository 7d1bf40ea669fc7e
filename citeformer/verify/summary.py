"""Summaries of a verification report: plain text (what ``make demo`` prints) and Markdown."""

from __future__ import annotations

from citeformer.verify.report import SentenceVerdict, VerificationReport

_EVIDENCE_CHARS = 120


def format_report(report: VerificationReport) -> str:
    """The scores, the scorer, then each sentence with its status and evidence."""
    info = report.scorer
    model = f", model {info.model}" if info.model else ""
    lines = [
        f"Verification by {info.name} ({info.kind}{model}, threshold {info.threshold:g})",
        f"citation recall {_share(report.citation_recall)}, citation precision "
        f"{_share(report.citation_precision)}, cited sentences supported "
        f"{_share(report.supported_rate)}",
    ]
    lines += [f"note: {note}" for note in report.notes]
    uncited = {u.sentence: u for u in report.uncited}
    skipped = {s.sentence: s.reason for s in report.skipped if s.reason != "beyond_max_citations"}
    for verdict in report.sentences:
        lines.append(f"- [{_status(verdict, verdict.index in uncited)}] {verdict.text}")
        for evidence in verdict.evidence:
            lines.append(f"    source {evidence.source_id}: {_clip(evidence.text)}")
        if verdict.index in uncited:
            found = uncited[verdict.index]
            lines.append(
                f"    uncited, but source {found.source_id} supports it: "
                f"{_clip(found.evidence.text)}"
            )
        elif not verdict.cited_ids and verdict.index in skipped:
            lines.append(f"    not checked ({skipped[verdict.index]})")
    return "\n".join(lines)


def format_report_markdown(report: VerificationReport) -> str:
    """The report as Markdown: the scores as a table, then one row per sentence."""
    info = report.scorer
    model = f", model `{info.model}`" if info.model else ""
    lines = [
        f"**Verification** by {info.name} ({info.kind}{model}, threshold {info.threshold:g})",
        "",
        "| citation recall | citation precision | cited sentences supported |",
        "| --- | --- | --- |",
        f"| {_share(report.citation_recall)} | {_share(report.citation_precision)} "
        f"| {_share(report.supported_rate)} |",
    ]
    if report.notes:
        lines += ["", *(f"> note: {_cell(note)}" for note in report.notes)]
    uncited = {u.sentence: u for u in report.uncited}
    if report.sentences:
        lines += ["", "| # | status | sources | sentence |", "| --- | --- | --- | --- |"]
    for verdict in report.sentences:
        status = _status(verdict, verdict.index in uncited)
        cited = ", ".join(str(i) for i in verdict.cited_ids) or "-"
        lines.append(f"| {verdict.index + 1} | {status} | {cited} | {_cell(verdict.text)} |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (one line, pipes escaped)."""
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")


def _status(verdict: SentenceVerdict, has_support: bool) -> str:
    if verdict.cited_ids:
        score = f" {verdict.score:.2f}" if verdict.score is not None else ""
        return ("supported" if verdict.supported else "not supported") + score
    return "uncited" if has_support else "unverifiable"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _EVIDENCE_CHARS else flat[: _EVIDENCE_CHARS - 3] + "..."
