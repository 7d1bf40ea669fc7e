"""The ``Source.from_*`` constructors and ``fetch``: identifiers and files to sources.

Each sync function has an async twin that shares every parser and plan; only the
I/O runner differs (:func:`~citeformer.metadata.http.run` vs
:func:`~citeformer.metadata.http.arun`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from citeformer.core import Source
from citeformer.metadata import ids
from citeformer.metadata.cache import MetadataCache
from citeformer.metadata.errors import MetadataParseError, MetadataWarning
from citeformer.metadata.http import DEFAULT_TIMEOUT, HttpSettings, Plan, arun, run
from citeformer.metadata.record import Fetched
from citeformer.metadata.service import (
    Fetcher,
    Options,
    afetch_one,
    as_identifier,
    batch_plan,
    cached_plan,
    fetch_one,
)


def options(
    *,
    refresh: bool = False,
    offline: bool | None = None,
    client: Any = None,
    async_client: Any = None,
    endpoints: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    cache: MetadataCache | None = None,
) -> Options:
    """One call's fetch options (the keywords every ``from_*`` and ``fetch`` take)."""
    settings = HttpSettings(
        endpoints=dict(endpoints or {}), client=client, async_client=async_client, timeout=timeout
    )
    return Options(settings, refresh=refresh, offline=offline, cache=cache)


def _fetcher(kind: str, call: Options) -> Fetcher:
    if kind == "doi":
        from citeformer.metadata.doi import DOI_FETCHER

        return DOI_FETCHER
    if kind == "arxiv":
        from citeformer.metadata.arxiv import ARXIV_FETCHER

        return ARXIV_FETCHER
    from citeformer.metadata.web import URL_FETCHER, url_plan

    # A DOI found on the page resolves through the cache too (and so works offline).
    plan = functools.partial(url_plan, doi_resolver=_doi_resolver(call))
    return dataclasses.replace(URL_FETCHER, plan=plan)


def _doi_resolver(call: Options) -> Callable[[ids.Identifier, HttpSettings], Plan[Fetched]]:
    """The DOI fetcher's plan behind this call's cache (for DOIs found in PDFs and pages)."""

    def resolve(identifier: ids.Identifier, settings: HttpSettings) -> Plan[Fetched]:
        return cached_plan(_fetcher(identifier.kind, call), identifier, call)

    return resolve


def _one(kind: str, value: str, call: Options) -> Source:
    identifier = _expect(kind, value)
    return fetch_one(_fetcher(identifier.kind, call), identifier, call).source()


async def _aone(kind: str, value: str, call: Options) -> Source:
    identifier = _expect(kind, value)
    return (await afetch_one(_fetcher(identifier.kind, call), identifier, call)).source()


def _expect(kind: str, value: str) -> ids.Identifier:
    if kind == "doi":
        doi = ids.normalize_doi(value)
        arxiv = ids.recognize(doi)
        return arxiv if arxiv.kind == "arxiv" else ids.Identifier("doi", doi)
    if kind == "arxiv":
        arxiv_id, version = ids.parse_arxiv(value)
        return ids.Identifier("arxiv", arxiv_id, version)
    return ids.Identifier("url", str(value).strip())


def from_doi(doi: str, **kwargs: Any) -> Source:
    """A source from a DOI (see :meth:`citeformer.Source.from_doi`)."""
    return _one("doi", doi, options(**kwargs))


async def afrom_doi(doi: str, **kwargs: Any) -> Source:
    """Async :func:`from_doi`."""
    return await _aone("doi", doi, options(**kwargs))


def from_arxiv(arxiv_id: str, **kwargs: Any) -> Source:
    """A source from an arXiv id or URL (see :meth:`citeformer.Source.from_arxiv`)."""
    return _one("arxiv", arxiv_id, options(**kwargs))


async def afrom_arxiv(arxiv_id: str, **kwargs: Any) -> Source:
    """Async :func:`from_arxiv`."""
    return await _aone("arxiv", arxiv_id, options(**kwargs))


def from_url(url: str, **kwargs: Any) -> Source:
    """A source from a web page (see :meth:`citeformer.Source.from_url`)."""
    return _one("url", url, options(**kwargs))


async def afrom_url(url: str, **kwargs: Any) -> Source:
    """Async :func:`from_url`."""
    return await _aone("url", url, options(**kwargs))


def from_pdf(path: str | Path, *, resolve: bool = True, **kwargs: Any) -> Source:
    """A source from a PDF file (see :meth:`citeformer.Source.from_pdf`)."""
    from citeformer.metadata.pdf import pdf_plan

    call = options(**kwargs)
    data = _read_bytes(path)
    plan = pdf_plan(data, call.settings, resolve=resolve, origin=str(path),
                    doi_resolver=_doi_resolver(call))  # fmt: skip
    return run(plan, call.settings).source()


async def afrom_pdf(path: str | Path, *, resolve: bool = True, **kwargs: Any) -> Source:
    """Async :func:`from_pdf` (the file is read in a worker thread)."""
    from citeformer.metadata.pdf import pdf_plan

    call = options(**kwargs)
    data = await asyncio.to_thread(_read_bytes, path)
    plan = pdf_plan(data, call.settings, resolve=resolve, origin=str(path),
                    doi_resolver=_doi_resolver(call))  # fmt: skip
    # pypdf parses before the first request: every step runs off the event loop.
    return (await arun(plan, call.settings, offload=True)).source()


def from_bibtex(text_or_path: str | Path, **_: Any) -> list[Source]:
    """Sources from BibTeX text or a ``.bib`` file (see :meth:`citeformer.Source.from_bibtex`)."""
    from citeformer.metadata.bibtex import parse_bibtex

    return _sources(parse_bibtex(*_text(text_or_path)))


def from_ris(text_or_path: str | Path, **_: Any) -> list[Source]:
    """Sources from RIS text or a ``.ris`` file."""
    from citeformer.metadata.ris import parse_ris

    return _sources(parse_ris(*_text(text_or_path)))


def from_csl_json(path_or_obj: Any, *, origin: str = "", **_: Any) -> list[Source]:
    """Sources from a CSL-JSON export (a path, JSON text, or the parsed list or object).

    ``origin`` names where parsed data came from in error messages (a path names itself).
    """
    from citeformer.metadata.csl_json import parse_csl_json

    if isinstance(path_or_obj, str | Path):
        text, found = _text(path_or_obj)
        return _sources(parse_csl_json(text, origin=found or origin))
    return _sources(parse_csl_json(path_or_obj, origin=origin))


def _text(value: str | Path) -> tuple[str, str]:
    from citeformer.metadata.files import read_text_or_path

    text, origin = read_text_or_path(value)
    return text, origin


def _sources(parsed: Any) -> list[Source]:
    entries: Sequence[Fetched] = getattr(parsed, "entries", parsed)
    problems = getattr(parsed, "problems", ())
    if problems:
        listed = "; ".join(f"{p.where}: {p.message}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        warnings.warn(
            f"{len(problems)} problem(s) while reading the file, the rest was read: {listed}{more}",
            MetadataWarning,
            stacklevel=3,
        )
    return [entry.source() for entry in entries]


def _read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise MetadataParseError(
            f"cannot read {str(path)!r}: {exc.strerror or exc}; pass the path of a PDF file",
            identifier=str(path),
        ) from exc


def fetch(*identifiers: str | Path, **kwargs: Any) -> list[Source]:
    """Sources for identifiers of any kind, in order (see :func:`citeformer.metadata.fetch`)."""
    call = options(**kwargs)
    wanted = [as_identifier(value) for value in identifiers]  # all recognised before any I/O
    arxiv = [identifier for identifier in wanted if identifier.kind == "arxiv"]
    if len(arxiv) > 1:
        run(_arxiv_batches(arxiv, call), call.settings)
    return [source for identifier in wanted for source in _fetch_any(identifier, call)]


async def afetch(*identifiers: str | Path, **kwargs: Any) -> list[Source]:
    """Async :func:`fetch`: network identifiers fetched concurrently (politely per host)."""
    call = options(**kwargs)
    wanted = [as_identifier(value) for value in identifiers]
    owned = None
    if call.settings.async_client is None and any(i.kind in _NETWORK for i in wanted):
        import httpx

        owned = httpx.AsyncClient()
        call = _with_clients(call, async_client=owned)
    try:
        arxiv = [identifier for identifier in wanted if identifier.kind == "arxiv"]
        if len(arxiv) > 1:  # one request for all of them: arXiv asks for one per 3 s
            await arun(_arxiv_batches(arxiv, call), call.settings)
        parts = await asyncio.gather(*(_afetch_any(identifier, call) for identifier in wanted))
    finally:
        if owned is not None:
            await owned.aclose()
    return [source for part in parts for source in part]


_NETWORK = frozenset({"doi", "arxiv", "url", "pdf"})
ARXIV_BATCH = 50
"""arXiv ids per request when several are fetched together."""


def _arxiv_batches(identifiers: Sequence[ids.Identifier], call: Options) -> Plan[None]:
    from citeformer.metadata.arxiv import ARXIV_FETCHER, arxiv_batch_plan

    return batch_plan(ARXIV_FETCHER, identifiers, call, arxiv_batch_plan, ARXIV_BATCH)


def _with_clients(call: Options, **clients: Any) -> Options:
    settings = dataclasses.replace(call.settings, **clients)
    return dataclasses.replace(call, settings=settings)


def _fetch_any(identifier: ids.Identifier, call: Options) -> list[Source]:
    kind = identifier.kind
    if kind in {"doi", "arxiv", "url"}:
        return [fetch_one(_fetcher(kind, call), identifier, call).source()]
    return _from_file(identifier, call)


async def _afetch_any(identifier: ids.Identifier, call: Options) -> list[Source]:
    kind = identifier.kind
    if kind in {"doi", "arxiv", "url"}:
        return [(await afetch_one(_fetcher(kind, call), identifier, call)).source()]
    if kind == "pdf":
        kwargs = _passthrough(call)
        return [await afrom_pdf(identifier.value, **kwargs)]
    return await asyncio.to_thread(_from_file, identifier, call)


def _from_file(identifier: ids.Identifier, call: Options) -> list[Source]:
    if identifier.kind == "pdf":
        return [from_pdf(identifier.value, **_passthrough(call))]
    if identifier.kind == "bibtex":
        return from_bibtex(Path(identifier.value))
    if identifier.kind == "ris":
        return from_ris(Path(identifier.value))
    return from_csl_json(Path(identifier.value))


def _passthrough(call: Options) -> dict[str, Any]:
    settings = call.settings
    return {
        "refresh": call.refresh,
        "offline": call.offline,
        "client": settings.client,
        "async_client": settings.async_client,
        "endpoints": settings.endpoints,
        "timeout": settings.timeout,
        "cache": call.cache,
    }
