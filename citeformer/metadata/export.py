r"""CSL-JSON to BibTeX and RIS: what ``citeformer fetch --format bibtex|ris`` writes.

BibTeX goes through bibtexparser 2's writer, RIS through rispy, and both read back
with :func:`~citeformer.metadata.sources.from_bibtex` and ``from_ris`` to the same
type, title, names, container, volume, issue, pages, year, DOI and URL. BibTeX is
written as UTF-8 with LaTeX's specials escaped (``\&``, ``\%``, ``\textasciitilde{}``,
``-{}-`` so two hyphens stay two); a CSL nocase span becomes a ``{...}`` group,
``<i>``, ``<b>``, ``<sup>``, ``<sub>`` and small caps their ``\text..`` macros, and
``$...$`` math holding ``\``, ``^`` or ``_`` stays as written. RIS has no markup:
the tags are dropped there.
"""

from __future__ import annotations

import itertools
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import rispy
from bibtexparser.entrypoint import write_string
from bibtexparser.library import Library
from bibtexparser.model import Block, Entry, Field
from bibtexparser.writer import BibtexFormat

from citeformer.core import Source
from citeformer.metadata import csl
from citeformer.metadata.errors import UnrecognizedIdentifierError
from citeformer.metadata.ids import parse_arxiv
from citeformer.metadata.ris import TYPES as _RIS_READ_TYPES

__all__ = ["BIBTEX_TYPES", "RIS_TYPES", "to_bibtex", "to_ris"]

BIBTEX_TYPES: Final = {
    "article-journal": "article",
    "article-magazine": "article",
    "article-newspaper": "article",
    "book": "book",
    "chapter": "incollection",
    "paper-conference": "inproceedings",
    "thesis": "phdthesis",
    "report": "techreport",
    "webpage": "online",
    "post-weblog": "online",
    "manuscript": "unpublished",
    "pamphlet": "booklet",
}
"""CSL types to BibTeX entry types; ``mastersthesis`` when a thesis's genre says master,
``misc`` for the rest (``article`` preprints, ``dataset``, ``software``...)."""

RIS_TYPES: Final = {kind: ty for ty, kind in reversed(_RIS_READ_TYPES.items())}
"""CSL types to RIS ``TY``: the first the reader maps to each (others: ``GEN``)."""

_RIS_MAPPING: Final = {**rispy.TAG_KEY_MAPPING, "ED": "editors"}
_RIS_LIST_TAGS: Final = [*rispy.LIST_TYPE_TAGS, "ED"]
_RIS_ISBN_TYPES: Final = frozenset({"BOOK", "CHAP"})  # the reader's SN is an ISBN there
_ESCAPES: Final = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "$": r"\$",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\xa0": "~",
}
# Balanced braces are written \{ \}; any unbalanced one makes all of them macros.
_BALANCED: Final = {"{": r"\{", "}": r"\}"}
_UNBALANCED: Final = {"{": r"\textbraceleft{}", "}": r"\textbraceright{}"}
# TeX ligatures (-- ---, `` '', ?` !`) the reader would decode to other characters.
_LIGATURE: Final = re.compile(r"(?<=-)(?=-)|(?<=')(?=')|(?<=`)(?=`)|(?<=[?!])(?=`)")
_MATH: Final = re.compile(r"\$([^$%]*[\\^_][^$%]*)\$")
_MARKUP: Final = (
    (re.compile(r'<span class="nocase">((?:(?!</?span).)*)</span>'), r"{\1}"),
    (re.compile(r'<span style="font-variant:\s*small-caps;?">((?:(?!</?span).)*)</span>'),
     r"\\textsc{\1}"),
    (re.compile(r"<i>((?:(?!</?i>).)*)</i>"), r"\\textit{\1}"),
    (re.compile(r"<b>((?:(?!</?b>).)*)</b>"), r"\\textbf{\1}"),
    (re.compile(r"<sup>((?:(?!</?sup>).)*)</sup>"), r"\\textsuperscript{\1}"),
    (re.compile(r"<sub>((?:(?!</?sub>).)*)</sub>"), r"\\textsubscript{\1}"),
)  # fmt: skip
_TAGS: Final = re.compile(r'</?(?:i|b|sup|sub)>|<span (?:class|style)="[^"]*">|</span>')
_DASHES: Final = re.compile(r"\s*[\u2010-\u2015-]+\s*")
_RANGE: Final = re.compile(
    r"^([^\s,\u2010-\u2015-]+)\s*[\u2010-\u2015-]+\s*([^\s,\u2010-\u2015-]+)$"
)
_KEY_JUNK: Final = re.compile(r"[\s,{}()\"#%'=\\~]")
_STOPWORDS: Final = frozenset(
    ["a", "an", "the", "on", "of", "in", "for", "to", "and", "with", "from", "at", "by", "is"]
)
_FOLD: Final = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "œ": "oe", "Œ": "oe",
     "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "þ": "th"}
)  # fmt: skip
_ROLES: Final = (("author", "authors"), ("editor", "editors"), ("translator", "subsidiary_authors"))
_BIBTEX_FIELDS: Final = (  # CSL variable, BibTeX field, in the order written
    ("edition", "edition"), ("volume", "volume"), ("chapter-number", "chapter"),
)  # fmt: skip
_BIBTEX_TAIL: Final = (
    ("ISBN", "isbn"), ("ISSN", "issn"), ("language", "language"),
    ("keyword", "keywords"), ("note", "note"),
)  # fmt: skip
_RIS_FIELDS: Final = (
    ("collection-title", "tertiary_title"), ("volume", "volume"), ("edition", "edition"),
    ("publisher", "publisher"), ("publisher-place", "place_published"),
    ("genre", "type_of_work"), ("language", "language"), ("title-short", "short_title"),
    ("container-title-short", "alternate_title1"), ("number-of-volumes", "number_of_volumes"),
)  # fmt: skip


def to_bibtex(sources: Sequence[Source], *, include_content: bool = False) -> str:
    """BibTeX entries for ``sources``, in order, with unique cite keys.

    Args:
        sources: The sources; their CSL ``metadata`` is written.
        include_content: Write a source's content as its ``abstract`` when it has none.

    Returns:
        The ``.bib`` text ("" for no sources).
    """
    if not sources:
        return ""
    keys = _cite_keys([source.metadata for source in sources])
    entries: list[Block] = [
        _bibtex_entry(s, k, include_content) for s, k in zip(sources, keys, strict=True)
    ]
    layout = BibtexFormat()  # type: ignore[no-untyped-call]
    layout.indent, layout.block_separator = "  ", "\n"
    return str(write_string(Library(entries), bibtex_format=layout))


def to_ris(sources: Sequence[Source], *, include_content: bool = False) -> str:
    """RIS records for ``sources``, in order (``TY`` to ``ER``).

    Args:
        sources: The sources; their CSL ``metadata`` is written.
        include_content: Write a source's content as its ``AB`` when it has no abstract.

    Returns:
        The ``.ris`` text ("" for no sources).
    """
    if not sources:
        return ""
    records = [_ris_record(source, include_content) for source in sources]
    return str(
        rispy.dumps(
            records, implementation=_RisWriter, mapping=_RIS_MAPPING, list_tags=_RIS_LIST_TAGS
        )
    )


class _RisWriter(rispy.RisWriter):  # type: ignore[misc]
    """rispy's writer without its ``1.`` line before each record."""

    def set_header(self, count: int) -> str:
        return ""


def _bibtex_entry(source: Source, key: str, include_content: bool) -> Entry:
    meta = source.metadata
    kind = _bibtex_type(meta)
    fields: list[Field] = []

    def add(name: str, value: str) -> None:
        if value:
            fields.append(Field(name, value))

    for role in ("author", "editor", "translator"):
        add(role, " and ".join(n for n in map(_bibtex_name, _names(meta.get(role))) if n))
    add("title", _latex(_text(meta.get("title"))))
    add("journal" if kind == "article" else "booktitle", _latex(_text(meta.get("container-title"))))
    add("series", _latex(_text(meta.get("collection-title"))))
    for variable, name in _BIBTEX_FIELDS:
        add(name, _latex(_text(meta.get(variable))))
    arxiv = _arxiv(meta)
    issue, number = _text(meta.get("issue")), _text(meta.get("number"))
    if arxiv and _arxiv({"number": number}) == arxiv:
        number = ""  # written as the eprint
    if kind == "article" and not number:
        number, issue = issue, ""  # BibTeX's number is an article's issue
    add("number", _latex(number))
    add("issue", _latex(issue))
    add("pages", "--".join(_latex(p) for p in _DASHES.split(_text(meta.get("page")))))
    by = {"phdthesis": "school", "mastersthesis": "school", "techreport": "institution"}
    add(by.get(kind, "publisher"), _latex(_text(meta.get("publisher"))))
    add("address", _latex(_text(meta.get("publisher-place"))))
    issued = _date(meta.get("issued"))
    if isinstance(issued, str):
        add("year", _latex(issued))  # "in press"
    else:
        for name, part in zip(("year", "month", "day"), issued, strict=False):
            add(name, str(part))
    add("type", _latex(_text(meta.get("genre"))))
    add("doi", _verbatim(_text(meta.get("DOI"))))
    add("url", _verbatim(_text(meta.get("URL"))))
    accessed = _date(meta.get("accessed"))
    if isinstance(accessed, list):
        add("urldate", "-".join(f"{p:02d}" for p in accessed))
    for variable, name in _BIBTEX_TAIL:
        add(name, _latex(_text(meta.get(variable))))
    if arxiv:
        add("eprint", arxiv)
        add("archivePrefix", "arXiv")
    add("abstract", _latex(_abstract(source, include_content)))
    return Entry(kind, key, fields)


def _bibtex_type(meta: Mapping[str, Any]) -> str:
    kind = _text(meta.get("type"))
    if kind == "thesis" and "master" in _text(meta.get("genre")).lower():
        return "mastersthesis"
    return BIBTEX_TYPES.get(kind, "misc")


def _bibtex_name(name: Mapping[str, Any]) -> str:
    """``von Last, Jr, First``; a literal (or a lone given name) in braces."""
    family, given = _text(name.get("family")), _text(name.get("given"))
    if not family:
        whole = _text(name.get("literal")) or given
        return f"{{{_latex(whole)}}}" if whole else ""
    particles = (_text(name.get(k)) for k in ("dropping-particle", "non-dropping-particle"))
    particle = " ".join(_latex(p) for p in particles if p)
    # Whitespace, ~ or a comma would split the family (a leading lower-case word would
    # be read as a particle): braces keep it whole.
    last = _latex(family)
    head = f"{particle} " if particle else ""
    head += f"{{{last}}}" if re.search(r"[\s~,]", family) else last
    given, suffix = _name_part(given), _name_part(_text(name.get("suffix")))
    if suffix and given:
        return f"{head}, {suffix}, {given}"
    if suffix:  # "Doe Jr." would read as given Doe, family Jr.
        return f"{head}, {suffix},"
    return f"{head}, {given}" if given else head


def _name_part(text: str) -> str:
    escaped = _latex(text)
    return f"{{{escaped}}}" if "," in text or re.search(r"\sand\s", f" {text} ", re.I) else escaped


def _latex(text: str) -> str:
    """Text as a BibTeX value: specials escaped, CSL markup as LaTeX, math kept."""
    out, start = [], 0
    for found in _MATH.finditer(text):
        inner = found.group(1)
        if not inner.endswith("\\") and _is_balanced(inner):
            out += [_escape(text[start : found.start()]), found.group(0)]
            start = found.end()
    out.append(_escape(text[start:]))
    return "".join(out)


def _escape(text: str) -> str:
    braces = _BALANCED if _is_balanced(text) else _UNBALANCED
    out = _LIGATURE.sub("{}", "".join(_ESCAPES.get(c) or braces.get(c, c) for c in text))
    for pattern, replacement in _MARKUP:
        while (marked := pattern.sub(replacement, out)) != out:  # inner spans first
            out = marked
    return out


def _is_balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _verbatim(text: str) -> str:
    """A URL or DOI as written, braces percent-encoded (they would end the value)."""
    return text.replace("{", "%7B").replace("}", "%7D")


def _cite_keys(metas: Sequence[Mapping[str, Any]]) -> list[str]:
    """``citation-key`` (or a ``bibtex:`` id's key), else ``family+year+word``; unique.

    Keys are compared ignoring case, as BibTeX does; derived keys that repeat are all
    suffixed (``smith2020a``, ``smith2020b``), a repeated given key from the second on.
    """
    given = [_KEY_JUNK.sub("", _given_key(meta)) for meta in metas]
    derived = [_derived_key(meta) for meta in metas]
    counts = Counter(d.lower() for g, d in zip(given, derived, strict=True) if not g)
    reserved = {g.lower() for g in given if g}
    taken: set[str] = set()
    keys: list[str] = []
    for own, fallback in zip(given, derived, strict=True):
        key = own or fallback
        clash = key.lower() in taken or (not own and key.lower() in reserved)
        if clash or (not own and counts[key.lower()] > 1):
            key = next(
                k for k in (key + s for s in _suffixes()) if k.lower() not in taken | reserved
            )
        taken.add(key.lower())
        keys.append(key)
    return keys


def _given_key(meta: Mapping[str, Any]) -> str:
    id_ = _text(meta.get("id"))
    return _text(meta.get("citation-key")) or (id_[7:] if id_.startswith("bibtex:") else "")


def _derived_key(meta: Mapping[str, Any]) -> str:
    names = _names(meta.get("author")) or _names(meta.get("editor"))
    who = ""
    if names:
        first = names[0]
        who = _fold(_text(first.get("family"))) or _fold(
            (_text(first.get("literal")) or _text(first.get("given"))).split(" ")[0]
        )
    issued = _date(meta.get("issued"))
    if isinstance(issued, str):
        year = next(iter(re.findall(r"\d{4}", issued)), "")
    else:
        year = str(issued[0]) if issued else ""
    title = _TAGS.sub(" ", _text(meta.get("title")))
    words = (_fold(w) for w in re.findall(r"\w+", title))
    word = next((w for w in words if w and w not in _STOPWORDS), "")
    return f"{who or 'anon'}{year}{word}"


def _fold(text: str) -> str:
    """Lower-case ASCII letters and digits only (Müller → muller)."""
    plain = unicodedata.normalize("NFKD", text.translate(_FOLD)).encode("ascii", "ignore")
    return re.sub(r"[^a-z0-9]", "", plain.decode().lower())


def _suffixes() -> Iterator[str]:
    for size in itertools.count(1):
        for letters in itertools.product(string.ascii_lowercase, repeat=size):
            yield "".join(letters)


def _ris_record(source: Source, include_content: bool) -> dict[str, Any]:
    meta = source.metadata
    ty = RIS_TYPES.get(_text(meta.get("type")), "GEN")
    record: dict[str, Any] = {"type_of_reference": ty}
    for role, tag in _ROLES:
        if names := [n for n in map(_ris_name, _names(meta.get(role))) if n]:
            record[tag] = names
    if title := _plain(meta.get("title")):
        record["title"] = title
    is_article = _RIS_READ_TYPES.get(ty, "document").startswith("article")
    if container := _plain(meta.get("container-title")):
        record["secondary_title"] = container
        if is_article:
            record["journal_name"] = container
    for variable, key in _RIS_FIELDS:
        if value := _plain(meta.get(variable)):
            record[key] = value
    issue, number = _text(meta.get("issue")), _text(meta.get("number"))
    if value := (issue or number) if is_article else (number or issue):
        record["number"] = value  # IS: the reader's issue for articles, else number
    if page := _text(meta.get("page")):
        found = _RANGE.match(page)
        record["start_page"], end = (found.group(1), found.group(2)) if found else (page, "")
        if end:
            record["end_page"] = end
    issued = _date(meta.get("issued"))
    if isinstance(issued, list) and issued:
        record["year"], record["date"] = str(issued[0]), _ris_date(issued)
    if isinstance(accessed := _date(meta.get("accessed")), list) and accessed:
        record["access_date"] = _ris_date(accessed)
    if doi := _text(meta.get("DOI")):
        record["doi"] = doi
    if url := _text(meta.get("URL")):
        record["urls"] = [url]
    isbn, issn = _text(meta.get("ISBN")), _text(meta.get("ISSN"))
    if serial := (isbn or issn) if ty in _RIS_ISBN_TYPES else (issn or isbn):
        record["issn"] = serial
    if keywords := [k.strip() for k in _text(meta.get("keyword")).split(",") if k.strip()]:
        record["keywords"] = keywords
    if note := _plain(meta.get("note")):
        record["notes"] = [note]
    if abstract := _TAGS.sub("", _abstract(source, include_content)):
        record["abstract"] = abstract
    return record


def _ris_name(name: Mapping[str, Any]) -> str:
    """``Family, Given, Suffix`` with the particles before the family."""
    parts = ("dropping-particle", "non-dropping-particle", "family")
    family = " ".join(_text(name.get(k)) for k in parts if _text(name.get(k)))
    if not family:
        return _text(name.get("literal")) or _text(name.get("given"))
    rest = [_text(name.get(k)) for k in ("given", "suffix")]
    return ", ".join([family, *(p for p in rest if p)])


def _ris_date(parts: list[int]) -> str:
    """``YYYY/MM/DD/`` with the parts not known left empty (``2020/05//``)."""
    padded = [f"{p:02d}" for p in parts[1:3]] + ["", ""]
    return f"{parts[0]:04d}/{padded[0]}/{padded[1]}/"


def _plain(value: Any) -> str:
    """Text without CSL markup tags (RIS has none)."""
    return " ".join(_TAGS.sub("", _text(value)).split())


def _abstract(source: Source, include_content: bool) -> str:
    abstract = _text(source.metadata.get("abstract"))
    return abstract or (_text(source.content) if include_content else "")


def _names(value: Any) -> list[Mapping[str, Any]]:
    return [n for n in value if isinstance(n, Mapping)] if isinstance(value, list) else []


def _date(value: Any) -> list[int] | str:
    """``[year, month, day]`` as far as known and valid, a literal, or ``[]``."""
    if isinstance(value, str):
        value = {"raw": value}
    if not isinstance(value, Mapping):
        return []
    parts, dates = [], value.get("date-parts")
    if isinstance(dates, list) and dates and isinstance(dates[0], list):
        try:
            parts = [int(p) for p in dates[0][:3] if p not in (None, "")]
        except (TypeError, ValueError):
            parts = []
    if not parts:
        text = _text(value.get("raw")) or _text(value.get("literal"))
        found = csl.date_parts(text)
        if not found:
            return text or []
        parts = found["date-parts"][0]
    if len(parts) > 1 and not 1 <= parts[1] <= 12:
        return parts[:1]
    return parts if len(parts) < 3 or 1 <= parts[2] <= 31 else parts[:2]


def _arxiv(meta: Mapping[str, Any]) -> str:
    """The arXiv id in ``number``, an ``arxiv:`` id, or an arXiv DOI; else ""."""
    id_ = _text(meta.get("id"))
    for candidate in (
        _text(meta.get("number")),
        id_ if id_.lower().startswith("arxiv:") else "",
        _text(meta.get("DOI")),
    ):
        if candidate:
            try:
                return parse_arxiv(candidate)[0]
            except UnrecognizedIdentifierError:
                continue
    return ""


def _text(value: Any) -> str:
    """A CSL string variable's text, whitespace collapsed ("" for anything else)."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str | int) and str(v).strip()), "")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return " ".join(str(value).split())
