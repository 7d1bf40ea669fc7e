"""RIS to CSL: rispy reads each record's tags, the tag-to-CSL map is ours.

Records are cut out of the file here (``TY`` to ``ER``) before rispy sees them, so a
record with no ``ER`` at the end of the file is still read (rispy would drop it
silently) and every problem names the record's line. Tags written with one space
(``TY - JOUR``, as some exporters do) are read too.

Ids: ``ris:`` + the DOI's canonical id (``ris:doi:10.1000/xyz``) when the record has a
DOI, else ``ris:`` + the first 16 hex digits of the SHA-256 of the record's text
(trailing spaces and blank lines ignored): the same record gives the same id in every
process. The DOI itself stays in ``metadata["DOI"]``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Final

import rispy

from citeformer.metadata import csl
from citeformer.metadata.errors import UnrecognizedIdentifierError
from citeformer.metadata.files import ParseProblem, ParseResult, require_entries
from citeformer.metadata.ids import doi_id, normalize_doi
from citeformer.metadata.record import Fetched

__all__ = ["TYPES", "parse_ris"]

TYPES: Final = {
    "JOUR": "article-journal",
    "JFULL": "article-journal",
    "EJOUR": "article-journal",
    "INPR": "article-journal",
    "MGZN": "article-magazine",
    "NEWS": "article-newspaper",
    "BOOK": "book",
    "EBOOK": "book",
    "EDBOOK": "book",
    "SER": "book",
    "CHAP": "chapter",
    "ECHAP": "chapter",
    "CONF": "paper-conference",
    "CPAPER": "paper-conference",
    "THES": "thesis",
    "RPRT": "report",
    "GOVDOC": "report",
    "ELEC": "webpage",
    "WEB": "webpage",
    "ICOMM": "webpage",
    "BLOG": "post-weblog",
    "GEN": "document",
    "UNPB": "manuscript",
    "MANSCPT": "manuscript",
    "DATA": "dataset",
    "DBASE": "dataset",
    "COMP": "software",
    "PAT": "patent",
    "STAND": "standard",
    "MAP": "map",
    "PCOMM": "personal_communication",
    "ENCYC": "entry-encyclopedia",
    "DICT": "entry-dictionary",
    "VIDEO": "motion_picture",
    "MPCT": "motion_picture",
    "SOUND": "song",
    "ART": "graphic",
    "CASE": "legal_case",
    "BILL": "bill",
    "STAT": "legislation",
    "HEAR": "hearing",
    "PAMP": "pamphlet",
}
"""RIS ``TY`` values to CSL types (others become ``document``)."""

# rispy's tag map lacks ED (editor); AU, A1, A2 and ED may repeat.
_MAPPING: Final = {**rispy.TAG_KEY_MAPPING, "ED": "editors"}
_LIST_TAGS: Final = [*rispy.LIST_TYPE_TAGS, "ED"]
_TAG: Final = re.compile(r"^([A-Z][A-Z0-9])\s{1,2}-(?:\s(.*))?$")
# Book parts: A2 (secondary authors) are the editors of the book.
_PART_TYPES: Final = frozenset({"CHAP", "ECHAP", "CONF", "CPAPER", "ENCYC", "DICT"})
_BOOK_TYPES: Final = frozenset({"BOOK", "EBOOK", "EDBOOK", "CHAP", "ECHAP", "SER"})
_DATE: Final = re.compile(r"^\s*(\d{4})(?:[/-](\d{1,2})?(?:[/-](\d{1,2}))?)?")
_STRINGS: Final = {
    "volume": "volume",
    "publisher": "publisher",
    "place_published": "publisher-place",
    "edition": "edition",
    "language": "language",
    "type_of_work": "genre",
    "number_of_volumes": "number-of-volumes",
    "tertiary_title": "collection-title",
    "short_title": "title-short",
}


@dataclass(frozen=True, slots=True)
class _Record:
    line: int  # 1-based line of its TY tag
    lines: tuple[str, ...]
    terminated: bool


def parse_ris(text: str, origin: str = "") -> ParseResult:
    """CSL records from RIS text (EndNote, Zotero, Mendeley, publisher exports).

    Args:
        text: The file's content (read a path with
            :func:`~citeformer.metadata.files.read_text_or_path`).
        origin: Where it came from, recorded in each :class:`Fetched`.

    Returns:
        One :class:`Fetched` per record, in file order (a list), content the abstract
        (``AB``, else ``N2``) or ""; ``problems`` names each record left out (no
        title, a repeat) and an unterminated last record.

    Raises:
        MetadataParseError: No record at all could be read.
    """
    problems: list[ParseProblem] = []
    out: list[Fetched] = []
    seen: set[str] = set()
    for record in _records(text.removeprefix("\ufeff")):
        where = f"the record at line {record.line}"
        if not record.terminated:
            problems.append(
                ParseProblem(where, "no ER line closes it; read up to the end", dropped=False)
            )
        parsed = rispy.loads(
            "\n".join((*record.lines, "ER  - ")), mapping=_MAPPING, list_tags=_LIST_TAGS
        )
        fetched = _to_csl(parsed[0], record, origin) if parsed else None
        if fetched is None:
            problems.append(
                ParseProblem(where, "no title (TI/T1) and no abstract (AB/N2); left out")
            )
        elif fetched.metadata["id"] in seen:
            problems.append(
                ParseProblem(
                    where, f"repeats an earlier record ({fetched.metadata['id']}); left out"
                )
            )
        else:
            seen.add(fetched.metadata["id"])
            out.append(fetched)
    return require_entries(ParseResult(out, problems), "RIS", origin)


def _records(text: str) -> list[_Record]:
    """The ``TY`` ... ``ER`` records, tags rewritten to the spacing rispy expects."""
    records: list[_Record] = []
    current: list[str] | None = None
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        found = _TAG.match(line.rstrip())
        tag, value = (found.group(1), found.group(2) or "") if found else (None, line.strip())
        if tag == "TY":
            if current is not None:  # a TY before the ER: the previous record ends here
                records.append(_Record(start, tuple(current), False))
            current, start = [f"TY  - {value.strip()}"], number
        elif current is None:
            continue  # text between records (a header, blank lines)
        elif tag == "ER":
            records.append(_Record(start, tuple(current), True))
            current = None
        elif tag is not None:
            current.append(f"{tag}  - {value.strip()}")
        elif value:
            current.append(value)  # a continuation line (a wrapped abstract)
    if current is not None:
        records.append(_Record(start, tuple(current), False))
    return records


def _to_csl(record: dict[str, Any], raw: _Record, origin: str) -> Fetched | None:
    kind = _text(record.get("type_of_reference")).upper()
    data: dict[str, Any] = {"type": TYPES.get(kind, "document")}
    authors = _list(record.get("authors")) + _list(record.get("first_authors"))
    editors = _list(record.get("editors"))
    if kind in _PART_TYPES:
        editors += _list(record.get("secondary_authors"))
    for target, names in (("author", authors), ("editor", editors)):
        parsed = [n for n in (csl.parse_name(name) for name in names) if n]
        if parsed:
            data[target] = parsed
    if title := _text(record.get("title")) or _text(record.get("primary_title")):
        data["title"] = title
    containers = [
        _text(record.get(k))
        for k in ("secondary_title", "alternate_title3", "journal_name", "alternate_title2")
    ]
    if container := next((c for c in containers if c), ""):
        data["container-title"] = container
    short = _text(record.get("alternate_title1")) or _text(record.get("alternate_title2"))
    if short and short != container:
        data["container-title-short"] = short
    for key, target in _STRINGS.items():
        if value := _text(record.get(key)):
            data[target] = value
    if number := _text(record.get("number")):
        data["issue" if data["type"].startswith("article") else "number"] = number
    first, last = _text(record.get("start_page")), _text(record.get("end_page"))
    if first or last:
        data["page"] = f"{first}-{last}" if first and last and first != last else first or last
    dates = [_date(_text(record.get(k))) for k in ("date", "year", "publication_year")]
    if issued := max((d for d in dates if d), key=len, default=None):
        data["issued"] = {"date-parts": [issued]}
    if accessed := _date(_text(record.get("access_date"))):
        data["accessed"] = {"date-parts": [accessed]}
    if issn := _text(record.get("issn")):
        data["ISBN" if kind in _BOOK_TYPES else "ISSN"] = issn
    if keywords := [k for k in _list(record.get("keywords")) if k]:
        data["keyword"] = ", ".join(keywords)
    if urls := [u for u in _list(record.get("urls")) if u]:
        data["URL"] = urls[0]
    doi = _doi(_text(record.get("doi")))
    if doi:
        data["DOI"] = doi
    abstract = _text(record.get("abstract")) or _text(record.get("notes_abstract"))
    if abstract:
        data["abstract"] = abstract
    if "title" not in data and not abstract:
        return None
    metadata = csl.normalize(data, id="ris:" + (doi_id(doi) if doi else _digest(raw)))
    extra = {"format": "ris", "ris_type": kind, "line": raw.line}
    return Fetched(metadata, metadata.get("abstract", ""), origin, extra)


def _doi(text: str) -> str:
    if not text:
        return ""
    try:
        return normalize_doi(text)
    except UnrecognizedIdentifierError:
        return ""  # not a DOI (a URL or a note in DO): no DOI, no DOI-based id


def _digest(raw: _Record) -> str:
    canonical = "\n".join(line.rstrip() for line in raw.lines if line.strip())
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _date(text: str) -> list[int] | None:
    """Date parts from ``2020``, ``2020/05/17/``, ``2020/05//`` or ``2020-05-17``."""
    found = _DATE.match(text)
    if not found:
        return None
    parts = [int(p) for p in found.groups() if p]
    return parts if len(parts) < 2 or 1 <= parts[1] <= 12 else parts[:1]


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v.strip()), "")
    return " ".join(str(value).split()) if isinstance(value, str | int) else ""


def _list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, list):
        return [v.strip() for v in value if isinstance(v, str) and v.strip()]
    return []
