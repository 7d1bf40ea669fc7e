"""Turn user CSL-JSON into a clean item citeproc-py renders without warnings or errors.

Unknown keys are dropped, names/dates/strings coerced to the shapes citeproc-py expects,
and a few inputs known to trip it are rewritten (page ranges, DOI URLs, types).
Runs only when an entry is actually rendered (a cache miss).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Final

from citeformer.render._text import (
    NOCASE_CLOSE,
    NOCASE_OPEN,
    PAGE_RANGE_MARK,
    UNTITLED,
    clean_text,
    clean_value,
    plain,
)

ITEM_ID: Final = "ref"
"""The CSL id an item gets when no other is asked for."""

NAME_VARIABLES: Final = frozenset(
    {
        "author", "chair", "collection-editor", "compiler", "composer", "container-author",
        "contributor", "curator", "director", "editor", "editorial-director",
        "executive-producer", "guest", "host", "illustrator", "interviewer", "narrator",
        "organizer", "original-author", "performer", "producer", "recipient",
        "reviewed-author", "script-writer", "series-creator", "translator",
    }
)  # fmt: skip
DATE_VARIABLES: Final = frozenset(
    {
        "accessed",
        "available-date",
        "container",
        "event-date",
        "issued",
        "original-date",
        "submitted",
    }
)
TEXT_VARIABLES: Final = frozenset(
    {
        "abstract", "annote", "archive", "archive-collection", "archive-location",
        "archive-place", "authority", "division", "event-title", "part-number", "part-title",
        "printing-number", "reviewed-genre", "reviewed-title", "supplement-number",
        "volume-title",
        "call-number", "chapter-number", "collection-number", "collection-title",
        "container-title", "container-title-short", "dimensions", "DOI", "edition", "event",
        "event-place", "genre", "ISBN", "ISSN", "issue", "jurisdiction", "keyword",
        "language", "medium", "note", "number", "number-of-pages", "number-of-volumes",
        "original-publisher", "original-publisher-place", "original-title", "page",
        "page-first", "PMCID", "PMID", "publisher", "publisher-place", "references",
        "section", "source", "status", "title", "title-short", "URL", "version", "volume",
    }
)  # fmt: skip
CSL_TYPES: Final = frozenset(
    {
        "article", "article-journal", "article-magazine", "article-newspaper", "bill", "book",
        "broadcast", "chapter", "classic", "collection", "dataset", "document", "entry",
        "entry-dictionary", "entry-encyclopedia", "event", "figure", "graphic", "hearing",
        "interview", "legal_case", "legislation", "manuscript", "map", "motion_picture",
        "musical_score", "pamphlet", "paper-conference", "patent", "performance",
        "periodical", "personal_communication", "post", "post-weblog", "regulation",
        "report", "review", "review-book", "software", "song", "speech", "standard",
        "thesis", "treaty", "webpage",
    }
)  # fmt: skip
_ALIASES: Final = {
    "doi": "DOI",
    "url": "URL",
    "isbn": "ISBN",
    "issn": "ISSN",
    "pmid": "PMID",
    "pmcid": "PMCID",
    "shortTitle": "title-short",
    "journalAbbreviation": "container-title-short",
}
_NAME_PARTS: Final = ("family", "given", "dropping-particle", "non-dropping-particle", "suffix")
_MONTHS: Final = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
)  # fmt: skip

_PAGE_RANGE_RE: Final = re.compile(r"([A-Za-z]*\d+)\s*[-\u2013]\s*([A-Za-z]*\d+)")
_ISO_DATE_RE: Final = re.compile(r"\s*(-?\d{1,4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?(?:[T ].*)?\s*")
_MDY_RE: Final = re.compile(r"\s*([A-Za-z]{3,9})\.?\s+(?:(\d{1,2}),?\s+)?(\d{4})\s*")
_DMY_RE: Final = re.compile(r"\s*(\d{1,2})\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})\s*")
_DOI_PREFIX_RE: Final = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", re.IGNORECASE)
_INT_RE: Final = re.compile(r"\s*-?\d{1,4}\s*")
_MAX_MONTH_DAY: Final = (12, 31)


def normalize(
    metadata: Mapping[str, object], title: str | None, item_id: str = ITEM_ID
) -> dict[str, object]:
    """A CSL-JSON item with only supported, well-typed variables.

    Args:
        metadata: The source's CSL-JSON (anything; unknown keys are dropped).
        title: The title to use when ``metadata`` has none.
        item_id: The CSL ``id`` the item gets.
    """
    item: dict[str, object] = {"id": item_id}
    exact = [(k, v) for k, v in metadata.items() if k not in _ALIASES]
    aliased = [(_ALIASES[k], v) for k, v in metadata.items() if k in _ALIASES]
    for raw_key, value in exact + aliased:
        key = raw_key if raw_key in TEXT_VARIABLES else raw_key.replace("_", "-")
        if key in item:
            continue
        converted: object = None
        if key in NAME_VARIABLES:
            converted = _names(value) or None
        elif key in DATE_VARIABLES:
            converted = _date(value)
        elif key in TEXT_VARIABLES:
            converted = clean_value(value) or None
        if converted is not None:
            item[key] = converted
    if "title" not in item:  # not a real title: keep it out of the style's title-casing
        item["title"] = NOCASE_OPEN + plain(title or UNTITLED) + NOCASE_CLOSE
    if isinstance(doi := item.get("DOI"), str):
        item["DOI"] = _DOI_PREFIX_RE.sub("", doi) or doi
    if isinstance(page := item.get("page"), str):
        item["page"] = _PAGE_RANGE_RE.sub(_protect_range, page)
    kind = metadata.get("type")
    kind = kind.strip().lower() if isinstance(kind, str) else ""
    if kind not in CSL_TYPES:
        kind = "webpage" if "URL" in item and "container-title" not in item else "document"
    item["type"] = kind
    return item


def _protect_range(match: re.Match[str]) -> str:
    first, last = match.group(1), match.group(2)
    if len(last) > len(first):  # citeproc-py aligns digits from the left here
        return f"{first}{PAGE_RANGE_MARK}{last}"
    return f"{first}-{last}"


def _names(value: object) -> list[dict[str, str]]:
    if isinstance(value, str | Mapping):
        value = [value]
    if not isinstance(value, list | tuple):
        return []
    names: list[dict[str, str]] = []
    for entry in value:
        if isinstance(entry, str):
            text = clean_text(entry)
            if text:
                names.append({"literal": text})
        elif isinstance(entry, Mapping):
            literal = clean_value(entry.get("literal"))
            parts = {p: clean_value(entry.get(p)) for p in _NAME_PARTS}
            parts = {p: v for p, v in parts.items() if v}
            if literal:
                names.append({"literal": literal})
            elif "family" in parts:
                names.append(parts)
            elif fallback := parts.get("given") or clean_value(entry.get("name")):
                names.append({"literal": fallback})
    return names


def _date(value: object) -> dict[str, object] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _date_from_parts([[value]])
    if isinstance(value, str):
        return _date_from_string(value)
    if isinstance(value, list | tuple):
        return _date_from_parts(value if value and isinstance(value[0], list | tuple) else [value])
    if isinstance(value, Mapping):
        parts = value.get("date-parts")
        if isinstance(parts, list | tuple) and (found := _date_from_parts(parts)):
            return found
        for key in ("literal", "raw"):
            if isinstance(text := value.get(key), str) and (found := _date_from_string(text)):
                return found
    return None


def _date_from_string(text: str) -> dict[str, object] | None:
    match = _ISO_DATE_RE.fullmatch(text)
    if match:
        return _date_from_parts([[g for g in match.groups() if g is not None]])
    if (match := _MDY_RE.fullmatch(text)) and (month := _month(match.group(1))):
        return _date_from_parts([[match.group(3), month, match.group(2) or 0]])
    if (match := _DMY_RE.fullmatch(text)) and (month := _month(match.group(2))):
        return _date_from_parts([[match.group(3), month, match.group(1)]])
    text = clean_text(text)
    return {"literal": text} if text else None


def _month(word: str) -> int:
    word = word.lower()
    for number, name in enumerate(_MONTHS, start=1):
        if name.startswith(word) or (number == 9 and word == "sept"):
            return number
    return 0


def _date_from_parts(ranges: Sequence[object]) -> dict[str, object] | None:
    found = [p for p in (_date_parts(r) for r in ranges[:2]) if p]
    return {"date-parts": found} if found else None


def _date_parts(raw: object) -> list[int]:
    if not isinstance(raw, list | tuple):
        return []
    parts: list[int] = []
    for position, value in enumerate(raw[:3]):
        number = _as_int(value)
        if (
            number is None
            or number == 0
            or (position > 0 and number > _MAX_MONTH_DAY[position - 1])
        ):
            break
        parts.append(number)
    return parts


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return int(value)
    return None
