"""CSL-JSON to BibTeX and RIS (what ``fetch --format bibtex|ris`` writes), read back by ours."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

import pytest
import rispy
from bibtexparser.entrypoint import parse_string
from hypothesis import given
from hypothesis import strategies as st

from citeformer import Source
from citeformer.metadata import csl
from citeformer.metadata.export import to_bibtex, to_ris
from citeformer.metadata.sources import from_bibtex, from_ris

pytestmark = pytest.mark.filterwarnings("ignore::citeformer.metadata.MetadataWarning")

ARTICLE: dict[str, Any] = {
    "id": "doi:10.1000/x",
    "type": "article-journal",
    "title": 'The <span class="nocase">DNA</span> of <i>E. coli</i>: 50% & $5, a_b #1 ~x -- two',
    "author": [
        {"family": "Waals", "given": "Johannes", "non-dropping-particle": "van der"},
        {"family": "Fontaine", "given": "Jean", "non-dropping-particle": "de la"},
        {"family": "King", "given": "Martin Luther", "suffix": "Jr."},
        {"family": "Müller", "given": "Łukasz"},
        {"literal": "World Health Organization"},
    ],
    "container-title": "Journal of Things & Stuff",
    "volume": "12",
    "issue": "3",
    "page": "1–10",
    "issued": {"date-parts": [[2020, 5, 17]]},
    "DOI": "10.1000/x",
    "URL": "https://example.org/x?a=1&b=c_d%20~e",
}
PREPRINT: dict[str, Any] = {
    "type": "article",
    "title": "A Preprint on $\\alpha$-Things",
    "author": [{"family": "Doe", "given": "Jane"}],
    "number": "2101.00001",
    "issued": {"date-parts": [[2021, 1]]},
}
RECORDS: list[dict[str, Any]] = [
    ARTICLE,
    {
        "type": "book",
        "title": "A Book",
        "author": [{"family": "Knuth", "given": "Donald E."}],
        "publisher": "Addison-Wesley",
        "publisher-place": "Reading, MA",
        "edition": "3",
        "ISBN": "0-201-89683-4",
        "issued": {"date-parts": [[1997]]},
    },
    {
        "type": "chapter",
        "title": "A Chapter",
        "author": [{"family": "Hopper", "given": "Grace"}],
        "editor": [
            {"family": "Fontaine", "given": "Jean", "non-dropping-particle": "de la"},
            {"family": "Smith", "given": "Ed"},
        ],
        "container-title": "The Collected Works",
        "page": "33-47",
        "publisher": "Press",
        "issued": {"date-parts": [[1960, 2]]},
    },
    {
        "type": "paper-conference",
        "title": "Attention Is All You Need",
        "author": [{"family": "Vaswani", "given": "Ashish"}],
        "container-title": "Advances in Neural Information Processing Systems",
        "page": "5998-6008",
        "issued": {"date-parts": [[2017]]},
        "DOI": "10.5555/3295222.3295349",
    },
    {
        "type": "thesis",
        "genre": "PhD thesis",
        "title": "A Doctoral Thesis",
        "author": [{"family": "Roe", "given": "Rick"}],
        "publisher": "Stanford University",
        "issued": {"date-parts": [[2015]]},
    },
    {
        "type": "thesis",
        "genre": "Master's thesis",
        "title": "A Master's Thesis",
        "author": [{"family": "Poe", "given": "Pat"}],
        "publisher": "MIT",
        "issued": {"date-parts": [[2016]]},
    },
    {
        "type": "report",
        "title": "A Technical Report",
        "author": [{"literal": "NASA"}],
        "publisher": "Institute",
        "number": "TR-7",
        "issued": {"date-parts": [[2001]]},
    },
    {
        "type": "webpage",
        "title": "Eiffel Tower",
        "container-title": "Wikipedia",
        "URL": "https://en.wikipedia.org/wiki/Eiffel_Tower",
        "issued": {"date-parts": [[2024]]},
        "accessed": {"date-parts": [[2024, 3, 1]]},
    },
    PREPRINT,
]
IDS = [r.get("genre", r["type"]) for r in RECORDS]
# What both readers must give back as written.
KEPT = (
    "container-title", "volume", "issue", "number", "page", "DOI", "URL", "publisher",
    "publisher-place", "edition", "ISBN", "genre", "accessed",
)  # fmt: skip


def _joined(name: dict[str, Any]) -> dict[str, Any]:
    """A name as RIS carries it: no particle field, the particle leads the family."""
    particle = name.get("non-dropping-particle")
    rest = {k: v for k, v in name.items() if k != "non-dropping-particle"}
    return {**rest, "family": f"{particle} {name['family']}"} if particle else rest


def _same(found: Mapping[str, Any], expected: dict[str, Any], *, ris: bool = False) -> None:
    for key in KEPT:
        if key in expected:
            wanted = expected[key].replace("–", "-") if key == "page" else expected[key]
            assert found.get(key) == wanted, key
    for role in ("author", "editor"):
        names = expected.get(role, [])
        assert found.get(role, []) == ([_joined(n) for n in names] if ris else names), role
    assert found["issued"] == expected["issued"]


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_bibtex_round_trip(record: dict[str, Any]) -> None:
    """Type, names, container, numbers, pages, dates, DOI and URL come back from BibTeX."""
    (back,) = from_bibtex(to_bibtex([Source("text", record)]))
    _same(back.metadata, record)
    assert back.metadata["type"] == record["type"]
    # The reader keeps nocase spans; <i> reads back as plain text (\textit is decoded).
    assert back.metadata["title"] == re.sub(r"</?i>", "", record["title"])


@pytest.mark.parametrize("record", RECORDS, ids=IDS)
def test_ris_round_trip(record: dict[str, Any]) -> None:
    """The same through RIS, where markup tags are dropped."""
    (back,) = from_ris(to_ris([Source("text", record)]))
    _same(back.metadata, record, ris=True)
    # RIS has no TY the reader maps to CSL "article" (a preprint): GEN reads as document.
    assert back.metadata["type"] == ("document" if record["type"] == "article" else record["type"])
    assert back.metadata["title"] == re.sub(r"<[^>]+>", "", record["title"])


def test_arxiv_preprint_is_an_eprint() -> None:
    """An arXiv number is written as eprint + archivePrefix and reads back as one."""
    bib = to_bibtex([Source("x", {**PREPRINT, "number": "2101.00001v2"})])
    assert "eprint = {2101.00001}" in bib and "archivePrefix = {arXiv}" in bib
    assert "number =" not in bib and bib.startswith("@misc{")
    (back,) = from_bibtex(bib)
    assert back.metadata["DOI"] == "10.48550/arXiv.2101.00001"
    assert "eprint = {2101.00001}" in to_bibtex(
        [Source("x", {"title": "P", "id": "arxiv:2101.00001"})]
    )


def test_bibtex_escapes_and_markup() -> None:
    """LaTeX specials escaped, -- kept two hyphens, CSL markup as LaTeX groups and macros."""
    (entry,) = parse_string(to_bibtex([Source("x", ARTICLE)])).entries
    assert entry["title"] == (
        r"The {DNA} of \textit{E. coli}: 50\% \& \$5, a\_b \#1 \textasciitilde{}x -{}- two"
    )
    assert entry["journal"] == r"Journal of Things \& Stuff"
    assert entry["url"] == ARTICLE["URL"]  # verbatim
    assert entry["author"].startswith("van der Waals, Johannes and de la Fontaine, Jean and ")
    assert "King, Jr., Martin Luther" in entry["author"]
    assert entry["author"].endswith("and {World Health Organization}")
    assert (entry["pages"], entry["number"], entry["month"], entry["day"]) == (
        "1--10",
        "3",
        "5",
        "17",
    )


def test_the_writers_output_parses_cleanly() -> None:
    """bibtexparser reads every entry without a failed block; rispy reads every record."""
    sources = [Source("text", record) for record in RECORDS]
    library = parse_string(to_bibtex(sources))
    assert not library.failed_blocks and len(library.entries) == len(RECORDS)
    assert [e.entry_type for e in library.entries] == [
        "article", "book", "incollection", "inproceedings", "phdthesis", "mastersthesis",
        "techreport", "online", "misc",
    ]  # fmt: skip
    records = rispy.loads(to_ris(sources))
    assert [r["type_of_reference"] for r in records] == [
        "JOUR", "BOOK", "CHAP", "CONF", "THES", "THES", "RPRT", "ELEC", "GEN",
    ]  # fmt: skip
    assert records[0]["start_page"] == "1" and records[0]["end_page"] == "10"
    assert records[0]["date"] == "2020/05/17/"


def _keys(metas: list[dict[str, Any]]) -> list[str]:
    text = to_bibtex([Source("x", m) for m in metas])
    return [e.key for e in parse_string(text).entries]


BOOK: dict[str, Any] = {
    "type": "book",
    "title": "The Art",
    "author": [{"family": "Knuth"}],
    "issued": {"date-parts": [[1968]]},
}


def test_cite_keys_are_unique_ignoring_case() -> None:
    """Repeated derived keys all get suffixes; given keys are kept, repeats suffixed."""
    keys = _keys([
        BOOK,
        BOOK,
        {**BOOK, "citation-key": "Knuth1968art"},
        {**BOOK, "id": "bibtex:kept"},
        {**BOOK, "id": "bibtex:KEPT"},
    ])  # fmt: skip
    assert keys == ["knuth1968arta", "knuth1968artb", "Knuth1968art", "kept", "KEPTa"]
    assert len({k.lower() for k in keys}) == len(keys)


def test_derived_and_given_cite_keys() -> None:
    """family + year + first non-stopword, ASCII-folded; a lone clash with a given key too."""
    mueller = {"title": "The DNA", "author": [{"family": "Müller"}], "issued": "2020-05-01"}
    org = {"title": "On Łódź", "author": [{"literal": "World Health Organization"}]}
    assert _keys([mueller, org, BOOK]) == ["muller2020dna", "worldlodz", "knuth1968art"]
    assert _keys([{**BOOK, "citation-key": "KNUTH1968ART"}, BOOK]) == [
        "KNUTH1968ART",
        "knuth1968arta",
    ]
    assert _keys([{**BOOK, "citation-key": "my key,1"}]) == ["mykey1"]  # BibTeX-unsafe chars
    assert _keys([{**BOOK, "id": "bibtex:Smith:2020"}]) == ["Smith:2020"]
    (back,) = from_bibtex(to_bibtex([Source("x", {**BOOK, "citation-key": "k1"})]))
    assert back.metadata["citation-key"] == "k1" and back.metadata["id"] == "bibtex:k1"


def test_content_is_written_only_when_asked_and_missing() -> None:
    """include_content writes the text as the abstract, never over a record's own."""
    plain = Source("The body text.", {"type": "book", "title": "B"})
    noted = Source("The body text.", {"type": "book", "title": "B", "abstract": "Own."})
    assert "abstract" not in to_bibtex([plain])
    assert "abstract = {The body text.}" in to_bibtex([plain], include_content=True)
    assert "abstract = {Own.}" in to_bibtex([noted], include_content=True)
    assert "body" not in to_bibtex([noted], include_content=True)
    assert "AB  -" not in to_ris([plain])
    assert "AB  - The body text." in to_ris([plain], include_content=True)
    assert "AB  - Own." in to_ris([noted], include_content=True)
    assert "body" not in to_ris([noted], include_content=True)
    for read, write in ((from_bibtex, to_bibtex), (from_ris, to_ris)):
        (back,) = read(write([plain], include_content=True))
        assert back.content == "The body text."


def test_nothing_in_nothing_out() -> None:
    assert to_bibtex([]) == "" == to_ris([])


def test_suffix_without_given_name_survives_bibtex() -> None:
    name = {"family": "Doe", "suffix": "Jr."}
    (back,) = from_bibtex(to_bibtex([Source("x", {"title": "T", "author": [name]})]))
    assert back.metadata["author"] == [name]


@pytest.mark.xfail(
    strict=True,
    reason=r"round-trip bug: \textbraceleft{}/\textbraceright{} (unbalanced braces) are "
    r"dropped by the reader's pylatexenc; balanced \{..\} read back as a group",
)
@pytest.mark.parametrize("title", ["a { b", "x } y", "set {a} and {B}"])
def test_literal_braces_survive_bibtex(title: str) -> None:
    (back,) = from_bibtex(to_bibtex([Source("x", {"title": title})]))
    assert back.metadata["title"] == title


# Literal braces are left out here (see the xfail above); "<" too: CSL reads tags there.
TITLE_CHARS = string.ascii_letters + string.digits + " .,:;!?()[]'`\"/-+=*@|\\&%$#_~^éüßŁ"
NAME_CHARS = string.ascii_letters + "éüßŁł-' "


@given(st.text(alphabet=TITLE_CHARS, min_size=1, max_size=40).filter(str.strip))
def test_any_title_survives_both_formats(title: str) -> None:
    source = Source("x", {"type": "book", "title": title})
    (bib,) = from_bibtex(to_bibtex([source]))
    (ris,) = from_ris(to_ris([source]))
    assert bib.metadata["title"] == " ".join(title.split()) == ris.metadata["title"]


_WORD = st.text(alphabet=NAME_CHARS, min_size=1, max_size=14).map(lambda w: " ".join(w.split()))


@given(family=_WORD.filter(bool), given_name=_WORD.filter(bool))
def test_any_name_survives_both_formats(family: str, given_name: str) -> None:
    name = {"family": family, "given": given_name}
    record = {"type": "book", "title": "T", "author": [{"family": "Lee", "given": "A"}, name]}
    (bib,) = from_bibtex(to_bibtex([Source("x", record)]))
    assert bib.metadata["author"][1] == name
    # RIS's "Family, Given, Suffix" cannot tell a given name Jr/Sr/II/III/IV from a
    # suffix: the reader takes it as one (a limitation of the format, not the writer).
    if given_name.lower() not in csl.SUFFIXES:
        (ris,) = from_ris(to_ris([Source("x", record)]))
        assert ris.metadata["author"][1] == name
