"""``Source.from_*``: sources from identifiers and files (a mixin of :class:`~citeformer.Source`).

Kept apart from :mod:`citeformer.core` so the value types stay free of I/O; every
method delegates to :mod:`citeformer.metadata` (imported on first use). The keywords
each takes: ``refresh`` (refetch even when cached), ``offline`` (cache only; default
``CITEFORMER_OFFLINE``), ``client``/``async_client`` (your own ``httpx`` clients),
``endpoints`` (``{"doi": ..., "crossref": ..., "arxiv": ..., "grobid": ...}``),
``timeout`` and ``cache`` (a :class:`~citeformer.metadata.MetadataCache`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from citeformer.core import Source


class SourceConstructors:
    """The ``from_*`` constructors of :class:`~citeformer.Source` and their async twins."""

    __slots__ = ()

    @classmethod
    def from_doi(cls, doi: str, **kwargs: Any) -> Source:
        """A source from a DOI, in any common spelling (``https://doi.org/...``, ``doi:``).

        Metadata by DOI content negotiation (Crossref, DataCite, mEDRA), the Crossref
        REST API as a fallback; content is the abstract where there is one.

        Raises:
            MetadataNotFoundError: No such DOI.
            MetadataError: The service failed or answered something unreadable.
        """
        from citeformer.metadata.sources import from_doi

        return from_doi(doi, **kwargs)

    @classmethod
    async def afrom_doi(cls, doi: str, **kwargs: Any) -> Source:
        """Async :meth:`from_doi`."""
        from citeformer.metadata.sources import afrom_doi

        return await afrom_doi(doi, **kwargs)

    @classmethod
    def from_arxiv(cls, arxiv_id: str, **kwargs: Any) -> Source:
        """A source from an arXiv id (new or old style, ``arXiv:``, URL or 10.48550 DOI)."""
        from citeformer.metadata.sources import from_arxiv

        return from_arxiv(arxiv_id, **kwargs)

    @classmethod
    async def afrom_arxiv(cls, arxiv_id: str, **kwargs: Any) -> Source:
        """Async :meth:`from_arxiv`."""
        from citeformer.metadata.sources import afrom_arxiv

        return await afrom_arxiv(arxiv_id, **kwargs)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Source:
        """A source from a web page: its main text, and its scholarly metadata."""
        from citeformer.metadata.sources import from_url

        return from_url(url, **kwargs)

    @classmethod
    async def afrom_url(cls, url: str, **kwargs: Any) -> Source:
        """Async :meth:`from_url`."""
        from citeformer.metadata.sources import afrom_url

        return await afrom_url(url, **kwargs)

    @classmethod
    def from_pdf(cls, path: str | Path, **kwargs: Any) -> Source:
        """A source from a PDF: its text, and metadata (a DOI on page 1 is resolved)."""
        from citeformer.metadata.sources import from_pdf

        return from_pdf(path, **kwargs)

    @classmethod
    async def afrom_pdf(cls, path: str | Path, **kwargs: Any) -> Source:
        """Async :meth:`from_pdf`."""
        from citeformer.metadata.sources import afrom_pdf

        return await afrom_pdf(path, **kwargs)

    @classmethod
    def from_bibtex(cls, text_or_path: str | Path, **kwargs: Any) -> list[Source]:
        """Sources from BibTeX text or a ``.bib`` file, one per entry."""
        from citeformer.metadata.sources import from_bibtex

        return from_bibtex(text_or_path, **kwargs)

    @classmethod
    async def afrom_bibtex(cls, text_or_path: str | Path, **kwargs: Any) -> list[Source]:
        """Async :meth:`from_bibtex` (parsed in a worker thread)."""
        import asyncio

        from citeformer.metadata.sources import from_bibtex

        return await asyncio.to_thread(from_bibtex, text_or_path, **kwargs)

    @classmethod
    def from_ris(cls, text_or_path: str | Path, **kwargs: Any) -> list[Source]:
        """Sources from RIS text or a ``.ris`` file, one per record."""
        from citeformer.metadata.sources import from_ris

        return from_ris(text_or_path, **kwargs)

    @classmethod
    async def afrom_ris(cls, text_or_path: str | Path, **kwargs: Any) -> list[Source]:
        """Async :meth:`from_ris` (parsed in a worker thread)."""
        import asyncio

        from citeformer.metadata.sources import from_ris

        return await asyncio.to_thread(from_ris, text_or_path, **kwargs)

    @classmethod
    def from_csl_json(cls, path_or_obj: Any, **kwargs: Any) -> list[Source]:
        """Sources from CSL-JSON (a Zotero or Better BibTeX export): a path, text or object."""
        from citeformer.metadata.sources import from_csl_json

        return from_csl_json(path_or_obj, **kwargs)

    @classmethod
    def from_zotero(cls, path_or_obj: Any, **kwargs: Any) -> list[Source]:
        """Sources from a Zotero CSL-JSON export (deprecated: :meth:`from_csl_json`)."""
        import warnings

        warnings.warn(
            "Source.from_zotero() is the 0.3 name; use Source.from_csl_json()",
            DeprecationWarning,
            stacklevel=2,
        )
        return cls.from_csl_json(path_or_obj, **kwargs)

    @classmethod
    async def afrom_csl_json(cls, path_or_obj: Any, **kwargs: Any) -> list[Source]:
        """Async :meth:`from_csl_json` (parsed in a worker thread)."""
        import asyncio

        from citeformer.metadata.sources import from_csl_json

        return await asyncio.to_thread(from_csl_json, path_or_obj, **kwargs)
