"""GROBID against a loopback service: multipart in, TEI out, 204, 503 busy, errors."""

from __future__ import annotations

import asyncio

import pytest

from citeformer.backends.retry import RetryPolicy
from citeformer.metadata.errors import MetadataParseError, MetadataUnavailableError
from citeformer.metadata.grobid import grobid_plan, parse_tei
from citeformer.metadata.http import HttpSettings, arun, run
from citeformer.metadata.ids import pdf_id
from citeformer.metadata.pdf import pdf_plan
from tests.loopback.server import LoopbackServer, Reply
from tests.metadata.pdf_maker import make_pdf

TEI = b"""<?xml version="1.0" encoding="UTF-8"?>
<TEI xml:space="preserve" xmlns="http://www.tei-c.org/ns/1.0">
  <teiHeader xml:lang="en">
    <fileDesc>
      <titleStmt>
        <title level="a" type="main">Scientific discovery in the age of
          artificial intelligence</title>
      </titleStmt>
      <publicationStmt><publisher>Springer</publisher></publicationStmt>
      <sourceDesc>
        <biblStruct>
          <analytic>
            <author><persName><forename type="first">Hanchen</forename>
              <surname>Wang</surname></persName></author>
            <author><persName><forename type="first">Petar</forename>
              <surname>Veli\xc4\x8dkovi\xc4\x87</surname></persName></author>
            <author><persName><forename type="first">Kyle</forename>
              <forename type="middle">R</forename><surname>Van Katwyk</surname></persName></author>
            <title level="a" type="main">Scientific discovery</title>
          </analytic>
          <monogr>
            <title level="j" type="main">Nature</title>
            <imprint>
              <biblScope unit="volume">620</biblScope>
              <biblScope unit="issue">7972</biblScope>
              <biblScope unit="page" from="47" to="60" />
              <date type="published" when="2023-08-02">2 August 2023</date>
            </imprint>
          </monogr>
          <idno type="DOI">10.1038/s41586-023-06221-2</idno>
        </biblStruct>
      </sourceDesc>
    </fileDesc>
    <encodingDesc><appInfo><application version="0.8.1" ident="GROBID" /></appInfo></encodingDesc>
    <profileDesc>
      <abstract><div><p>Artificial intelligence is being increasingly
        integrated into scientific discovery.</p></div></abstract>
    </profileDesc>
  </teiHeader>
  <text xml:lang="en">
    <body>
      <div><head>Introduction</head><p>The first paragraph.</p><p>The second one.</p></div>
      <div><head>Methods</head><p>We did things.</p></div>
    </body>
    <back><div><listBibl><biblStruct><analytic><title>A reference</title></analytic>
    </biblStruct></listBibl></div></back>
  </text>
</TEI>
"""
FAST = RetryPolicy(max_retries=2, initial_backoff=0.01, max_backoff=0.02, jitter=0.0)


def tei_reply() -> Reply:
    return Reply(200, raw=TEI, content_type="application/xml")


def settings_for(loopback: LoopbackServer, **kwargs: object) -> HttpSettings:
    return HttpSettings(endpoints={"grobid": loopback.url}, retry=FAST, **kwargs)  # type: ignore[arg-type]


def test_multipart_in_tei_out(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: tei_reply())
    data = make_pdf([["A page of text"]])
    record = run(
        grobid_plan(data, settings_for(loopback), origin="paper.pdf"), settings_for(loopback)
    )
    (received,) = loopback.requests
    assert (received.method, received.path) == ("POST", "/api/processFulltextDocument")
    assert received.headers["content-type"].startswith("multipart/form-data; boundary=")
    body = received.body
    assert isinstance(body, str)
    assert 'name="input"; filename="paper.pdf"' in body
    assert data.decode(errors="replace") in body  # the PDF's bytes, whole
    assert 'name="consolidateHeader"\r\n\r\n1\r\n' in body
    assert record is not None
    metadata = record.metadata
    assert metadata["id"] == pdf_id(data)
    assert metadata["title"] == "Scientific discovery in the age of artificial intelligence"
    assert metadata["author"] == [
        {"family": "Wang", "given": "Hanchen"},
        {"family": "Veličković", "given": "Petar"},
        {"family": "Van Katwyk", "given": "Kyle R"},
    ]
    assert metadata["issued"] == {"date-parts": [[2023, 8, 2]]}
    assert metadata["DOI"] == "10.1038/s41586-023-06221-2"
    assert metadata["type"] == "article-journal"
    assert metadata["container-title"] == "Nature"
    assert (metadata["volume"], metadata["issue"], metadata["page"]) == ("620", "7972", "47-60")
    assert record.content == (
        "Artificial intelligence is being increasingly integrated into scientific discovery."
        "\n\nIntroduction\n\nThe first paragraph.\n\nThe second one.\n\nMethods\n\nWe did things."
    )
    assert record.extra["grobid"]["version"] == "0.8.1"


def test_header_only(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: tei_reply())
    settings = settings_for(loopback)
    record = run(grobid_plan(make_pdf([["x"]]), settings, fulltext=False), settings)
    assert loopback.requests[0].path == "/api/processHeaderDocument"
    assert record is not None
    assert "The first paragraph" not in record.content
    assert record.content.startswith("Artificial intelligence")


def test_endpoint_with_api_suffix_is_tolerated(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: tei_reply())
    settings = HttpSettings(endpoints={"grobid": loopback.url + "/api/"})
    assert run(grobid_plan(make_pdf([["x"]]), settings), settings) is not None
    assert loopback.requests[0].path == "/api/processFulltextDocument"


def test_204_means_nothing_extracted(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: Reply(204, raw=b"", content_type="text/plain"))
    settings = settings_for(loopback)
    assert run(grobid_plan(make_pdf([["x"]]), settings), settings) is None


def test_503_busy_then_200_is_retried(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: tei_reply())
    busy = Reply(503, raw=b"busy", content_type="text/plain", headers={"Retry-After": "0"})
    loopback.queue(busy)
    settings = settings_for(loopback)
    record = run(grobid_plan(make_pdf([["x"]]), settings), settings)
    assert record is not None
    assert [r.path for r in loopback.requests] == ["/api/processFulltextDocument"] * 2
    # The retry sent the whole PDF again.
    assert all('name="input"' in r.body for r in loopback.requests)


def test_503_for_ever_is_unavailable(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: Reply(503, raw=b"busy", content_type="text/plain"))
    settings = settings_for(loopback)
    with pytest.raises(MetadataUnavailableError, match="503"):
        run(grobid_plan(make_pdf([["x"]]), settings), settings)
    assert len(loopback.requests) == 3


def test_400_carries_grobid_error_text(loopback: LoopbackServer) -> None:
    loopback.reset(
        lambda r: Reply(400, raw=b"[BAD_INPUT_DATA] not a PDF", content_type="text/plain")
    )
    settings = settings_for(loopback)
    with pytest.raises(MetadataParseError, match=r"GROBID could not process .*BAD_INPUT_DATA"):
        run(grobid_plan(make_pdf([["x"]]), settings), settings)


def test_a_500_is_final_and_keeps_grobids_error_text(loopback: LoopbackServer) -> None:
    # GROBID's 500s (BAD_INPUT_DATA, NO_BLOCKS) are deterministic: not retried (only
    # its 503 "busy" is), and the caller reads GROBID's own reason.
    loopback.reset(lambda r: Reply(500, raw=b"[NO_BLOCKS] empty", content_type="text/plain"))
    settings = settings_for(loopback)
    with pytest.raises(MetadataParseError, match=r"NO_BLOCKS"):
        run(grobid_plan(make_pdf([["x"]]), settings), settings)
    assert len(loopback.requests) == 1


def test_wrong_path_is_unavailable_with_advice(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: Reply(404, raw=b"Not Found", content_type="text/plain"))
    settings = settings_for(loopback)
    with pytest.raises(MetadataUnavailableError, match="service root"):
        run(grobid_plan(make_pdf([["x"]]), settings), settings)


def test_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CITEFORMER_GROBID_URL", raising=False)
    settings = HttpSettings()
    with pytest.raises(MetadataUnavailableError, match="CITEFORMER_GROBID_URL"):
        run(grobid_plan(make_pdf([["x"]]), settings), settings)


def test_not_tei() -> None:
    with pytest.raises(MetadataParseError, match="not TEI"):
        parse_tei(b"<html><body>hi</body></html>", id="sha256:0")
    with pytest.raises(MetadataParseError, match="not XML"):
        parse_tei(b'{"json": true}', id="sha256:0")


def test_pdf_plan_uses_grobid_from_the_environment(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEFORMER_GROBID_URL", loopback.url)
    loopback.reset(lambda r: tei_reply())
    data = make_pdf([["pypdf text line"]], info={"/Title": "Info Title"})
    settings = HttpSettings()
    record = run(pdf_plan(data, settings, resolve=False), settings)
    assert loopback.requests[0].path == "/api/processFulltextDocument"
    assert record.metadata["id"] == pdf_id(data)
    assert record.metadata["title"].startswith("Scientific discovery")  # GROBID over Info
    assert record.content.startswith("Artificial intelligence")  # GROBID's text
    assert record.metadata["DOI"] == "10.1038/s41586-023-06221-2"


def test_pdf_plan_grobid_false_and_204_fall_back_to_pypdf(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEFORMER_GROBID_URL", loopback.url)
    data = make_pdf([["pypdf text line"]], info={"/Title": "Info Title"})
    settings = HttpSettings()
    record = run(pdf_plan(data, settings, grobid=False), settings)
    assert loopback.requests == []
    loopback.reset(lambda r: Reply(204, raw=b"", content_type="text/plain"))
    record2 = asyncio.run(arun(pdf_plan(data, settings), settings))
    assert len(loopback.requests) == 1
    for each in (record, record2):
        assert each.metadata["title"] == "Info Title"
        assert each.content == "pypdf text line"
