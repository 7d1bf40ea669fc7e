"""arXiv fetching against a loopback Atom API built from the recorded feed."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from lxml import etree

from citeformer.metadata import csl
from citeformer.metadata.arxiv import (
    ARXIV_FETCHER,
    arxiv_batch_plan,
    arxiv_plan,
    arxiv_request,
    parse_feed,
)
from citeformer.metadata.errors import (
    MetadataNotFoundError,
    MetadataParseError,
    MetadataRateLimitedError,
    MetadataUnavailableError,
)
from citeformer.metadata.http import (
    HOST_INTERVALS,
    POLITENESS,
    HttpResponse,
    HttpSettings,
    Plan,
    arun,
    run,
)
from citeformer.metadata.ids import Identifier, recognize
from citeformer.metadata.record import Fetched
from tests.loopback.server import LoopbackServer, Received, Reply
from tests.shared_data import wire_dir

WIRE = wire_dir()
ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
CSL_KEYS = {"id", "type"} | csl.STRING_FIELDS | csl.NAME_FIELDS | csl.DATE_FIELDS
SUMMARY_START = "Large language models (LLMs) have emerged as a widely-used tool"

Runner = Callable[[Plan[Any], HttpSettings], Any]


def recording() -> bytes:
    path = WIRE / "arxiv-2305.14627.atom.xml"
    if not path.is_file():
        pytest.fail(
            f"recorded wire sample {path} is missing: the metadata tests read ../shared/wire "
            "beside the repository (see ../shared/wire/README.md)"
        )
    return path.read_bytes()


def recorded_feed() -> Any:
    return etree.fromstring(recording())


def recorded_entry() -> Any:
    return recorded_feed().find(f"{ATOM}entry")


def feed(*entries: Any) -> bytes:
    """The recorded feed with its entry replaced by ``entries`` (totalResults kept true)."""
    root = recorded_feed()
    for old in root.findall(f"{ATOM}entry"):
        root.remove(old)
    for entry in entries:
        root.append(copy.deepcopy(entry))
    total = root.find("{http://a9.com/-/spec/opensearch/1.1/}totalResults")
    total.text = str(len(entries))
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out


def entry(arxiv: str, *, title: str | None = None, authors: Sequence[str] = ()) -> Any:
    """An entry built from the recorded one, for another paper."""
    node = recorded_entry()
    node.find(f"{ATOM}id").text = f"http://arxiv.org/abs/{arxiv}"
    if title is not None:
        node.find(f"{ATOM}title").text = title
    if authors:
        for old in node.findall(f"{ATOM}author"):
            node.remove(old)
        for name in authors:
            author = etree.SubElement(node, f"{ATOM}author")
            etree.SubElement(author, f"{ATOM}name").text = name
    return node


def error_entry(bad: str) -> Any:
    """arXiv's error entry (User's Manual 3.4), as a feed entry."""
    return etree.fromstring(
        f"""<entry xmlns="http://www.w3.org/2005/Atom">
  <id>http://arxiv.org/api/errors#incorrect_id_format_for_{bad}</id>
  <title>Error</title>
  <summary>incorrect id format for {bad}</summary>
  <updated>2026-04-23T00:00:00-04:00</updated>
  <link href="http://arxiv.org/api/errors#incorrect_id_format_for_{bad}" rel="alternate"
        type="text/html"/>
  <author><name>arXiv api core</name></author>
</entry>""".encode()
    )


def atom(body: bytes, status: int = 200) -> Reply:
    return Reply(status, raw=body, content_type="application/atom+xml")


def settings(server: LoopbackServer) -> HttpSettings:
    return HttpSettings(endpoints={"arxiv": server.url + "/api/query"})


def sync_runner(plan: Plan[Any], s: HttpSettings) -> Any:
    return run(plan, s)


def async_runner(plan: Plan[Any], s: HttpSettings) -> Any:
    return asyncio.run(arun(plan, s))


@pytest.fixture(params=["run", "arun"])
def drive(request: pytest.FixtureRequest) -> Runner:
    """The same plan driven by the sync and by the async runner."""
    return sync_runner if request.param == "run" else async_runner


def by_id_list(received: Received) -> Reply:
    """A server answering each asked id from the recording, in reverse order."""
    asked = received.query.get("id_list", "").split(",")
    entries = [entry(a + ("" if a[-2:-1] == "v" else "v1"), title=f"Paper {a}") for a in asked]
    return atom(feed(*reversed(entries)))


def test_recorded_entry(loopback: LoopbackServer, drive: Runner) -> None:
    loopback.queue(atom(recording()))
    s = settings(loopback)
    fetched: Fetched = drive(arxiv_plan(recognize("arXiv:2305.14627"), s), s)
    (request,) = loopback.requests
    assert request.path == "/api/query"
    assert request.query == {"id_list": "2305.14627", "max_results": "1"}
    assert request.headers["accept"] == "application/atom+xml"
    assert fetched.metadata == {
        "id": "arxiv:2305.14627",
        "type": "article",
        "title": "Enabling Large Language Models to Generate Text with Citations",
        "author": [
            {"given": "Tianyu", "family": "Gao"},
            {"given": "Howard", "family": "Yen"},
            {"given": "Jiatong", "family": "Yu"},
            {"given": "Danqi", "family": "Chen"},
        ],
        "publisher": "arXiv",
        "number": "2305.14627",
        "DOI": "10.48550/arXiv.2305.14627",
        "URL": "https://arxiv.org/abs/2305.14627",
        "issued": {"date-parts": [[2023, 5, 24]]},
        "version": "v2",
        "keyword": "cs.CL, cs.IR, cs.LG",
    }
    assert fetched.content.startswith(SUMMARY_START)
    assert fetched.content.endswith("synthesize information from multiple sources.")
    assert fetched.extra["comment"].startswith("Accepted by EMNLP 2023")
    assert fetched.extra["updated"] == "2023-10-31T15:04:35Z"
    assert fetched.extra["payload_sha256"].startswith("9a975d9151d832f8")
    assert fetched.origin.startswith(loopback.url + "/api/query?")


def test_both_runners_give_the_same_records(loopback: LoopbackServer) -> None:
    loopback.reset(by_id_list)
    s = settings(loopback)
    asked = [recognize("2305.14627v2"), recognize("solv-int/9901001")]
    assert sync_runner(arxiv_batch_plan(asked, s), s) == async_runner(arxiv_batch_plan(asked, s), s)


def test_feed_link_is_not_a_paper() -> None:
    response = HttpResponse(200, {}, recording(), "u")
    (only,) = parse_feed(response, ["2305.14627"])
    assert (only.arxiv_id, only.version) == ("2305.14627", "v2")


def test_a_version_is_asked_for_and_named(loopback: LoopbackServer) -> None:
    loopback.reset(by_id_list)
    s = settings(loopback)
    fetched = run(arxiv_plan(recognize("https://arxiv.org/abs/2305.14627v1"), s), s)
    assert loopback.requests[0].query["id_list"] == "2305.14627v1"
    assert fetched.metadata["id"] == "arxiv:2305.14627"
    assert fetched.metadata["version"] == "v1"
    assert fetched.metadata["URL"] == "https://arxiv.org/abs/2305.14627v1"


@pytest.mark.parametrize("status", [400, 200])
def test_error_entry_is_not_found(loopback: LoopbackServer, drive: Runner, status: int) -> None:
    loopback.queue(atom(feed(error_entry("2305.1462799")), status))
    s = settings(loopback)
    with pytest.raises(MetadataNotFoundError, match=r"incorrect id format.*Check the id"):
        drive(arxiv_plan(Identifier("arxiv", "2305.14627"), s), s)
    assert len(loopback.requests) == 1  # an error entry is an answer: not asked again


def test_error_entry_about_the_query_is_a_parse_error(loopback: LoopbackServer) -> None:
    bad = error_entry("x")
    bad.find(f"{ATOM}summary").text = "max_results must be an integer"
    bad.find(f"{ATOM}id").text = "http://arxiv.org/api/errors#max_results_must_be_an_integer"
    loopback.queue(atom(feed(bad), 400))
    s = settings(loopback)
    with pytest.raises(MetadataParseError, match="max_results must be an integer"):
        run(arxiv_plan(Identifier("arxiv", "2305.14627"), s), s)


def test_empty_feed_twice_is_not_found_after_exactly_two_requests(
    loopback: LoopbackServer, drive: Runner
) -> None:
    loopback.reset(lambda _: atom(feed()))
    s = settings(loopback)
    with pytest.raises(MetadataNotFoundError, match=r"2305\.14627.*asked 2 times") as info:
        drive(arxiv_plan(Identifier("arxiv", "2305.14627"), s), s)
    assert info.value.identifier == "arxiv:2305.14627"
    assert len(loopback.requests) == 2


def test_empty_feed_once_is_retried(loopback: LoopbackServer) -> None:
    loopback.queue(atom(feed()), atom(recording()))
    s = settings(loopback)
    fetched = run(arxiv_plan(Identifier("arxiv", "2305.14627"), s), s)
    assert len(loopback.requests) == 2
    assert fetched.content.startswith(SUMMARY_START)


def test_old_style_id_with_particles_related_fields_and_wrapped_text(
    loopback: LoopbackServer, drive: Runner
) -> None:
    old = entry(
        "solv-int/9901001v1",
        title="Integrable   systems\n    and their\n  hierarchies",
        authors=["Ludwig van Beethoven", "Jean de la Fontaine", "Martin Luther King Jr."],
    )
    old.find(f"{ATOM}summary").text = "We study\n  integrable\n  systems."
    old.find(f"{ATOM}published").text = "1999-01-05T12:00:00Z"
    etree.SubElement(old, f"{ARXIV}doi").text = "10.1016/S0375-9601(99)00001-1"
    etree.SubElement(old, f"{ARXIV}journal_ref").text = "Phys. Lett. A 251 (1999) 1-5"
    loopback.queue(atom(feed(old)))
    s = settings(loopback)
    fetched: Fetched = drive(arxiv_plan(recognize("solv-int/9901001v1"), s), s)
    assert loopback.requests[0].query["id_list"] == "solv-int/9901001v1"
    meta = fetched.metadata
    assert meta["id"] == "arxiv:solv-int/9901001"
    assert meta["number"] == "solv-int/9901001"
    assert meta["DOI"] == "10.48550/arXiv.solv-int/9901001"
    assert meta["version"] == "v1"
    assert meta["title"] == "Integrable systems and their hierarchies"
    assert meta["issued"] == {"date-parts": [[1999, 1, 5]]}
    assert meta["author"] == [
        {"given": "Ludwig", "family": "van Beethoven"},
        {"given": "Jean", "family": "de la Fontaine"},
        {"given": "Martin Luther", "family": "King", "suffix": "Jr."},
    ]
    assert meta["note"] == (
        "Published version DOI: 10.1016/S0375-9601(99)00001-1; "
        "Journal reference: Phys. Lett. A 251 (1999) 1-5"
    )
    assert set(meta) <= CSL_KEYS
    assert fetched.content == "We study integrable systems."
    assert fetched.extra["published_doi"] == "10.1016/S0375-9601(99)00001-1"
    assert fetched.extra["journal_ref"] == "Phys. Lett. A 251 (1999) 1-5"


def test_subject_class_spelling_matches_the_archive_answer(loopback: LoopbackServer) -> None:
    # arXiv answers math.GT/0309136 as math/0309136; the record keeps the asked id as key.
    loopback.queue(atom(feed(entry("math/0309136v1"))))
    s = settings(loopback)
    identifier = recognize("arXiv:math.GT/0309136")
    fetched = run(arxiv_plan(identifier, s), s)
    assert fetched.metadata["id"] == ARXIV_FETCHER.key(identifier) == "arxiv:math.GT/0309136"
    assert fetched.metadata["number"] == "math/0309136"


def test_batch_in_one_request_returned_in_input_order(
    loopback: LoopbackServer, drive: Runner
) -> None:
    loopback.reset(by_id_list)
    s = settings(loopback)
    asked = [recognize(i) for i in ("2305.14627", "solv-int/9901001", "1706.03762", "2305.14627")]
    fetched: list[Fetched] = drive(arxiv_batch_plan(asked, s), s)
    (request,) = loopback.requests
    assert request.query == {
        "id_list": "2305.14627,solv-int/9901001,1706.03762",
        "max_results": "3",
    }
    assert [f.metadata["id"] for f in fetched] == [
        "arxiv:2305.14627",
        "arxiv:solv-int/9901001",
        "arxiv:1706.03762",
        "arxiv:2305.14627",
    ]
    assert [f.metadata["title"] for f in fetched][:3] == [
        "Paper 2305.14627",
        "Paper solv-int/9901001",
        "Paper 1706.03762",
    ]


def test_batch_asks_again_for_the_missing_then_names_them(loopback: LoopbackServer) -> None:
    def answer(received: Received) -> Reply:
        asked = received.query["id_list"].split(",")
        return atom(feed(*[entry(a + "v1") for a in asked if a != "2401.00001"]))

    loopback.reset(answer)
    s = settings(loopback)
    asked = [Identifier("arxiv", "2305.14627"), Identifier("arxiv", "2401.00001")]
    with pytest.raises(MetadataNotFoundError, match=r"2401\.00001") as info:
        run(arxiv_batch_plan(asked, s), s)
    assert info.value.identifier == "arxiv:2401.00001"
    assert [r.query["id_list"] for r in loopback.requests] == [
        "2305.14627,2401.00001",
        "2401.00001",
    ]


def test_batch_of_none_sends_nothing(loopback: LoopbackServer) -> None:
    assert run(arxiv_batch_plan([], settings(loopback)), settings(loopback)) == []
    assert loopback.requests == []


def test_rate_exceeded_body_is_rate_limited(loopback: LoopbackServer) -> None:
    loopback.queue(Reply(200, raw=b"Rate exceeded.", content_type="text/plain"))
    s = settings(loopback)
    with pytest.raises(MetadataRateLimitedError, match="one request every 3 s"):
        run(arxiv_plan(Identifier("arxiv", "2305.14627"), s), s)


def test_non_feed_answers(loopback: LoopbackServer) -> None:
    s = settings(loopback)
    plan = arxiv_plan
    loopback.queue(Reply(200, raw=b"<html>hello</html>", content_type="text/html"))
    with pytest.raises(MetadataParseError, match="not an Atom feed"):
        run(plan(Identifier("arxiv", "2305.14627"), s), s)
    loopback.queue(Reply(404, raw=b"no", content_type="text/plain"))
    with pytest.raises(MetadataNotFoundError, match="404"):
        run(plan(Identifier("arxiv", "2305.14627"), s), s)
    loopback.queue(Reply(403, raw=b"no", content_type="text/plain"))
    with pytest.raises(MetadataUnavailableError, match="403"):
        run(plan(Identifier("arxiv", "2305.14627"), s), s)


def with_interval(plan: Plan[Any], gap: float) -> Plan[Any]:
    """``plan`` with every request's politeness interval set to ``gap``."""
    response: Any = None
    while True:
        try:
            request = plan.send(response)
        except StopIteration as done:
            return done.value
        response = yield dataclasses.replace(request, interval=gap)


def test_two_requests_are_spaced_by_the_interval(loopback: LoopbackServer) -> None:
    arrivals: list[float] = []

    def answer(received: Received) -> Reply:
        arrivals.append(time.monotonic())
        return atom(recording())

    loopback.reset(answer)
    s = settings(loopback)
    for _ in range(2):
        run(with_interval(arxiv_plan(Identifier("arxiv", "2305.14627"), s), 0.3), s)
    assert arrivals[1] - arrivals[0] >= 0.28


async def test_concurrent_async_requests_are_spaced(loopback: LoopbackServer) -> None:
    arrivals: list[float] = []

    def answer(received: Received) -> Reply:
        arrivals.append(time.monotonic())
        return atom(recording())

    loopback.reset(answer)
    s = settings(loopback)
    plans = [with_interval(arxiv_plan(Identifier("arxiv", "2305.14627"), s), 0.3) for _ in "ab"]
    first, second = await asyncio.gather(*(arun(p, s) for p in plans))
    assert first == second
    assert arrivals[1] - arrivals[0] >= 0.28


def test_arxiv_hosts_are_spaced_by_three_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CITEFORMER_ARXIV_URL", raising=False)
    request = arxiv_request(["2305.14627"], HttpSettings())
    assert request.url == "https://export.arxiv.org/api/query"
    assert request.interval is None  # the host's default: arXiv's 3 s
    assert HOST_INTERVALS["export.arxiv.org"] == 3.0
    # Book two slots without sleeping: the second starts 3 s after the first.
    first = POLITENESS.reserve(request.url, request.interval)
    second = POLITENESS.reserve(request.url, request.interval)
    assert second - first == pytest.approx(3.0, abs=0.05)
    # The loopback host has no default interval: tests are not slowed.
    assert POLITENESS.reserve("http://127.0.0.1:1/api/query", None) == 0.0


def test_endpoint_from_the_environment(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEFORMER_ARXIV_URL", loopback.url + "/mirror/query")
    loopback.queue(atom(recording()))
    run(arxiv_plan(Identifier("arxiv", "2305.14627"), HttpSettings()), HttpSettings())
    assert loopback.requests[0].path == "/mirror/query"


def test_fetcher() -> None:
    assert (ARXIV_FETCHER.name, ARXIV_FETCHER.version) == ("arxiv", 1)
    assert ARXIV_FETCHER.key(recognize("10.48550/arXiv.2305.14627")) == "arxiv:2305.14627"
    # The cache key keeps an asked version (v2 is its own record); the id never does.
    assert ARXIV_FETCHER.key(recognize("arXiv:2305.14627v2")) == "arxiv:2305.14627v2"
    assert ARXIV_FETCHER.key(recognize("solv-int/9901001")) == "arxiv:solv-int/9901001"
