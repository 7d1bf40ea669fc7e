"""BibTeX/biblatex fields (decoded, names split) to a CSL record.

The entry-type and field maps follow the CSL 1.0.2 variables and biblatex's field
names; ``{DNA}`` in a title becomes ``<span class="nocase">DNA</span>`` (the CSL
rich-text way to keep a style's case changes off it), and ``and others`` is dropped
from the names, as CSL-JSON exports do, with the field named in ``extra["and_others"]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

from bibtexparser.middlewares.names import NameParts

from citeformer.metadata import csl
from citeformer.metadata.errors import UnrecognizedIdentifierError
from citeformer.metadata.ids import bibtex_id, normalize_doi, parse_arxiv
from citeformer.metadata.record import Fetched

VERBATIM_FIELDS: Final = frozenset({"url", "doi", "eprint", "file", "pdf"})
"""Fields kept out of LaTeX decoding: in them ``~``, ``%`` and ``_`` are characters."""

TYPES: Final = {
    "article": "article-journal",
    "book": "book",
    "mvbook": "book",
    "bookinbook": "chapter",
    "booklet": "pamphlet",
    "collection": "book",
    "mvcollection": "book",
    "proceedings": "book",
    "mvproceedings": "book",
    "reference": "book",
    "inbook": "chapter",
    "incollection": "chapter",
    "suppbook": "chapter",
    "suppcollection": "chapter",
    "inproceedings": "paper-conference",
    "conference": "paper-conference",
    "inreference": "entry-encyclopedia",
    "manual": "report",
    "phdthesis": "thesis",
    "mastersthesis": "thesis",
    "thesis": "thesis",
    "techreport": "report",
    "report": "report",
    "misc": "document",
    "online": "webpage",
    "electronic": "webpage",
    "www": "webpage",
    "webpage": "webpage",
    "unpublished": "manuscript",
    "patent": "patent",
    "dataset": "dataset",
    "software": "software",
    "periodical": "periodical",
    "standard": "standard",
    "artwork": "graphic",
    "audio": "song",
    "music": "song",
    "video": "motion_picture",
    "movie": "motion_picture",
    "letter": "personal_communication",
    "performance": "performance",
    "review": "review",
}
"""BibTeX and biblatex entry types to CSL types (unknown ones become ``document``)."""

_GENRES: Final = {"phdthesis": "PhD thesis", "mastersthesis": "Master's thesis"}
_ARTICLE_TYPES: Final = frozenset({"article-journal", "article", "article-magazine"})
_NAME_FIELDS: Final = {"author": "author", "editor": "editor", "translator": "translator"}
_PLAIN_FIELDS: Final = {
    "volume": "volume",
    "edition": "edition",
    "chapter": "chapter-number",
    "isbn": "ISBN",
    "issn": "ISSN",
    "note": "note",
    "keywords": "keyword",
    "language": "language",
    "version": "version",
    "type": "genre",
    "address": "publisher-place",
    "location": "publisher-place",
    "publisher": "publisher",
    "eventtitle": "event-title",
    "venue": "event-place",
}
# Who published it when there is no publisher (a thesis's school, a report's institution).
_PUBLISHER_STAND_INS: Final = ("school", "institution", "organization")
_DASHES: Final = re.compile(r"\s*[\u2010-\u2015-]+\s*")
_SPACES: Final = re.compile(r"\s+")
_VERBATIM_ESCAPE: Final = re.compile(r"\\([_%&#~$])")
_URL_MACRO: Final = re.compile(r"^\\(?:url|href)\s*\{(.*?)\}.*$", re.DOTALL)
_YEAR: Final = re.compile(r"(\d{4})")
_MONTH_DAY: Final = re.compile(r"^([A-Za-z]+)\.?[\s~-]*(\d{1,2})?$")
_MONTHS: Final = tuple(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
)  # fmt: skip


def to_csl(
    kind: str, key: str, line: int | None, fields: dict[str, Any], origin: str
) -> Fetched | str:
    """The CSL record of one entry, or why it was left out.

    Args:
        kind: The entry type, lower-cased (``article``).
        key: The cite key.
        line: The entry's 0-based first line, where known.
        fields: Field values: decoded text, lists of name parts, a month number.
        origin: Where the file came from.
    """
    data: dict[str, Any] = {"type": TYPES.get(kind, "document"), "citation-key": key}
    extra: dict[str, Any] = {"format": "bibtex", "entry_type": kind, "key": key}
    if line is not None:
        extra["line"] = line + 1
    truncated = []
    for name, target in _NAME_FIELDS.items():
        if name in fields:
            names, others = _names(fields[name])
            if names:
                data[target] = names
            if others:
                truncated.append(target)
    if truncated:
        extra["and_others"] = truncated
    if title := _title(fields.get("title")):
        subtitle = _title(fields.get("subtitle"))
        data["title"] = f"{title}: {subtitle}" if subtitle else title
    container = fields.get("journaltitle") or fields.get("journal") or fields.get("booktitle")
    if container_title := _title(container):
        data["container-title"] = container_title
    if series := _title(fields.get("series")):
        data["collection-title"] = series
    for name, target in _PLAIN_FIELDS.items():
        if (text := _plain(fields.get(name))) and target not in data:
            data[target] = text
    if "publisher" not in data:
        stand_in = next((_plain(fields.get(f)) for f in _PUBLISHER_STAND_INS if fields.get(f)), "")
        if stand_in:
            data["publisher"] = stand_in
    if kind in _GENRES and "genre" not in data:
        data["genre"] = _GENRES[kind]
    number = _plain(fields.get("number"))
    issue = _plain(fields.get("issue")) or (number if data["type"] in _ARTICLE_TYPES else "")
    if issue:
        data["issue"] = issue
    if number and number != issue:
        data["number"] = number
    if page := _plain(fields.get("pages")):
        data["page"] = _DASHES.sub("-", page)  # CSL-JSON writes ranges "47-60"
    if issued := _issued(fields):
        data["issued"] = issued
    if accessed := csl.date_parts(_plain(fields.get("urldate"))):
        data["accessed"] = accessed
    _identifiers(fields, data)
    abstract = _plain(fields.get("abstract"))
    if abstract:
        data["abstract"] = abstract
    if "title" not in data and not abstract:
        return "no title and no abstract: nothing to show in a bibliography or to cite; left out"
    metadata = csl.normalize(data, id=bibtex_id(key))
    return Fetched(metadata, abstract, origin, extra)


def _names(value: Any) -> tuple[list[dict[str, str]], bool]:
    """CSL names from split name parts (or raw strings when splitting failed).

    Returns:
        The names, and whether ``and others`` was among them.
    """
    items: Iterable[Any] = value if isinstance(value, list) else re.split(r"\s+and\s+", str(value))
    names: list[dict[str, str]] = []
    others = False
    for item in items:
        name = _from_parts(item) if isinstance(item, NameParts) else csl.parse_name(_plain(item))
        if len(name) == 1 and (name.get("family") or name.get("literal", "")).lower() == "others":
            others = True
        elif name:
            names.append(name)
    return names, others


def _from_parts(parts: NameParts) -> dict[str, str]:
    if not parts.first and not parts.von and not parts.jr and len(parts.last) == 1:
        only = parts.last[0].strip()
        if only.startswith("{") and only.endswith("}"):  # {World Health Organization}
            return {"literal": _plain(only)}
    name = {
        "given": _plain(" ".join(parts.first)),
        "non-dropping-particle": _plain(" ".join(parts.von)),
        "family": _plain(" ".join(parts.last)),
        "suffix": _plain(" ".join(parts.jr)),
    }
    name = {k: v for k, v in name.items() if v}
    if "family" not in name:
        return {"literal": " ".join(name.values())} if name else {}
    return name


def _issued(fields: dict[str, Any]) -> dict[str, Any] | None:
    """``date`` (biblatex), else ``year`` with ``month`` and ``day``."""
    if date := csl.date_parts(_plain(fields.get("date"))):
        return date
    year_text = _plain(fields.get("year"))
    if not year_text:
        return None
    found = _YEAR.search(year_text)
    if not found:
        return {"literal": year_text}  # "in press", "forthcoming"
    parts = [int(found.group(1))]
    month, day = _month(fields.get("month")), _plain(fields.get("day"))
    if month:
        parts.append(month[0])
        if month[1] or day.isdigit():
            parts.append(month[1] or int(day))
    return {"date-parts": [parts]}


def _month(value: Any) -> tuple[int, int | None] | None:
    """The month (1..12) and a day, from MonthIntMiddleware's int or text it left."""
    if isinstance(value, int):
        return (value, None) if 1 <= value <= 12 else None
    text = _plain(value)
    if text.isdigit():
        return (int(text), None) if 1 <= int(text) <= 12 else None
    found = _MONTH_DAY.match(text)
    if not found or found.group(1)[:3].lower() not in _MONTHS:
        return None
    day = int(found.group(2)) if found.group(2) else None
    return _MONTHS.index(found.group(1)[:3].lower()) + 1, day


def _identifiers(fields: dict[str, Any], data: dict[str, Any]) -> None:
    """DOI, URL and an arXiv e-print (as CSL writes an arXiv preprint)."""
    if doi := _verbatim(fields.get("doi")):
        try:
            data["DOI"] = normalize_doi(doi)
        except UnrecognizedIdentifierError:
            data["DOI"] = doi
    url = _verbatim(fields.get("url"))
    howpublished = _plain(fields.get("howpublished"))
    if not url and re.match(r"^https?://\S+$", howpublished):
        url, howpublished = howpublished, ""
    if url:
        data["URL"] = url
    if howpublished and "publisher" not in data:
        data["publisher"] = howpublished
    eprint = _verbatim(fields.get("eprint"))
    prefix = _plain(fields.get("archiveprefix") or fields.get("eprinttype")).lower()
    if eprint and prefix == "arxiv":
        try:
            arxiv, _ = parse_arxiv(eprint)
        except UnrecognizedIdentifierError:
            return
        data.setdefault("number", arxiv)
        if "container-title" not in data:
            data["type"] = "article"
            data.setdefault("publisher", "arXiv")
            data.setdefault("DOI", f"10.48550/arXiv.{arxiv}")


def _title(value: Any) -> str:
    """Decoded title text with top-level ``{...}`` groups as CSL nocase spans."""
    if not isinstance(value, str):
        return ""
    out: list[str] = []
    depth, group, math = 0, "", False
    for char in value.replace("\xa0", " "):
        if char == "$":
            math = not math
        if math or char == "$" or char not in "{}":
            if depth:
                group += char
            else:
                out.append(char)
        elif char == "{":
            depth += 1
        elif depth:  # a closing brace
            depth -= 1
            if not depth:
                # Only a capital needs protecting from a style's case changes.
                out.append(csl_nocase(group) if group != group.lower() else group)
                group = ""
    if group:  # an unclosed group: keep its text
        out.append(group)
    return _SPACES.sub(" ", "".join(out)).strip()


def csl_nocase(text: str) -> str:
    """``text`` in a CSL nocase span (styles leave its case alone)."""
    return f'<span class="nocase">{text}</span>'


def _plain(value: Any) -> str:
    """Decoded text without braces, whitespace collapsed."""
    if value is None or isinstance(value, list | NameParts):
        return ""
    text = str(value).replace("\xa0", " ").replace("{", "").replace("}", "")
    return _SPACES.sub(" ", text).strip()


def _verbatim(value: Any) -> str:
    r"""A URL/DOI/e-print field: ``\url{}`` unwrapped, ``\_`` and the like unescaped."""
    text = str(value or "").strip()
    if found := _URL_MACRO.match(text):
        text = found.group(1)
    text = _VERBATIM_ESCAPE.sub(r"\1", text).replace("{", "").replace("}", "")
    return text.strip()
