"""One bibliography per answer: all cited items registered together, then what citeproc-py lacks.

All items are registered in first-citation order and the bibliography is sorted by
the style's own ``<sort>``, so citation numbers, ordering and the context each entry
is rendered in are the style's. Each entry is rendered on its own from that shared
bibliography (entries map back to items exactly, even one that renders empty). Then:

- **year suffixes** (citeproc-py has no disambiguation): items whose in-text citations
  come out identical get ``a``, ``b``, ... in bibliography order, through the
  ``year-suffix`` variable where the style prints it, else after the year of the first
  date rendered (CSL's rule);
- **subsequent-author substitution** (``———``) for the ``complete-all`` and
  ``complete-each`` rules, from the names the entry actually printed;
- the text repairs of :mod:`~citeformer.render._repair`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from citeformer.render._marked import MarkedFormatter, strip
from citeformer.render._patched import CAPTURE, RENDER_LOCK, LoadedStyle
from citeformer.render._repair import editor_repeated, plain_entry, tidy

_YEAR_RE: Final = re.compile(r"\d{4}|\d+")
_SUBSTITUTING_RULES: Final = ("complete-all", "complete-each")


@dataclass(frozen=True, slots=True)
class RenderedItem:
    """One item as the style printed it (sentinel-marked text).

    Attributes:
        key: The item's CSL id.
        number: Its citation number in this bibliography (1-based).
        entry: The bibliography entry (the note form for styles without one).
        cite: The in-text citation of the item alone (layout affixes included).
        year_suffix: The suffix this item got (``""`` when none was needed).
        cite_names: The names its in-text citation printed (for ``collapse="year"``).
    """

    key: str
    number: int
    entry: str
    cite: str
    year_suffix: str = ""
    cite_names: str = ""


def render_items(
    style: LoadedStyle, items: Sequence[Mapping[str, object]], clusters: Sequence[Sequence[str]]
) -> list[RenderedItem]:
    """Render ``items`` as one bibliography, in the style's order.

    Args:
        style: The loaded style.
        items: CSL-JSON items with distinct lowercase ``id`` values.
        clusters: Citations in document order, each a list of item ids; the first
            citation of each item fixes its citation number.
    """
    by_key = {str(item["id"]): dict(item) for item in items}
    if style.citation_format == "label":
        for item in by_key.values():
            item.setdefault("citation-label", citation_label(item))
    try:
        raw = _citeproc(style, list(by_key.values()), clusters)
    except Exception:  # a renderer bug must not lose the answer: plain entries instead
        order = list(dict.fromkeys(key for cluster in clusters for key in cluster))
        order += [key for key in by_key if key not in order]
        return [
            RenderedItem(key, number, tidy(plain_entry(by_key[key]), by_key[key], False), "")
            for number, key in enumerate(order, start=1)
        ]
    fixed = [key for key, entry, _, _ in raw if editor_repeated(entry, by_key[key])]
    if fixed:  # the stand-in editor was printed twice: render those as authors once
        for key in fixed:
            item = by_key[key]
            item["author"] = item.pop("editor")
        raw = _citeproc(style, list(by_key.values()), clusters)
    suffixes = _year_suffixes(style, raw)
    if suffixes and style.explicit_year_suffix:
        for key, suffix in suffixes.items():
            by_key[key]["year-suffix"] = suffix
        raw = _citeproc(style, list(by_key.values()), clusters)
    rendered: list[RenderedItem] = []
    previous_names: str | None = None
    for number, (key, entry, cite, captured) in enumerate(raw, start=1):
        suffix = suffixes.get(key, "")
        if suffix and not style.explicit_year_suffix:
            entry = _insert_year_suffix(entry, captured["entry-date"], suffix)
            cite = _insert_year_suffix(cite, captured["cite-date"], suffix)
        names = captured["entry-names"]
        if (
            style.author_substitute is not None
            and style.author_substitute_rule in _SUBSTITUTING_RULES
            and names
            and names == previous_names
            and entry.startswith(names)
        ):
            entry = style.author_substitute + entry[len(names) :]
        previous_names = names
        item = by_key[key]
        entry = tidy(entry, item, style.punctuation_in_quote) if entry else plain_entry(item)
        cite = tidy(cite, item, style.punctuation_in_quote)
        cite_names = tidy(captured["cite-names"] or "", item, style.punctuation_in_quote)
        # citeproc-py numbers an item by its place in the (sorted) bibliography: first
        # citation order when the style does not sort, list order when it does (CSL).
        rendered.append(RenderedItem(key, number, entry, cite, suffix, cite_names))
    return rendered


def _citeproc(
    style: LoadedStyle, items: list[dict[str, object]], clusters: Sequence[Sequence[str]]
) -> list[tuple[str, str, str, dict[str, str | None]]]:
    """``(key, entry, cite, captured)`` per item in bibliography order."""
    from citeproc import Citation, CitationItem, CitationStylesBibliography
    from citeproc.formatter import plain as plain_formatter
    from citeproc.source.json import CiteProcJSON

    with RENDER_LOCK:  # the bibliography writes the formatter onto the shared style
        engine = style.engine
        bibliography = CitationStylesBibliography(engine, CiteProcJSON(items), MarkedFormatter)
        for cluster in clusters:
            bibliography.register(Citation([CitationItem(key) for key in cluster]))
        if style.sorts_bibliography:
            # Sort keys are rendered through the formatter: plain text, so formatting
            # sentinels (private-use characters) do not decide the order.
            engine.root.formatter = plain_formatter
            try:
                bibliography.sort()
            except Exception:  # a sort-key bug must not lose the list: keep citation order
                pass
            finally:
                engine.root.formatter = MarkedFormatter
        layout = engine.root.bibliography.layout if style.has_bibliography else None
        out: list[tuple[str, str, str, dict[str, str | None]]] = []
        for item in list(bibliography.items):
            citation = Citation([CitationItem(item.key)])
            bibliography.register(citation)  # already known: only binds the citation
            cite, cite_capture = _captured(
                lambda citation=citation: bibliography.cite(citation, _unknown)
            )
            if layout is not None:
                entry, entry_capture = _captured(
                    lambda item=item: (layout.render_bibliography([item]) or [""])[0]
                )
            else:  # 90 note styles have no bibliography: the note form stands in
                entry, entry_capture = cite, cite_capture
            out.append(
                (
                    item.key,
                    entry,
                    cite,
                    {
                        "entry-names": _first(entry_capture, "names", entry),
                        "entry-date": _first(entry_capture, "date", entry),
                        "cite-date": _first(cite_capture, "date", cite),
                        "cite-names": _first(cite_capture, "names", cite),
                    },
                )
            )
    return out


def _unknown(item: Any) -> str:
    return ""


def _captured(render: Any) -> tuple[str, list[tuple[str, str]]]:
    sink: list[tuple[str, str]] = []
    token = CAPTURE.set(sink)
    try:
        text = render()
    except Exception:  # one entry's renderer bug: that entry falls back to plain text
        text = ""
    finally:
        CAPTURE.reset(token)
    return str(text or ""), sink


def _first(captured: list[tuple[str, str]], kind: str, printed: str) -> str | None:
    # Sorting and disambiguation render names and dates too: only what was printed counts.
    return next((text for k, text in captured if k == kind and text in printed), None)


def _year_suffixes(style: LoadedStyle, raw: list[Any]) -> dict[str, str]:
    """Suffix letters for items whose in-text citations are identical."""
    if not style.add_year_suffix:
        return {}
    groups: dict[str, list[str]] = {}
    for key, _entry, cite, _captured in raw:
        text = strip(cite).strip()
        if any(c.isalnum() for c in text):  # an empty citation is not ambiguous
            groups.setdefault(text, []).append(key)
    suffixes: dict[str, str] = {}
    for keys in groups.values():
        if len(keys) > 1:
            for index, key in enumerate(keys):
                suffixes[key] = _letters(index)
    return suffixes


def _letters(index: int) -> str:
    """a, b, ..., z, aa, ab, ... (citeproc-js's sequence)."""
    letters = string.ascii_lowercase
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = letters[rest] + out
    return out


def _insert_year_suffix(text: str, date: str | None, suffix: str) -> str:
    if not date or (at := text.find(date)) < 0:
        return text
    year = _YEAR_RE.search(date)
    cut = at + (year.end() if year else len(date))
    return text[:cut] + suffix + text[cut:]


def citation_label(item: Mapping[str, object]) -> str:
    """A ``citation-label`` as citeproc-js makes one (``Smit20``, ``SmDo20``, ``SDA20``).

    citeproc-py never generates the variable, so label styles printed nothing in text.
    The letters come from the first four authors' family names (four letters of one,
    two of each of two, one of each of more), then the year's last two digits.
    """
    names = item.get("author") or item.get("editor") or []
    families = (
        [str(n.get("family") or n.get("literal") or "") for n in names if isinstance(n, Mapping)]
        if isinstance(names, list)
        else []
    )
    families = [re.sub(r"[^\w]", "", f) for f in families if f][:4]
    if not families:
        families = [re.sub(r"[^\w]", "", strip(str(item.get("title", ""))))[:4] or "Anon"]
    width = 4 if len(families) == 1 else 2 if len(families) == 2 else 1
    letters = "".join(f[:width] for f in families)
    issued = item.get("issued")
    year = ""
    parts = issued.get("date-parts") if isinstance(issued, Mapping) else None
    if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
        year = f"{int(parts[0][0]) % 100:02d}"
    return letters + year
