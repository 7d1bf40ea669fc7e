"""Scholarly metadata in a web page, read with lxml (no network).

Each field comes from the first family that has it, in the order Google Scholar's
inclusion guidelines rank them: Highwire Press ``citation_*`` tags, then schema.org
JSON-LD (``ScholarlyArticle``/``Article``, also inside ``@graph``), then Dublin Core
(``DC.*``, a last resort), then OpenGraph, then ``<title>``. trafilatura's own
metadata is not used: it prefers ``og:title`` over ``citation_title``, joins the
authors into one string and finds no DOI, journal, volume or pages (METADATA.md §1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from citeformer.metadata import csl
from citeformer.metadata.errors import UnrecognizedIdentifierError
from citeformer.metadata.ids import normalize_doi

_DOI_IN_TEXT: Final = re.compile(r"10\.\d{4,9}/[^\s\"'<>]+")
ARTICLE_TYPES: Final = frozenset(
    [
        "ScholarlyArticle",
        "MedicalScholarlyArticle",
        "Article",
        "NewsArticle",
        "TechArticle",
        "Report",
        "BlogPosting",
        "SocialMediaPosting",
        "Thesis",
        "Chapter",
    ]
)
_SCHOLARLY: Final = frozenset({"ScholarlyArticle", "MedicalScholarlyArticle"})
_FAMILIES: Final = ("highwire", "jsonld", "dc", "og", "title")
Fields = dict[str, Any]


def read_metadata(tree: Any) -> tuple[Fields, dict[str, str]]:
    """The page's metadata as CSL-ish fields, and where each came from.

    Args:
        tree: The page parsed by ``lxml.html``.

    Returns:
        ``(fields, sources)``: fields among ``title``, ``author``, ``issued``,
        ``container-title``, ``volume``, ``issue``, ``page``, ``ISSN``, ``ISBN``,
        ``DOI``, ``publisher``, ``language``, ``type`` and ``pdf_url`` (not CSL: kept
        in ``extra``); ``sources`` names the family each field came from.
    """
    meta = _meta_tags(tree)
    families = {
        "highwire": highwire(meta),
        "jsonld": jsonld(tree),
        "dc": dublin_core(meta),
        "og": opengraph(meta),
        "title": _title_tag(tree, meta),
    }
    fields: Fields = {}
    sources: dict[str, str] = {}
    for family in _FAMILIES:
        for key, value in families[family].items():
            if value and key not in fields:
                fields[key] = value
                sources[key] = family
    language = (tree.get("lang") or "").strip() if tree is not None else ""
    if language and "language" not in fields:
        fields["language"] = language
        sources["language"] = "html lang"
    return fields, sources


def highwire(meta: Mapping[str, list[str]]) -> Fields:
    """Fields from Highwire Press ``citation_*`` tags (also ``bepress_citation_*``)."""
    tag = _getter(meta, "citation_")
    out: Fields = {"title": tag("title")}
    people = meta.get("citation_author", [])
    if not people:
        # The older form: one ";"-joined string (never split on ",": "Family, Given").
        people = [p for v in meta.get("citation_authors", []) for p in v.split(";")]
    out["author"] = _names(people)
    out["issued"] = _date(tag("publication_date") or tag("date") or tag("online_date"))
    for name, kind in (
        ("journal_title", "article-journal"),
        ("conference_title", "paper-conference"),
        ("book_title", "chapter"),
    ):
        if tag(name):
            out.setdefault("container-title", tag(name))
            out.setdefault("type", kind)
    if tag("dissertation_institution"):
        out.update({"type": "thesis", "publisher": tag("dissertation_institution")})
    if tag("technical_report_institution"):
        out.update({"type": "report", "publisher": tag("technical_report_institution")})
    out.setdefault("publisher", tag("publisher"))
    out.update(volume=tag("volume"), issue=tag("issue"), ISSN=tag("issn"), ISBN=tag("isbn"))
    out["page"] = _page(tag("firstpage"), tag("lastpage"))
    out["DOI"] = find_doi(tag("doi"))
    out["pdf_url"] = tag("pdf_url")
    out["language"] = tag("language")
    return out


def jsonld(tree: Any) -> Fields:
    """Fields from the first schema.org article in the page's JSON-LD."""
    nodes = [n for script in _ld_scripts(tree) for n in _nodes(script)]
    article = next((n for n in nodes if _types(n) & _SCHOLARLY), None) or next(
        (n for n in nodes if _types(n) & ARTICLE_TYPES), None
    )
    if article is None:
        return {}
    out: Fields = {"title": _plain(article.get("headline") or article.get("name"))}
    out["author"] = [n for n in (_ld_person(p) for p in _as_list(article.get("author"))) if n]
    out["issued"] = _date(_plain(article.get("datePublished") or article.get("dateCreated")))
    parent = article.get("isPartOf")
    # isPartOf chains Issue -> Volume -> Periodical; walk it, nearest value first.
    for _ in range(4):
        if not isinstance(parent, Mapping):
            break
        kinds = _types(parent)
        if kinds & {"PublicationIssue"}:
            out.setdefault("issue", _plain(parent.get("issueNumber")))
        elif kinds & {"PublicationVolume"}:
            out.setdefault("volume", _plain(parent.get("volumeNumber")))
        elif _plain(parent.get("name")):
            out.setdefault("container-title", _plain(parent.get("name")))
            out.setdefault("ISSN", _plain(parent.get("issn")))
            if kinds & {"Periodical"}:
                out["type"] = "article-journal"
        parent = parent.get("isPartOf")
    if isinstance(parent, str) and parent.strip():
        out.setdefault("container-title", parent.strip())
    start, end = _plain(article.get("pageStart")), _plain(article.get("pageEnd"))
    out["page"] = _page(start, end) or _plain(article.get("pagination"))
    publisher = article.get("publisher")
    out["publisher"] = _plain(
        publisher.get("name") if isinstance(publisher, Mapping) else publisher
    )
    candidates = [*_as_list(article.get("identifier")), *_as_list(article.get("sameAs"))]
    candidates.append(article.get("@id"))
    out["DOI"] = next((d for d in (find_doi(_ld_value(c)) for c in candidates) if d), "")
    out["language"] = _plain(article.get("inLanguage"))
    return out


def dublin_core(meta: Mapping[str, list[str]]) -> Fields:
    """Fields from Dublin Core tags (``DC.title``, ``DC.creator``, ``DC.date``...)."""

    def tag(name: str) -> str:
        return next(iter(meta.get(f"dc.{name}", []) + meta.get(f"dcterms.{name}", [])), "")

    people = meta.get("dc.creator", []) + meta.get("dcterms.creator", [])
    issued = tag("date") or tag("issued") or tag("created")
    identifiers = meta.get("dc.identifier", []) + meta.get("dcterms.identifier", [])
    return {
        "title": tag("title"),
        "author": _names(people),
        "issued": _date(issued),
        "publisher": tag("publisher"),
        "DOI": next((d for d in map(find_doi, identifiers) if d), ""),
        "language": tag("language"),
    }


def opengraph(meta: Mapping[str, list[str]]) -> Fields:
    """Fields from OpenGraph (``og:title``, ``og:site_name``, ``article:published_time``)."""
    first = _getter(meta, "")
    return {
        "title": first("og:title"),
        "container-title": first("og:site_name"),
        "issued": _date(first("article:published_time")),
    }


def find_doi(text: str | None) -> str:
    """The DOI in ``text`` (a bare DOI, ``doi:``, a doi.org URL), or ""."""
    found = _DOI_IN_TEXT.search(text or "")
    if not found:
        return ""
    try:
        return normalize_doi(found.group(0).rstrip(".,;:)]"))
    except UnrecognizedIdentifierError:
        return ""


def _meta_tags(tree: Any) -> dict[str, list[str]]:
    """``<meta>`` values by lower-cased ``name``/``property``, in page order."""
    out: dict[str, list[str]] = {}
    if tree is None:
        return out
    for element in tree.iter("meta"):
        key = (element.get("name") or element.get("property") or "").strip().lower()
        value = " ".join((element.get("content") or "").split())
        if key and value:
            key = key.removeprefix("bepress_")
            out.setdefault(key, []).append(value)
    return out


def _getter(meta: Mapping[str, list[str]], prefix: str) -> Any:
    def first(name: str) -> str:
        return next(iter(meta.get(prefix + name, [])), "")

    return first


def _title_tag(tree: Any, meta: Mapping[str, list[str]]) -> Fields:
    element = tree.find(".//title") if tree is not None else None
    title = " ".join((element.text_content() if element is not None else "").split())
    site = next(iter(meta.get("og:site_name", [])), "")
    for separator in (" | ", " - ", " – ", " — ", " :: "):
        if site and title.endswith(separator + site):
            title = title[: -len(separator + site)]
    return {"title": title}


def _names(people: list[str]) -> list[dict[str, str]]:
    return [n for n in (csl.parse_name(p) for p in people if p.strip()) if n]


def _date(text: str) -> dict[str, Any] | None:
    return csl.date_parts(text) if text else None


def _page(first: str, last: str) -> str:
    if first and last and first != last:
        return f"{first}-{last}"
    return first


def _ld_scripts(tree: Any) -> Iterator[Any]:
    if tree is None:
        return
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        text = (script.text or "").strip()
        # Some sites wrap JSON-LD in <!-- --> or CDATA; a broken block is skipped.
        text = re.sub(r"^\s*(?:<!--|<!\[CDATA\[)|(?:-->|\]\]>)\s*$", "", text)
        try:
            yield json.loads(text)
        except ValueError:
            continue


def _nodes(data: Any) -> Iterator[Mapping[str, Any]]:
    """Every object in a JSON-LD document (top level, lists, ``@graph``)."""
    stack = [data]
    while stack:
        item = stack.pop(0)
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, Mapping):
            yield item
            if isinstance(item.get("@graph"), list):
                stack.extend(item["@graph"])
            if isinstance(item.get("mainEntity"), Mapping | list):
                stack.append(item["mainEntity"])


def _types(node: Mapping[str, Any]) -> set[str]:
    # "schema:ScholarlyArticle" and "http://schema.org/Article" name the same types.
    return {re.split(r"[/:#]", str(t))[-1] for t in _as_list(node.get("@type")) if t}


def _ld_person(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        return csl.parse_name(value)
    if not isinstance(value, Mapping):
        return {}
    family, given = _plain(value.get("familyName")), _plain(value.get("givenName"))
    if family:
        return {"family": family, "given": given} if given else {"family": family}
    name = _plain(value.get("name"))
    if "Organization" in _types(value):
        return {"literal": name} if name else {}
    return csl.parse_name(name) if name else {}


def _ld_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return _plain(value.get("value") or value.get("@id") or value.get("url"))
    return _plain(value)


def _plain(value: Any) -> str:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str | int | float)), "")
    if isinstance(value, Mapping) or value is None or isinstance(value, bool):
        return ""
    return " ".join(str(value).split())


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
