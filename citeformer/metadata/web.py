"""Web pages: the main text by trafilatura, the metadata by our own reader.

``GET`` the URL, then look at what came: a PDF (by content type or by its
``%PDF-`` magic) goes to :func:`~citeformer.metadata.pdf.pdf_plan`; HTML or XHTML
is decoded (BOM, then the header's charset, then ``<meta charset>``/``http-equiv``,
then a guess; a page that lies about its charset is decoded, never a crash), its
text extracted by trafilatura from the HTML fetched here (trafilatura does no I/O)
and its metadata read by :mod:`citeformer.metadata.web_meta`. Anything else is
refused with what came. A DOI found on the page is resolved (``resolve=True``) and
its CSL merged in, keeping the page's URL, text and id.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import warnings
from typing import Any, Final

from citeformer.metadata import csl
from citeformer.metadata.errors import (
    MetadataNotFoundError,
    MetadataParseError,
    MetadataUnavailableError,
    MetadataWarning,
)
from citeformer.metadata.http import HttpRequest, HttpResponse, HttpSettings, Plan
from citeformer.metadata.ids import Identifier, url_id
from citeformer.metadata.pdf import DoiResolver, merge_records, pdf_plan
from citeformer.metadata.record import Fetched
from citeformer.metadata.service import Fetcher
from citeformer.metadata.web_meta import read_metadata

ACCEPT: Final = "text/html,application/xhtml+xml,application/pdf;q=0.9,*/*;q=0.8"
HTML_TYPES: Final = frozenset({"text/html", "application/xhtml+xml"})
PDF_TYPES: Final = frozenset({"application/pdf", "application/x-pdf"})
_META_CHARSET: Final = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)
_XML_ENCODING: Final = re.compile(rb"""\s*<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""")
_XML_DECLARATION: Final = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
# WHATWG's encoding standard: these labels mean windows-1252, a superset that also
# decodes the 0x80-0x9F punctuation pages labelled Latin-1 actually contain.
_WINDOWS_1252: Final = frozenset({"latin1", "iso8859-1", "ascii", "us-ascii"})
_KEEP: Final = ("id", "URL", "accessed")
"""Fields the page's record keeps over a resolved DOI's."""


def url_plan(
    identifier: Identifier,
    settings: HttpSettings,
    *,
    resolve: bool = True,
    doi_resolver: DoiResolver | None = None,
) -> Plan[Fetched]:
    """A web page's (or a PDF URL's) record.

    Args:
        identifier: A ``url`` identifier.
        settings: HTTP settings (the body cap is ``settings.max_body``).
        resolve: Resolve a DOI found on the page and merge its CSL in.
        doi_resolver: The plan fetching a DOI (default: the DOI fetcher's).

    Returns:
        The record: id ``url:`` of the requested URL, ``URL`` the final one after
        redirects, ``accessed`` today, the page's main text as content.

    Raises:
        MetadataNotFoundError: The server answered 404 or 410.
        MetadataUnavailableError: Another error status, or a body over the size cap.
        MetadataParseError: Neither HTML nor PDF came back (or an unreadable PDF).
    """
    url = identifier.value
    response = yield HttpRequest("GET", url, headers={"Accept": ACCEPT})
    _check_status(response, url)
    key = url_id(url)
    own_fields = {"id": key, "URL": response.url, "accessed": _today()}
    kind = response.content_type
    if kind in PDF_TYPES or response.content.lstrip()[:5] == b"%PDF-":
        record = yield from pdf_plan(
            response.content,
            settings,
            resolve=resolve,
            origin=response.url,
            doi_resolver=doi_resolver,
        )
        metadata = {**record.metadata, **own_fields}
        extra = {**record.extra, "sha256": record.metadata.get("id", "")}
        return Fetched(metadata, record.content, response.url, extra)
    if kind not in HTML_TYPES and not (not kind and _looks_like_html(response.content)):
        raise MetadataParseError(
            f"{url} sent {kind or 'an untyped body'} ({len(response.content)} bytes), not a web "
            "page or a PDF: download it and pass its text as Source(text, metadata)",
            identifier=url,
        )
    html, charset = decode_html(response.content, response.headers.get("content-type", ""))
    record = read_page(html, response.url, id=key, charset=charset)
    doi = record.metadata.get("DOI")
    if not resolve or not doi:
        return record
    resolver = doi_resolver or _default_resolver()
    try:
        resolved = yield from resolver(Identifier("doi", str(doi)), settings)
    except (MetadataNotFoundError, MetadataParseError) as exc:
        warnings.warn(
            f"{url}: the page's DOI {doi} could not be resolved ({exc}); using the page's "
            "own metadata (pass resolve=False to skip)",
            MetadataWarning,
            stacklevel=2,
        )
        return record
    return merge_records(resolved, record, keep=_KEEP)


def read_page(html: str, url: str, *, id: str, charset: str = "") -> Fetched:
    """A record from a page's HTML (no I/O).

    Args:
        html: The decoded HTML.
        url: The page's (final) URL.
        id: The canonical id to give it.
        charset: The charset it was decoded with (kept in ``extra``).

    Returns:
        CSL (type ``webpage``, or the kind the tags say), the main text as content.
    """
    from lxml import html as lxml_html

    source = _XML_DECLARATION.sub("", html, count=1)
    try:
        tree = lxml_html.document_fromstring(source) if source.strip() else None
    except Exception:  # lxml's parser errors on empty or binary junk: no tags, then
        tree = None
    fields, sources = read_metadata(tree)
    pdf_url = fields.pop("pdf_url", "")
    fields.setdefault("type", "webpage")
    fields.update(URL=url, accessed=_today())
    extra: dict[str, Any] = {"web": {"fields_from": sources, "charset": charset}}
    if pdf_url:
        extra["web"]["pdf_url"] = pdf_url
    return Fetched(csl.normalize(fields, id=id), main_text(html, url, tree), url, extra)


def main_text(html: str, url: str, tree: Any = None) -> str:
    """The page's main text: trafilatura on the HTML, else the body's visible text."""
    import trafilatura

    text = trafilatura.extract(
        html, url=url, include_comments=False, include_tables=True, deduplicate=False
    )
    if text and text.strip():
        return text.strip()
    if tree is None:
        return ""
    # trafilatura finds no "main" part on very short pages: keep what a reader sees.
    body = tree.find(".//body")
    if body is None:
        return ""
    for junk in body.xpath(".//script|.//style|.//noscript|.//nav|.//footer"):
        junk.drop_tree()
    lines = (" ".join(line.split()) for line in body.text_content().splitlines())
    return "\n".join(line for line in lines if line)


def decode_html(content: bytes, content_type: str = "") -> tuple[str, str]:
    """HTML bytes as text, and the charset used.

    The order is the HTML standard's: a byte-order mark, the header's charset, the
    page's XML declaration, ``<meta charset>`` or ``http-equiv``, then UTF-8. A declared charset the
    bytes do not follow falls through to the next candidate; a page declared UTF-8
    that is not is read as windows-1252 (Latin-1's superset); then charset_normalizer
    guesses; the last resort decodes windows-1252 with replacement characters.
    """
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16")):
        if content.startswith(bom):
            return content.decode(name, errors="replace").lstrip("\ufeff"), name
    if content.startswith(codecs.BOM_UTF16_BE):
        return content.decode("utf-16", errors="replace").lstrip("\ufeff"), "utf-16"
    declared = [_header_charset(content_type), _meta_charset(content[:4096])]
    for label in [*declared, "utf-8"]:
        name = _codec(label)
        if not name:
            continue
        try:
            return content.decode(name), name
        except UnicodeDecodeError:
            continue
    if any(_codec(label) == "utf-8" for label in declared):
        # Declared UTF-8 but not UTF-8: by far most often windows-1252/Latin-1 text
        # (charset_normalizer guessed cp1250 for such a French page, so it comes after).
        try:
            return content.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            pass
    guessed = _guess(content)
    if guessed:
        return guessed
    return content.decode("cp1252", errors="replace"), "cp1252"


def _check_status(response: HttpResponse, url: str) -> None:
    if response.status < 400:
        return
    if response.status in {404, 410}:
        raise MetadataNotFoundError(
            f"{url} does not exist ({response.status}): check the URL",
            identifier=url,
        )
    advice = (
        "the page needs a login or blocks robots: download it and pass the file"
        if response.status in {401, 402, 403}
        else "try again later, or download the page and pass its text as Source(text, metadata)"
    )
    raise MetadataUnavailableError(
        f"{url} answered {response.status}: {advice}",
        identifier=url,
        status=response.status,
    )


def _header_charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'")
    return ""


def _meta_charset(head: bytes) -> str:
    found = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    return found.group(1).decode("ascii", errors="replace") if found else ""


def _codec(label: str) -> str:
    if not label:
        return ""
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return ""
    return "cp1252" if name in _WINDOWS_1252 else name


def _guess(content: bytes) -> tuple[str, str] | None:
    # charset_normalizer arrives with trafilatura; without it, windows-1252 follows.
    try:
        from charset_normalizer import from_bytes
    except ImportError:
        return None
    best = from_bytes(content).best()
    if best is None:
        return None
    return str(best), best.encoding


def _looks_like_html(content: bytes) -> bool:
    head = content[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def _today() -> dict[str, Any]:
    today = dt.date.today()
    return {"date-parts": [[today.year, today.month, today.day]]}


def _default_resolver() -> DoiResolver:
    from citeformer.metadata.doi import doi_plan

    return doi_plan


URL_FETCHER: Final = Fetcher("url", 1, key=lambda i: url_id(i.value), plan=url_plan)
"""The web page fetcher (cached by ``url:`` id)."""
