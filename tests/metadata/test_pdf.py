"""PDFs built in the test with pypdf: text, Info/XMP metadata, sniffed ids, resolving."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable
from typing import Any

import pytest

from citeformer.metadata import csl
from citeformer.metadata.errors import MetadataParseError, MetadataWarning
from citeformer.metadata.http import HttpRequest, HttpSettings, Plan, arun, run
from citeformer.metadata.ids import Identifier, doi_id, pdf_id
from citeformer.metadata.pdf import merge_records, pdf_plan, read_pdf
from citeformer.metadata.record import Fetched
from tests.loopback.server import LoopbackServer, Received, Reply
from tests.metadata.pdf_maker import make_pdf, xmp_packet
from tests.shared_data import wire_dir

WIRE = wire_dir()
NATURE_DOI = "10.1038/s41586-023-06221-2"
PAPER = [
    ["Attention Is All You Need", "Ashish Vaswani, Noam Shazeer", "doi: 10.1234/abc.def."],
    ["The second page cites 10.9999/not-this-one here."],
]


def wire(name: str) -> bytes:
    path = WIRE / name
    if not path.is_file():
        pytest.fail(
            f"recorded wire sample {path} is missing: the metadata tests read ../shared/wire "
            "beside the repository (see ../shared/wire/README.md)"
        )
    return path.read_bytes()


def stub_resolver(base: str) -> Callable[[Identifier, HttpSettings], Plan[Fetched]]:
    """A DOI plan that asks the loopback for ``/doi/<DOI>`` and reads plain CSL."""

    def plan(identifier: Identifier, settings: HttpSettings) -> Plan[Fetched]:
        response = yield HttpRequest("GET", f"{base}/doi/{identifier.value}")
        if response.status == 404:
            from citeformer.metadata.errors import MetadataNotFoundError

            raise MetadataNotFoundError(f"{identifier.value} not found")
        data = json.loads(response.content)
        return Fetched(
            csl.normalize(data, id=doi_id(identifier.value)), "the abstract", response.url
        )

    return plan


def csl_reply(**fields: Any) -> Reply:
    body = {"type": "journal-article", "title": "Resolved Title", "author": [], **fields}
    return Reply(200, raw=json.dumps(body).encode(), content_type="application/json")


# -- read_pdf: text and metadata ------------------------------------------------------------


def test_text_of_every_page_is_exact() -> None:
    document = read_pdf(make_pdf(PAPER))
    assert document.content == (
        "Attention Is All You Need\nAshish Vaswani, Noam Shazeer\ndoi: 10.1234/abc.def.\n\n"
        "The second page cites 10.9999/not-this-one here."
    )
    assert document.pages == 2


def test_info_dictionary_title_and_authors_never_split_on_commas() -> None:
    info = {"/Title": "A Study of Things", "/Author": "Smith, John; Jane Doe and van Beethoven, L."}
    metadata = read_pdf(make_pdf(PAPER, info=info)).metadata()
    assert metadata["title"] == "A Study of Things"
    assert metadata["author"] == [
        {"family": "Smith", "given": "John"},
        {"given": "Jane", "family": "Doe"},
        {"family": "van Beethoven", "given": "L."},
    ]


def test_creation_date_is_never_the_year() -> None:
    # The file was written in 2024; the paper's date is nowhere in the metadata.
    info = {"/Title": "Old Paper", "/CreationDate": "D:20240101000000Z"}
    document = read_pdf(make_pdf(PAPER, info=info))
    assert "issued" not in document.metadata()
    assert document.fetched().extra["pdf"]["creation_date"] == "D:20240101000000Z"


def test_xmp_publication_date_wins_over_dc_date_and_create_date() -> None:
    xmp = xmp_packet(
        title="XMP Title",
        creators=["Lovelace, Ada", "Charles Babbage"],
        dc_date="2019-01-01",
        publication_date="1843-10-05",
        create_date="2024-02-02T10:00:00Z",
    )
    metadata = read_pdf(make_pdf(PAPER, info={"/Title": "Info Title"}, xmp=xmp)).metadata()
    assert metadata["title"] == "XMP Title"
    assert metadata["author"] == [
        {"family": "Lovelace", "given": "Ada"},
        {"given": "Charles", "family": "Babbage"},
    ]
    assert metadata["issued"] == {"date-parts": [[1843, 10, 5]]}


def test_xmp_dc_date_when_no_prism_date() -> None:
    xmp = xmp_packet(title="T", dc_date="2020-06", create_date="2024-02-02")
    assert read_pdf(make_pdf(PAPER, xmp=xmp)).metadata()["issued"] == {"date-parts": [[2020, 6]]}


def test_junk_info_title_falls_back_to_the_first_line() -> None:
    info = {"/Title": "Microsoft Word - draft7.docx"}
    document = read_pdf(make_pdf(PAPER, info=info))
    assert document.title == "Attention Is All You Need"
    assert document.facts["title_from"] == "page 1"


def test_doi_on_page_one_trailing_punctuation_trimmed() -> None:
    document = read_pdf(make_pdf(PAPER))
    assert document.doi == "10.1234/abc.def"
    assert document.metadata()["DOI"] == "10.1234/abc.def"


def test_doi_with_parentheses_is_kept_whole() -> None:
    sici = "10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-0"
    document = read_pdf(make_pdf([["Title line", f"(see https://doi.org/{sici})."]]))
    assert document.doi == sici
    document = read_pdf(make_pdf([["Title line", "<https://doi.org/10.1234/x(1)>;"]]))
    assert document.doi == "10.1234/x(1)"


def test_doi_in_xmp_wins_over_page_one() -> None:
    xmp = xmp_packet(title="T", doi="10.5555/from-xmp")
    assert read_pdf(make_pdf(PAPER, xmp=xmp)).doi == "10.5555/from-xmp"


def test_no_doi_when_only_later_pages_have_one() -> None:
    document = read_pdf(make_pdf([["Title only"], ["doi 10.9999/page-two"]]))
    assert document.doi is None
    assert "DOI" not in document.metadata()


def test_arxiv_stamp_makes_an_arxiv_preprint() -> None:
    pages = [["arXiv:solv-int/9901001v1  [nlin.SI]  1 Jan 1999", "Solitons in Lattices"]]
    document = read_pdf(make_pdf(pages, info={"/Title": "Solitons"}))
    assert (document.arxiv, document.arxiv_version) == ("solv-int/9901001", "v1")
    metadata = document.metadata()
    assert metadata["type"] == "article"
    assert metadata["publisher"] == "arXiv"
    assert metadata["number"] == "solv-int/9901001"
    assert metadata["DOI"] == "10.48550/arXiv.solv-int/9901001"
    assert metadata["version"] == "v1"
    stamped = read_pdf(make_pdf(pages))  # no Info title: the stamp is not the title
    assert stamped.title == "Solitons in Lattices"


def test_id_is_the_hash_of_the_bytes() -> None:
    data = make_pdf(PAPER)
    assert read_pdf(data).id == pdf_id(data) == read_pdf(bytes(data)).id
    assert read_pdf(make_pdf([["Another"]])).id != pdf_id(data)
    assert read_pdf(data).metadata()["id"].startswith("sha256:")


def test_owner_password_only_still_reads() -> None:
    data = make_pdf(PAPER, user_password="", owner_password="owner")
    assert read_pdf(data).content.startswith("Attention Is All You Need")


def test_encrypted_pdf_says_to_decrypt_it() -> None:
    data = make_pdf(PAPER, user_password="secret")
    with pytest.raises(MetadataParseError, match="encrypted with a password: decrypt it"):
        read_pdf(data, origin="locked.pdf")


@pytest.mark.parametrize(
    "data", [b"garbage bytes, not a PDF at all", b"", b"<html>a web page</html>"]
)
def test_not_a_pdf(data: bytes) -> None:
    with pytest.raises(MetadataParseError, match="not a PDF"):
        read_pdf(data, origin="x.pdf")


def test_malformed_pdf_is_a_parse_error() -> None:
    with pytest.raises(MetadataParseError, match="not a readable PDF"):
        read_pdf(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage trailer", origin="bad.pdf")


def test_a_scan_without_text_says_so() -> None:
    document = read_pdf(make_pdf([[]]))
    assert document.content == ""
    assert "OCR" in document.facts["no_text"]


# -- pdf_plan: resolving -----------------------------------------------------------------


def test_no_doi_or_resolve_false_makes_no_request(loopback: LoopbackServer) -> None:
    settings = HttpSettings(endpoints={"grobid": ""})
    record = run(pdf_plan(make_pdf(PAPER), settings, resolve=False), settings)
    record2 = run(pdf_plan(make_pdf([["No identifiers"]]), settings), settings)
    assert loopback.requests == []
    assert record.metadata["DOI"] == "10.1234/abc.def"
    assert record2.metadata["title"] == "No identifiers"


def test_doi_resolved_and_merged(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: csl_reply(**{"container-title": "Journal of Tests", "volume": "7"}))
    data = make_pdf(PAPER, info={"/Title": "PDF Title", "/Author": "Doe, Jane"})
    settings = HttpSettings()
    record = run(pdf_plan(data, settings, doi_resolver=stub_resolver(loopback.url)), settings)
    assert [r.path for r in loopback.requests] == ["/doi/10.1234/abc.def"]
    assert record.metadata["id"] == pdf_id(data)  # the PDF's id, not the DOI's
    assert record.metadata["title"] == "Resolved Title"  # the DOI's CSL wins
    assert record.metadata["type"] == "article-journal"
    assert record.metadata["container-title"] == "Journal of Tests"
    assert record.metadata["author"] == [{"family": "Doe", "given": "Jane"}]  # gap filled
    assert record.content.startswith("Attention Is All You Need")  # the PDF's text
    assert record.extra["merged_from"] == ["doi:10.1234/abc.def"]


def test_unresolvable_doi_warns_and_keeps_the_pdf(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: Reply(404, {"error": "no"}))
    data = make_pdf(PAPER, info={"/Title": "PDF Title"})
    settings = HttpSettings()
    with pytest.warns(MetadataWarning, match="could not be resolved"):
        record = run(pdf_plan(data, settings, doi_resolver=stub_resolver(loopback.url)), settings)
    assert record.metadata["title"] == "PDF Title"
    assert record.metadata["DOI"] == "10.1234/abc.def"


def test_the_real_doi_plan_against_the_recorded_crossref_answer(
    loopback: LoopbackServer,
) -> None:
    raw = wire("crossref-csl-10.1038_s41586-023-06221-2.json")

    def answer(received: Received) -> Reply:
        return Reply(
            200,
            raw=gzip.compress(raw),
            headers={"Content-Encoding": "gzip"},
            content_type="application/vnd.citationstyles.csl+json",
        )

    loopback.reset(answer)
    data = make_pdf([["Scientific discovery in the age of AI", f"https://doi.org/{NATURE_DOI}"]])
    settings = HttpSettings(endpoints={"doi": loopback.url})
    record = run(pdf_plan(data, settings), settings)
    assert loopback.requests[0].path == f"/{NATURE_DOI}"
    assert record.metadata["id"] == pdf_id(data)
    assert record.metadata["title"].startswith("Scientific discovery in the age of artificial")
    assert record.metadata["container-title"] == "Nature"
    assert len(record.metadata["author"]) == 30
    assert record.content.startswith("Scientific discovery in the age of AI")


def test_async_runner_gives_the_same_record(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: csl_reply())
    data = make_pdf(PAPER)
    settings = HttpSettings()
    sync = run(pdf_plan(data, settings, doi_resolver=stub_resolver(loopback.url)), settings)
    done = asyncio.run(
        arun(pdf_plan(data, settings, doi_resolver=stub_resolver(loopback.url)), settings)
    )
    assert done.to_json() == sync.to_json()


def test_merge_keeps_own_fields_and_falls_back_to_resolved_content() -> None:
    own = Fetched({"id": "url:1", "URL": "https://a", "title": "Mine"}, "", "https://a")
    resolved = Fetched({"id": "doi:x", "URL": "https://doi.org/x", "title": "Theirs"}, "abs")
    merged = merge_records(resolved, own, keep=("id", "URL"))
    assert merged.metadata == {"id": "url:1", "URL": "https://a", "title": "Theirs"}
    assert merged.content == "abs"
    assert merged.origin == "https://a"
