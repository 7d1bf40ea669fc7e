"""The fetch service: identifiers in, cached ``Fetched`` records out, sync or async.

Each identifier kind names a fetcher (a plan from :mod:`citeformer.metadata.http`,
or a parser for local files). Network fetchers are cached by (fetcher, its schema
version, canonical id); ``refresh=True`` refetches, and offline mode
(``offline=True`` or ``CITEFORMER_OFFLINE=1``) answers from the cache only and
fails with :class:`~citeformer.metadata.MetadataOfflineError` on a miss.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from citeformer.metadata import ids
from citeformer.metadata.cache import MetadataCache, default_cache, offline_by_environment
from citeformer.metadata.errors import MetadataOfflineError
from citeformer.metadata.http import HttpSettings, Plan, arun, run
from citeformer.metadata.record import Fetched


@dataclass(frozen=True, slots=True)
class Fetcher:
    """A network fetcher: a plan per identifier, cached under its canonical id.

    Attributes:
        name: The cache's fetcher name (``doi``, ``arxiv``, ``url``).
        version: Bumped when the record's shape changes (old rows are then ignored).
        key: The canonical id of an identifier value.
        plan: The plan fetching one identifier.
    """

    name: str
    version: int
    key: Callable[[ids.Identifier], str]
    plan: Callable[[ids.Identifier, HttpSettings], Plan[Fetched]]


@dataclass(frozen=True, slots=True)
class Options:
    """One call's fetch options.

    Attributes:
        settings: HTTP settings (endpoints, clients, timeout, retries).
        refresh: Refetch even when cached.
        offline: Cache only (None: ``CITEFORMER_OFFLINE``).
        cache: The cache (None: the environment's folder, read now).
    """

    settings: HttpSettings
    refresh: bool = False
    offline: bool | None = None
    cache: MetadataCache | None = None

    def is_offline(self) -> bool:
        """Whether this call may not use the network."""
        return offline_by_environment() if self.offline is None else bool(self.offline)

    def the_cache(self) -> MetadataCache:
        """The cache this call uses."""
        return self.cache if self.cache is not None else default_cache()


def cached_plan(fetcher: Fetcher, identifier: ids.Identifier, options: Options) -> Plan[Fetched]:
    """The fetcher's plan behind the cache: a hit returns at once, a miss is stored."""
    key = fetcher.key(identifier)
    hit = _lookup(fetcher, key, options)
    if hit is not None:
        return hit
    fetched = yield from fetcher.plan(identifier, options.settings)
    options.the_cache().put(fetcher.name, fetcher.version, key, fetched.to_json())
    return fetched


def fetch_one(fetcher: Fetcher, identifier: ids.Identifier, options: Options) -> Fetched:
    """One identifier through the cache, sync."""
    return run(cached_plan(fetcher, identifier, options), options.settings)


async def afetch_one(fetcher: Fetcher, identifier: ids.Identifier, options: Options) -> Fetched:
    """One identifier through the cache, async (the same plan, awaited)."""
    return await arun(cached_plan(fetcher, identifier, options), options.settings)


def _lookup(fetcher: Fetcher, key: str, options: Options) -> Fetched | None:
    cache = options.the_cache()
    offline = options.is_offline()
    if not options.refresh or offline:
        cached = cache.get(fetcher.name, fetcher.version, key)
        record = Fetched.from_json(cached) if cached is not None else None
        if record is not None:
            return record
    if offline:
        raise MetadataOfflineError(
            f"{key} is not in the metadata cache ({cache.path}) and fetching is offline "
            "(offline=True or CITEFORMER_OFFLINE=1): fetch it once online first",
            identifier=key,
        )
    return None


def batch_plan(
    fetcher: Fetcher,
    identifiers: Sequence[ids.Identifier],
    options: Options,
    batch: Callable[[Sequence[ids.Identifier], HttpSettings], Plan[list[Fetched]]],
    size: int,
) -> Plan[None]:
    """Fetch the uncached ones among ``identifiers`` in batches and store them.

    Afterwards each identifier is a cache hit (offline, a miss still raises when it is
    fetched on its own). Used for arXiv, which takes many ids per request and asks for
    one request every 3 s.
    """
    if options.is_offline():
        return
    cache = options.the_cache()
    missing: dict[str, ids.Identifier] = {}
    for identifier in identifiers:
        key = fetcher.key(identifier)
        if options.refresh or cache.get(fetcher.name, fetcher.version, key) is None:
            missing.setdefault(key, identifier)
    wanted = list(missing.items())
    for start in range(0, len(wanted), size):
        chunk = wanted[start : start + size]
        records = yield from batch([identifier for _, identifier in chunk], options.settings)
        for (key, _), record in zip(chunk, records, strict=True):
            cache.put(fetcher.name, fetcher.version, key, record.to_json())


async def gather_ordered(calls: Sequence[Any]) -> list[Any]:
    """Await coroutines concurrently; results in input order, the first error raised."""
    return list(await asyncio.gather(*calls))


def as_identifier(value: str | Path | ids.Identifier) -> ids.Identifier:
    """An :class:`~citeformer.metadata.ids.Identifier` from what a caller passed."""
    return value if isinstance(value, ids.Identifier) else ids.recognize(value)
