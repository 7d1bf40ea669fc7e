"""CSL-JSON checks and repairs: what reaches the renderer is valid CSL.

Services send "CSL" that is not quite CSL (Crossref: ``journal-article`` types,
lists where strings belong, JATS abstracts, dozens of extra keys). :func:`normalize`
maps it to CSL 1.0.2: known types, string fields as strings, names as lists of
name objects, dates as ``date-parts``, and only CSL variables kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from citeformer.metadata.errors import MetadataParseError


def _words(text: str) -> list[str]:
    return text.split()


TYPES: Final = frozenset(
    _words(
        """article article-journal article-magazine article-newspaper bill book broadcast
    chapter classic collection dataset document entry entry-dictionary entry-encyclopedia
    event figure graphic hearing interview legal_case legislation manuscript map
    motion_picture musical_score pamphlet paper-conference patent performance periodical
    personal_communication post post-weblog regulation report review review-book software
    song speech standard thesis treaty webpage"""
    )
)
TYPE_MAP: Final = {
    "journal-article": "article-journal",
    "book-chapter": "chapter",
    "book-section": "chapter",
    "book-part": "chapter",
    "posted-content": "article",
    "proceedings-article": "paper-conference",
    "dissertation": "thesis",
    "monograph": "book",
    "edited-book": "book",
    "reference-book": "book",
    "book-set": "book",
    "journal-issue": "periodical",
    "journal": "periodical",
    "component": "document",
    "report-series": "report",
    "peer-review": "review",
    "other": "document",
}
NAME_FIELDS: Final = frozenset(
    _words(
        """author chair collection-editor compiler composer container-author contributor curator
    director editor editorial-director executive-producer guest host illustrator interviewer
    narrator organizer original-author performer producer recipient reviewed-author
    script-writer series-creator translator"""
    )
)
DATE_FIELDS: Final = frozenset(
    _words("accessed available-date event-date issued original-date submitted")
)
STRING_FIELDS: Final = frozenset(
    _words(
        """abstract annote archive archive_collection archive_location archive-place authority
    call-number chapter-number citation-key citation-label collection-number collection-title
    container-title container-title-short dimensions division DOI edition event event-place
    event-title genre ISBN ISSN issue jurisdiction keyword language license locator medium
    note number number-of-pages number-of-volumes original-publisher original-publisher-place
    original-title page page-first part-number part-title PMCID PMID printing publisher
    publisher-place references reviewed-genre reviewed-title scale section source status
    supplement-number title title-short URL version volume volume-title year-suffix"""
    )
)
_JATS: Final = re.compile(r"<[^>]+>")
_SPACES: Final = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT: Final = re.compile(r"\s+([.,;:!?)])")
PARTICLES: Final = frozenset(
    _words("van von der den de del della di da du des la le ter ten zu dos das y")
)
SUFFIXES: Final = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})


def normalize(data: Mapping[str, Any], *, id: str) -> dict[str, Any]:
    """Valid CSL from a service's or a file's almost-CSL, with the canonical ``id``.

    Raises:
        MetadataParseError: ``data`` is not a JSON object.
    """
    if not isinstance(data, Mapping):
        raise MetadataParseError(f"CSL metadata must be a JSON object, got {type(data).__name__}")
    out: dict[str, Any] = {"id": id}
    kind = str(data.get("type") or "").strip()
    kind = TYPE_MAP.get(kind, kind)
    out["type"] = kind if kind in TYPES else "document"
    for key, value in data.items():
        if key in NAME_FIELDS:
            names = [n for n in (_name(v) for v in _as_list(value)) if n]
            if names:
                out[key] = names
        elif key in DATE_FIELDS:
            date = _date(value)
            if date:
                out[key] = date
        elif key in STRING_FIELDS:
            text = _string(value)
            if text:
                out[key] = strip_markup(text) if key == "abstract" else text
    return out


def strip_markup(text: str) -> str:
    """Text without JATS or HTML tags, whitespace collapsed."""
    flat = _SPACES.sub(" ", _JATS.sub(" ", text)).strip()
    return _SPACE_BEFORE_PUNCT.sub(r"\1", flat)


ORGANISATION_WORDS: Final = frozenset(
    {
        "organization", "organisation", "institute", "institut", "university", "universität",
        "association", "committee", "consortium", "society", "agency", "council",
        "foundation", "corporation", "inc", "ltd", "llc", "gmbh", "department", "ministry",
        "office", "bureau", "commission", "group", "team", "collaboration", "project",
        "laboratory", "centre", "center", "board", "network", "alliance", "federation",
    }
)  # fmt: skip
"""Words that make a comma-less name an organisation (a ``literal``), not given + family."""


def parse_name(text: str) -> dict[str, str]:
    """A CSL name from "Given Family", "Family, Given" or "Family, Jr., Given".

    Particles stay with the family name ("Ludwig van Beethoven" → family "van
    Beethoven"); a single word or an organisation-like name becomes ``literal``.
    """
    name = _SPACES.sub(" ", text).strip().strip(",")
    if not name:
        return {}
    if "," in name:
        parts = [p.strip() for p in name.split(",")]
        family, rest = parts[0], [p for p in parts[1:] if p]
        suffix = next((p for p in rest if p.lower() in SUFFIXES), None)
        given = " ".join(p for p in rest if p is not suffix)
        out = {"family": family}
        if given:
            out["given"] = given
        if suffix:
            out["suffix"] = suffix
        return out
    words = name.split(" ")
    if any(word.lower().strip(".,()") in ORGANISATION_WORDS for word in words):
        return {"literal": name}
    suffix = words.pop() if len(words) > 2 and words[-1].lower().rstrip(",") in SUFFIXES else None
    if len(words) == 1:
        return {"literal": name}
    start = len(words) - 1
    while start > 1 and words[start - 1].lower() in PARTICLES:
        start -= 1
    out = {"given": " ".join(words[:start]), "family": " ".join(words[start:])}
    if suffix:
        out["suffix"] = suffix
    return out


def date_parts(text: str) -> dict[str, Any] | None:
    """A CSL date from ``2023``, ``2023-05-23``, ``2023/05/23`` or an ISO timestamp."""
    found = re.match(r"^\s*(\d{4})(?:[-/](\d{1,2})(?:[-/](\d{1,2}))?)?", text or "")
    if not found:
        return None
    parts = [int(p) for p in found.groups() if p]
    return {"date-parts": [parts]}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _name(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return parse_name(value)
    if not isinstance(value, Mapping):
        return {}
    keep = {
        k: str(v).strip()
        for k, v in value.items()
        if k in {"family", "given", "literal", "suffix", "dropping-particle",
                 "non-dropping-particle"} and v is not None and str(v).strip()
    }  # fmt: skip
    if "family" not in keep and "literal" not in keep:
        if "given" in keep:
            return {"literal": keep["given"]}
        name = value.get("name")
        return parse_name(str(name)) if name else {}
    return keep


def _date(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        return date_parts(value)
    if not isinstance(value, Mapping):
        return None
    parts = value.get("date-parts")
    if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
        try:
            clean = [[int(p) for p in part[:3] if p is not None] for part in parts[:2]]
        except (TypeError, ValueError):
            clean = []
        if clean and clean[0]:
            return {"date-parts": clean}
    for key in ("raw", "literal"):
        if isinstance(value.get(key), str):
            return date_parts(value[key]) or {"literal": value[key]}
    return None


def _string(value: Any) -> str:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str | int | float) and str(v).strip()), "")
    if isinstance(value, bool) or value is None or isinstance(value, Mapping | list):
        return ""
    return _SPACES.sub(" ", str(value)).strip()
