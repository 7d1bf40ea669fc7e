"""Identifiers: recognise them, and the canonical ids sources are keyed by.

Canonical ids (``metadata["id"]``) are the same in every process and run: ``doi:``
plus the lower-cased DOI, ``arxiv:`` plus the id without version, ``url:`` plus a
hash of the normalised URL, ``sha256:`` plus the first 16 hex digits of a PDF's
bytes, ``bibtex:`` plus the cite key. Never Python's ``hash()`` (salted per process).
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from citeformer.metadata.errors import UnrecognizedIdentifierError

Kind = Literal["doi", "arxiv", "url", "pdf", "bibtex", "ris", "csl_json"]

_DOI_PREFIX: Final = re.compile(
    r"^\s*(?:https?://(?:dx\.)?doi\.org/|doi\s*:\s*|doi\s+)", re.IGNORECASE
)
_DOI: Final = re.compile(r"^10\.\d{4,9}/\S+$")
_ARXIV_DOI: Final = re.compile(r"^10\.48550/arxiv\.(.+)$", re.IGNORECASE)
_ARXIV_NEW: Final = re.compile(r"^(\d{4}\.\d{4,5})(v\d+)?$")
_ARXIV_OLD: Final = re.compile(r"^([a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7})(v\d+)?$", re.IGNORECASE)
_ARXIV_URL: Final = re.compile(
    r"^https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/(.+?)(?:\.pdf)?/?$", re.IGNORECASE
)
_ARXIV_PREFIX: Final = re.compile(r"^\s*arxiv\s*:\s*", re.IGNORECASE)
_FILE_KINDS: Final[dict[str, Kind]] = {
    ".pdf": "pdf",
    ".bib": "bibtex",
    ".ris": "ris",
    ".json": "csl_json",
}
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Identifier:
    """A recognised identifier.

    Attributes:
        kind: ``doi``, ``arxiv``, ``url``, ``pdf``, ``bibtex``, ``ris`` or ``csl_json``.
        value: The normalised value: the DOI (case kept), the arXiv id without
            version, the URL, or the file path.
        version: An arXiv version (``v2``), where given.
    """

    kind: Kind
    value: str
    version: str | None = None


def normalize_doi(text: str) -> str:
    """The bare DOI in ``text`` (prefixes, percent-encoding, trailing punctuation removed).

    Raises:
        UnrecognizedIdentifierError: ``text`` holds no DOI.
    """
    doi = _DOI_PREFIX.sub("", text.strip())
    doi = urllib.parse.unquote(doi).strip().rstrip(".,;")
    if not _DOI.match(doi):
        raise UnrecognizedIdentifierError(
            f"{text!r} is not a DOI: a DOI looks like 10.1234/abc (doi.org URLs and "
            "'doi:' prefixes are accepted)",
            identifier=text,
        )
    return doi


def doi_id(doi: str) -> str:
    """The canonical id of a DOI: ``doi:`` plus the lower-cased DOI."""
    return "doi:" + normalize_doi(doi).lower()


def doi_url_path(doi: str) -> str:
    """The DOI percent-encoded for a URL path (SICI DOIs hold ``<>;#``)."""
    return urllib.parse.quote(doi, safe="/:()-._~")


def parse_arxiv(text: str) -> tuple[str, str | None]:
    """The arXiv id (without version) and the version, from any common spelling.

    Accepts new (``2305.14627v2``) and old (``solv-int/9901001v1``, ``math.GT/0309136``)
    ids, ``arXiv:`` prefixes, ``abs/`` and ``pdf/`` URLs and ``10.48550/arXiv.`` DOIs.

    Raises:
        UnrecognizedIdentifierError: Not an arXiv id.
    """
    value = text.strip()
    url = _ARXIV_URL.match(value)
    if url:
        value = url.group(1)
    else:
        value = _ARXIV_PREFIX.sub("", value)
        try:
            doi = _ARXIV_DOI.match(normalize_doi(value))
        except UnrecognizedIdentifierError:
            doi = None
        if doi:
            value = doi.group(1)
    for pattern in (_ARXIV_NEW, _ARXIV_OLD):
        found = pattern.match(value)
        if found:
            return found.group(1), found.group(2)
    raise UnrecognizedIdentifierError(
        f"{text!r} is not an arXiv id: expected e.g. 2305.14627, arXiv:2305.14627v2, "
        "solv-int/9901001 or an arxiv.org/abs/ URL",
        identifier=text,
    )


def arxiv_id(text: str) -> str:
    """The canonical id: ``arxiv:`` plus the id without version."""
    return "arxiv:" + parse_arxiv(text)[0]


def normalize_url(url: str) -> str:
    """Lower-case scheme and host, drop the fragment and a default port."""
    parts = urllib.parse.urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urllib.parse.urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def url_id(url: str) -> str:
    """The canonical id of a web page: ``url:`` plus 16 hex digits of the normalised URL's hash."""
    return "url:" + hashlib.sha256(normalize_url(url).encode()).hexdigest()[:16]


def pdf_id(data: bytes) -> str:
    """The canonical id of a PDF: ``sha256:`` plus the first 16 hex digits of its bytes' hash."""
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]


def bibtex_id(key: str) -> str:
    """The canonical id of a BibTeX entry: ``bibtex:`` plus its cite key."""
    return "bibtex:" + key.strip()


def recognize(identifier: str | Path) -> Identifier:
    """What kind of identifier this is, normalised.

    Raises:
        UnrecognizedIdentifierError: None of the kinds (the message lists them).
    """
    if isinstance(identifier, Path):
        return _file(identifier)
    text = str(identifier).strip()
    if re.match(r"^https?://", text, re.IGNORECASE):
        if _ARXIV_URL.match(text):
            arxiv, version = parse_arxiv(text)
            return Identifier("arxiv", arxiv, version)
        if _DOI_PREFIX.match(text):
            return _doi_or_arxiv(text)
        return Identifier("url", text)
    suffix = Path(text).suffix.lower()
    if suffix in _FILE_KINDS and not text.lower().startswith(("doi", "10.")):
        return _file(Path(text))
    if _ARXIV_PREFIX.match(text) or _ARXIV_NEW.match(text) or _ARXIV_OLD.match(text):
        arxiv, version = parse_arxiv(text)
        return Identifier("arxiv", arxiv, version)
    return _doi_or_arxiv(text)


def _doi_or_arxiv(text: str) -> Identifier:
    try:
        doi = normalize_doi(text)
    except UnrecognizedIdentifierError:
        raise UnrecognizedIdentifierError(
            f"{text!r} is not an identifier citeformer reads: pass a DOI (10.1234/abc), an "
            "arXiv id (arXiv:2305.14627), an http(s) URL, or a .pdf/.bib/.ris/.json path",
            identifier=text,
        ) from None
    arxiv = _ARXIV_DOI.match(doi)
    if arxiv:
        value, version = parse_arxiv(arxiv.group(1))
        return Identifier("arxiv", value, version)
    return Identifier("doi", doi)


def _file(path: Path) -> Identifier:
    kind = _FILE_KINDS.get(path.suffix.lower())
    if kind is None:
        raise UnrecognizedIdentifierError(
            f"{str(path)!r}: citeformer reads .pdf, .bib, .ris and CSL .json files",
            identifier=str(path),
        )
    return Identifier(kind, str(path))
