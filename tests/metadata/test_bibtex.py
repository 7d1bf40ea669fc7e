"""BibTeX to CSL: every trap of the corpus in data/traps.bib, and rendering."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from citeformer.core import Source
from citeformer.metadata.bibtex import parse_bibtex
from citeformer.metadata.errors import MetadataParseError
from citeformer.metadata.files import ParseResult, read_text_or_path
from citeformer.metadata.record import Fetched
from citeformer.render import FEATURED_STYLES, render_references

TRAPS = Path(__file__).parent / "data" / "traps.bib"


@pytest.fixture(scope="module")
def parsed() -> ParseResult:
    return parse_bibtex(*read_text_or_path(TRAPS))


@pytest.fixture(scope="module")
def by_key(parsed: ParseResult) -> dict[str, dict[str, Any]]:
    return {f.extra["key"]: f.metadata for f in parsed}


def _problems(parsed: ParseResult, text: str) -> list[str]:
    return [str(p) for p in parsed.problems if text in str(p)]


def one(text: str) -> Fetched:
    result = parse_bibtex(text)
    assert len(result) == 1, result.problems
    return result[0]


def test_entries_come_in_file_order_with_canonical_ids(parsed: ParseResult) -> None:
    assert [f.metadata["id"] for f in parsed] == [
        "bibtex:mueller1999",
        "bibtex:knuth1984",
        "bibtex:paper2020",
        "bibtex:proc2020",
        "bibtex:doe2010",
        "bibtex:nasa1990",
        "bibtex:preprint2023",
        "bibtex:site2024",
        "bibtex:draft",
        "bibtex:orphan",
        "bibtex:macro",
    ]
    assert all(f.origin == str(TRAPS) for f in parsed)
    assert parsed.entries == list(parsed)


def test_latex_is_decoded(by_key: dict[str, dict[str, Any]]) -> None:
    item = by_key["mueller1999"]
    assert item["author"][0] == {"family": "Müller", "given": "Hans"}
    assert "pages 1\u201310" in item["title"]  # -- is an en dash in text
    assert "helices & more" in item["title"]
    assert "$\\alpha$" in item["title"]  # math stays as written
    assert by_key["paper2020"]["author"][0] == {"family": "Çelik", "given": "Ayşe"}


def test_braced_groups_become_nocase_spans(by_key: dict[str, dict[str, Any]]) -> None:
    title = by_key["mueller1999"]["title"]
    assert title.startswith('The <span class="nocase">DNA</span> of ')
    assert '<span class="nocase">B</span>ayesian' in title  # one-letter groups too
    assert "things" in title and "{" not in title  # {\em things}: nothing to protect
    assert (
        by_key["proc2020"]["title"]
        == 'Proceedings of the <span class="nocase">ACM</span> Conference'
    )
    assert by_key["knuth1984"]["title"] == 'The <span class="nocase">TeX</span>book'


def test_strings_and_concatenation_are_evaluated(by_key: dict[str, dict[str, Any]]) -> None:
    assert by_key["mueller1999"]["container-title"] == "J. Comput. Syst. Sci. (Special)"
    assert by_key["knuth1984"]["publisher"] == "ACM Press"  # a macro built from a macro


def test_months_as_macros_names_and_with_a_day(by_key: dict[str, dict[str, Any]]) -> None:
    assert by_key["mueller1999"]["issued"] == {"date-parts": [[1999, 1]]}
    assert by_key["knuth1984"]["issued"] == {"date-parts": [[1984, 3]]}
    assert by_key["proc2020"]["issued"] == {"date-parts": [[2020, 6, 15]]}  # jun # "~15"
    assert by_key["draft"]["issued"] == {"literal": "in press"}


def test_crossref_fills_in_the_parent_fields(by_key: dict[str, dict[str, Any]]) -> None:
    paper = by_key["paper2020"]
    assert paper["title"] == "A Paper in the Proceedings"
    assert paper["container-title"] == by_key["proc2020"]["title"]  # booktitle from title
    assert paper["editor"] == [
        {"family": "Editor", "given": "Ann"},
        {"family": "Editor", "given": "Bob"},
    ]
    assert paper["publisher"] == "ACM" and paper["publisher-place"] == "New York"
    assert paper["issued"] == {"date-parts": [[2020, 6, 15]]}
    assert paper["page"] == "5-9"
    assert "crossref" not in json.dumps(paper)


def test_a_missing_crossref_parent_is_reported(parsed: ParseResult) -> None:
    (problem,) = [p for p in parsed.problems if "nosuchbook" in p.message]
    assert "orphan" in problem.where and not problem.dropped


def test_name_parts_map_to_csl(by_key: dict[str, dict[str, Any]]) -> None:
    authors = by_key["mueller1999"]["author"]
    assert authors[1] == {"given": "Ludwig", "non-dropping-particle": "van", "family": "Beethoven"}
    assert authors[2] == {"given": "John", "family": "Smith", "suffix": "Jr."}
    assert authors[3] == {"given": "Jean", "non-dropping-particle": "de la", "family": "Fontaine"}
    assert authors[4] == {"literal": "World Health Organization"}
    assert by_key["paper2020"]["author"][1] == {"given": "Jean-Paul", "family": "Le Pen"}
    assert by_key["knuth1984"]["author"] == [{"given": "Donald E.", "family": "Knuth"}]


def test_and_others_is_dropped_and_flagged(parsed: ParseResult) -> None:
    first = parsed[0]
    assert len(first.metadata["author"]) == 5
    assert all(n.get("family") != "others" for n in first.metadata["author"])
    assert first.extra["and_others"] == ["author"]
    assert "and_others" not in parsed[1].extra


def test_fields_map_to_csl_variables(by_key: dict[str, dict[str, Any]]) -> None:
    item = by_key["mueller1999"]
    assert item["type"] == "article-journal"
    assert (item["volume"], item["issue"], item["page"]) == ("12", "3", "47-60")
    assert item["DOI"] == "10.1000/ABC_1"  # doi.org prefix stripped, case kept
    assert item["URL"] == "http://example.org/a_b~c%20d"  # ~ and % are not LaTeX here
    book = by_key["knuth1984"]
    assert (book["ISBN"], book["publisher-place"]) == ("0-201-13447-0", "Reading, MA")
    thesis = by_key["doe2010"]
    assert (thesis["type"], thesis["genre"], thesis["publisher"]) == ("thesis", "PhD thesis", "MIT")
    report = by_key["nasa1990"]
    assert (report["type"], report["publisher"], report["number"]) == ("report", "NASA", "TR-1")
    assert by_key["site2024"]["type"] == "webpage"
    assert by_key["site2024"]["accessed"] == {"date-parts": [[2024, 3, 1]]}
    assert by_key["draft"]["type"] == "manuscript"
    assert by_key["draft"]["note"] == "Manuscript in preparation"
    assert by_key["orphan"]["type"] == "chapter"


def test_an_arxiv_eprint_is_written_as_csl_writes_preprints(
    by_key: dict[str, dict[str, Any]],
) -> None:
    item = by_key["preprint2023"]
    assert item["type"] == "article" and item["publisher"] == "arXiv"
    assert item["number"] == "2305.14627"
    assert item["DOI"] == "10.48550/arXiv.2305.14627"


def test_the_abstract_is_the_content(parsed: ParseResult) -> None:
    first = parsed[0]
    # A bare % is text in a .bib value, not a LaTeX comment eating the line.
    assert first.content == "We improve by 50% over the Baseline."
    assert first.metadata["abstract"] == first.content
    assert parsed[1].content == ""


def test_a_malformed_entry_is_reported_and_the_rest_parse(parsed: ParseResult) -> None:
    (problem,) = [p for p in parsed.problems if "malformed" in p.message]
    assert problem.where == "entry 'broken' (line 23)" and problem.dropped
    assert "bibtex:knuth1984" in [f.metadata["id"] for f in parsed]  # the next entry


def test_duplicate_keys_are_reported(parsed: ParseResult) -> None:
    duplicates = [p for p in parsed.problems if "duplicate key" in p.message]
    assert {p.where for p in duplicates} == {
        "entry 'mueller1999' (line 107)",
        "entry 'Knuth1984' (line 37)",  # bibtex compares keys ignoring case
    }
    assert parsed[0].metadata["title"].startswith("The ")  # the first one is kept


def test_undefined_macros_and_untitled_entries_are_reported(parsed: ParseResult) -> None:
    assert _problems(parsed, "undefined @string macro 'nosuchmacro'")
    (untitled,) = [p for p in parsed.problems if "'notitle'" in p.where]
    assert untitled.dropped and "no title" in untitled.message
    assert len(parsed.problems) == 6


@pytest.mark.parametrize(
    ("kind", "csl_type"),
    [
        ("article", "article-journal"),
        ("inproceedings", "paper-conference"),
        ("conference", "paper-conference"),
        ("book", "book"),
        ("incollection", "chapter"),
        ("inbook", "chapter"),
        ("mastersthesis", "thesis"),
        ("techreport", "report"),
        ("misc", "document"),
        ("online", "webpage"),
        ("unpublished", "manuscript"),
        ("booklet", "pamphlet"),
        ("somethingnew", "document"),
    ],
)
def test_entry_types(kind: str, csl_type: str) -> None:
    assert one(f"@{kind}{{k, title = {{T}}}}").metadata["type"] == csl_type


def test_masters_thesis_genre_and_a_type_field_override() -> None:
    assert one("@mastersthesis{k, title={T}}").metadata["genre"] == "Master's thesis"
    assert one("@phdthesis{k, title={T}, type={Dissertation}}").metadata["genre"] == "Dissertation"


def test_incollection_booktitle_is_the_container() -> None:
    item = one("@incollection{k, title={Chapter}, booktitle={The {Big} Book}, pages={1-2}}")
    assert item.metadata["container-title"] == 'The <span class="nocase">Big</span> Book'
    assert item.metadata["page"] == "1-2"


def test_chained_crossrefs_and_case_insensitive_parent_keys() -> None:
    text = """
    @inproceedings{p, crossref={Mid}, title={P}}
    @proceedings{mid, crossref={top}, title={Mid Proc}}
    @proceedings{top, publisher={Top Pub}, year=2001}
    """
    item = parse_bibtex(text)[0].metadata
    assert item["container-title"] == "Mid Proc"
    assert (item["publisher"], item["issued"]) == ("Top Pub", {"date-parts": [[2001]]})


def test_a_crossref_cycle_is_reported() -> None:
    result = parse_bibtex("@misc{a, crossref={b}, title={A}}\n@misc{b, crossref={a}, title={B}}")
    assert len(result) == 2
    assert any("cycle" in p.message for p in result.problems)


def test_a_field_given_twice_keeps_the_first() -> None:
    result = parse_bibtex("@misc{k, title={First}, title={Second}}")
    assert result[0].metadata["title"] == "First"
    assert any("given twice" in p.message and not p.dropped for p in result.problems)


def test_nothing_usable_raises() -> None:
    with pytest.raises(MetadataParseError, match="no usable BibTeX entry"):
        parse_bibtex("@article{broken, title = {never closed")
    with pytest.raises(MetadataParseError, match="no BibTeX entry found"):
        parse_bibtex("just some text, no entries")


def test_no_stderr_noise_for_malformed_entries() -> None:
    # bibtexparser logs malformed blocks; the problems carry them, stderr stays clean.
    code = (
        "from citeformer.metadata.bibtex import parse_bibtex; "
        "parse_bibtex('@a{x, title={\\n@b{y, title={T}}')"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stderr == ""


def test_metadata_is_valid_csl_json(parsed: ParseResult) -> None:
    for fetched in parsed:
        assert json.loads(json.dumps(fetched.metadata)) == fetched.metadata
        for field in ("author", "editor"):
            for name in fetched.metadata.get(field, []):
                assert set(name) <= {
                    "family",
                    "given",
                    "literal",
                    "suffix",
                    "non-dropping-particle",
                }
        issued = fetched.metadata.get("issued", {"date-parts": [[1]]})
        assert all(isinstance(p, int) for p in issued.get("date-parts", [[0]])[0])


@pytest.mark.parametrize("style", FEATURED_STYLES)
def test_every_entry_renders(parsed: ParseResult, style: str) -> None:
    sources = [Source(f.content or "text", f.metadata) for f in parsed]
    references = render_references(sources, range(1, len(sources) + 1), style)
    assert len(references) == len(sources)
    text = "\n".join(r.text for r in references)
    assert "Müller" in text and "DNA" in text and "<span" not in text and "{" not in text


def test_apa_and_ieee_entries() -> None:
    sources = [Source("", f.metadata) for f in parse_bibtex(*read_text_or_path(TRAPS))]
    apa = render_references(sources, [1], "apa")[0].text
    assert apa.startswith("Müller, H., van Beethoven, L., Smith, J., Jr.")
    assert "The DNA of Bayesian things" in apa and "47–60" in apa
    ieee = render_references(sources, [3], "ieee")[0].text
    assert ieee.startswith("[3] A. Çelik and J.-P. Le Pen, “A Paper in the Proceedings,” in ")
    assert "Proceedings of the ACM Conference" in ieee and "pp. 5–9" in ieee
