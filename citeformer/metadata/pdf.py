"""PDFs: pypdf text, Info and XMP metadata, a DOI or arXiv id sniffed on page 1.

:func:`read_pdf` is pure (bytes in, :class:`PdfDocument` out). :func:`pdf_plan` adds
the network: GROBID when configured (``CITEFORMER_GROBID_URL``) and the DOI's own
record when one was found, merged so that the DOI's CSL wins, the PDF's text stays
the content and the id stays the PDF's (``sha256:`` of its bytes).

The year is taken only from dates that mean *publication*: XMP
``prism:publicationDate``/``prism:coverDate``, then ``dc:date``. The Info dictionary's
``/CreationDate`` (and XMP's ``xmp:CreateDate``) say when the file was written,
which for a scan or a re-typeset preprint can be decades off; the 0.3 line used it
and got years wrong, so it is never used for ``issued`` (it is kept in ``extra``).
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from citeformer.metadata import csl
from citeformer.metadata.errors import (
    MetadataError,
    MetadataNotFoundError,
    MetadataParseError,
    MetadataWarning,
)
from citeformer.metadata.http import HttpSettings, Plan
from citeformer.metadata.ids import Identifier, normalize_doi, parse_arxiv, pdf_id
from citeformer.metadata.record import Fetched

DoiResolver = Callable[[Identifier, HttpSettings], Plan[Fetched]]
"""A plan fetching a DOI's record (by default :func:`citeformer.metadata.doi.doi_plan`)."""

# A DOI in running text: the prefix, then anything up to whitespace or a quote/bracket
# that cannot end it. SICI DOIs hold "<>;()", so those are allowed; trailing
# punctuation and unbalanced closers are trimmed afterwards (see _trim_doi).
_DOI_IN_TEXT: Final = re.compile(r"\b(10\.\d{4,9}/[^\s\"'{}]+)")
_ARXIV_IN_TEXT: Final = re.compile(
    r"\barXiv:\s*(\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7})(v\d+)?", re.IGNORECASE
)
_JUNK_TITLE: Final = re.compile(
    r"^(?:microsoft (?:word|powerpoint) - .*|untitled.*|.*\.(?:pdf|docx?|tex|dvi|ps|indd))$",
    re.IGNORECASE,
)
_NOT_A_TITLE: Final = re.compile(r"^(?:arxiv:|doi\b|10\.\d{4,9}/|https?://)", re.IGNORECASE)
_AUTHOR_SPLIT: Final = re.compile(r"\s*;\s*|\s+and\s+|\s*&\s*", re.IGNORECASE)
_XMP_DATES: Final = ("publicationDate", "coverDate", "coverDisplayDate")
"""PRISM's publication dates (any PRISM namespace version), preferred over dc:date."""
MAX_TITLE: Final = 300
"""A page-1 line longer than this is not taken for a title."""


@dataclass(frozen=True, slots=True)
class PdfDocument:
    """What :func:`read_pdf` found in a PDF.

    Attributes:
        id: ``sha256:`` plus the first 16 hex digits of the bytes' hash.
        content: The text of all pages (pages separated by a blank line).
        title: The title from XMP or Info, else page 1's first line; "" when none.
        authors: CSL names.
        issued: A CSL date from a publication date (never ``/CreationDate``).
        doi: A DOI from the metadata or page 1, where found.
        arxiv: An arXiv id (without version) found on page 1.
        arxiv_version: Its version (``v2``), where given.
        pages: The number of pages.
        origin: Where the bytes came from (a path or URL).
        facts: Other facts for ``extra`` (creation date, where each field came from).
    """

    id: str
    content: str
    title: str = ""
    authors: tuple[dict[str, str], ...] = ()
    issued: dict[str, Any] | None = None
    doi: str | None = None
    arxiv: str | None = None
    arxiv_version: str | None = None
    pages: int = 0
    origin: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        """Valid CSL for the document alone (no network)."""
        data: dict[str, Any] = {"type": "document", "title": self.title}
        if self.authors:
            data["author"] = list(self.authors)
        if self.issued:
            data["issued"] = self.issued
        if self.doi:
            data["DOI"] = self.doi
        elif self.arxiv:
            # An arXiv stamp and no other DOI: the preprint itself (METADATA.md §2).
            data.update(type="article", publisher="arXiv", number=self.arxiv)
            data["DOI"] = f"10.48550/arXiv.{self.arxiv}"
            if self.arxiv_version:
                data["version"] = self.arxiv_version
        if self.pages:
            data["number-of-pages"] = str(self.pages)
        return csl.normalize(data, id=self.id)

    def fetched(self) -> Fetched:
        """The record for this document alone (what :func:`pdf_plan` returns offline)."""
        return Fetched(self.metadata(), self.content, self.origin, {"pdf": dict(self.facts)})


def read_pdf(data: bytes, *, origin: str = "") -> PdfDocument:
    """Read a PDF's text and metadata (no I/O).

    Args:
        data: The PDF's bytes.
        origin: Where they came from (a path or URL), for messages and provenance.

    Returns:
        The document.

    Raises:
        MetadataParseError: Not a PDF, a malformed one, or encrypted with a password.
    """
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    where = origin or "the PDF"
    if b"%PDF-" not in data[:1024]:
        raise MetadataParseError(
            f"{where} is not a PDF (no %PDF- header): pass a PDF file, or the text as "
            "Source(text, metadata)",
            identifier=origin or None,
        )
    try:
        # pypdf raises a zoo of exception types on damaged files (its own, but also
        # KeyError, ValueError, AssertionError...): every one means "cannot read it".
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise MetadataParseError(
                f"{where} is encrypted with a password: decrypt it first (e.g. qpdf "
                "--password=PW --decrypt in.pdf out.pdf) and pass the decrypted file",
                identifier=origin or None,
            )
        info = _info(reader)
        xmp = _xmp(reader)
        texts, failed = _page_texts(reader)
    except MetadataError:
        raise
    except DependencyError as exc:
        raise MetadataParseError(
            f"{where} is AES-encrypted and pypdf needs the cryptography package to open it: "
            "pip install cryptography",
            identifier=origin or None,
        ) from exc
    except Exception as exc:
        raise MetadataParseError(
            f"{where} is not a readable PDF ({type(exc).__name__}: {exc}); repair it (e.g. "
            "qpdf in.pdf out.pdf) or pass its text as Source(text, metadata)",
            identifier=origin or None,
        ) from exc
    first_page = texts[0] if texts else ""
    facts: dict[str, Any] = {"producer": info.get("/Producer", "")}
    if info.get("/CreationDate"):
        facts["creation_date"] = info["/CreationDate"]
    if failed:
        facts["unreadable_pages"] = failed
    if not any(t.strip() for t in texts):
        facts["no_text"] = "no text layer (a scan?): OCR it (e.g. ocrmypdf) for citable text"
    title, facts["title_from"] = _title(xmp, info, first_page)
    doi = _doi(xmp, info, first_page)
    arxiv = _ARXIV_IN_TEXT.search(first_page)
    arxiv_id, version = (arxiv.group(1), arxiv.group(2)) if arxiv else (None, None)
    if doi and doi.lower().startswith("10.48550/arxiv."):
        # arXiv's own DOI: the same thing as its id, kept in one place.
        (arxiv_id, version), doi = parse_arxiv(doi), None
    return PdfDocument(
        id=pdf_id(data),
        content="\n\n".join(t.strip() for t in texts if t.strip()),
        title=title,
        authors=tuple(_authors(xmp, info)),
        issued=_issued(xmp),
        doi=doi,
        arxiv=arxiv_id,
        arxiv_version=version,
        pages=len(texts),
        origin=origin,
        facts={k: v for k, v in facts.items() if v},
    )


def pdf_plan(
    data: bytes,
    settings: HttpSettings,
    *,
    resolve: bool = True,
    grobid: bool | None = None,
    origin: str = "",
    doi_resolver: DoiResolver | None = None,
) -> Plan[Fetched]:
    """A PDF's record: pypdf, then GROBID when configured, then the DOI's record.

    Args:
        data: The PDF's bytes.
        settings: HTTP settings (the ``grobid`` endpoint, the DOI endpoints).
        resolve: Fetch the record of a DOI (or arXiv DOI) found in the PDF.
        grobid: Ask GROBID (None: when ``settings.endpoint("grobid")`` is set).
        origin: Where the bytes came from (a path or URL).
        doi_resolver: The plan fetching a DOI (default: the DOI fetcher's plan; a
            caller may pass one that consults the cache first).

    Returns:
        The record: the id is the PDF's; the DOI's CSL wins over GROBID's, which wins
        over the PDF's own; the content is GROBID's text, else pypdf's.

    Raises:
        MetadataParseError: The PDF cannot be read (see :func:`read_pdf`).
        MetadataError: GROBID failed (when asked for), or the DOI fetch failed in a way
            other than "not found" / "unparseable".
    """
    document = read_pdf(data, origin=origin)
    record = document.fetched()
    if grobid or (grobid is None and settings.endpoint("grobid")):
        from citeformer.metadata.grobid import grobid_plan

        structured = yield from grobid_plan(data, settings, origin=origin)
        if structured is not None:
            merged = merge_records(structured, record, keep=("id",))
            # GROBID's body text drops running heads, footers and references: better
            # to cite from than pypdf's raw page text, when it found any.
            content = structured.content or merged.content
            record = Fetched(merged.metadata, content, merged.origin, merged.extra)
    doi = record.metadata.get("DOI")
    if not resolve or not doi:
        return record
    resolver = doi_resolver or _default_resolver()
    try:
        resolved = yield from resolver(Identifier("doi", normalize_doi(str(doi))), settings)
    except (MetadataNotFoundError, MetadataParseError) as exc:
        # The PDF is still readable on its own: keep what it says, and say why the
        # richer record is missing (a DOI misread from page 1, an unregistered DOI).
        warnings.warn(
            f"{origin or record.metadata['id']}: the DOI {doi} found in the PDF could not be "
            f"resolved ({exc}); using the PDF's own metadata (pass resolve=False to skip)",
            MetadataWarning,
            stacklevel=2,
        )
        return record
    return merge_records(resolved, record, keep=("id",))


def merge_records(resolved: Fetched, own: Fetched, *, keep: tuple[str, ...] = ("id",)) -> Fetched:
    """``own`` enriched by a richer record (a DOI's, GROBID's).

    Args:
        resolved: The richer record: its CSL fields win.
        own: The document's record: its fields fill the gaps, its content wins when
            not empty, and its ``keep`` fields always win.
        keep: Fields taken from ``own`` whatever ``resolved`` says (the id, a URL).

    Returns:
        The merged record (``extra`` says what it was merged from).
    """
    metadata = {**own.metadata, **resolved.metadata}
    for key in keep:
        if key in own.metadata:
            metadata[key] = own.metadata[key]
    extra = {**resolved.extra, **own.extra}
    their_id = resolved.metadata.get("id", "")
    if their_id and their_id != own.metadata.get("id"):
        extra["merged_from"] = [*own.extra.get("merged_from", []), their_id]
    if resolved.origin:
        extra["resolved_origins"] = [*own.extra.get("resolved_origins", []), resolved.origin]
    return Fetched(
        metadata, (own.content.strip() and own.content) or resolved.content, own.origin, extra
    )


def _default_resolver() -> DoiResolver:
    from citeformer.metadata.doi import doi_plan

    return doi_plan


def _info(reader: Any) -> dict[str, str]:
    raw = reader.metadata or {}
    return {str(k): str(v).strip() for k, v in raw.items() if v is not None and str(v).strip()}


def _page_texts(reader: Any) -> tuple[list[str], list[int]]:
    texts: list[str] = []
    failed: list[int] = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            texts.append(page.extract_text() or "")
        except Exception:  # one damaged page must not lose the others
            texts.append("")
            failed.append(number)
    return texts, failed


def _xmp(reader: Any) -> dict[str, list[str]]:
    """XMP properties by local name (``title``, ``creator``, ``publicationDate``...)."""
    try:
        stream = reader.trailer["/Root"].get("/Metadata")
        raw = stream.get_object().get_data() if stream is not None else b""
    except Exception:  # a damaged XMP stream only costs the XMP fields
        return {}
    if not raw.strip():
        return {}
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
    try:
        root = etree.fromstring(raw.strip(), parser)
    except etree.XMLSyntaxError:
        return {}
    if root is None:
        return {}
    out: dict[str, list[str]] = {}
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        name = etree.QName(element).localname
        # rdf:li children carry the values of Alt/Seq/Bag properties; a simple
        # property's value is its text; rdf:Description attributes are values too.
        items = [li.text.strip() for li in element.iter("{*}li") if li.text and li.text.strip()]
        if items and name in {"title", "creator", "date", "identifier"}:
            out.setdefault(name, []).extend(items)
        elif len(element) == 0 and element.text and element.text.strip():
            out.setdefault(name, []).append(element.text.strip())
        if name == "Description":
            for attribute, value in element.attrib.items():
                if value.strip():
                    out.setdefault(etree.QName(attribute).localname, []).append(value.strip())
    return out


def _title(xmp: Mapping[str, list[str]], info: Mapping[str, str], page: str) -> tuple[str, str]:
    for value, where in ((_first(xmp, "title"), "xmp"), (info.get("/Title", ""), "info")):
        if value and not _JUNK_TITLE.match(value.strip()):
            return value.strip(), where
    # The first line that is not arXiv's margin stamp, a DOI or a URL.
    lines = (ln.strip() for ln in page.splitlines() if ln.strip())
    line = next((ln for ln in lines if not _NOT_A_TITLE.search(ln)), "")
    return (line, "page 1") if 3 <= len(line) <= MAX_TITLE else ("", "")


def _authors(xmp: Mapping[str, list[str]], info: Mapping[str, str]) -> list[dict[str, str]]:
    # An XMP creator is one person per rdf:li; the Info /Author is one string that
    # may hold several. Never split on ",": "Smith, John" is one person.
    people = xmp.get("creator") or [
        p for p in _AUTHOR_SPLIT.split(info.get("/Author", "")) if p.strip()
    ]
    return [name for name in (csl.parse_name(p) for p in people) if name]


def _issued(xmp: Mapping[str, list[str]]) -> dict[str, Any] | None:
    for key in (*_XMP_DATES, "date"):
        for value in xmp.get(key, []):
            date = csl.date_parts(value)
            if date:
                return date
    return None


def _doi(xmp: Mapping[str, list[str]], info: Mapping[str, str], page: str) -> str | None:
    declared = [*xmp.get("doi", []), info.get("/doi", ""), info.get("/DOI", "")]
    declared += [i for i in xmp.get("identifier", []) if "10." in i]
    for text in [*declared, page]:
        found = _DOI_IN_TEXT.search(text or "")
        if found:
            try:
                return normalize_doi(_trim_doi(found.group(1)))
            except MetadataError:
                continue
    return None


def _trim_doi(doi: str) -> str:
    """Trailing punctuation off a DOI in running text; ")" and ">" only when unbalanced."""
    pairs = {")": "(", ">": "<"}
    while doi:
        last = doi[-1]
        closer = last in pairs and doi.count(last) > doi.count(pairs[last])
        if last in ".,;:]'\"" or closer:
            doi = doi[:-1]
        else:
            break
    return doi


def _first(values: Mapping[str, list[str]], key: str) -> str:
    found = values.get(key) or [""]
    return found[0]
