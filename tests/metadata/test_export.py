"""CSL-JSON to BibTeX and RIS (what ``fetch --format bibtex|ris`` writes), read back by ours."""

from __future__ import annotations

import string
from typing import Any

import bibtexparser
import pytest
import rispy
from hypothesis import given
from hypothesis import strategies as st

from citeformer import Source
from citeformer.metadata.export import to_bibtex, to_ris
from citeformer.metadata.sources import from_bibtex, from_ris

pytestmark = pytest.mark.filterwarnings("ignore::citeformer.metadata.MetadataWarning")

ARTICLE: dict[str, Any] = {
    "id": "doi:10.1000/x",
    "type": "article-journal",
    "title": "Deep & wide: 50% of $x$ #1_a",
    "author": [
        {"family": "Waals", "given": "Johannes", "non-dropping-particle": "van der"},
        {"family": "Müller", "given": "Łukasz", "suffix": "Jr."},
        {"literal": "World Health Organization"},
    ],
    "container-title": "Journal of Things",
    "volume": "12",
    "issue": "3",
    "page": "1–10",
    "issued": {"date-parts": [[2020, 5, 17]]},
    "DOI": "10.1000/x",
    "URL": "https://example.org/x",
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
        "editor": [{"family": "Fontaine", "given": "Jean", "non-dropping-particle": "de la"}],
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
        "issued": {"date-parts": [[2017]]},
    },
    {
        "type": "report",
        "title": "A Technical Report",
        "author": [{"family": "Lee", "given": "Ann"}],
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
]
# What both readers must give back as written.
KEPT = ("type", "container-title", "volume", "issue", "page", "DOI", "URL", "publisher")


def _joined(name: dict[str, Any]) -> dict[str, Any]:
    """A name as RIS carries it: no particle field, the particle leads the family."""
    particle = name.get("non-dropping-particle")
    rest = {k: v for k, v in name.items() if k != "non-dropping-particle"}
    return {**rest, "family": f"{particle} {name['family']}"} if particle else rest


def _same(
    found: dict[str, Any], expected: dict[str, Any], *, dates: int = 3, ris: bool = False
) -> None:
    for key in KEPT:
        if key in expected:
            wanted = expected[key].replace("–", "-") if key == "page" else expected[key]
            assert found.get(key) == wanted, key
    for role in ("author", "editor"):
        names = expected.get(role, [])
        assert found.get(role, []) == ([_joined(n) for n in names] if ris else names), role
    want = expected["issued"]["date-parts"][0][:dates]
    assert found["issued"]["date-parts"][0][:dates] == want


@pytest.mark.parametrize("record", RECORDS, ids=[r["type"] for r in RECORDS])
def test_bibtex_round_trip(record: dict[str, Any]) -> None:
    (back,) = from_bibtex(to_bibtex([Source("text", record)]))
    _same(back.metadata, record)
    assert back.metadata["title"] == record["title"]


@pytest.mark.parametrize("record", RECORDS, ids=[r["type"] for r in RECORDS])
def test_ris_round_trip(record: dict[str, Any]) -> None:
    (back,) = from_ris(to_ris([Source("text", record)]))
    _same(back.metadata, record, ris=True)
    assert back.metadata["title"] == record["title"]


def test_the_writers_output_parses_cleanly() -> None:
    sources = [Source("text", record) for record in RECORDS]
    library = bibtexparser.parse_string(to_bibtex(sources))
    assert not library.failed_blocks and len(library.entries) == len(RECORDS)
    assert [e.entry_type for e in library.entries] == [
        "article", "book", "incollection", "inproceedings", "techreport", "online",
    ]  # fmt: skip
    assert library.entries[0]["pages"] == "1--10"
    records = rispy.loads(to_ris(sources))
    assert [r["type_of_reference"] for r in records] == [
        "JOUR",
        "BOOK",
        "CHAP",
        "CONF",
        "RPRT",
        "ELEC",
    ]


def test_markup_and_kinds_of_thesis_and_preprint() -> None:
    marked = {
        "type": "article-journal",
        "title": '<i>E. coli</i> and <span class="nocase">DNA</span>',
    }
    bib = to_bibtex([Source("x", marked)])
    assert r"\textit{E. coli} and {DNA}" in bib
    assert "TI  - E. coli and DNA" in to_ris([Source("x", marked)])
    master = {"type": "thesis", "genre": "Master's thesis", "title": "T"}
    assert to_bibtex([Source("x", master)]).startswith("@mastersthesis{")
    assert to_bibtex([Source("x", {**master, "genre": "PhD"})]).startswith("@phdthesis{")
    preprint = {"type": "article", "title": "P", "number": "2101.00001v2", "id": "arxiv:2101.00001"}
    bib = to_bibtex([Source("x", preprint)])
    assert "eprint = {2101.00001" in bib and "archivePrefix = {arXiv}" in bib


def test_cite_keys_are_unique_ignoring_case() -> None:
    same = {"type": "book", "title": "The Art", "author": [{"family": "Knuth"}],
            "issued": {"date-parts": [[1968]]}}  # fmt: skip
    given = [
        Source("a", same),
        Source("b", same),
        Source("c", {**same, "citation-key": "Knuth1968art"}),
        Source("d", {**same, "id": "bibtex:kept"}),
        Source("e", {**same, "id": "bibtex:KEPT"}),
    ]
    keys = [e.key for e in bibtexparser.parse_string(to_bibtex(given)).entries]
    assert keys == ["knuth1968arta", "knuth1968artb", "Knuth1968art", "kept", "KEPTa"]
    assert len({k.lower() for k in keys}) == len(keys)


def test_content_is_written_only_when_asked_and_missing() -> None:
    plain = Source("The body text.", {"type": "book", "title": "B"})
    noted = Source("The body text.", {"type": "book", "title": "B", "abstract": "Own."})
    assert "abstract" not in to_bibtex([plain])
    assert "abstract = {The body text.}" in to_bibtex([plain], include_content=True)
    assert "abstract = {Own.}" in to_bibtex([noted], include_content=True)
    assert "AB  -" not in to_ris([plain])
    assert "AB  - The body text." in to_ris([plain], include_content=True)
    assert "AB  - Own." in to_ris([noted], include_content=True)


def test_nothing_in_nothing_out() -> None:
    assert to_bibtex([]) == "" == to_ris([])


# Literal braces are left out: BibTeX counts even \{ when balancing a value, and our
# reader (like bibtex) takes a braced group for case protection, not for text.
TITLE_CHARS = string.ascii_letters + string.digits + " .,:;!?()[]'`\"/-+=*@|\\&%$#_~^éüßŁ"
NAME_CHARS = string.ascii_letters + "éüßŁ-' "


@given(st.text(alphabet=TITLE_CHARS, min_size=1, max_size=40).filter(str.strip))
def test_any_title_survives_bibtex(title: str) -> None:
    (back,) = from_bibtex(to_bibtex([Source("x", {"type": "book", "title": title})]))
    assert back.metadata["title"] == " ".join(title.split())


_WORD = (
    st.text(alphabet=NAME_CHARS, min_size=1, max_size=12)
    .map(str.strip)
    .filter(lambda w: w and w[0].isupper() and not w.endswith(("-", "'")))
)


@given(family=_WORD, given_name=_WORD)
def test_any_name_survives_both_formats(family: str, given_name: str) -> None:
    name = {"family": " ".join(family.split()), "given": " ".join(given_name.split())}
    record = {"type": "book", "title": "T", "author": [name]}
    (bib,) = from_bibtex(to_bibtex([Source("x", record)]))
    (ris,) = from_ris(to_ris([Source("x", record)]))
    assert bib.metadata["author"] == [name]
    assert ris.metadata["author"] == [name]
