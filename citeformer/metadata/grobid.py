"""GROBID: a PDF's structure (title, authors, date, DOI, abstract, body) over REST.

``POST {CITEFORMER_GROBID_URL}/api/processFulltextDocument`` (or
``processHeaderDocument``) with the PDF in the multipart field ``input`` and
``consolidateHeader=1``; the answer is TEI XML, read here with lxml
(grobidOrg/grobid ``doc/Grobid-service.md``). ``204`` means GROBID ran but found
nothing; ``503`` (all threads busy) is retried by the runner with backoff.
"""

from __future__ import annotations

import contextlib
from typing import Any, Final

from citeformer.metadata import csl
from citeformer.metadata.errors import (
    MetadataParseError,
    MetadataUnavailableError,
    UnrecognizedIdentifierError,
)
from citeformer.metadata.http import HttpRequest, HttpResponse, HttpSettings, Plan
from citeformer.metadata.ids import normalize_doi, pdf_id
from citeformer.metadata.record import Fetched

TEI: Final = "http://www.tei-c.org/ns/1.0"
_NS: Final = {"t": TEI}
FULLTEXT: Final = "/api/processFulltextDocument"
HEADER: Final = "/api/processHeaderDocument"


GROBID_TIMEOUT = 180.0
"""Seconds GROBID gets at least per document."""


def grobid_plan(
    data: bytes,
    settings: HttpSettings,
    *,
    fulltext: bool = True,
    consolidate: int = 1,
    origin: str = "",
) -> Plan[Fetched | None]:
    """Ask GROBID for a PDF's structure.

    Args:
        data: The PDF's bytes.
        settings: HTTP settings; ``settings.endpoint("grobid")`` is the service root
            (e.g. ``http://localhost:8070``).
        fulltext: Process the whole document (the body becomes the content); False
            asks for the header only (faster).
        consolidate: GROBID's ``consolidateHeader`` (0 none, 1 consolidate and inject,
            2 DOI only, 3 only an extracted DOI).
        origin: Where the PDF came from, for messages.

    Returns:
        The record (id ``sha256:`` of the bytes; content = abstract and body
        paragraphs), or None when GROBID answered 204 (nothing extracted).

    Raises:
        MetadataUnavailableError: GROBID is not configured, or answered an
            unexpected status.
        MetadataParseError: GROBID refused the PDF (400/500), or its TEI is unreadable.
    """
    base = settings.endpoint("grobid")
    if not base:
        raise MetadataUnavailableError(
            "GROBID is not configured: set CITEFORMER_GROBID_URL (e.g. http://localhost:8070, "
            "from `docker run -p 8070:8070 grobid/grobid`) or pass endpoints={'grobid': URL}",
            identifier=origin or None,
        )
    # A URL ending in /api is a common slip; the paths below add it.
    base = base.removesuffix("/api")
    url = base + (FULLTEXT if fulltext else HEADER)
    response = yield HttpRequest(
        "POST",
        url,
        headers={"Accept": "application/xml"},
        files={"input": (_filename(origin), data, "application/pdf")},
        data={"consolidateHeader": str(consolidate)},
        # 503 means "all threads busy"; a 500 (BAD_INPUT_DATA, NO_BLOCKS) is final, and
        # its text is the useful part of the error.
        retry_statuses=frozenset({503}),
        # Full-text processing of a long PDF takes well over the usual 30 s.
        timeout=max(settings.timeout, GROBID_TIMEOUT),
    )
    if response.status == 204:
        return None
    if response.status != 200:
        raise _error(response, url, origin)
    return parse_tei(response.content, id=pdf_id(data), origin=response.url, fulltext=fulltext)


def parse_tei(tei: bytes, *, id: str, origin: str = "", fulltext: bool = True) -> Fetched:
    """A record from GROBID's TEI.

    Args:
        tei: The TEI document.
        id: The canonical id to give it (the PDF's).
        origin: Where it came from.
        fulltext: Whether to read the body paragraphs into the content.

    Returns:
        CSL (title, authors, issued, DOI, container, volume, issue, pages, abstract)
        and the abstract plus the body as content.

    Raises:
        MetadataParseError: Not TEI.
    """
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(tei, parser)
    except etree.XMLSyntaxError as exc:
        raise MetadataParseError(
            f"GROBID's answer{' for ' + origin if origin else ''} is not XML ({exc}); check "
            "that CITEFORMER_GROBID_URL points at a GROBID service",
            identifier=origin or None,
        ) from exc
    if etree.QName(root).namespace != TEI:
        raise MetadataParseError(
            f"GROBID's answer is not TEI (root {root.tag!r}); check that "
            "CITEFORMER_GROBID_URL points at a GROBID service",
            identifier=origin or None,
        )
    header = _one(root, "t:teiHeader")
    bibl = _one(header, "t:fileDesc/t:sourceDesc/t:biblStruct")
    data: dict[str, Any] = {"type": "document"}
    title = _one(header, 't:fileDesc/t:titleStmt/t:title[@level="a"][@type="main"]')
    if title is None:
        title = _one(header, "t:fileDesc/t:titleStmt/t:title")
    data["title"] = _text(title)
    data["author"] = [
        name for name in (_person(p) for p in _all(bibl, "t:analytic/t:author/t:persName")) if name
    ]
    doi = _text(_one(bibl, './/t:idno[@type="DOI"]'))
    if doi:
        # Not a DOI after all: the rest of the record stands.
        with contextlib.suppress(UnrecognizedIdentifierError):
            data["DOI"] = normalize_doi(doi)
    monogr = _one(bibl, "t:monogr")
    journal = _text(_one(monogr, 't:title[@level="j"]'))
    if journal:
        data.update({"type": "article-journal", "container-title": journal})
    imprint = _one(monogr, "t:imprint")
    data["issued"] = _date(imprint)
    data["publisher"] = _text(_one(imprint, "t:publisher"))
    for unit, key in (("volume", "volume"), ("issue", "issue")):
        data[key] = _text(_one(imprint, f't:biblScope[@unit="{unit}"]'))
    data["page"] = _pages(_one(imprint, 't:biblScope[@unit="page"]'))
    abstract = "\n\n".join(
        p for p in (_text(e) for e in _paragraphs(_one(header, "t:profileDesc/t:abstract"))) if p
    )
    data["abstract"] = abstract
    body = _body(root) if fulltext else ""
    content = "\n\n".join(part for part in (abstract, body) if part)
    application = _one(header, "t:encodingDesc/t:appInfo/t:application")
    extra = {
        "grobid": {"version": application.get("version", "") if application is not None else ""}
    }
    return Fetched(csl.normalize(data, id=id), content, origin, extra)


def _error(response: HttpResponse, url: str, origin: str) -> Exception:
    detail = " ".join(response.text().split())[:500] or "no details"
    where = origin or "the PDF"
    if response.status in {400, 500}:
        # 500 carries GROBID's own codes (BAD_INPUT_DATA, NO_BLOCKS, TIMEOUT): the PDF,
        # not the service, is the problem, so retrying elsewhere will not help.
        return MetadataParseError(
            f"GROBID could not process {where} ({response.status}: {detail}); check the PDF "
            "opens in a viewer, or read it without GROBID (grobid=False)",
            identifier=origin or None,
        )
    return MetadataUnavailableError(
        f"GROBID at {url} answered {response.status} ({detail}); check CITEFORMER_GROBID_URL "
        "is the service root (e.g. http://localhost:8070) and that GROBID is running",
        identifier=origin or None,
        status=response.status,
    )


def _filename(origin: str) -> str:
    name = origin.replace("\\", "/").rsplit("/", 1)[-1]
    return name if name.lower().endswith(".pdf") else "document.pdf"


def _one(element: Any, path: str) -> Any:
    if element is None:
        return None
    return element.find(path, _NS)


def _all(element: Any, path: str) -> list[Any]:
    return [] if element is None else list(element.findall(path, _NS))


def _text(element: Any) -> str:
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


def _person(pers: Any) -> dict[str, str]:
    given = " ".join(_text(f) for f in _all(pers, "t:forename") if _text(f))
    family = _text(_one(pers, "t:surname"))
    if family:
        return {"family": family, "given": given} if given else {"family": family}
    return {"literal": given} if given else {}


def _date(imprint: Any) -> str:
    dates = _all(imprint, "t:date")
    published = [d for d in dates if d.get("type") == "published"] or dates
    for date in published:
        when = (date.get("when") or "").strip() or _text(date)
        if when:
            return when
    return ""


def _pages(scope: Any) -> str:
    if scope is None:
        return ""
    start, end = scope.get("from", ""), scope.get("to", "")
    if start and end:
        return f"{start}-{end}"
    return start or _text(scope)


def _paragraphs(element: Any) -> list[Any]:
    if element is None:
        return []
    paragraphs = list(element.iter(f"{{{TEI}}}p"))
    return paragraphs or [element]


def _body(root: Any) -> str:
    parts: list[str] = []
    for div in _all(root, "t:text/t:body/t:div"):
        head = _text(_one(div, "t:head"))
        if head:
            parts.append(head)
        parts += [t for t in (_text(p) for p in _all(div, "t:p")) if t]
    return "\n\n".join(parts)
