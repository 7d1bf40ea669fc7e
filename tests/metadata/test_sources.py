"""The public API: Source.from_* and fetch/afetch, through the cache, into generate and render."""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from citeformer import Citeformer, Source
from citeformer.backends.mock import MockBackend
from citeformer.metadata import (
    MetadataCache,
    MetadataNotFoundError,
    MetadataOfflineError,
    MetadataWarning,
    UnrecognizedIdentifierError,
    afetch,
    fetch,
)
from citeformer.render import FEATURED_STYLES
from tests.loopback import metadata_wire as wire
from tests.loopback.server import LoopbackServer, Received, Reply


@pytest.fixture
def services(loopback: LoopbackServer, tmp_path: Path) -> dict[str, Any]:
    loopback.reset(wire.services)
    endpoints = {"doi": loopback.url + "/doi", "arxiv": loopback.url + "/arxiv"}
    return {"endpoints": endpoints, "cache": MetadataCache(tmp_path / "cache.sqlite3")}


def test_from_doi_gives_a_citable_source(
    services: dict[str, Any], loopback: LoopbackServer
) -> None:
    source = Source.from_doi("https://doi.org/10.1038/S41586-023-06221-2", **services)
    assert source.metadata["id"] == "doi:10.1038/s41586-023-06221-2"
    assert source.metadata["type"] == "article-journal"
    assert source.content == "AI helps science."
    assert "abstract" not in source.metadata  # the text is content, not metadata
    again = Source.from_doi("doi:10.1038/s41586-023-06221-2", **services)
    assert again == source and len(loopback.requests) == 1  # the second came from the cache


def test_from_arxiv_and_its_async_twin_agree(services: dict[str, Any]) -> None:
    sync = Source.from_arxiv("arXiv:2305.14627", **services)
    services["cache"] = MetadataCache(Path(str(services["cache"].path) + ".2"))
    async_ = asyncio.run(Source.afrom_arxiv("https://arxiv.org/abs/2305.14627", **services))
    assert sync == async_
    assert sync.metadata["id"] == "arxiv:2305.14627" and sync.metadata["type"] == "article"
    assert sync.content


def test_fetch_takes_identifiers_of_every_kind_in_order(
    services: dict[str, Any], tmp_path: Path
) -> None:
    bib = tmp_path / "refs.bib"
    bib.write_text(
        "@article{knuth84, title={Literate Programming}, author={Knuth, Donald},"
        " journal={The Computer Journal}, year={1984}, abstract={On programs.}}"
    )
    sources = fetch("10.1038/s41586-023-06221-2", "arXiv:2305.14627", bib, **services)
    assert [s.metadata["id"] for s in sources] == [
        "doi:10.1038/s41586-023-06221-2", "arxiv:2305.14627", "bibtex:knuth84",
    ]  # fmt: skip
    assert asyncio.run(afetch("10.1038/s41586-023-06221-2", "arXiv:2305.14627", bib,
                              **services)) == sources  # fmt: skip
    with pytest.raises(UnrecognizedIdentifierError):
        fetch("not an identifier", **services)


def test_afetch_fetches_concurrently(loopback: LoopbackServer, services: dict[str, Any]) -> None:
    loopback.latency = 0.2
    dois = [f"10.5555/concurrent.{i}" for i in range(20)]
    started = time.perf_counter()
    sources = asyncio.run(afetch(*dois, **services))
    assert time.perf_counter() - started < 2.0  # 20 x 0.2 s one after another would be 4 s
    assert [s.metadata["id"] for s in sources] == [f"doi:{d}" for d in dois]


def test_not_found_and_offline_are_typed(services: dict[str, Any]) -> None:
    with pytest.raises(MetadataNotFoundError, match=r"10\.5555/missing"):
        Source.from_doi("10.5555/missing", **services)
    with pytest.raises(MetadataOfflineError):
        Source.from_doi("10.5555/never-fetched", offline=True, **services)


def test_a_source_without_text_warns(loopback: LoopbackServer, services: dict[str, Any]) -> None:
    def bare(request: Received) -> Reply:
        record = {"type": "article-journal", "title": "Only a title", "DOI": "10.5555/bare"}
        return Reply(200, raw=json.dumps(record).encode(), headers={"Content-Type": wire.CSL})

    loopback.reset(bare)
    with pytest.warns(MetadataWarning, match="has no text"):
        source = Source.from_doi("10.5555/bare", **services)
    assert source.content == "" and source.title == "Only a title"


def test_fetched_sources_flow_through_generate_and_every_style(services: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sources = fetch("10.1038/s41586-023-06221-2", "arXiv:2305.14627", **services)
    for style in FEATURED_STYLES:
        result = Citeformer(MockBackend("AI [1]. Citations [2]."), style=style).generate(
            "What is new?", sources
        )
        assert [r.source_id for r in result.references] and all(r.text for r in result.references)
        assert "scientific discovery" in " ".join(r.text for r in result.references).lower(), style


def test_a_pdf_resolves_its_doi_through_the_cache_and_works_offline(
    services: dict[str, Any], loopback: LoopbackServer, tmp_path: Path
) -> None:
    from tests.metadata.pdf_maker import make_pdf

    pdf = tmp_path / "paper.pdf"
    lines = ["A study of tides", "doi:10.5555/tides.1", "Tides follow the Moon."]
    pdf.write_bytes(make_pdf([lines]))
    with pytest.warns(MetadataWarning, match=r"10\.5555/tides\.1"):  # offline, DOI never cached
        offline = Source.from_pdf(pdf, offline=True, **services)
    assert offline.metadata["id"].startswith("sha256:") and "Tides follow" in offline.content
    assert loopback.requests == []  # offline touched no network
    online = Source.from_pdf(pdf, **services)
    assert online.metadata["title"] == "Scientific discovery in the age of artificial intelligence"
    assert online.metadata["id"] == offline.metadata["id"]  # the file's own id
    assert "Tides follow" in online.content
    again = asyncio.run(Source.afrom_pdf(pdf, offline=True, **services))  # now cached
    assert again == online and len(loopback.requests) == 1


def test_several_arxiv_ids_are_fetched_in_one_request(
    loopback: LoopbackServer, services: dict[str, Any]
) -> None:
    from tests.metadata.test_arxiv import entry, feed

    ids = ["2305.14627", "2101.00001", "2202.00002v3"]

    def arxiv(request: Received) -> Reply:
        asked = request.query["id_list"].split(",")
        body = feed(*(entry(i + ("" if "v" in i else "v1")) for i in reversed(asked)))
        return Reply(200, raw=body, headers={"Content-Type": "application/atom+xml"})

    loopback.reset(arxiv)
    sources = fetch(*(f"arXiv:{i}" for i in ids), **services)
    assert [s.metadata["id"] for s in sources] == [
        "arxiv:2305.14627", "arxiv:2101.00001", "arxiv:2202.00002",
    ]  # fmt: skip
    assert len(loopback.requests) == 1  # one batch, not one request per id (3 s apart)
    assert asyncio.run(afetch(*(f"arXiv:{i}" for i in ids), **services)) == sources
    assert len(loopback.requests) == 1  # all cached now
