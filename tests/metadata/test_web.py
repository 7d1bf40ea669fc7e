"""Web pages from a loopback server: the recorded page, each tag family, charsets, PDFs."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from citeformer.metadata import csl
from citeformer.metadata.errors import (
    MetadataNotFoundError,
    MetadataParseError,
    MetadataUnavailableError,
)
from citeformer.metadata.http import HttpRequest, HttpSettings, Plan, arun, run
from citeformer.metadata.ids import Identifier, doi_id, pdf_id, url_id
from citeformer.metadata.record import Fetched
from citeformer.metadata.web import URL_FETCHER, decode_html, url_plan
from tests.loopback.server import LoopbackServer, Received, Reply
from tests.metadata.pdf_maker import make_pdf
from tests.shared_data import wire_dir

WIRE = wire_dir()

HIGHWIRE = """<!doctype html><html lang="en"><head>
<title>A Landing Page | Ocean Journal</title>
<meta name="citation_title" content="Tides and the Moon">
<meta name="citation_author" content="Curie, Marie">
<meta name="citation_author" content="Ludwig van Beethoven">
<meta name="citation_publication_date" content="2007/01/15">
<meta name="citation_journal_title" content="Ocean Journal">
<meta name="citation_volume" content="12"><meta name="citation_issue" content="3">
<meta name="citation_firstpage" content="101"><meta name="citation_lastpage" content="110">
<meta name="citation_issn" content="1234-5678">
<meta name="citation_pdf_url" content="https://example.org/tides.pdf">
<meta property="og:title" content="Tides! Read now">
</head><body><nav>Home | About | Contact</nav>
<article><h1>Tides and the Moon</h1>
<p>The Moon's gravity raises two bulges of water on opposite sides of the Earth, and the
planet turns beneath them, so most coasts see two high tides a day.</p>
<p>Spring tides come at new and full moon, when the Sun's pull lines up with the Moon's;
neap tides come at the quarters, when the two pulls are at right angles.</p></article>
<footer>Copyright Ocean Journal. All rights reserved. Cookie settings.</footer>
</body></html>"""

JSONLD = """<html><head><title>ignored</title>
<script type="application/ld+json">{"@context": "https://schema.org", "@graph": [
 {"@type": "WebSite", "name": "Site"},
 {"@type": ["CreativeWork", "ScholarlyArticle"], "headline": "Graph Article",
  "author": [{"@type": "Person", "givenName": "Ada", "familyName": "Lovelace"},
             {"@type": "Person", "name": "Charles Babbage"},
             {"@type": "Organization", "name": "The Analytical Society"}],
  "datePublished": "1843-10-05T00:00:00Z",
  "isPartOf": {"@type": "PublicationIssue", "issueNumber": "4",
     "isPartOf": {"@type": "PublicationVolume", "volumeNumber": "3",
        "isPartOf": {"@type": "Periodical", "name": "Scientific Memoirs", "issn": "0000-0001"}}},
  "pageStart": "666", "pageEnd": "731",
  "identifier": {"@type": "PropertyValue", "propertyID": "doi", "value": "10.5555/notes.g"}}
]}</script></head><body><p>Body.</p></body></html>"""

DC = """<html><head><title>ignored</title>
<meta name="DC.title" content="Dublin Core Title">
<meta name="DC.creator" content="Doe, Jane"><meta name="DC.creator" content="John Roe">
<meta name="DC.date" content="2011-03-04"><meta name="DC.publisher" content="Repo Press">
</head><body><p>Body.</p></body></html>"""

OG = """<html><head><title>Open Graph Title | Blog Site</title>
<meta property="og:title" content="Open Graph Title">
<meta property="og:site_name" content="Blog Site">
<meta property="article:published_time" content="2024-02-29T12:00:00+00:00">
</head><body><p>Body.</p></body></html>"""

TITLE_ONLY = "<html><head><title>  Just a\n  Title </title></head><body><p>Hi.</p></body></html>"

LATIN1 = (
    '<html><head><meta charset="utf-8"><title>Caf\xe9 cr\xe8me</title></head><body>'
    "<p>Le caf\xe9 est tr\xe8s bon, na\xefve fa\xe7ade.</p></body></html>"
).encode("latin-1")


def wire(name: str) -> bytes:
    path = WIRE / name
    if not path.is_file():
        pytest.fail(
            f"recorded wire sample {path} is missing: the metadata tests read ../shared/wire "
            "beside the repository (see ../shared/wire/README.md)"
        )
    return path.read_bytes()


def html(body: str | bytes, content_type: str = "text/html; charset=utf-8") -> Reply:
    raw = body.encode() if isinstance(body, str) else body
    # aiohttp splits a charset out of content_type; pass the whole header instead.
    return Reply(200, raw=raw, headers={"Content-Type": content_type})


def serve(loopback: LoopbackServer, pages: Mapping[str, Reply]) -> None:
    loopback.reset(lambda r: pages.get(r.path) or Reply(404, {"error": "no page"}))


def fetch(loopback: LoopbackServer, path: str, **kwargs: Any) -> Fetched:
    settings = kwargs.pop("settings", None) or HttpSettings()
    plan = url_plan(Identifier("url", loopback.url + path), settings, **kwargs)
    return run(plan, settings)


def today() -> list[list[int]]:
    now = dt.date.today()
    return [[now.year, now.month, now.day]]


def stub_resolver(base: str) -> Callable[[Identifier, HttpSettings], Plan[Fetched]]:
    def plan(identifier: Identifier, settings: HttpSettings) -> Plan[Fetched]:
        response = yield HttpRequest("GET", f"{base}/doi/{identifier.value}")
        data = json.loads(response.content)
        return Fetched(csl.normalize(data, id=doi_id(identifier.value)), "abstract", response.url)

    return plan


def test_recorded_example_page(loopback: LoopbackServer) -> None:
    body = wire("webpage-example.com.html")
    # As recorded: text/html with no charset, gzip on the wire.
    reply = Reply(
        200,
        raw=gzip.compress(body),
        headers={"Content-Type": "text/html", "Content-Encoding": "gzip"},
    )
    serve(loopback, {"/": reply})
    record = fetch(loopback, "/")
    assert loopback.requests[0].headers["accept"].startswith("text/html,application/xhtml+xml")
    assert record.metadata == {
        "id": url_id(loopback.url + "/"),
        "type": "webpage",
        "title": "Example Domain",
        "URL": loopback.url + "/",
        "accessed": {"date-parts": today()},
        "language": "en",
    }
    assert record.content.startswith("This domain is for use in documentation examples")
    assert record.extra["web"]["charset"] == "utf-8"


def test_highwire_tags_win_and_the_main_text_drops_nav_and_footer(
    loopback: LoopbackServer,
) -> None:
    serve(loopback, {"/paper": html(HIGHWIRE)})
    record = fetch(loopback, "/paper")
    metadata = record.metadata
    assert metadata["title"] == "Tides and the Moon"  # not og:title, not <title>
    assert metadata["author"] == [
        {"family": "Curie", "given": "Marie"},
        {"given": "Ludwig", "family": "van Beethoven"},
    ]
    assert metadata["issued"] == {"date-parts": [[2007, 1, 15]]}
    assert metadata["type"] == "article-journal"
    assert metadata["container-title"] == "Ocean Journal"
    assert (metadata["volume"], metadata["issue"], metadata["page"]) == ("12", "3", "101-110")
    assert metadata["ISSN"] == "1234-5678"
    assert record.extra["web"]["pdf_url"] == "https://example.org/tides.pdf"
    assert record.extra["web"]["fields_from"]["title"] == "highwire"
    assert "two high tides a day" in record.content
    assert "Cookie settings" not in record.content
    assert "Home | About" not in record.content


def test_old_citation_authors_string() -> None:
    from lxml import html as lxml_html

    from citeformer.metadata.web_meta import read_metadata

    tree = lxml_html.document_fromstring(
        '<html><head><meta name="citation_authors" content="Smith, John; Doe, Jane">'
        '<meta name="citation_conference_title" content="ConfX">'
        '<meta name="citation_date" content="1999"></head><body></body></html>'
    )
    fields, _ = read_metadata(tree)
    assert fields["author"] == [
        {"family": "Smith", "given": "John"},
        {"family": "Doe", "given": "Jane"},
    ]
    assert (fields["type"], fields["container-title"]) == ("paper-conference", "ConfX")
    assert fields["issued"] == {"date-parts": [[1999]]}


def test_json_ld_graph_with_type_list(loopback: LoopbackServer) -> None:
    serve(loopback, {"/ld": html(JSONLD)})
    metadata = fetch(loopback, "/ld", resolve=False).metadata
    assert metadata["title"] == "Graph Article"
    assert metadata["author"] == [
        {"family": "Lovelace", "given": "Ada"},
        {"given": "Charles", "family": "Babbage"},
        {"literal": "The Analytical Society"},
    ]
    assert metadata["issued"] == {"date-parts": [[1843, 10, 5]]}
    assert metadata["container-title"] == "Scientific Memoirs"
    assert (metadata["volume"], metadata["issue"], metadata["page"]) == ("3", "4", "666-731")
    assert metadata["type"] == "article-journal"
    assert metadata["DOI"] == "10.5555/notes.g"


def test_dublin_core_alone(loopback: LoopbackServer) -> None:
    serve(loopback, {"/dc": html(DC)})
    metadata = fetch(loopback, "/dc").metadata
    assert metadata["title"] == "Dublin Core Title"
    assert metadata["author"] == [
        {"family": "Doe", "given": "Jane"},
        {"given": "John", "family": "Roe"},
    ]
    assert metadata["issued"] == {"date-parts": [[2011, 3, 4]]}
    assert metadata["publisher"] == "Repo Press"
    assert metadata["type"] == "webpage"


def test_opengraph_alone(loopback: LoopbackServer) -> None:
    serve(loopback, {"/og": html(OG)})
    metadata = fetch(loopback, "/og").metadata
    assert metadata["title"] == "Open Graph Title"
    assert metadata["container-title"] == "Blog Site"
    assert metadata["issued"] == {"date-parts": [[2024, 2, 29]]}
    assert metadata["type"] == "webpage"


def test_title_tag_alone(loopback: LoopbackServer) -> None:
    serve(loopback, {"/t": html(TITLE_ONLY)})
    record = fetch(loopback, "/t")
    assert record.metadata["title"] == "Just a Title"
    assert record.content == "Hi."  # too short for trafilatura: the body's text


def test_latin1_page_declared_utf8(loopback: LoopbackServer) -> None:
    serve(loopback, {"/latin": html(LATIN1, "text/html; charset=utf-8")})
    record = fetch(loopback, "/latin")
    assert record.metadata["title"] == "Café crème"
    assert "Le café est très bon, naïve façade." in record.content
    assert record.extra["web"]["charset"] == "cp1252"


def test_charset_from_http_equiv_without_a_header() -> None:
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
        "<title>Gr\xfc\xdfe</title></head></html>"
    ).encode("latin-1")
    text, charset = decode_html(page, "text/html")
    assert "<title>Grüße</title>" in text
    assert charset == "cp1252"
    utf8 = "<html><head><meta charset='utf-8'><title>Grüße – ok</title></head></html>"
    assert decode_html(utf8.encode(), "") == (utf8, "utf-8")
    assert decode_html(b"\xef\xbb\xbf<p>bom</p>", "text/html; charset=latin-1")[0] == "<p>bom</p>"


def test_pdf_url_goes_to_the_pdf_path(loopback: LoopbackServer) -> None:
    data = make_pdf([["A PDF served on the web"]], info={"/Title": "Web PDF"})
    serve(loopback, {"/paper.pdf": Reply(200, raw=data, content_type="application/pdf")})
    record = fetch(loopback, "/paper.pdf")
    assert record.metadata["id"] == url_id(loopback.url + "/paper.pdf")
    assert record.metadata["title"] == "Web PDF"
    assert record.metadata["URL"] == loopback.url + "/paper.pdf"
    assert record.metadata["accessed"] == {"date-parts": today()}
    assert record.content == "A PDF served on the web"
    assert record.extra["sha256"] == pdf_id(data)


def test_pdf_magic_without_a_content_type(loopback: LoopbackServer) -> None:
    data = make_pdf([["Octets"]])
    serve(loopback, {"/f": Reply(200, raw=data, content_type="application/octet-stream")})
    assert fetch(loopback, "/f").content == "Octets"


def test_body_over_the_cap_is_unavailable(loopback: LoopbackServer) -> None:
    serve(loopback, {"/big": html("<html><body>" + "x" * 50_000 + "</body></html>")})
    with pytest.raises(MetadataUnavailableError, match="max_body"):
        fetch(loopback, "/big", settings=HttpSettings(max_body=10_000))


def test_other_content_types_are_refused(loopback: LoopbackServer) -> None:
    serve(loopback, {"/data": Reply(200, body={"a": 1})})
    with pytest.raises(MetadataParseError, match="sent application/json"):
        fetch(loopback, "/data")


@pytest.mark.parametrize(
    ("status", "error"), [(404, MetadataNotFoundError), (403, MetadataUnavailableError)]
)
def test_error_statuses(loopback: LoopbackServer, status: int, error: type[Exception]) -> None:
    serve(loopback, {"/x": Reply(status, raw=b"no", content_type="text/html")})
    with pytest.raises(error, match=str(status)):
        fetch(loopback, "/x")


def test_redirect_keeps_the_requested_id_and_the_final_url(loopback: LoopbackServer) -> None:
    serve(
        loopback,
        {"/old": Reply(302, raw=b"", headers={"Location": "/new"}), "/new": html(TITLE_ONLY)},
    )
    record = fetch(loopback, "/old")
    assert record.metadata["id"] == url_id(loopback.url + "/old")
    assert record.metadata["URL"] == loopback.url + "/new"


def test_doi_on_the_page_is_resolved_and_merged(loopback: LoopbackServer) -> None:
    page = html(
        HIGHWIRE.replace("<title>", '<meta name="citation_doi" content="doi:10.1234/T1"><title>')
    )
    doi = Reply(200, raw=json.dumps({"type": "journal-article", "title": "DOI Title",
                                     "URL": "https://doi.org/10.1234/T1"}).encode())  # fmt: skip
    serve(loopback, {"/paper": page, "/doi/10.1234/T1": doi})
    record = fetch(loopback, "/paper", doi_resolver=stub_resolver(loopback.url))
    assert [r.path for r in loopback.requests] == ["/paper", "/doi/10.1234/T1"]
    assert record.metadata["title"] == "DOI Title"
    assert record.metadata["id"] == url_id(loopback.url + "/paper")
    assert record.metadata["URL"] == loopback.url + "/paper"  # the page's URL kept
    assert record.metadata["container-title"] == "Ocean Journal"  # a gap filled
    assert "two high tides a day" in record.content
    no_resolve = fetch(loopback, "/paper", resolve=False)
    assert no_resolve.metadata["title"] == "Tides and the Moon"
    assert no_resolve.metadata["DOI"] == "10.1234/T1"


def test_fetcher_key_and_async_twin(loopback: LoopbackServer) -> None:
    serve(loopback, {"/ld": html(JSONLD)})
    identifier = Identifier("url", loopback.url + "/ld")
    assert URL_FETCHER.key(identifier) == url_id(identifier.value)
    assert URL_FETCHER.plan is url_plan
    settings = HttpSettings()

    def resolver_never(identifier: Identifier, settings: HttpSettings) -> Plan[Fetched]:
        raise AssertionError("resolve=False must not resolve")
        yield  # pragma: no cover

    sync = run(url_plan(identifier, settings, resolve=False), settings)
    done = asyncio.run(
        arun(url_plan(identifier, settings, resolve=False, doi_resolver=resolver_never), settings)
    )
    assert done.to_json() == sync.to_json()


def test_one_get_per_page(loopback: LoopbackServer) -> None:
    # A responder sees what we sent: one GET with our Accept header.
    seen: list[Received] = []

    def answer(received: Received) -> Reply:
        seen.append(received)
        return html(TITLE_ONLY)

    loopback.reset(answer)
    fetch(loopback, "/a")
    assert [(r.method, r.path) for r in seen] == [("GET", "/a")]


def test_xhtml_with_an_xml_declaration(loopback: LoopbackServer) -> None:
    page = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Fran\xe7ais</title>'
        '<meta name="citation_title" content="Le Fran\xe7ais"/></head>'
        "<body><p>Texte.</p></body></html>"
    ).encode("latin-1")
    serve(loopback, {"/x": Reply(200, raw=page, headers={"Content-Type": "application/xhtml+xml"})})
    record = fetch(loopback, "/x")
    assert record.metadata["title"] == "Le Français"
    assert record.extra["web"]["charset"] == "cp1252"  # from the XML declaration
