"""Parts of one document: each part its own citable id, the document one entry.

Through the real citeproc-py: the list, the numbering, the rendered markers and the
references a generation result carries stay consistent with each other.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from citeformer import Citeformer, GenerationResult, MockBackend, Source, split_source
from citeformer.render import render_bibliography

EIFFEL = {
    "type": "book",
    "title": "Eiffel Tower",
    "author": [{"family": "Eiffel", "given": "Gustave"}],
    "issued": {"date-parts": [[1889]]},
    "publisher": "Press",
}
RHINE = {**EIFFEL, "title": "The Rhine", "author": [{"family": "Rhein", "given": "Vera"}]}
TEXT = (
    "The tower was built by Gustave Eiffel's company. It opened in 1889 for the fair. "
    "It is 330 metres tall today."
)
PARTS = split_source(Source(TEXT, EIFFEL), 50)
SOURCES = [*PARTS, Source("The Rhine flows north.", RHINE)]


def answer(text: str, style: str = "ieee") -> GenerationResult:
    return Citeformer(MockBackend(text), style=style).generate("q", SOURCES)


def test_parts_are_listed_once_with_each_cited_part_in_the_label() -> None:
    assert len(PARTS) == 3 and SOURCES[3].document is None
    bibliography = render_bibliography(SOURCES, [1, 4, 3], "ieee")
    assert [(e.source_ids, e.label) for e in bibliography.entries] == [
        ((1, 3), "[1], [3]"),
        ((4,), "[4]"),
    ]
    assert dict(bibliography.numbers) == {1: 1, 3: 3, 4: 4}
    assert bibliography.entry(3) is bibliography.entry(1)
    result = answer("Built by Eiffel [1]. It opened in 1889 [3]. The Rhine [4].")
    assert [(r.source_id, r.source_ids) for r in result.references] == [(1, (1, 3)), (4, (4,))]
    assert result.references[0].text.startswith("[1], [3] G. Eiffel, Eiffel Tower")
    assert result.cited_ids == [1, 3, 4]  # the citations themselves are untouched


def test_style_numbering_gives_a_document_one_number() -> None:
    result = answer("Built [3]. Opened [1]. Both [1, 3]. Rhine [4]. Mixed [2][4].")
    rendered = result.rendered("text", numbering="style")
    first = rendered.text.splitlines()[0]
    assert first == "Built [1]. Opened [1]. Both [1]. Rhine [2]. Mixed [1, 2]."
    assert dict(rendered.bibliography.numbers) == {1: 1, 2: 1, 3: 1, 4: 2}
    assert [e.label for e in rendered.entries] == ["[1]", "[2]"]
    markers = [set(m.source_ids) for m in rendered.markers]
    assert markers == [{3}, {1}, {1, 3}, {4}, {2, 4}]  # what the model cited, kept


def test_author_date_cites_a_document_once_per_cluster() -> None:
    result = answer("Built [1, 3]. Opened [2]. Rhine [4][1].", style="apa")
    first = result.render(inline=True).splitlines()[0]
    assert first == (
        "Built (Eiffel, 1889). Opened (Eiffel, 1889). Rhine (Eiffel, 1889; Rhein, 1889)."
    )
    assert [len(r.source_ids) for r in result.references] == [3, 1]


def test_markdown_links_every_part_to_its_document_entry() -> None:
    result = answer("Built [1]. Opened [3]. Rhine [4].")
    rendered = result.rendered("markdown")
    targets = re.findall(r"\]\(#(ref-\d+)\)", rendered.text)
    assert targets == ["ref-1", "ref-1", "ref-4"]
    assert all(f'id="{t}"' in rendered.text for t in targets)
    assert rendered.text.count('<a id="ref-') == 2


def test_unrelated_sources_with_equal_text_stay_apart() -> None:
    twins = [Source("Same.", EIFFEL), Source("Same.", EIFFEL)]
    assert len(render_bibliography(twins, [1, 2]).entries) == 2


@given(
    st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=8),
    st.data(),
    st.sampled_from(["ieee", "apa", "nature"]),
    st.sampled_from(["source", "style"]),
)
def test_entries_partition_the_cited_sources_by_document(
    documents: list[str | None], data: st.DataObject, style: str, numbering: str
) -> None:
    sources = [
        Source(f"Part {i}.", {**EIFFEL, "title": f"Doc {doc or i}"}, document=doc)
        for i, doc in enumerate(documents, start=1)
    ]
    cited = data.draw(st.lists(st.integers(1, len(sources)), min_size=1, max_size=10))
    bibliography = render_bibliography(sources, cited, style, numbering=numbering)  # type: ignore[arg-type]
    parts = [e.source_ids for e in bibliography.entries]
    assert sorted(i for p in parts for i in p) == sorted(set(cited))
    for entry in bibliography.entries:
        assert len({sources[i - 1].document or i for i in entry.source_ids}) == 1
        assert entry.source_id == min(entry.source_ids)
    distinct = {sources[i - 1].document or f"#{i}" for i in cited}
    assert len(bibliography.entries) == len(distinct)
    numbers = bibliography.numbers
    assert set(numbers) == set(cited)
    for entry in bibliography.entries:  # one entry, one number under style numbering
        shown = {numbers[i] for i in entry.source_ids}
        assert len(shown) == (1 if numbering == "style" else len(entry.source_ids))
    by_entry = [{numbers[i] for i in p} for p in parts]
    assert all(not (x & y) for k, x in enumerate(by_entry) for y in by_entry[k + 1 :])
