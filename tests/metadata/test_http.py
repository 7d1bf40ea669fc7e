"""The plan runners: retries with Retry-After, politeness, limits, clients, User-Agent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator

import httpx
import pytest

from citeformer.backends.retry import RetryPolicy
from citeformer.errors import InvalidOptionError
from citeformer.metadata import MetadataRateLimitedError, MetadataUnavailableError
from citeformer.metadata.http import (
    HttpRequest,
    HttpResponse,
    HttpSettings,
    _Politeness,
    arun,
    run,
    user_agent,
)
from tests.loopback.server import LoopbackServer, Reply

FAST = RetryPolicy(max_retries=2, initial_backoff=0.01, max_backoff=0.02)


def get(url: str) -> Generator[HttpRequest, HttpResponse, HttpResponse]:
    response = yield HttpRequest("GET", url, headers={"Accept": "text/plain"})
    return response


def settings(**kwargs: object) -> HttpSettings:
    return HttpSettings(retry=FAST, **kwargs)  # type: ignore[arg-type]


def test_429_and_503_are_retried_honouring_retry_after(loopback: LoopbackServer) -> None:
    loopback.queue(
        Reply(429, raw=b"slow down", headers={"Retry-After": "0.2"}),
        Reply(503, raw=b"busy"),
        Reply(200, raw=b"ok", content_type="text/plain"),
    )
    started = time.perf_counter()
    response = run(get(loopback.url + "/x"), settings())
    assert response.status == 200 and response.content == b"ok"
    assert time.perf_counter() - started >= 0.2
    assert len(loopback.requests) == 3


def test_retries_end_in_a_typed_error(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: Reply(429, raw=b"no", headers={"Retry-After": "0"}))
    with pytest.raises(MetadataRateLimitedError, match="rate limiting") as caught:
        run(get(loopback.url + "/x"), settings())
    assert caught.value.retry_after == 0.0
    loopback.reset(lambda r: Reply(503, raw=b"down"))
    with pytest.raises(MetadataUnavailableError, match="503") as unavailable:
        run(get(loopback.url + "/x"), settings())
    assert unavailable.value.status == 503
    assert len(loopback.requests) == 3


def test_a_404_reaches_the_plan(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: Reply(404, raw=b"missing"))
    assert run(get(loopback.url + "/x"), settings()).status == 404
    assert len(loopback.requests) == 1


def test_an_unreachable_host_is_unavailable() -> None:
    with pytest.raises(MetadataUnavailableError, match="could not reach"):
        run(get("http://127.0.0.1:9/x"), settings())


def test_a_body_over_the_cap_is_refused(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: Reply(200, raw=b"x" * 5000, content_type="text/plain"))
    with pytest.raises(MetadataUnavailableError, match="more than 1000 bytes"):
        run(get(loopback.url + "/x"), settings(max_body=1000))
    with pytest.raises(MetadataUnavailableError, match="more than 1000 bytes"):
        asyncio.run(arun(get(loopback.url + "/x"), settings(max_body=1000)))


def test_sync_and_async_runners_agree(loopback: LoopbackServer) -> None:
    latin = {"Content-Type": "text/plain; charset=latin-1"}
    loopback.reset(lambda r: Reply(200, raw="é".encode("latin-1"), headers=latin))
    sync = run(get(loopback.url + "/x"), settings())
    both = asyncio.run(arun(get(loopback.url + "/x"), settings()))
    assert sync.content == both.content and sync.text() == both.text() == "é"


def test_injected_clients_are_used_and_not_closed(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: Reply(200, raw=b"ok", content_type="text/plain"))
    with httpx.Client(headers={"X-Mine": "1"}) as client:
        run(get(loopback.url + "/x"), settings(client=client))
        assert not client.is_closed
    assert loopback.requests[0].headers.get("x-mine") == "1"
    with pytest.raises(InvalidOptionError, match=r"httpx\.Client"):
        run(get(loopback.url + "/x"), settings(client=object()))


def test_endpoints_come_from_the_call_then_the_environment_then_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CITEFORMER_DOI_URL", raising=False)
    assert HttpSettings().endpoint("doi") == "https://doi.org"
    monkeypatch.setenv("CITEFORMER_DOI_URL", "http://mirror.example/")
    assert HttpSettings().endpoint("doi") == "http://mirror.example"
    assert HttpSettings(endpoints={"doi": "http://call"}).endpoint("doi") == "http://call"
    assert HttpSettings().endpoint("grobid") == ""


def test_the_user_agent_carries_a_mailto_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CITEFORMER_CROSSREF_MAILTO", raising=False)
    assert "mailto" not in user_agent()
    monkeypatch.setenv("CITEFORMER_CROSSREF_MAILTO", "me@example.org")
    assert user_agent().endswith("; mailto:me@example.org)")


def test_politeness_spaces_requests_per_host() -> None:
    polite = _Politeness()
    waits = [polite.reserve("https://export.arxiv.org/api/query", None) for _ in range(3)]
    assert waits[0] == 0.0
    assert waits[1] == pytest.approx(3.0, abs=0.05) and waits[2] == pytest.approx(6.0, abs=0.05)
    assert polite.reserve("https://api.crossref.org/works", None) == 0.0  # other hosts
    assert polite.reserve("http://127.0.0.1:1/x", 0.5) == 0.0
    assert polite.reserve("http://127.0.0.1:1/x", 0.5) == pytest.approx(0.5, abs=0.05)
