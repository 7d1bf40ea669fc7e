"""The on-disk metadata cache: JSON in SQLite, safe across processes, no pickles.

Key: (fetcher, the fetcher's schema version, canonical id). Value: the normalised
record as JSON, with where it came from and when. The folder is read at call time:
``$CITEFORMER_CACHE`` (the model cache's folder too), else the XDG cache
(``$XDG_CACHE_HOME/citeformer``, ``~/.cache/citeformer``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Final

from citeformer.metadata.errors import MetadataError

FILE_NAME: Final = "metadata.sqlite3"
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS records (
    fetcher TEXT NOT NULL,
    version INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    fetched_at REAL NOT NULL,
    PRIMARY KEY (fetcher, version, key)
)
"""


def cache_folder() -> Path:
    """Where the cache lives (read from the environment on every call)."""
    configured = os.environ.get("CITEFORMER_CACHE", "").strip()
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "citeformer"


def offline_by_environment() -> bool:
    """Whether ``CITEFORMER_OFFLINE`` asks for cache-only fetching (read now)."""
    return os.environ.get("CITEFORMER_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


class MetadataCache:
    """A cache file; one connection per thread, WAL journal, short transactions.

    Args:
        path: The SQLite file (default: ``metadata.sqlite3`` in :func:`cache_folder`).
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else cache_folder() / FILE_NAME
        self._local = threading.local()

    def get(self, fetcher: str, version: int, key: str) -> dict[str, Any] | None:
        """The cached record, or None."""
        row = (
            self._connection()
            .execute(
                "SELECT value FROM records WHERE fetcher = ? AND version = ? AND key = ?",
                (fetcher, version, key),
            )
            .fetchone()
        )
        if row is None:
            return None
        try:
            value = json.loads(row[0])
        except ValueError:
            return None  # a damaged row is a miss; the next fetch overwrites it
        return value if isinstance(value, dict) else None

    def put(self, fetcher: str, version: int, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` (JSON-serialisable) under the key, replacing what was there."""
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        connection = self._connection()
        with connection:
            connection.execute(
                "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?)",
                (fetcher, version, key, text, time.time()),
            )

    def count(self) -> int:
        """How many records the cache holds (0 when its file does not exist yet)."""
        if not self.path.exists():
            return 0
        row = self._connection().execute("SELECT COUNT(*) FROM records").fetchone()
        return int(row[0])

    def clear(self) -> int:
        """Remove every record; returns how many there were."""
        connection = self._connection()
        with connection:
            return connection.execute("DELETE FROM records").rowcount

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(self.path, timeout=30.0)
                connection.execute("PRAGMA journal_mode=WAL")
                # WAL with NORMAL sync cannot corrupt the file; a power cut may lose the
                # last records, which the next fetch fills again. FULL would fsync per put.
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.execute(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise MetadataError(
                    f"cannot open the metadata cache {self.path} ({exc}); set CITEFORMER_CACHE "
                    "to a writable folder"
                ) from exc
            self._local.connection = connection
        return connection


_CACHES: dict[Path, MetadataCache] = {}
_CACHES_LOCK: Final = threading.Lock()


def default_cache() -> MetadataCache:
    """The cache for the folder the environment names now (one object per folder)."""
    path = cache_folder() / FILE_NAME
    with _CACHES_LOCK:
        cache = _CACHES.get(path)
        if cache is None:
            cache = _CACHES[path] = MetadataCache(path)
        return cache
