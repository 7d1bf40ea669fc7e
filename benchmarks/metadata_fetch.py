"""Metadata fetching: afetch of 200 DOIs against sequential fetch, and a cache hit.

The loopback server answers DOI content negotiation with the recorded Crossref CSL
(``../shared/wire``) after 100 ms. ``afetch`` fetches concurrently on one event
loop; ``fetch`` one after another. Each round uses a fresh cache, so every DOI is a
network fetch; the cache-hit row is one ``fetch`` of a DOI already cached.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import warnings
from pathlib import Path

from benchmarks._timing import per_call_us, table
from citeformer.metadata import MetadataCache, MetadataWarning, afetch, fetch
from tests.loopback.server import LoopbackServer, Received, Reply
from tests.shared_data import wire_dir

WIRE = wire_dir()
LATENCY = 0.1
COUNT = 200


def _responder(record: dict[str, object]) -> object:
    def respond(request: Received) -> Reply:
        doi = request.path.lstrip("/")
        body = json.dumps({**record, "DOI": doi}).encode()
        headers = {"Content-Type": "application/vnd.citationstyles.csl+json"}
        return Reply(200, raw=body, headers=headers)

    return respond


def run() -> str:
    """The table, as Markdown."""
    warnings.simplefilter("ignore", MetadataWarning)  # the served records have no abstract
    record = json.loads((WIRE / "crossref-csl-10.1038_s41586-023-06221-2.json").read_text())
    server = LoopbackServer(_responder(record), latency=LATENCY).start()  # type: ignore[arg-type]
    dois = [f"10.5555/bench.{i}" for i in range(COUNT)]
    endpoints = {"doi": server.url}
    try:
        with tempfile.TemporaryDirectory() as folder:

            def cache(name: str) -> MetadataCache:
                return MetadataCache(Path(folder) / f"{name}.sqlite3")

            started = time.perf_counter()
            asyncio.run(afetch(*dois, endpoints=endpoints, cache=cache("async")))
            concurrent = time.perf_counter() - started
            started = time.perf_counter()
            fetch(*dois, endpoints=endpoints, cache=cache("sync"))
            sequential = time.perf_counter() - started
            warm = cache("sync")
            hit_us = per_call_us(lambda: fetch(dois[0], endpoints=endpoints, cache=warm),
                                 calls=200, repeats=5)  # fmt: skip
    finally:
        server.stop()
    rows = [
        [f"{COUNT} DOIs, {LATENCY * 1000:.0f} ms each", f"{sequential:.2f} s",
         f"{concurrent:.2f} s", f"**{sequential / concurrent:.1f}x**"],
    ]  # fmt: skip
    out = table(
        "Metadata: afetch (concurrent) vs fetch (sequential), loopback DOI server",
        ["workload", "fetch", "afetch", "speed-up"],
        rows,
    )
    out += (
        f"\nA cache hit (`fetch` of a cached DOI, SQLite read and JSON decode): {hit_us:.0f} µs\n"
    )
    return out


if __name__ == "__main__":
    print(run())
