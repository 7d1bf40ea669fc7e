"""Sort keys for author-date and author-title bibliographies.

Computed from the normalised item when an entry is rendered, and cached with it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Final

from citeformer.render._text import plain

_YEAR_RE: Final = re.compile(r"\b(\d{4})\b")
_LEADING_PUNCTUATION_RE: Final = re.compile(r"^\W+")
_MISSING: Final = "\uffff"  # empty sort values go last, as CSL requires


def sort_key(
    item: Mapping[str, object], fields: Sequence[str], *, demote: bool, undated_first: bool
) -> tuple[str, ...]:
    """The sort key of a normalised item for an author-date/author-title style.

    Args:
        item: A normalised item (see ``_csl.normalize``).
        fields: What to sort by, in order (``author``, ``year``, ``title``); a missing
            author sorts by title, as the styles substitute the title for it.
        demote: Sort "van Gogh" under G.
        undated_first: "n.d." before dated works of the same author (APA), else after.
    """
    title = _fold(str(item.get("title", "")))
    key: list[str] = []
    for field in fields:
        if field == "author":
            key.append(_names_key(item, demote) or title)
        elif field == "year":
            key.append(_year_key(item.get("issued")) or ("" if undated_first else _MISSING))
        else:
            key.append(title)
    return tuple(key)


def _names_key(item: Mapping[str, object], demote: bool) -> str:
    names = item.get("author") or item.get("editor")
    if not isinstance(names, list):
        return ""
    parts: list[str] = []
    for name in names:
        if "literal" in name:
            parts.append(_fold(name["literal"]))
            continue
        family = name.get("family", "")
        if not demote and name.get("non-dropping-particle"):
            family = f"{name['non-dropping-particle']} {family}"
        parts.append(_fold(family) + "\x01" + _fold(name.get("given", "")))
    return "\x00".join(parts)


def _year_key(issued: object) -> str:
    if isinstance(issued, Mapping):
        parts = issued.get("date-parts")
        if isinstance(parts, list) and parts and parts[0]:
            return f"{parts[0][0] + 10000:05d}"
        match = _YEAR_RE.search(str(issued.get("literal", "")))
        if match:
            return f"{int(match.group(1)) + 10000:05d}"
    return ""


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", plain(text))
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return _LEADING_PUNCTUATION_RE.sub("", folded)
