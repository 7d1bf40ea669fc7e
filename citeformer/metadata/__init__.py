"""Sources from identifiers and files: DOIs, arXiv, web pages, PDFs, BibTeX, RIS, CSL-JSON.

``fetch(*identifiers)`` recognises each identifier (a DOI in any common spelling,
arXiv ids old and new and their URLs and ``10.48550/arXiv.`` DOIs, http(s) URLs,
paths to ``.pdf``/``.bib``/``.ris``/``.json``) and returns :class:`~citeformer.Source`
values in order; ``await afetch(...)`` fetches them concurrently, politely per host.
Everything fetched over the network is cached on disk (JSON in SQLite under
``$CITEFORMER_CACHE`` or the XDG cache): ``refresh=True`` refetches, ``offline=True``
or ``CITEFORMER_OFFLINE=1`` uses only the cache. Each source's ``metadata["id"]`` is
canonical (``doi:``, ``arxiv:``, ``url:``, ``sha256:``, ``bibtex:``), the same in every
process.
"""

from __future__ import annotations

from citeformer.metadata.cache import MetadataCache, cache_folder, default_cache
from citeformer.metadata.errors import (
    MetadataError,
    MetadataNotFoundError,
    MetadataOfflineError,
    MetadataParseError,
    MetadataRateLimitedError,
    MetadataUnavailableError,
    MetadataWarning,
    UnrecognizedIdentifierError,
)
from citeformer.metadata.ids import Identifier, recognize
from citeformer.metadata.sources import afetch, fetch

__all__ = [
    "Identifier",
    "MetadataCache",
    "MetadataError",
    "MetadataNotFoundError",
    "MetadataOfflineError",
    "MetadataParseError",
    "MetadataRateLimitedError",
    "MetadataUnavailableError",
    "MetadataWarning",
    "UnrecognizedIdentifierError",
    "afetch",
    "cache_folder",
    "default_cache",
    "fetch",
    "recognize",
]
