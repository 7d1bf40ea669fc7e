"""Many questions in one job: ``Citeformer.generate_batch`` and ``Citeformer.abatch``.

Requests are ``(question, sources)`` tuples or mappings ``{"question": ...,
"sources": ..., **options}`` (``policy`` and every per-call option of ``generate``).
Results come back in input order. ``abatch`` runs at most ``concurrency`` calls at
once on the event loop (native on backends with async clients); ``generate_batch``
hands the whole batch to a backend that batches natively (``complete_batch``: vLLM's
offline engine, one batch with a grammar per request), else runs ``concurrency``
calls in worker threads. With ``return_exceptions=True`` a failed request's slot
holds its exception and the rest carry on; otherwise the first failure cancels
what has not started and is raised.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, cast

from citeformer.errors import InvalidOptionError

if TYPE_CHECKING:
    from citeformer.core import GenerationResult, Policy, Source
    from citeformer.orchestrator import Citeformer

BatchRequest: TypeAlias = "tuple[str, Sequence[Source | str]] | Mapping[str, Any]"
"""One request: ``(question, sources)`` or ``{"question", "sources", **options}``."""
Outcome: TypeAlias = "GenerationResult | BaseException"
"""A slot of the results: the result, or (``return_exceptions=True``) the failure."""
ProgressSetting: TypeAlias = "bool | Callable[[int, int], object] | None"
"""``progress=``: True for a bar on stderr, ``f(done, total)``, or off."""
DEFAULT_CONCURRENCY = 16


class _Progress(Protocol):
    def advance(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request."""

    question: str
    sources: Sequence[Source | str]
    policy: Policy | str | None
    options: dict[str, Any]


def parse_requests(requests: Iterable[BatchRequest]) -> list[Request]:
    """Read every request before any call starts, so a malformed one costs nothing.

    Raises:
        InvalidOptionError: A request is neither a ``(question, sources)`` pair nor a
            mapping with ``question`` and ``sources``; the message names its index.
    """
    if isinstance(requests, str | bytes | Mapping) or not isinstance(requests, Iterable):
        raise InvalidOptionError(
            f"requests must be a list of (question, sources) tuples or dicts, "
            f"got {type(requests).__name__}"
        )
    parsed: list[Request] = []
    for index, request in enumerate(requests):
        if isinstance(request, Mapping):
            options = dict(request)
            if "question" not in options or "sources" not in options:
                raise InvalidOptionError(
                    f"requests[{index}] needs 'question' and 'sources' keys, got "
                    f"{sorted(map(str, options))}"
                )
            question, sources = options.pop("question"), options.pop("sources")
            parsed.append(Request(question, sources, options.pop("policy", None), options))
        elif isinstance(request, tuple) and len(request) == 2:
            parsed.append(Request(request[0], request[1], None, {}))
        else:
            raise InvalidOptionError(
                f"requests[{index}] is a {type(request).__name__}; pass (question, sources) "
                "or {'question': ..., 'sources': ..., **options}"
            )
    return parsed


def check_concurrency(concurrency: object) -> int:
    """``concurrency`` as a positive int, else a typed error."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidOptionError(f"concurrency must be a positive int, got {concurrency!r}")
    return concurrency


async def abatch(
    citeformer: Citeformer,
    requests: Iterable[BatchRequest],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    return_exceptions: bool = False,
    progress: ProgressSetting = None,
) -> list[Outcome]:
    """See :meth:`citeformer.Citeformer.abatch`."""
    items = parse_requests(requests)
    limit = asyncio.Semaphore(check_concurrency(concurrency))
    bar = _progress(progress, len(items))
    results: list[Outcome | None] = [None] * len(items)

    async def one(index: int, item: Request) -> None:
        async with limit:
            try:
                results[index] = await citeformer.agenerate(
                    item.question, item.sources, item.policy, **item.options
                )
            except Exception as error:
                if not return_exceptions:
                    raise
                results[index] = error
            finally:
                bar.advance()

    tasks = [asyncio.ensure_future(one(i, item)) for i, item in enumerate(items)]
    try:
        if tasks:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        bar.close()
    return cast("list[Outcome]", results)  # every slot was filled


def generate_batch(
    citeformer: Citeformer,
    requests: Iterable[BatchRequest],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    return_exceptions: bool = False,
    progress: ProgressSetting = None,
) -> list[Outcome]:
    """See :meth:`citeformer.Citeformer.generate_batch`."""
    items = parse_requests(requests)
    workers = check_concurrency(concurrency)
    bar = _progress(progress, len(items))
    try:
        if callable(getattr(citeformer.backend, "complete_batch", None)):
            return citeformer._batched(items, return_exceptions, bar.advance)
        return _threaded(citeformer, items, workers, return_exceptions, bar.advance)
    finally:
        bar.close()


def _threaded(
    citeformer: Citeformer,
    items: list[Request],
    workers: int,
    return_exceptions: bool,
    advance: Callable[[], None],
) -> list[Outcome]:
    def one(item: Request) -> GenerationResult:
        try:
            return citeformer.generate(item.question, item.sources, item.policy, **item.options)
        finally:
            advance()

    with ThreadPoolExecutor(max_workers=min(workers, max(len(items), 1))) as pool:
        futures = [pool.submit(one, item) for item in items]
        if not return_exceptions:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f in done and f.exception() is not None]
            if failed:
                for future in futures:
                    future.cancel()  # what has not started does not start
                raise failed[0].exception()  # type: ignore[misc]
        outcomes: list[Outcome] = []
        for future in futures:
            error = future.exception()
            outcomes.append(error if error is not None else future.result())
        return outcomes


class _Silent:
    def advance(self) -> None:
        pass

    def close(self) -> None:
        pass


class _Callback:
    def __init__(self, report: Callable[[int, int], object], total: int) -> None:
        self._report, self._total, self._done = report, total, 0
        self._lock = threading.Lock()  # generate_batch's workers finish concurrently

    def advance(self) -> None:
        with self._lock:
            self._done += 1
            self._report(self._done, self._total)

    def close(self) -> None:
        pass


class _Bar:
    """A rich progress bar on stderr (rich comes with the ``citeformer`` command)."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self._progress = Progress(console=Console(file=sys.stderr), transient=False)
        self._task = self._progress.add_task("citeformer batch", total=total)
        self._progress.start()

    def advance(self) -> None:
        self._progress.advance(self._task)

    def close(self) -> None:
        self._progress.stop()


def _progress(setting: ProgressSetting, total: int) -> _Progress:
    if setting is None or setting is False:
        return _Silent()
    if setting is True:
        return _Bar(total)
    if callable(setting):
        return _Callback(setting, total)
    raise InvalidOptionError(
        f"progress must be True (a bar on stderr), a callable (done, total) or None, "
        f"got {setting!r}"
    )
