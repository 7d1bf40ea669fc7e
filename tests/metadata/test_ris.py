"""RIS to CSL with rispy: tags, types, ids, broken records, rendering."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from citeformer.core import Source
from citeformer.metadata.errors import MetadataParseError
from citeformer.metadata.ris import parse_ris
from citeformer.render import FEATURED_STYLES, render_references

ARTICLE = """\
TY  - JOUR
AU  - Müller, Hans
AU  - van Beethoven, Ludwig
A1  - Smith, John, Jr.
TI  - A study of things
T2  - Journal of Stuff
J2  - J. Stuff
PY  - 2020///
DA  - 2020/05/17/
VL  - 12
IS  - 3
SP  - 47
EP  - 60
DO  - https://doi.org/10.1000/XYZ
UR  - https://example.org/a
AB  - First line of the abstract
  continues on a second line.
SN  - 1234-5678
PB  - Pub
CY  - Berlin
KW  - things
KW  - stuff
ER  -
"""

CHAPTER = """\
TY - CHAP
AU - Doe, Jane
A2 - Editor, Ed
ED - Second, Sam
TI - Chapter one
T2 - The Book
PY - 1999
SN - 978-3-16-148410-0
ER -
"""


def one(text: str) -> dict[str, Any]:
    result = parse_ris(text)
    assert len(result) == 1, result.problems
    return result[0].metadata


def test_a_journal_article() -> None:
    result = parse_ris(ARTICLE, "refs.ris")
    (fetched,) = result
    item = fetched.metadata
    assert item["id"] == "ris:doi:10.1000/xyz"
    assert item["type"] == "article-journal"
    assert item["author"] == [
        {"family": "Müller", "given": "Hans"},
        {"family": "van Beethoven", "given": "Ludwig"},
        {"family": "Smith", "given": "John", "suffix": "Jr."},
    ]
    assert item["title"] == "A study of things"
    assert item["container-title"] == "Journal of Stuff"
    assert item["container-title-short"] == "J. Stuff"
    assert item["issued"] == {"date-parts": [[2020, 5, 17]]}  # DA is fuller than PY
    assert (item["volume"], item["issue"], item["page"]) == ("12", "3", "47-60")
    assert item["DOI"] == "10.1000/XYZ"
    assert item["URL"] == "https://example.org/a"
    assert (item["ISSN"], item["publisher"], item["publisher-place"]) == (
        "1234-5678",
        "Pub",
        "Berlin",
    )
    assert item["keyword"] == "things, stuff"
    assert fetched.content == "First line of the abstract continues on a second line."
    assert item["abstract"] == fetched.content
    assert (fetched.origin, fetched.extra["ris_type"], fetched.extra["line"]) == (
        "refs.ris",
        "JOUR",
        1,
    )
    assert result.problems == []


def test_a_chapter_with_one_space_tags_and_editors() -> None:
    item = one(CHAPTER)
    assert item["type"] == "chapter"
    assert item["editor"] == [
        {"family": "Second", "given": "Sam"},
        {"family": "Editor", "given": "Ed"},
    ]
    assert item["container-title"] == "The Book"
    assert item["ISBN"] == "978-3-16-148410-0"  # SN of a book part is an ISBN
    assert item["id"].startswith("ris:") and len(item["id"]) == len("ris:") + 16


@pytest.mark.parametrize(
    ("ty", "csl_type"),
    [
        ("JOUR", "article-journal"),
        ("BOOK", "book"),
        ("CHAP", "chapter"),
        ("CONF", "paper-conference"),
        ("CPAPER", "paper-conference"),
        ("THES", "thesis"),
        ("RPRT", "report"),
        ("ELEC", "webpage"),
        ("WEB", "webpage"),
        ("GEN", "document"),
        ("NEWS", "article-newspaper"),
        ("DATA", "dataset"),
        ("XXXX", "document"),
    ],
)
def test_types(ty: str, csl_type: str) -> None:
    assert one(f"TY  - {ty}\nTI  - T\nER  - \n")["type"] == csl_type


def test_dates_and_pages() -> None:
    assert one("TY  - GEN\nTI  - T\nY1  - 1999/12//\nER  - ")["issued"] == {
        "date-parts": [[1999, 12]]
    }
    assert one("TY  - GEN\nTI  - T\nPY  - 2001\nSP  - 5-9\nER  - ")["page"] == "5-9"
    assert one("TY  - GEN\nTI  - T\nSP  - e101\nER  - ")["page"] == "e101"
    assert one("TY  - GEN\nTI  - T\nY2  - 2024-03-01\nER  - ")["accessed"] == {
        "date-parts": [[2024, 3, 1]]
    }


def test_ids_are_stable_and_never_python_hash() -> None:
    text = "TY  - GEN\nTI  - No DOI here\nER  - \n"
    first = one(text)["id"]
    assert first == one(text.replace("\n", "\r\n") + "\n\n")["id"]  # line endings ignored
    assert first != one(text.replace("No DOI", "Another"))["id"]
    code = (
        "from citeformer.metadata.ris import parse_ris; "
        f"print(parse_ris({text!r})[0].metadata['id'])"
    )
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert seen == {first}


def test_an_unterminated_last_record_is_read_and_reported() -> None:
    result = parse_ris(ARTICLE + "TY  - ELEC\nTI  - Unterminated page\nUR  - https://e.org/p\n")
    assert [f.metadata["title"] for f in result] == ["A study of things", "Unterminated page"]
    (problem,) = result.problems
    assert problem.where == "the record at line 24" and not problem.dropped


def test_a_record_without_a_title_and_a_repeat_are_reported() -> None:
    result = parse_ris(ARTICLE + "TY  - GEN\nAU  - Nobody\nER  - \n" + ARTICLE)
    assert len(result) == 1
    messages = [str(p) for p in result.problems]
    assert messages[0].startswith("the record at line 24: no title")
    assert messages[1].startswith("the record at line 27: repeats an earlier record")


def test_a_bom_and_junk_between_records() -> None:
    text = "\ufeffProvider: Some Exporter\n\n" + ARTICLE + "\nstray line\n" + CHAPTER
    assert [f.metadata["type"] for f in parse_ris(text)] == ["article-journal", "chapter"]


def test_a_non_doi_in_do_gives_a_hash_id() -> None:
    item = one("TY  - GEN\nTI  - T\nDO  - not a doi\nER  - ")
    assert "DOI" not in item and not item["id"].startswith("ris:doi:")


def test_nothing_usable_raises() -> None:
    with pytest.raises(MetadataParseError, match="no RIS entry found"):
        parse_ris("this is not RIS")
    with pytest.raises(MetadataParseError, match="no usable RIS entry"):
        parse_ris("TY  - GEN\nAU  - Someone\nER  - ")


@pytest.mark.parametrize("style", FEATURED_STYLES)
def test_records_render(style: str) -> None:
    sources = [Source(f.content or "text", f.metadata) for f in parse_ris(ARTICLE + CHAPTER)]
    references = render_references(sources, [1, 2], style)
    text = "\n".join(r.text for r in references)
    assert "Müller" in text and "chapter one" in text.lower()


def test_apa_and_ieee_entries() -> None:
    sources = [Source(f.content, f.metadata) for f in parse_ris(ARTICLE)]
    apa = render_references(sources, [1], "apa")[0].text
    assert apa.startswith("Müller, H., van Beethoven, L., & Smith, J., Jr. (2020).")
    assert "Journal of Stuff, 12(3), 47–60. https://doi.org/10.1000/XYZ" in apa
    ieee = render_references(sources, [1], "ieee")[0].text
    assert ieee.startswith("[1] H. Müller, L. van Beethoven, and J. Smith Jr.")
