"""``citeformer generate --batch requests.jsonl``: many questions, one JSON line each."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from citeformer.cli.console import out
from citeformer.cli.exits import bad_input, usage
from citeformer.cli.inputs import FetchSettings, load_sources

if TYPE_CHECKING:
    from citeformer.core import Source
    from citeformer.orchestrator import Citeformer
    from citeformer.verify.scorer import Scorer

LINE_KEYS = frozenset({"question", "sources", "policy", "max_tokens", "temperature"})
"""What a request line may hold."""


def read_requests(path: Path) -> list[dict[str, Any]]:
    """The request lines of a JSONL file (blank lines skipped), checked.

    Raises:
        CommandError: An unreadable file, a line that is not a JSON object with a
            ``question``, or an unknown key (exit 3), naming the line.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise bad_input(f"cannot read --batch {str(path)!r}: {exc.strerror}") from exc
    requests: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            request = json.loads(line)
        except json.JSONDecodeError as exc:
            raise bad_input(f"{where} is not JSON ({exc.msg})") from exc
        if not isinstance(request, dict) or not isinstance(request.get("question"), str):
            raise bad_input(f'{where} must be an object with a "question" string')
        unknown = sorted(set(request) - LINE_KEYS)
        if unknown:
            raise bad_input(f"{where} has unknown key(s) {unknown}; use {sorted(LINE_KEYS)}")
        sources = request.get("sources")
        if sources is not None and (
            not isinstance(sources, list) or not all(isinstance(s, str) for s in sources)
        ):
            raise bad_input(f'{where}: "sources" must be a list of files or identifiers')
        requests.append(request)
    if not requests:
        raise bad_input(f"--batch {str(path)!r} holds no requests")
    return requests


async def run_batch(
    citeformer: Citeformer,
    requests: list[dict[str, Any]],
    shared: list[Source] | None,
    settings: FetchSettings,
    *,
    options: dict[str, Any],
    concurrency: int,
    scorer: Scorer | None,
) -> int:
    """Answer every request; one JSON line per request on stdout, in input order.

    Returns:
        0 when every request was answered, 1 when any failed (its line says why).
    """
    from citeformer.cli.generate import result_document

    calls: list[dict[str, Any]] = []
    for request in requests:
        given = request.get("sources")
        if given is None and shared is None:
            raise usage('a request without "sources" needs --sources for the whole batch')
        sources = shared if given is None else await load_sources(given, settings)
        line_options = {k: v for k, v in request.items() if k not in ("question", "sources")}
        calls.append(
            {"question": request["question"], "sources": sources, **options, **line_options}
        )
    outcomes = await citeformer.abatch(
        calls, concurrency=concurrency, return_exceptions=True, progress=sys.stderr.isatty()
    )
    failed = 0
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, BaseException):
            failed += 1
            line = {"index": index, "error": str(outcome), "type": type(outcome).__name__}
        else:
            report = await outcome.averify(scorer) if scorer is not None else None
            line = {"index": index, **result_document(outcome, report)}
        out(json.dumps(line, ensure_ascii=False))
    return 1 if failed else 0
