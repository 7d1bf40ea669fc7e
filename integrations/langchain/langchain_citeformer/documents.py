"""LangChain ``Document`` <-> citeformer ``Source`` translation.

A document's ``page_content`` becomes the source's content; its ``metadata``
becomes CSL-JSON (what citeformer renders bibliographies from) through
:func:`csl_metadata`, or through a user hook with the same signature. Chunks of one
file or page (the same ``metadata["source"]``, else the same ``Document.id``) are
parts of one ``Source.document``: each stays its own citable id, the bibliography
lists the document once, and a splitter's ``start_index`` becomes the part's
offset into it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

from citeformer import InvalidSourceError, Source
from citeformer.splitting import split_parts
from langchain_core.documents import Document

MetadataMapper = Callable[[Document], Mapping[str, Any]]
"""A hook ``f(document) -> CSL-JSON mapping`` that replaces :func:`csl_metadata`."""

_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?")
_URL = re.compile(r"^https?://", re.IGNORECASE)
_DATE_KEYS = ("year", "date", "published")
PARENT_START = "citeformer_parent_start"
"""Metadata key of a sub-chunk: its offset in the document it was cut from."""


def _names(value: object) -> list[dict[str, Any]] | None:
    """CSL name objects from a string, a list of strings, or CSL names already."""
    if isinstance(value, str) and value.strip():
        return [{"literal": value.strip()}]
    if isinstance(value, Sequence) and not isinstance(value, str):
        names: list[dict[str, Any]] = []
        for item in value:
            if isinstance(item, Mapping):
                names.append(dict(item))
            elif isinstance(item, str) and item.strip():
                names.append({"literal": item.strip()})
        return names or None
    return None


def _issued(value: object) -> dict[str, Any] | None:
    """A CSL date from a year (int or str) or an ISO date string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return {"date-parts": [[value]]}
    if isinstance(value, str) and (match := _DATE.match(value.strip())):
        return {"date-parts": [[int(part) for part in match.groups() if part]]}
    return None


def csl_metadata(document: Document) -> dict[str, Any]:
    """Default CSL-JSON for a document, from common LangChain metadata keys.

    ``metadata["csl"]`` (a CSL-JSON mapping) is used as the starting point when
    present. Then, where not already set: ``title``; ``URL`` from ``url``/``URL``,
    or ``source`` when it is an http(s) address; ``author`` from ``author``/
    ``authors`` (strings become literal names); ``issued`` from ``year``/
    ``date``/``published``; ``DOI`` from ``doi``; ``id`` from ``document.id``.
    Without a ``title``, a loader's ``file_name`` (or a ``source`` file path) names
    the source by its file, never its text. ``page`` is the page cited:
    ``page_label`` or ``page_number`` as given, else a loader's 0-based ``page``
    (PyPDFLoader's) plus one.

    Args:
        document: The document to describe.

    Returns:
        A new CSL-JSON dict (possibly empty).
    """
    # Called for every document of every call: keys absent from ``meta`` cost one
    # ``get`` each, and the helpers run only for keys that are there.
    meta = document.metadata
    csl = meta.get("csl")
    out: dict[str, Any] = dict(csl) if isinstance(csl, Mapping) else {}
    title = meta.get("title")
    if isinstance(title, str) and title:
        out.setdefault("title", title)
    page = _page(meta)
    if page:
        out.setdefault("page", page)
    url = meta.get("url")
    if url is None:
        url = meta.get("URL")
    if not isinstance(url, str):
        source = meta.get("source")
        if isinstance(source, str) and _URL.match(source):
            url = source
    if isinstance(url, str) and url:
        out.setdefault("URL", url)
    names = meta.get("author")
    if names is None:
        names = meta.get("authors")
    if names is not None and (authors := _names(names)):
        out.setdefault("author", authors)
    for key in _DATE_KEYS:
        value = meta.get(key)
        if value is not None and (issued := _issued(value)) is not None:
            out.setdefault("issued", issued)
            break
    doi = meta.get("doi")
    if doi is None:
        doi = meta.get("DOI")
    if isinstance(doi, str) and doi:
        out.setdefault("DOI", doi)
    if document.id is not None:
        out.setdefault("id", document.id)
    if "title" not in out and (named := _file_title(meta)):
        out["title"] = named
    out.setdefault("type", "webpage" if "URL" in out else "document")
    return out


def _page(meta: Mapping[str, Any]) -> str:
    for key in ("page_label", "page_number"):
        value = meta.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    page = meta.get("page")
    if isinstance(page, int) and not isinstance(page, bool) and page >= 0:
        return str(page + 1)  # loaders count pages from 0
    return page.strip() if isinstance(page, str) else ""


def _file_title(meta: Mapping[str, Any]) -> str:
    """A title from the file a loader read: ``file_name``, else a ``source`` path."""
    for key in ("file_name", "filename", "source", "file_path"):
        value = meta.get(key)
        if isinstance(value, str) and value.strip() and not _URL.match(value):
            return PurePath(value.strip()).name or value.strip()
    return ""


def documents_to_sources(
    documents: Sequence[Document | Source | str],
    *,
    metadata_mapper: MetadataMapper | None = None,
) -> list[Source]:
    """Number documents as citeformer sources (``documents[i]`` is source ``i + 1``).

    What :class:`~langchain_citeformer.CiteformerRunnable` does to its documents, for
    calling :class:`citeformer.Citeformer` directly.

    Args:
        documents: LangChain ``Document`` objects (a retriever's output), strings, or
            citeformer ``Source`` objects (kept as they are).
        metadata_mapper: Replaces :func:`csl_metadata`.

    Raises:
        InvalidSourceError: An item of another type, or a mapper that returned
            something other than a mapping.
    """
    return [
        to_source(item, to_document(item, position), metadata_mapper)
        for position, item in enumerate(documents)
    ]


def to_document(item: object, position: int) -> Document:
    """Normalise one supplied item to a ``Document`` (what outputs point back to).

    Args:
        item: A ``Document``, a ``str``, or a citeformer ``Source``.
        position: Its index in the input list, for the error message.

    Raises:
        InvalidSourceError: ``item`` is none of those types.
    """
    if isinstance(item, Document):
        return item
    if isinstance(item, str):
        return Document(page_content=item)
    if isinstance(item, Source):
        return Document(page_content=item.content, metadata={"csl": dict(item.metadata)})
    raise InvalidSourceError(
        f"documents[{position}] is a {type(item).__name__}; pass LangChain Documents "
        "(a retriever's output), strings, or citeformer Sources"
    )


def to_source(item: object, document: Document, mapper: MetadataMapper | None = None) -> Source:
    """The citeformer ``Source`` for one supplied item.

    Args:
        item: What the caller supplied (a given ``Source`` is kept as it is).
        document: ``item`` as a ``Document`` (see :func:`to_document`).
        mapper: Replaces :func:`csl_metadata` when given.

    Raises:
        InvalidSourceError: The mapper returned something other than a mapping.
    """
    if isinstance(item, Source):
        return item
    metadata = (mapper or csl_metadata)(document)
    if not isinstance(metadata, Mapping):
        raise InvalidSourceError(
            f"metadata_mapper must return a CSL-JSON mapping, got {type(metadata).__name__}"
        )
    key = parent_document(document)
    start = document.metadata.get("start_index") if key is not None else None
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        start = None
    return Source(document.page_content, metadata, document=key, document_start=start)


def parent_document(document: Document) -> str | None:
    """The key of the document a chunk is part of: its ``source``, else its id."""
    source = document.metadata.get("source")
    if isinstance(source, str) and source.strip():
        return source
    return document.id if document.id else None


def split_grounded(
    document: Document, source: Source, chunk_size: int, chunk_overlap: int
) -> list[tuple[Document, Source]]:
    """Cut one supplied document into citable sub-chunks, each a ``Document`` and a part.

    Each piece keeps the metadata and gets ``metadata["citeformer_parent_start"]``, its
    offset in the document given. Its ``start_index`` (and its source's
    ``document_start``) is its offset in the file only where the document's own
    ``start_index`` says where the document lies in it: a loader's page or a chunk
    without one gets no guessed offset. A document that fits in one piece is
    returned as it is.
    """
    parts = split_parts(source, chunk_size, chunk_overlap)
    if len(parts) <= 1:
        return [(document, source)]
    pieces: list[tuple[Document, Source]] = []
    for number, (start, part) in enumerate(parts):
        metadata = {**document.metadata, PARENT_START: start}
        if part.document_start is not None:
            metadata["start_index"] = part.document_start
        piece_id = f"{document.id}#{number}" if document.id else None
        piece = Document(page_content=part.content, metadata=metadata, id=piece_id)
        pieces.append((piece, part))
    return pieces
