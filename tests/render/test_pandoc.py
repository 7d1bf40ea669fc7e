"""renderer="pandoc": pandoc's citeproc through the public API, and as a differential oracle.

Each bibliography is one pandoc call (~0.15 s). The bibliography cache is keyed on the
sources, so the tests share a few source lists and most calls after the first are hits.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "pypandoc", reason="renderer='pandoc' needs the csl-pandoc extra (pypandoc-binary)"
)

from citeformer import Citeformer, MockBackend, Source
from citeformer.errors import InvalidOptionError, MissingDependencyError
from citeformer.render import Bibliography, render_bibliography, resolve_style
from citeformer.render import pandoc as pandoc_renderer
from citeformer.render._patched import load_style
from citeformer.render._text import PAGE_RANGE_MARK
from citeformer.render.bibliography import Numbering, Renderer

SMITH = [{"family": "Smith", "given": "John Andrew"}]


def book(author: list[dict[str, str]], year: int, title: str, **extra: object) -> Source:
    metadata: dict[str, object] = {
        "type": "book",
        "title": title,
        "author": author,
        "issued": {"date-parts": [[year]]},
        "publisher": "Press",
    }
    return Source(f"{title}.", {**metadata, **extra})


# Two 2020 works by one author (year suffixes), another author's article with a page
# range citeproc-py would mangle (1-10), and a later-cited book with a DOI.
SOURCES = [
    book(SMITH, 2020, "Zebra studies"),
    Source(
        "Apples and oranges.",
        {
            "type": "article-journal",
            "title": "Apples and oranges",
            "author": [{"family": "Adams", "given": "Zoe"}],
            "issued": {"date-parts": [[2019]]},
            "container-title": "Journal of Fruit",
            "volume": "3",
            "page": "1-10",
        },
    ),
    book(SMITH, 2020, "Apple studies"),
    book([{"family": "Zed", "given": "Ann"}], 2001, "Last words", DOI="10.1000/xyz"),
]
CITED = [3, 2, 1, 4]
DIFFERENTIAL_STYLES = [
    "apa",
    "ieee",
    "chicago-author-date",
    "modern-language-association",
    "nature",
]


def bibliography(
    style: str, renderer: Renderer = "pandoc", numbering: Numbering = "source"
) -> Bibliography:
    return render_bibliography(SOURCES, CITED, style, renderer=renderer, numbering=numbering)


def test_apa_year_suffixes_in_entries_and_citations() -> None:
    bib = bibliography("apa")
    # APA sorts by author, then date, then title: Adams, then Smith's two 2020 works
    # with "Apple studies" (3) before "Zebra studies" (1), so 3 gets "a".
    assert [e.source_id for e in bib.entries] == [2, 3, 1, 4]
    assert "(2020a)" in bib.entry(3).text
    assert "(2020b)" in bib.entry(1).text
    assert bib.entry(3).inline == "(Smith, 2020a)"
    assert bib.entry(1).inline == "(Smith, 2020b)"
    # pandoc puts the suffix into the text itself; the field stays empty.
    assert all(e.year_suffix == "" for e in bib.entries)
    assert all(e.label == "" for e in bib.entries)
    # The page range is printed with an en dash, never with citeproc-py's workaround mark.
    assert "1\u201310" in bib.entry(2).text
    assert all(PAGE_RANGE_MARK not in e.text for e in bib.entries)
    # Italics come through as markup, not as text.
    assert "<i>Apple studies</i>" in bib.entry(3).formatted("html")
    assert "*Apple studies*" in bib.entry(3).formatted("markdown")
    assert "<" not in bib.entry(3).text


def test_chicago_author_date_keeps_full_given_names() -> None:
    bib = bibliography("chicago-author-date")
    assert bib.entry(3).text.startswith("Smith, John Andrew. 2020a.")
    assert bib.entry(2).text.startswith("Adams, Zoe. 2019.")
    assert bib.entry(3).inline == "(Smith 2020a)"


def test_ieee_style_numbering_follows_first_citation() -> None:
    bib = bibliography("ieee", numbering="style")
    assert [e.source_id for e in bib.entries] == CITED
    assert [e.label for e in bib.entries] == ["[1]", "[2]", "[3]", "[4]"]
    assert dict(bib.numbers) == {3: 1, 2: 2, 1: 3, 4: 4}
    assert bib.entry(3).text.startswith("[1] J. A. Smith, Apple studies.")
    assert not bib.entry(3).body.startswith("[")  # the label is split off the body
    assert [e.inline for e in bib.entries] == ["[1]", "[2]", "[3]", "[4]"]


def test_ieee_source_numbering_relabels_pandoc_entries() -> None:
    bib = bibliography("ieee", numbering="source")  # the same cached rendering
    assert [(e.source_id, e.label) for e in bib.entries] == [
        (1, "[1]"),
        (2, "[2]"),
        (3, "[3]"),
        (4, "[4]"),
    ]
    assert bib.entry(1).inline == "[1]"


@pytest.mark.parametrize("style", DIFFERENTIAL_STYLES)
def test_agrees_with_citeproc_on_order_and_year_suffixes(style: str) -> None:
    ours = bibliography(style, renderer="citeproc", numbering="style")
    theirs = bibliography(style, numbering="style")
    assert [e.source_id for e in theirs.entries] == [e.source_id for e in ours.entries]
    assert dict(theirs.numbers) == dict(ours.numbers)
    for entry in ours.entries:
        text = theirs.entry(entry.source_id).text
        if entry.year_suffix:
            assert f"2020{entry.year_suffix}" in text
        else:
            assert "2020a" not in text and "2020b" not in text
    if style in ("ieee", "nature"):  # numeric: both split the same labels off
        assert [e.label for e in theirs.entries] == [e.label for e in ours.entries]
    if style == "modern-language-association":
        # MLA adds the title only when an author is ambiguous: pandoc prints "(Adams)",
        # citeproc-py (no disambiguation) always adds it. Smith's works need it in both.
        assert theirs.entry(2).inline == "(Adams)"
        assert theirs.entry(3).inline == ours.entry(3).inline == "(Smith, Apple Studies)"
    else:
        assert [e.inline for e in theirs.entries] == [e.inline for e in ours.entries]


def test_quoted_titles_sort_by_their_words() -> None:
    # A same-author, same-year article whose title the style quotes sorts under Q, as
    # CSL says. Raw citeproc-py's sort key keeps the opening quote (after every letter);
    # the corrected Key class drops it, so both renderers agree.
    sources = [
        book(SMITH, 2020, "Zebra studies"),
        book(SMITH, 2020, "Apple studies"),
        Source(
            "Quoted article.",
            {
                "type": "article-journal",
                "title": "Quoted article",
                "author": SMITH,
                "issued": {"date-parts": [[2020]]},
                "container-title": "J",
            },
        ),
    ]
    for renderer in ("pandoc", "citeproc"):
        bib = render_bibliography(sources, [1, 2, 3], "chicago-author-date", renderer=renderer)  # type: ignore[arg-type]
        assert [e.source_id for e in bib.entries] == [2, 3, 1]
        assert [e.inline for e in bib.entries] == [
            "(Smith 2020a)",
            "(Smith 2020b)",
            "(Smith 2020c)",
        ]


def test_note_styles_cite_with_their_footnote() -> None:
    bib = bibliography("chicago-notes-bibliography")
    assert bib.warnings == ()
    assert bib.entry(3).text == "Smith, John Andrew. Apple Studies. Press, 2020."
    # The cite is the footnote's text, without pandoc's note number or back link.
    assert bib.entry(3).inline == "John Andrew Smith, Apple Studies (Press, 2020)."
    assert bib.entry(3).formatted("html").startswith("Smith, John Andrew. <i>Apple Studies</i>")


def test_note_style_without_bibliography_lists_note_forms() -> None:
    bib = bibliography("agora")
    assert bib.warnings  # the same warning as the in-process renderer gives
    assert [e.source_id for e in bib.entries] == CITED  # citation order
    assert bib.entry(3).text == bib.entry(3).inline
    assert "Apple studies" in bib.entry(3).text


def test_locale_reaches_pandoc() -> None:
    sources = [Source("Undated.", {"type": "book", "title": "Undated", "author": SMITH})]
    bib = render_bibliography(sources, [1], "apa", locale="de-DE", renderer="pandoc")
    assert bib.locale == "de-DE"
    assert bib.entry(1).inline == "(Smith, o.\u00a0J.)"  # the locale's own no-break space


def test_result_render_with_pandoc() -> None:
    result = Citeformer(MockBackend("Alpha [3]. Beta [1][2]."), style="apa").generate(
        "q", SOURCES[:3]
    )
    text = result.render(renderer="pandoc", inline=True)
    assert text.startswith("Alpha (Smith, 2020a). Beta (Adams, 2019; Smith, 2020b).")
    assert "Smith, J. A. (2020a). Apple studies. Press." in text
    markup = result.render("html", renderer="pandoc", inline=True)
    assert '<div class="csl-entry" id="ref-3">Smith, J. A. (2020a). <i>Apple studies</i>' in markup
    ieee = result.render(style="ieee", renderer="pandoc", numbering="style")
    assert ieee.startswith("Alpha [1]. Beta [2, 3].")
    assert "[1] J. A. Smith, Apple studies. Press, 2020." in ieee


def test_missing_pypandoc_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pypandoc", None)  # import now raises ImportError
    sources = [book(SMITH, 1999, "Never rendered")]  # not in the cache
    with pytest.raises(MissingDependencyError, match=r"csl-pandoc.*pypandoc-binary"):
        render_bibliography(sources, [1], "apa", renderer="pandoc")


def test_pandoc_failure_is_reported_with_its_message(tmp_path: Path) -> None:
    info = resolve_style("apa")
    facts = load_style(info.path, "en-US", info.citation_format)
    broken = tmp_path / "broken.csl"
    broken.write_text("<style", encoding="utf-8")  # citeproc-py never sees this file
    items = [{"id": "s1", "type": "book", "title": "T"}]
    with pytest.raises(InvalidOptionError, match=r"renderer='pandoc' failed.*ParseError"):
        pandoc_renderer.render_items(dataclasses.replace(info, path=broken), facts, items, [["s1"]])
