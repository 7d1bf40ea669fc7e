"""The metadata cache: JSON in SQLite, offline mode, refresh, several processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from citeformer.metadata import MetadataCache, MetadataOfflineError, cache_folder, default_cache
from citeformer.metadata.http import HttpRequest, HttpResponse, HttpSettings
from citeformer.metadata.ids import Identifier
from citeformer.metadata.record import Fetched
from citeformer.metadata.service import Fetcher, Options, afetch_one, fetch_one
from tests.loopback.server import LoopbackServer, Received, Reply


def test_records_round_trip_as_json(tmp_path: Path) -> None:
    cache = MetadataCache(tmp_path / "c.sqlite3")
    assert cache.get("doi", 1, "doi:x") is None
    cache.put("doi", 1, "doi:x", {"metadata": {"id": "doi:x", "title": "Ünïcode"}})
    assert cache.get("doi", 1, "doi:x") == {"metadata": {"id": "doi:x", "title": "Ünïcode"}}
    assert cache.get("doi", 2, "doi:x") is None  # a new schema version ignores old rows
    assert b"pickle" not in (tmp_path / "c.sqlite3").read_bytes()
    assert cache.clear() == 1


def test_the_folder_is_read_from_the_environment_at_call_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEFORMER_CACHE", str(tmp_path / "one"))
    first = default_cache()
    monkeypatch.setenv("CITEFORMER_CACHE", str(tmp_path / "two"))
    assert cache_folder() == tmp_path / "two"
    assert default_cache().path != first.path
    monkeypatch.delenv("CITEFORMER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "citeformer"


WRITER = """
import sys
from citeformer.metadata import MetadataCache
cache = MetadataCache(sys.argv[1])
for i in range(200):
    cache.put("doi", 1, f"doi:{sys.argv[2]}/{i}", {"metadata": {"i": i}})
"""


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name])
               for name in ("a", "b")]  # fmt: skip
    assert [w.wait(60) for w in writers] == [0, 0]
    cache = MetadataCache(path)
    for name in ("a", "b"):
        assert all(cache.get("doi", 1, f"doi:{name}/{i}") == {"metadata": {"i": i}}
                   for i in range(200))  # fmt: skip


def _plan(
    identifier: Identifier, settings: HttpSettings
) -> Generator[HttpRequest, HttpResponse, Fetched]:
    response = yield HttpRequest("GET", f"{settings.endpoint('doi')}/{identifier.value}")
    return Fetched({"id": f"doi:{identifier.value}", "title": response.text()}, "text")


FETCHER = Fetcher("test", 1, key=lambda i: f"doi:{i.value}", plan=_plan)


def _options(loopback: LoopbackServer, tmp_path: Path, **kwargs: Any) -> Options:
    settings = HttpSettings(endpoints={"doi": loopback.url})
    return Options(settings, cache=MetadataCache(tmp_path / "c.sqlite3"), **kwargs)


def _title(request: Received) -> Reply:
    return Reply(200, raw=b"A title", content_type="text/plain")


def test_a_second_fetch_makes_no_request(loopback: LoopbackServer, tmp_path: Path) -> None:
    loopback.reset(_title)
    options = _options(loopback, tmp_path)
    first = fetch_one(FETCHER, Identifier("doi", "10.1/a"), options)
    second = fetch_one(FETCHER, Identifier("doi", "10.1/a"), options)
    assert first == second and first.metadata["title"] == "A title"
    assert len(loopback.requests) == 1
    fetch_one(FETCHER, Identifier("doi", "10.1/a"), _options(loopback, tmp_path, refresh=True))
    assert len(loopback.requests) == 2


def test_offline_answers_from_the_cache_and_fails_clearly_on_a_miss(
    loopback: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loopback.reset(_title)
    fetch_one(FETCHER, Identifier("doi", "10.1/hit"), _options(loopback, tmp_path))
    offline = _options(loopback, tmp_path, offline=True)
    assert fetch_one(FETCHER, Identifier("doi", "10.1/hit"), offline).content == "text"
    with pytest.raises(MetadataOfflineError, match="not in the metadata cache"):
        fetch_one(FETCHER, Identifier("doi", "10.1/miss"), offline)
    monkeypatch.setenv("CITEFORMER_OFFLINE", "1")
    with pytest.raises(MetadataOfflineError):
        fetch_one(FETCHER, Identifier("doi", "10.1/miss"), _options(loopback, tmp_path))
    assert len(loopback.requests) == 1  # offline never touched the network


async def test_the_async_path_shares_the_cache(loopback: LoopbackServer, tmp_path: Path) -> None:
    loopback.reset(_title)
    options = _options(loopback, tmp_path)
    fetched = await afetch_one(FETCHER, Identifier("doi", "10.1/b"), options)
    assert fetch_one(FETCHER, Identifier("doi", "10.1/b"), options) == fetched
    assert len(loopback.requests) == 1
