"""citeproc-py, corrected where it departs from CSL 1.0.2, and the parsed-style cache.

The corrections live in subclasses of citeproc-py's element classes, used only by
the styles parsed here (citeproc-py itself is left untouched for anyone else in the
process); the tree patches only touch our parsed copies. Each one names the upstream
behaviour it corrects (citeproc-py 0.11.1):

- Global name options on ``<style>`` (``demote-non-dropping-particle``,
  ``initialize-with-hyphen``) are looked up on ``<citation>``/``<bibliography>`` only, so
  APA printed "Gogh, V. van" for "van Gogh, V.".
- ``initialize="false"`` is never read (``citeproc/model.py`` reads only
  ``initialize-with``), so Chicago 18 printed "Adams, D." for "Adams, Douglas".
- A ``<group>`` counts a ``<choose>`` as having rendered a variable when *any* of its
  branches calls one, not the branch taken, so APA printed a stray "(Publication)"
  for theses without a number.
- Dates inside ``<locale><date delimiter>`` are joined with the caller's delimiter
  (NLM/Vancouver printed "2015May28").
- ``<label variable="X">`` prints its term even when X is empty.
- Sort keys keep the quotes a style puts around titles, so quoted titles sorted last.

The :data:`CAPTURE` hook records the first names and dates each entry renders, so the
year-suffix and subsequent-author passes know exactly what the style printed.
"""

from __future__ import annotations

import contextvars
import functools
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from citeformer.render import _marked
from citeformer.render.catalog import CitationFormat

_CSL_NS: Final = "http://purl.org/net/xbiblio/csl"
_NS: Final = {"cs": _CSL_NS}

RENDER_LOCK: Final = threading.RLock()
"""citeproc-py keeps per-render state on the style tree, so one render at a time."""

CAPTURE: Final[contextvars.ContextVar[list[tuple[str, str]] | None]] = contextvars.ContextVar(
    "citeformer_render_capture", default=None
)
"""While set, rendered ``names``/``date`` output is appended as ``(kind, text)``."""

_GLOBAL_NAME_OPTIONS: Final = ("demote-non-dropping-particle", "initialize-with-hyphen")
_LEADING_PUNCTUATION_RE: Final = re.compile(r"^[\W_]+")
_INITIAL_RE: Final = re.compile(r"^(?:[^\W\d_]\.?)+$")


def _record(kind: str, text: object) -> None:
    sink = CAPTURE.get()
    if sink is not None and text:
        sink.append((kind, str(text)))


@functools.cache
def _element_classes() -> dict[str, type]:
    """Our subclasses by CSL tag (built on first use: citeproc is imported lazily)."""
    from citeproc import model

    class Names(model.Names):  # type: ignore[misc]
        def render(self, *args: Any, **kwargs: Any) -> Any:
            text = super().render(*args, **kwargs)
            _record("names", text)
            return text

    class Date(model.Date):  # type: ignore[misc]
        def render(self, *args: Any, **kwargs: Any) -> Any:
            text = super().render(*args, **kwargs)
            if not self.is_locale_date():
                _record("date", text)
            return text

    class Name(model.Name):  # type: ignore[misc]
        def get_option(self, name: str, context: Any = None, sort_options: Any = None) -> Any:
            if name in _GLOBAL_NAME_OPTIONS and not (sort_options and name in sort_options):
                # Global options live on <style> only; citeproc-py asks the enclosing
                # <citation>/<bibliography>, which never has them, so APA's
                # demote-non-dropping-particle="never" was ignored ("Gogh, V. van").
                value = self.get_root().get(name)
                if value == "sort-only" and sort_options is not None:
                    return "display-and-sort"  # a sort key: the particle is demoted
                if value is not None:
                    return value.lower() == "true" if name == "initialize-with-hyphen" else value
            return super().get_option(name, context, sort_options)

        def initialize(self, given: str, mark: str, context: Any) -> str:
            if _inherited(self, "initialize", "true").lower() != "false":
                return str(super().initialize(given, mark, context))
            # CSL: with initialize="false", names stay whole; only existing initials
            # take the initialize-with punctuation ("J" -> "J.").
            parts = [
                mark.strip().join(c for c in part if c.isalpha()) + mark.strip()
                if _INITIAL_RE.match(part) and part.replace(".", "").isupper()
                else part
                for part in given.split()
            ]
            return " ".join(parts)

    class Group(model.Group):  # type: ignore[misc]
        def process(self, item: Any, context: Any = None, **kwargs: Any) -> Any:
            output: list[Any] = []
            variable_called = variable_rendered = False
            delimiter = self.get("delimiter", "")
            for child in self.iterchildren():
                counted = child
                if isinstance(child, model.Choose):
                    # Only the branch taken counts for group suppression (CSL 1.0.2).
                    counted = _taken_branch(model, child, item, context)
                calls = counted is not None and counted.calls_variable()
                variable_called = variable_called or calls
                try:
                    if isinstance(child, model.Choose):
                        text = child.render(item, context=context, delimiter=delimiter, **kwargs)
                    else:
                        text = child.render(item, context=context, **kwargs)
                except model.VariableError:
                    continue
                if text is not None:
                    output.append(text)
                    variable_rendered = variable_rendered or calls
            if output and (not variable_called or variable_rendered):
                return self.join(output)
            raise model.VariableError

    class Key(model.Key):  # type: ignore[misc]
        def sort_keys(self, items: Any, context: Any) -> Any:
            # citeproc-py compares the rendered text, quotes included, so a quoted
            # title sorted after every other one; CSL sorts by the words.
            return [_sortable(key) for key in super().sort_keys(items, context)]

    return {"names": Names, "date": Date, "name": Name, "group": Group, "key": Key}


def _sortable(key: Any) -> Any:
    if isinstance(key, list | tuple):  # citeproc-py's rich String is a list of parts
        key = "".join(str(part) for part in key)
    if isinstance(key, str):
        key = _marked.strip(key)  # formatting marks from rich-text titles: not letters
        return _LEADING_PUNCTUATION_RE.sub("", key) or key
    return key


def _inherited(element: Any, option: str, default: str) -> str:
    value = element.get(option)
    if value is not None:
        return str(value)
    for ancestor in element.iterancestors():
        if ancestor.tag in (f"{{{_CSL_NS}}}citation", f"{{{_CSL_NS}}}bibliography"):
            value = ancestor.get(option)
            if value is not None:
                return str(value)
    return str(element.get_root().get(option, default))


def _taken_branch(model: Any, choose: Any, item: Any, context: Any) -> Any:
    for branch in choose.iterchildren():
        if isinstance(branch, model.Else):
            return branch
        if isinstance(branch, model.If) and _passes(branch, item, context):
            return branch
    return None


def _passes(branch: Any, item: Any, context: Any) -> bool:
    """The condition of an ``if``/``else-if``, evaluated as citeproc-py's ``If.render`` does."""
    tests = (
        ("type", branch._type),
        ("variable", branch._variable),
        ("is-numeric", branch._is_numeric),
        ("is-uncertain-date", branch._is_uncertain_date),
        ("locator", branch._locator),
    )
    results: list[Any] = []
    for attribute, test in tests:
        if attribute in branch.attrib:
            results += test(item)
    if "position" in branch.attrib:
        results += branch._position(item, context)
    match = branch.get("match")
    if match == "any":
        return any(results)
    if match == "none":
        return not any(results)
    return all(results)


@dataclass(frozen=True, slots=True)
class LoadedStyle:
    """A parsed, corrected CSL style and the facts about it the renderer needs.

    Attributes:
        engine: The ``citeproc.CitationStylesStyle`` (opaque outside the engine).
        citation_format: From the style's ``<category citation-format>``.
        locale: The locale it was loaded with.
        has_bibliography: The style defines ``<bibliography>`` (90 note styles do not).
        sorts_bibliography: Its bibliography has a ``<sort>`` (else: citation order).
        numbers_by_citation: Numbers follow first citation (no sort, or sorted by
            ``citation-number``); otherwise by position in the sorted list.
        add_year_suffix: ``disambiguate-add-year-suffix="true"`` on ``<citation>``.
        explicit_year_suffix: The style prints ``year-suffix`` itself somewhere.
        author_substitute: ``subsequent-author-substitute`` of the bibliography.
        author_substitute_rule: Its rule (``complete-all`` by default).
        sorts_citations: The citation has a ``<sort>`` (cites in a cluster are ordered).
        collapse: ``collapse`` of the citation (``citation-number``, ``year``...).
        cite_group_delimiter: Between the years of one author's collapsed cites.
        cite_delimiter: The citation layout's delimiter between cites.
        cite_prefix: The citation layout's prefix.
        cite_suffix: The citation layout's suffix.
        superscript_cites: The in-text citation is set in superscript.
        punctuation_in_quote: The locale puts ``.``/``,`` inside closing quotes.
        demote_particles: Sort "van Gogh" under G.
    """

    engine: Any
    citation_format: CitationFormat
    locale: str
    has_bibliography: bool
    sorts_bibliography: bool
    numbers_by_citation: bool
    add_year_suffix: bool
    explicit_year_suffix: bool
    author_substitute: str | None
    author_substitute_rule: str
    sorts_citations: bool
    collapse: str | None
    cite_group_delimiter: str
    cite_delimiter: str
    cite_prefix: str
    cite_suffix: str
    superscript_cites: bool
    punctuation_in_quote: bool
    demote_particles: bool


def _patched_style_class() -> type:
    from citeproc import frontend
    from lxml import etree

    class _PatchedXml(frontend.CitationStylesXML):  # type: ignore[misc]
        def __init__(self, f: Any, validate: bool = True) -> None:
            lookup = etree.ElementNamespaceClassLookup()
            namespace = lookup.get_namespace(_CSL_NS)
            namespace[None] = frontend.CitationStylesElement
            namespace.update(
                {
                    cls.__name__.replace("_", "-").lower(): cls
                    for cls in frontend.CitationStylesElement.__subclasses__()
                }
            )
            namespace.update(_element_classes())
            self.parser = etree.XMLParser(
                remove_comments=True, encoding="UTF-8", no_network=True, resolve_entities=False
            )
            self.parser.set_element_class_lookup(lookup)
            self.xml = etree.parse(f, self.parser)
            self.root = self.xml.getroot()

    # MRO: CitationStylesStyle.__init__'s super() call lands in _PatchedXml.
    class PatchedStyle(frontend.CitationStylesStyle, _PatchedXml):  # type: ignore[misc]
        pass

    return PatchedStyle


@functools.lru_cache(maxsize=64)
def load_style(path: Path, locale: str | None, citation_format: CitationFormat) -> LoadedStyle:
    """Parse (once per path and locale) the CSL file at ``path``, corrected.

    Raises:
        ValueError: The locale is unknown or the file is not a parsable style.
    """
    with RENDER_LOCK:
        engine = _patched_style_class()(str(path), locale=locale, validate=False)
        root = engine.root
        if root.find(f"{{{_CSL_NS}}}citation") is None:
            raise ValueError("the style has no <citation> element")
        _spell_out_locale_date_delimiters(root)
        _guard_labels(root)
        return _facts(engine, citation_format, locale)


def _facts(engine: Any, citation_format: CitationFormat, locale: str | None) -> LoadedStyle:
    root = engine.root
    citation = root.find(f"{{{_CSL_NS}}}citation")
    layout = citation.find(f"{{{_CSL_NS}}}layout")
    bibliography = root.find(f"{{{_CSL_NS}}}bibliography")
    keys = (
        bibliography.xpath("./cs:sort/cs:key", namespaces=_NS) if bibliography is not None else []
    )
    number_sorted = bool(keys) and keys[0].get("variable") == "citation-number"
    sup = layout.get("vertical-align") == "sup" or bool(
        layout.xpath(
            ".//cs:text[@variable='citation-number'][@vertical-align='sup']", namespaces=_NS
        )
    )
    piq = str(root.get_locale_option("punctuation-in-quote")).lower() == "true"
    demote = root.get("demote-non-dropping-particle", "display-and-sort")
    langs = [loc.get("{http://www.w3.org/XML/1998/namespace}lang") for loc in root.locales]
    return LoadedStyle(
        engine=engine,
        citation_format=citation_format,
        locale=locale or str(root.get("default-locale") or next(filter(None, langs), "en-US")),
        has_bibliography=bibliography is not None,
        sorts_bibliography=bool(keys),
        numbers_by_citation=not keys or number_sorted,
        add_year_suffix=citation.get("disambiguate-add-year-suffix", "false") == "true",
        explicit_year_suffix=bool(
            root.xpath(".//cs:text[@variable='year-suffix']", namespaces=_NS)
        ),
        author_substitute=bibliography.get("subsequent-author-substitute")
        if bibliography is not None
        else None,
        author_substitute_rule=bibliography.get("subsequent-author-substitute-rule", "complete-all")
        if bibliography is not None
        else "complete-all",
        sorts_citations=citation.find(f"{{{_CSL_NS}}}sort") is not None,
        collapse=citation.get("collapse"),
        cite_group_delimiter=citation.get("cite-group-delimiter", ", "),
        cite_delimiter=layout.get("delimiter", ""),
        cite_prefix=layout.get("prefix", ""),
        cite_suffix=layout.get("suffix", ""),
        superscript_cites=sup,
        punctuation_in_quote=piq,
        demote_particles=demote in ("display-and-sort", "sort-only"),
    )


def _spell_out_locale_date_delimiters(root: Any) -> None:
    """Turn ``<locale><date delimiter=" ">`` into prefixes on its date parts.

    citeproc-py joins a localized date's parts with the *calling* element's delimiter
    and ignores the locale's own, so NLM/Vancouver printed ``2015May28``.
    """
    for date in root.xpath("./cs:locale/cs:date[@delimiter]", namespaces=_NS):
        delimiter = date.get("delimiter")
        for part in date.xpath("./cs:date-part", namespaces=_NS)[1:]:
            if part.get("prefix") is None:
                part.set("prefix", delimiter)


def _guard_labels(root: Any) -> None:
    """Render ``<label variable="X">`` only when X is set, as CSL requires.

    citeproc-py prints the label's term regardless, so Chicago gave ``Title. Edition.``
    for an article without an edition.
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
