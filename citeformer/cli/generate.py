"""``citeformer generate``: sources in, a cited answer out (whole or streamed)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citeformer.cli.console import out, progress, spinner
from citeformer.cli.exits import bad_input, usage
from citeformer.cli.inputs import FetchSettings, count_identifiers, load_sources
from citeformer.cli.specs import backend_from_spec, scorer_from_spec

if TYPE_CHECKING:
    from citeformer.core import GenerationResult, Source
    from citeformer.orchestrator import Citeformer
    from citeformer.verify.report import VerificationReport
    from citeformer.verify.scorer import Scorer


@dataclasses.dataclass(frozen=True)
class GenerateArgs:
    """The ``generate`` command line, as typed by cyclopts."""

    question: str | None = None
    sources: Sequence[str] | None = None
    batch: Path | None = None
    concurrency: int = 16
    backend: str = "embedded"
    server_kind: str | None = None
    model: str | None = None
    policy: str = "auto"
    marker: str = "bracket"
    style: str = "ieee"
    locale: str | None = None
    inline: bool = False
    format: str = "text"
    stream: bool = False
    verify: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    strict: bool = False
    offline: bool = False


async def run_generate(args: GenerateArgs) -> int:
    """Run ``generate``; returns the exit status."""
    if args.stream and (args.format in ("markdown", "html") or args.inline):
        raise usage(
            "--stream prints the answer as it arrives, so it cannot rewrite markers: use "
            "--format text or json without --inline, or drop --stream"
        )
    requests = _check_question_or_batch(args)
    style, locale = check_style(args.style, args.locale)
    if args.model is not None and not args.backend.startswith("server:"):
        raise usage("--model only applies to --backend server:URL; write provider:MODEL")
    options = call_options(args.max_tokens, args.temperature)
    scorer = _scorer(args.verify)
    given = list(args.sources or ())
    with progress("fetching sources", count_identifiers(given)) as advance:
        settings = FetchSettings(offline=True if args.offline else None, progress=advance)
        sources = await load_sources(given, settings) if given or requests is None else None
    with spinner(f"citeformer: preparing the {args.backend.split(':')[0]} backend ..."):
        # Loading a local model reads and converts files: off the event loop.
        backend = await asyncio.to_thread(
            backend_from_spec, args.backend, server_kind=args.server_kind, model=args.model
        )
    from citeformer.orchestrator import Citeformer

    citeformer = Citeformer(
        backend,
        style=style,
        citation_policy=args.policy,
        marker_style=args.marker,
        strict=args.strict,
        locale=locale,
    )
    try:
        if requests is not None:
            from citeformer.cli.batch import run_batch

            fetch = FetchSettings(offline=True if args.offline else None)
            return await run_batch(
                citeformer,
                requests,
                sources,
                fetch,
                options=options,
                concurrency=args.concurrency,
                scorer=scorer,
            )
        assert args.question is not None
        assert sources is not None
        if args.stream:
            result = await _streamed(citeformer, args.question, args, sources, options)
        else:
            result = await citeformer.agenerate(args.question, sources, **options)
    finally:
        await citeformer.aclose()
    report = await result.averify(scorer) if scorer is not None else None
    if args.stream:
        _after_stream(result, report, args.format)
    else:
        out(format_result(result, report, args.format, inline=args.inline))
    return 0


def _check_question_or_batch(args: GenerateArgs) -> list[dict[str, Any]] | None:
    """The batch's requests (None for one question), after the command line is checked."""
    if args.batch is None:
        if args.question is None:
            raise usage("pass a QUESTION (or --batch requests.jsonl)")
        if not args.sources:
            raise usage("no sources: pass files, folders, identifiers or - (stdin) to --sources")
        return None
    if args.question is not None:
        raise usage("pass a QUESTION or --batch, not both")
    if args.stream or args.format not in ("text", "json") or args.inline:
        raise usage("--batch prints one JSON result per line: drop --stream/--format/--inline")
    if args.concurrency < 1:
        raise usage(f"--concurrency must be a positive number, got {args.concurrency}")
    from citeformer.cli.batch import read_requests

    return read_requests(args.batch)


def check_style(style: str, locale: str | None) -> tuple[str, str | None]:
    """The style spec and locale, checked before any work (unknown ones exit 3)."""
    from citeformer.errors import InvalidOptionError
    from citeformer.render.catalog import resolve_locale, resolve_style

    try:
        return resolve_style(style).spec, resolve_locale(locale)
    except InvalidOptionError as exc:
        raise bad_input(str(exc)) from exc


def call_options(max_tokens: int | None, temperature: float | None) -> dict[str, Any]:
    """The per-call options the command line set."""
    options: dict[str, Any] = {}
    if max_tokens is not None:
        if max_tokens < 1:
            raise usage(f"--max-tokens must be a positive number, got {max_tokens}")
        options["max_tokens"] = max_tokens
    if temperature is not None:
        if not 0 <= temperature <= 2:
            raise usage(f"--temperature must be between 0 and 2, got {temperature}")
        options["temperature"] = temperature
    return options


def _scorer(spec: str | None) -> Scorer | None:
    if spec is None:
        return None
    with spinner("citeformer: preparing the scorer ..."):
        return scorer_from_spec(spec)


async def _streamed(
    citeformer: Citeformer,
    question: str,
    args: GenerateArgs,
    sources: list[Source],
    options: dict[str, Any],
) -> GenerationResult:
    from citeformer.events import CitationEvent, Completed, MarkerRemoved, TextDelta

    as_json = args.format == "json"
    async with citeformer.astream(question, sources, **options) as stream:
        async for event in stream.events():
            if isinstance(event, TextDelta):
                if as_json:
                    out(json.dumps({"type": "text", "text": event.text}, ensure_ascii=False))
                else:
                    out(event.text, end="")
            elif as_json and isinstance(event, CitationEvent):
                citation = dataclasses.asdict(event.citation)
                out(json.dumps({"type": "citation", "citation": citation}, ensure_ascii=False))
            elif as_json and isinstance(event, MarkerRemoved):
                marker = dataclasses.asdict(event.marker)
                out(json.dumps({"type": "marker_removed", "marker": marker}, ensure_ascii=False))
            elif isinstance(event, Completed):
                return event.result
        return await stream.finalize()


def _after_stream(result: GenerationResult, report: VerificationReport | None, fmt: str) -> None:
    if fmt == "json":
        out(json.dumps({"type": "result", **result_document(result, report)}, ensure_ascii=False))
        return
    whole = result.format()
    out(whole[len(result.text) :] if whole.startswith(result.text) else "")
    if report is not None:
        out("\n" + report.format())


def result_document(result: GenerationResult, report: VerificationReport | None) -> dict[str, Any]:
    """The result as JSON data, with ``verification`` when a report was made."""
    document = result.to_dict()
    if report is not None:
        document["verification"] = report.to_dict()
    return document


def format_result(
    result: GenerationResult, report: VerificationReport | None, fmt: str, *, inline: bool
) -> str:
    """The whole output of a non-streamed ``generate``."""
    if fmt == "json":
        return json.dumps(result_document(result, report), ensure_ascii=False, indent=2)
    text = result.render(fmt, inline=inline)  # type: ignore[arg-type]
    if report is None:
        return text
    if fmt == "html":
        from html import escape

        return f'{text}\n<pre class="citeformer-verification">{escape(report.format())}</pre>'
    return f"{text}\n\n{report.format()}"
