"""DOI fetching against a loopback doi.org / Crossref speaking the recorded formats."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from citeformer.backends.retry import RetryPolicy
from citeformer.metadata import csl
from citeformer.metadata.doi import (
    CSL_JSON,
    DOI_FETCHER,
    crossref_work_to_csl,
    doi_plan,
)
from citeformer.metadata.errors import (
    MetadataNotFoundError,
    MetadataParseError,
    MetadataUnavailableError,
)
from citeformer.metadata.http import HttpSettings, Plan, arun, run
from citeformer.metadata.ids import Identifier, recognize
from citeformer.metadata.record import Fetched
from tests.loopback.server import LoopbackServer, Received, Reply
from tests.shared_data import wire_dir

WIRE = wire_dir()
DOI = "10.1038/s41586-023-06221-2"
SICI = "10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-0"
RATE_HEADERS = {
    "x-api-pool": "public",
    "x-rate-limit-limit": "5",
    "x-rate-limit-interval": "1s",
    "x-concurrency-limit": "1",
}
CSL_KEYS = {"id", "type"} | csl.STRING_FIELDS | csl.NAME_FIELDS | csl.DATE_FIELDS

Runner = Callable[[Plan[Any], HttpSettings], Any]


def wire(name: str) -> bytes:
    path = WIRE / name
    if not path.is_file():
        pytest.fail(
            f"recorded wire sample {path} is missing: the metadata tests read ../shared/wire "
            "beside the repository (see ../shared/wire/README.md)"
        )
    return path.read_bytes()


def recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(wire("crossref-csl-10.1038_s41586-023-06221-2.json"))
    return data


def transform_reply(body: bytes | None = None) -> Reply:
    """The recorded transform answer as sent: gzip on the wire, Crossref's headers."""
    raw = wire("crossref-csl-10.1038_s41586-023-06221-2.json") if body is None else body
    return Reply(
        200,
        raw=gzip.compress(raw),
        headers={"Content-Encoding": "gzip", "Vary": "Accept, Accept-Encoding", **RATE_HEADERS},
        content_type=CSL_JSON,
    )


def rest_message() -> dict[str, Any]:
    """The recording reshaped as the REST API sends it (lists, other names, JATS)."""
    message = recorded()
    message["title"] = [message["title"]]
    message["container-title"] = [message["container-title"]]
    message["short-container-title"] = [message.pop("container-title-short")]
    message["abstract"] = (
        "<jats:title>Abstract</jats:title><jats:p>Artificial intelligence (AI) is being "
        "increasingly <jats:italic>integrated</jats:italic> into scientific discovery.</jats:p>"
    )
    return message


def settings(server: LoopbackServer, **kwargs: Any) -> HttpSettings:
    return HttpSettings(
        endpoints={"doi": server.url + "/doi", "crossref": server.url + "/crossref"}, **kwargs
    )


def doi(value: str = DOI) -> Identifier:
    return Identifier("doi", value)


def sync_runner(plan: Plan[Any], s: HttpSettings) -> Any:
    return run(plan, s)


def async_runner(plan: Plan[Any], s: HttpSettings) -> Any:
    return asyncio.run(arun(plan, s))


@pytest.fixture(params=["run", "arun"])
def drive(request: pytest.FixtureRequest) -> Runner:
    """The same plan driven by the sync and by the async runner."""
    return sync_runner if request.param == "run" else async_runner


def redirecting(server: LoopbackServer) -> Callable[[Received], Reply]:
    """doi.org's 302 to the agency's transform, then the recorded answer."""

    def respond(received: Received) -> Reply:
        if received.path.lower() == f"/doi/{DOI}":  # DOIs are case-insensitive
            location = f"{server.url}/crossref/works/{DOI}/transform"
            return Reply(302, headers={"Location": location})
        if received.path == f"/crossref/works/{DOI}/transform":
            return transform_reply()
        return Reply(404, raw=b"Resource not found.", content_type="text/plain")

    return respond


def test_content_negotiation_follows_the_redirect_and_reads_the_recording(
    loopback: LoopbackServer, drive: Runner
) -> None:
    loopback.reset(redirecting(loopback))
    fetched: Fetched = drive(
        doi_plan(doi("https://doi.org/" + DOI.upper()), settings(loopback)), settings(loopback)
    )
    first, second = loopback.requests
    assert first.path == f"/doi/{DOI.upper()}"
    assert first.headers["accept"] == CSL_JSON
    assert "citeformer/" in first.headers["user-agent"]
    assert second.path == f"/crossref/works/{DOI}/transform"
    meta = fetched.metadata
    assert meta["id"] == "doi:" + DOI
    assert meta["type"] == "article-journal"  # Crossref's "journal-article" mapped
    assert meta["title"] == "Scientific discovery in the age of artificial intelligence"
    assert meta["container-title"] == "Nature"
    assert meta["container-title-short"] == "Nature"
    assert meta["ISSN"] == "0028-0836"  # a list in Crossref's answer
    assert (meta["volume"], meta["issue"], meta["page"]) == ("620", "7972", "47-60")
    assert meta["issued"] == {"date-parts": [[2023, 8, 2]]}
    assert meta["URL"] == f"https://doi.org/{DOI}"  # not Crossref's http://dx.doi.org/
    assert len(meta["author"]) == 30
    assert {"given": "Petar", "family": "Veličković"} in meta["author"]
    assert {"given": "Peter", "family": "Van Katwyk"} in meta["author"]
    assert all(set(a) <= {"given", "family"} for a in meta["author"])  # no ORCID/affiliation
    assert set(meta) <= CSL_KEYS
    for crossref_only in ("reference", "license", "link", "assertion", "indexed", "score"):
        assert crossref_only not in meta
    assert fetched.content == ""  # the record has no abstract
    assert fetched.origin.endswith(f"/crossref/works/{DOI}/transform")
    assert fetched.extra["service"] == "content-negotiation"
    assert fetched.extra["rate_limit"] == RATE_HEADERS  # read from the answer, not assumed
    raw = wire("crossref-csl-10.1038_s41586-023-06221-2.json")
    assert fetched.extra["payload_sha256"].startswith("3bd16aa1f22448b3")
    assert len(raw) == 79343


def test_both_runners_give_the_same_record(loopback: LoopbackServer) -> None:
    loopback.reset(redirecting(loopback))
    s = settings(loopback)
    assert sync_runner(doi_plan(doi(), s), s) == async_runner(doi_plan(doi(), s), s)


def test_jats_abstract_becomes_the_content_and_leaves_the_metadata(
    loopback: LoopbackServer, drive: Runner
) -> None:
    data = recorded()
    data["abstract"] = "<jats:p>AI is <jats:italic>changing</jats:italic>\n science.</jats:p>"
    loopback.queue(transform_reply(json.dumps(data).encode()))
    fetched: Fetched = drive(doi_plan(doi(), settings(loopback)), settings(loopback))
    assert fetched.content == "AI is changing science."
    assert "abstract" not in fetched.metadata


def test_datacite_csl_is_taken_as_is(loopback: LoopbackServer, drive: Runner) -> None:
    datacite = {
        "type": "article",
        "id": "https://doi.org/10.5281/zenodo.1234567",
        "categories": ["Software"],
        "author": [{"family": "van Rossum", "given": "Guido"}, {"literal": "The Team"}],
        "issued": {"date-parts": [[2024, 3]]},
        "abstract": "A dataset of things.",
        "DOI": "10.5281/ZENODO.1234567",
        "publisher": "Zenodo",
        "title": "Things",
        "URL": "https://zenodo.org/record/1234567",
        "version": "1.2",
    }
    loopback.queue(Reply(200, raw=json.dumps(datacite).encode(), content_type=CSL_JSON))
    fetched: Fetched = drive(
        doi_plan(doi("10.5281/ZENODO.1234567"), settings(loopback)), settings(loopback)
    )
    assert fetched.metadata == {
        "id": "doi:10.5281/zenodo.1234567",
        "type": "article",
        "author": [{"family": "van Rossum", "given": "Guido"}, {"literal": "The Team"}],
        "issued": {"date-parts": [[2024, 3]]},
        "DOI": "10.5281/ZENODO.1234567",
        "publisher": "Zenodo",
        "title": "Things",
        "URL": "https://zenodo.org/record/1234567",
        "version": "1.2",
    }
    assert fetched.content == "A dataset of things."


def test_unknown_doi_is_not_found(loopback: LoopbackServer, drive: Runner) -> None:
    loopback.queue(Reply(404, raw=b"DOI Not Found", content_type="text/html"))
    with pytest.raises(MetadataNotFoundError, match=r"10\.1234/nope.*check the DOI") as info:
        drive(doi_plan(doi("10.1234/nope"), settings(loopback)), settings(loopback))
    assert info.value.identifier == "doi:10.1234/nope"
    assert len(loopback.requests) == 1  # a 404 is an answer: no retry, no fallback


def rest_responder(message: dict[str, Any] | None) -> Callable[[Received], Reply]:
    def respond(received: Received) -> Reply:
        if received.path.startswith("/doi/"):
            return Reply(406, raw=b"", content_type="text/plain")
        if received.path == f"/crossref/works/{DOI}" and message is not None:
            envelope = {"status": "ok", "message-type": "work", "message-version": "1.0.0"}
            return Reply(200, body={**envelope, "message": message})
        return Reply(404, raw=b"Resource not found.", content_type="text/plain")

    return respond


def test_406_falls_back_to_crossref_rest(
    loopback: LoopbackServer, drive: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEFORMER_CROSSREF_MAILTO", "lab@example.org")
    loopback.reset(rest_responder(rest_message()))
    fetched: Fetched = drive(doi_plan(doi(), settings(loopback)), settings(loopback))
    negotiate, rest = loopback.requests
    assert negotiate.path == f"/doi/{DOI}"
    assert rest.path == f"/crossref/works/{DOI}"
    assert rest.query == {"mailto": "lab@example.org"}
    assert "mailto:lab@example.org" in rest.headers["user-agent"]
    meta = fetched.metadata
    assert meta["title"] == "Scientific discovery in the age of artificial intelligence"
    assert meta["container-title"] == "Nature"  # a list in the REST shape
    assert meta["container-title-short"] == "Nature"  # short-container-title renamed
    assert meta["type"] == "article-journal"
    assert meta["id"] == "doi:" + DOI
    assert set(meta) <= CSL_KEYS
    assert fetched.content == (
        "Abstract Artificial intelligence (AI) is being increasingly integrated into "
        "scientific discovery."
    )
    assert fetched.extra["service"] == "crossref-rest"


def test_no_mailto_param_without_the_variable(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CITEFORMER_CROSSREF_MAILTO", raising=False)
    loopback.reset(rest_responder(rest_message()))
    run(doi_plan(doi(), settings(loopback)), settings(loopback))
    assert loopback.requests[1].query == {}


def test_an_html_answer_falls_back_to_crossref_rest(loopback: LoopbackServer) -> None:
    # An agency without content negotiation redirects to its landing page.
    loopback.reset(rest_responder(rest_message()))
    loopback.queue(Reply(200, raw=b"<html><title>Nature</title></html>", content_type="text/html"))
    fetched = run(doi_plan(doi(), settings(loopback)), settings(loopback))
    assert len(loopback.requests) == 2
    assert fetched.metadata["container-title"] == "Nature"


def test_406_and_no_crossref_record_is_not_found(loopback: LoopbackServer, drive: Runner) -> None:
    loopback.reset(rest_responder(None))
    with pytest.raises(MetadataNotFoundError, match=r"406.*Crossref has no record.*Check the DOI"):
        drive(doi_plan(doi(), settings(loopback)), settings(loopback))
    assert len(loopback.requests) == 2


def test_crossref_answer_that_is_not_a_work_is_a_parse_error(loopback: LoopbackServer) -> None:
    loopback.queue(
        Reply(406, raw=b"", content_type="text/plain"),
        Reply(200, body={"status": "error", "message": ["no"]}),
    )
    with pytest.raises(MetadataParseError, match="not a work record"):
        run(doi_plan(doi(), settings(loopback)), settings(loopback))


def test_429_with_retry_after_is_retried(loopback: LoopbackServer, drive: Runner) -> None:
    loopback.reset(redirecting(loopback))
    loopback.queue(Reply(429, body={"message": "slow down"}, headers={"Retry-After": "0"}))
    fetched: Fetched = drive(doi_plan(doi(), settings(loopback)), settings(loopback))
    assert [r.path for r in loopback.requests] == [
        f"/doi/{DOI}",
        f"/doi/{DOI}",
        f"/crossref/works/{DOI}/transform",
    ]
    assert fetched.metadata["container-title"] == "Nature"


def test_503_is_retried(loopback: LoopbackServer, drive: Runner) -> None:
    loopback.reset(redirecting(loopback))
    loopback.queue(Reply(503, raw=b"busy", content_type="text/plain"))
    quick = settings(loopback, retry=RetryPolicy(initial_backoff=0.01, jitter=0))
    fetched: Fetched = drive(doi_plan(doi(), quick), quick)
    assert len(loopback.requests) == 3
    assert fetched.metadata["id"] == "doi:" + DOI


def test_other_statuses_are_unavailable(loopback: LoopbackServer) -> None:
    loopback.queue(Reply(403, raw=b"forbidden", content_type="text/plain"))
    with pytest.raises(MetadataUnavailableError, match="403") as info:
        run(doi_plan(doi(), settings(loopback)), settings(loopback))
    assert info.value.status == 403


def sici_body() -> bytes:
    return json.dumps({"type": "journal-article", "title": "SICI", "DOI": SICI}).encode()


def test_sici_doi_is_percent_encoded_in_the_path(loopback: LoopbackServer) -> None:
    sent: list[bytes] = []
    client = httpx.Client(event_hooks={"request": [lambda r: sent.append(r.url.raw_path)]})
    loopback.queue(Reply(200, raw=sici_body(), content_type=CSL_JSON))
    with client:
        s = settings(loopback, client=client)
        fetched = run(doi_plan(doi("doi:" + SICI), s), s)
    assert sent == [b"/doi/10.1002/(SICI)1097-4571(199806)49:8%3C693::AID-ASI4%3E3.0.CO%3B2-0"]
    assert loopback.requests[0].path == "/doi/" + SICI  # decoded by the server: intact
    assert fetched.metadata["id"] == "doi:" + SICI.lower()
    assert fetched.metadata["URL"].endswith("%3C693::AID-ASI4%3E3.0.CO%3B2-0")


async def test_sici_doi_async(loopback: LoopbackServer) -> None:
    sent: list[bytes] = []

    async def hook(request: httpx.Request) -> None:
        sent.append(request.url.raw_path)

    loopback.queue(Reply(200, raw=sici_body(), content_type=CSL_JSON))
    async with httpx.AsyncClient(event_hooks={"request": [hook]}) as client:
        s = settings(loopback, async_client=client)
        fetched = await arun(doi_plan(doi(SICI), s), s)
    assert sent[0].endswith(b"%3C693::AID-ASI4%3E3.0.CO%3B2-0")
    assert fetched.metadata["title"] == "SICI"


async def test_arun_reads_the_recording(loopback: LoopbackServer) -> None:
    loopback.reset(redirecting(loopback))
    s = settings(loopback)
    fetched = await arun(DOI_FETCHER.plan(recognize("doi:" + DOI), s), s)
    assert fetched.metadata["id"] == DOI_FETCHER.key(recognize(f"https://dx.doi.org/{DOI}."))


def test_fetcher_key_is_canonical() -> None:
    forms = [DOI, DOI.upper(), f"https://doi.org/{DOI}", f"doi:{DOI}", f"DOI {DOI};"]
    assert {DOI_FETCHER.key(Identifier("doi", f)) for f in forms} == {"doi:" + DOI}
    assert (DOI_FETCHER.name, DOI_FETCHER.version) == ("doi", 1)


def test_crossref_work_to_csl_maps_the_rest_shape() -> None:
    message = {
        "type": "proceedings-article",
        "title": ["A Paper"],
        "container-title": ["Proc. of X"],
        "short-container-title": ["X"],
        "publisher-location": "Cham",
        "event": {"name": "X 2024", "location": "Vienna"},
        "published-print": {"date-parts": [[2024, 7]]},
        "created": {"date-parts": [[2024, 1, 2]]},
        "author": [{"given": "Ada", "family": "Lovelace", "sequence": "first"}],
    }
    meta = csl.normalize(crossref_work_to_csl(message), id="doi:10.1/x")
    assert meta == {
        "id": "doi:10.1/x",
        "type": "paper-conference",
        "title": "A Paper",
        "container-title": "Proc. of X",
        "container-title-short": "X",
        "publisher-place": "Cham",
        "event-title": "X 2024",
        "event-place": "Vienna",
        "issued": {"date-parts": [[2024, 7]]},
        "author": [{"given": "Ada", "family": "Lovelace"}],
    }
