"""CSL-JSON exports (Zotero, Better BibTeX, the Zotero web API) read and validated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from citeformer.core import Source
from citeformer.metadata.csl_json import parse_csl_json
from citeformer.metadata.errors import MetadataParseError
from citeformer.render import FEATURED_STYLES, render_references

# As Zotero and Better BibTeX write them: string date parts, HTML in titles, JATS
# abstracts, non-CSL keys, a DOI with its resolver prefix.
ZOTERO: list[dict[str, Any]] = [
    {
        "id": "smith2020",
        "type": "article-journal",
        "title": "A <i>Study</i> of Things",
        "container-title": "Journal of Stuff",
        "author": [{"family": "Smith", "given": "Jane"}, {"literal": "The Consortium"}],
        "issued": {"date-parts": [["2020", 5]]},
        "volume": "12",
        "page": "47-60",
        "DOI": "10.1000/xyz",
        "abstract": "<jats:p>What we <jats:italic>found</jats:italic>.</jats:p>",
        "citation-key": "smith2020",
        "note": "Citation Key: smith2020",
        "zotero-only-key": {"nested": True},
    },
    {
        "id": "http://zotero.org/users/1/items/ABCD1234",
        "type": "book",
        "title": "A Book",
        "editor": [{"family": "Editor", "given": "Ed"}],
        "publisher": "Pub",
        "issued": {"raw": "1999-12-01"},
    },
]


def test_a_zotero_export() -> None:
    result = parse_csl_json(json.dumps(ZOTERO), origin="lib.json")
    assert [f.metadata["id"] for f in result] == [
        "csl:smith2020",
        "csl:http://zotero.org/users/1/items/ABCD1234",
    ]
    first = result[0]
    assert first.metadata["issued"] == {"date-parts": [[2020, 5]]}  # strings read as numbers
    assert first.metadata["author"][1] == {"literal": "The Consortium"}
    assert first.content.startswith("What we found")  # JATS stripped (csl.strip_markup)
    assert first.metadata["abstract"] == first.content
    assert "zotero-only-key" not in first.metadata
    assert first.metadata["DOI"] == "10.1000/xyz"
    assert (first.origin, first.extra) == ("lib.json", {"format": "csl-json", "index": 0})
    assert result[1].metadata["issued"] == {"date-parts": [[1999, 12, 1]]}
    assert result[1].content == ""
    assert result.problems == []


def test_every_accepted_shape() -> None:
    listed = parse_csl_json(ZOTERO)
    assert [f.metadata for f in parse_csl_json({"items": ZOTERO})] == [f.metadata for f in listed]
    assert parse_csl_json(ZOTERO[1])[0].metadata == listed[1].metadata
    assert parse_csl_json(json.dumps(ZOTERO[1]))[0].metadata == listed[1].metadata
    assert parse_csl_json("\ufeff" + json.dumps(ZOTERO))[0].metadata == listed[0].metadata


def test_a_path(tmp_path: Path) -> None:
    path = tmp_path / "lib.json"
    path.write_text(json.dumps(ZOTERO), encoding="utf-8-sig")
    result = parse_csl_json(path)
    assert len(result) == 2 and result[0].origin == str(path)


def test_bad_items_are_reported_by_index_and_the_rest_kept() -> None:
    items = [
        ZOTERO[0],
        "not an object",
        {"id": ["a", "list"], "title": "Bad id"},
        {"id": "bad-fields", "title": "T", "author": 42, "issued": {"date-parts": [["x"]]}},
        {"id": "smith2020", "title": "A repeat"},
        {"id": "empty", "type": "book"},
    ]
    result = parse_csl_json(items)
    assert [f.metadata["id"] for f in result] == ["csl:smith2020", "csl:bad-fields"]
    assert [(str(p), p.dropped) for p in result.problems] == [
        ("item 1: is a JSON str, not an object; left out", True),
        ("item 2: its id is not a string or number; left out", True),
        ("item 3 ('bad-fields'): field 'author' dropped: not a list of name objects", False),
        (
            "item 3 ('bad-fields'): field 'issued' dropped: not a date (date-parts, raw or "
            "ISO text)",
            False,
        ),
        ("item 4 ('smith2020'): repeats the id of an earlier item; left out", True),
        ("item 5 ('empty'): has no title and no abstract; left out", True),
    ]


def test_names_and_dates_are_coerced_to_csl() -> None:
    item = parse_csl_json(
        {
            "id": 7,
            "title": "T",
            "author": {"family": "Solo", "given": "Han"},  # one name object, not a list
            "editor": ["Ludwig van Beethoven", "Doe, Jane"],
            "issued": "2021-02-03",
            "accessed": {"date-parts": [[2024]]},
        }
    )[0].metadata
    assert item["id"] == "csl:7"
    assert item["author"] == [{"family": "Solo", "given": "Han"}]
    assert item["editor"] == [
        {"given": "Ludwig", "family": "van Beethoven"},
        {"family": "Doe", "given": "Jane"},
    ]
    assert item["issued"] == {"date-parts": [[2021, 2, 3]]}
    assert item["accessed"] == {"date-parts": [[2024]]}
    assert item["type"] == "document"  # no type: CSL's catch-all


def test_an_item_without_an_id_gets_a_content_hash() -> None:
    first = parse_csl_json([{"title": "No id"}])[0].metadata["id"]
    assert first == parse_csl_json({"title": "No id"})[0].metadata["id"]
    assert first.startswith("csl:") and len(first) == len("csl:") + 16
    assert first != parse_csl_json({"title": "Other"})[0].metadata["id"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("[{]", "is not JSON"),
        ("42", "holds a JSON int"),
        ("[]", "no CSL-JSON entry found"),
        ("[1, 2]", "no usable CSL-JSON entry"),
    ],
)
def test_nothing_usable_raises(value: str, message: str) -> None:
    with pytest.raises(MetadataParseError, match=message):
        parse_csl_json(value)


@pytest.mark.parametrize("style", FEATURED_STYLES)
def test_items_render(style: str) -> None:
    sources = [Source(f.content or "text", f.metadata) for f in parse_csl_json(ZOTERO)]
    references = render_references(sources, [1, 2], style)
    assert len(references) == 2
    assert all("<" not in r.text for r in references)


def test_apa_and_ieee_entries() -> None:
    sources = [Source(f.content, f.metadata) for f in parse_csl_json(ZOTERO[:1])]
    apa = render_references(sources, [1], "apa")[0].text
    assert apa.startswith("Smith, J., & The Consortium. (2020).")
    assert "https://doi.org/10.1000/xyz" in apa
    ieee = render_references(sources, [1], "ieee")[0].text
    assert ieee.startswith("[1] J. Smith and The Consortium")
