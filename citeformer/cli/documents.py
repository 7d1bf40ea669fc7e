"""``verify``, ``render`` and ``fetch``: commands over saved results and sources."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from citeformer.cli.console import error, out, progress, say, spinner
from citeformer.cli.exits import Exit, bad_input, usage
from citeformer.cli.generate import check_style
from citeformer.cli.inputs import (
    FetchSettings,
    count_identifiers,
    is_stdin,
    load_sources,
    read_input,
)
from citeformer.cli.specs import scorer_from_spec

if TYPE_CHECKING:
    from citeformer.core import GenerationResult, Source
    from citeformer.render.bibliography import (
        Bibliography,
        BibliographyEntry,
        Numbering,
        OutputFormat,
    )
    from citeformer.verify.report import VerificationReport

# Keys generate --format json adds around a result (a report, a stream event's type).
_WRAPPER_KEYS = ("verification", "type")


async def run_verify(
    path: Path, scorer: str, threshold: float | None, fail_under: float | None, fmt: str
) -> int:
    """Run ``verify``; returns the exit status (1 when a score is below ``fail_under``)."""
    if fail_under is not None and not 0 <= fail_under <= 1:
        raise usage(f"--fail-under is a share between 0 and 1, got {fail_under:g}")
    if threshold is not None and not 0 <= threshold <= 1:
        raise usage(f"--threshold is a score between 0 and 1, got {threshold:g}")
    result = read_result(path)
    if result is None:
        raise bad_input(
            f"{_name(path)} holds no result; save one with citeformer generate --format json"
        )
    with spinner("citeformer: preparing the scorer ..."):
        chosen = scorer_from_spec(scorer)
    report = await result.averify(chosen, threshold=threshold)
    if fmt == "json":
        out(report.to_json(indent=2))
    elif fmt == "markdown":
        from citeformer.verify.summary import format_report_markdown

        out(format_report_markdown(report))
    else:
        out(report.format())
    if fail_under is None:
        return Exit.OK
    failing = below(report, fail_under)
    for message in failing:
        error(f"citeformer: check failed: {message}")
    return Exit.CHECK_FAILED if failing else Exit.OK


def below(report: VerificationReport, fail_under: float) -> list[str]:
    """Why the report fails ``--fail-under`` (empty when it passes).

    A score that cannot be computed (nothing cited, nothing to check) fails: the gate
    is for answers whose citations were shown to hold.
    """
    failing = []
    for name, value in (
        ("citation recall", report.citation_recall),
        ("citation precision", report.citation_precision),
    ):
        if value is None:
            failing.append(f"{name} is n/a (no cited sentence was checked); needs {fail_under:g}")
        elif value < fail_under:
            failing.append(f"{name} {value:.2f} is below --fail-under {fail_under:g}")
    return failing


def read_result(path: Path) -> GenerationResult | None:
    """The result saved in ``path`` (``-``: stdin), or None when it holds sources instead.

    Reads ``generate --format json`` output, whole or streamed (the last ``result``
    line of JSON Lines).

    Raises:
        CommandError: The file cannot be read or is not JSON (exit 3).
        InvalidResultError: It looks like a result but is damaged (exit 3).
    """
    _, text = read_input(path)
    document = _result_document(text)
    if document is None:
        return None
    from citeformer.core import GenerationResult

    return GenerationResult.from_dict({k: v for k, v in document.items() if k not in _WRAPPER_KEYS})


def _result_document(text: str) -> Mapping[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        lines = [line for line in text.splitlines() if line.strip()]
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                return None
        results = [e for e in events if isinstance(e, dict) and e.get("type") == "result"]
        return results[-1] if results else None
    if isinstance(data, dict) and "text" in data and "citations" in data:
        return data
    return None


def _name(path: Path) -> str:
    return "stdin" if is_stdin(path) else str(path)


@dataclasses.dataclass(frozen=True)
class RenderArgs:
    """The ``render`` command line."""

    sources: Sequence[str]
    style: str | None = None
    cite: str | None = None
    numbering: str = "source"
    format: str = "text"
    locale: str | None = None
    inline: bool = False
    offline: bool = False


async def run_render(args: RenderArgs) -> int:
    """Run ``render``: a saved result as an answer, or sources as a bibliography."""
    if args.style is not None or args.locale is not None:
        check_style(args.style or "ieee", args.locale)
    result = _saved_result(args.sources)
    if result is not None:
        if args.cite is not None:
            raise usage("--cite is for a bibliography of sources; a result cites its own")
        return _render_answer(result, args)
    if args.inline:
        raise usage("--inline is for a saved result; a bibliography has no markers")
    settings = FetchSettings(offline=True if args.offline else None)
    with progress("fetching sources", count_identifiers(args.sources)) as advance:
        settings.progress = advance
        sources = await load_sources(args.sources, settings)
    cited = parse_cite(args.cite, len(sources))
    from citeformer.render import render_bibliography

    bibliography = render_bibliography(
        sources,
        cited,
        args.style or "ieee",
        locale=args.locale,
        numbering=args.numbering,  # type: ignore[arg-type]
    )
    for warning in bibliography.warnings:
        say(f"citeformer: warning: {warning}")
    out(_bibliography_output(bibliography, sources, args.format))
    return Exit.OK


def _saved_result(arguments: Sequence[str]) -> GenerationResult | None:
    if len(arguments) != 1 or Path(arguments[0]).suffix.lower() not in (".json", ".jsonl"):
        return None
    path = Path(arguments[0])
    return read_result(path) if path.is_file() else None


def parse_cite(cite: str | None, count: int) -> list[int]:
    """``--cite 3,1,2`` (ranges ``2-4`` too) as source ids; default ``1..count``.

    Raises:
        CommandError: Not numbers, or a number outside ``1..count`` (exit 2).
    """
    if cite is None:
        return list(range(1, count + 1))
    ids: list[int] = []
    for part in (p.strip() for p in cite.split(",")):
        low, dash, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise usage(f"--cite takes source numbers like 3,1,2 or 2-4, got {part!r}") from None
        if not 1 <= first <= last <= count:
            raise usage(
                f"--cite {part} is outside the {count} source(s) given; number them 1..{count}"
            )
        ids.extend(range(first, last + 1))
    return list(dict.fromkeys(ids))


def _render_answer(result: GenerationResult, args: RenderArgs) -> int:
    fmt = cast("OutputFormat", "text" if args.format == "json" else args.format)
    rendered = result.rendered(
        fmt,
        style=args.style,
        locale=args.locale,
        numbering=cast("Numbering", args.numbering),
        inline=args.inline,
    )
    for warning in rendered.bibliography.warnings:
        say(f"citeformer: warning: {warning}")
    if args.format != "json":
        out(rendered.text)
        return Exit.OK
    document = {
        "text": rendered.text,
        "markers": [
            {
                "start": m.start,
                "end": m.end,
                "text": m.text,
                "source_ids": list(m.source_ids),
                "note": m.note,
            }
            for m in rendered.markers
        ],
        "notes": list(rendered.notes),
        **_bibliography_document(rendered.bibliography, result.sources),
    }
    out(json.dumps(document, ensure_ascii=False, indent=2))
    return Exit.OK


def _bibliography_output(bibliography: Bibliography, sources: Sequence[Source], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(
            _bibliography_document(bibliography, sources), ensure_ascii=False, indent=2
        )
    from citeformer.render.answer import format_entries

    return format_entries(bibliography.entries, fmt)  # type: ignore[arg-type]


def _bibliography_document(bibliography: Bibliography, sources: Sequence[Source]) -> dict[str, Any]:
    return {
        "style": bibliography.style.spec,
        "locale": bibliography.locale,
        "numbering": bibliography.numbering,
        "entries": [_entry_document(e, sources) for e in bibliography.entries],
        "warnings": list(bibliography.warnings),
    }


def _entry_document(entry: BibliographyEntry, sources: Sequence[Source]) -> dict[str, Any]:
    return {
        "source_id": entry.source_id,
        "id": sources[entry.source_id - 1].metadata.get("id"),
        "number": entry.number,
        "label": entry.label,
        "text": entry.text,
        "markdown": entry.formatted("markdown"),
        "html": entry.formatted("html"),
        "citation": entry.inline,
    }


async def run_fetch(
    ids: Sequence[str], *, content: bool, refresh: bool, offline: bool, format: str
) -> int:
    """Run ``fetch``: the identifiers' sources as CSL-JSON, BibTeX or RIS on stdout."""
    settings = FetchSettings(refresh=refresh, offline=True if offline else None)
    with progress("fetching", count_identifiers(ids)) as advance:
        settings.progress = advance
        sources = await load_sources(ids, settings)
    if format == "bibtex":
        from citeformer.metadata.export import to_bibtex

        out(to_bibtex(sources, include_content=content), end="")
    elif format == "ris":
        from citeformer.metadata.export import to_ris

        out(to_ris(sources, include_content=content), end="")
    else:
        records = [
            {"metadata": s.metadata, **({"content": s.content} if content else {})} for s in sources
        ]
        out(json.dumps(records, ensure_ascii=False, indent=2))
    return Exit.OK
