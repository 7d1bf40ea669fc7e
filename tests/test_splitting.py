"""Citable parts: ``split_spans``/``split_source`` cut exact, bounded spans of a document."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citeformer import InvalidOptionError, InvalidSourceError, Source, split_source, split_spans

WORDS = st.lists(
    st.one_of(
        st.text(alphabet="abcdefghij", min_size=1, max_size=12),
        st.sampled_from([".", "!", "?", "\n\n", "  ", "\n", "\t", "é", '."', "。"]),
    ),
    max_size=80,
).map(" ".join)


@given(WORDS, st.integers(1, 60), st.data())
def test_spans_are_exact_bounded_and_cover_every_character(
    text: str, size: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(0, size - 1))
    spans = split_spans(text, size, overlap)
    covered: set[int] = set()
    for index, (start, end) in enumerate(spans):
        piece = text[start:end]
        assert 0 < end - start <= size
        assert piece == piece.strip()
        covered.update(range(start, end))
        if index:
            previous_start, previous_end = spans[index - 1]
            assert start > previous_start
            assert previous_end - start <= overlap  # shared characters stay in bound
    assert covered >= {i for i, ch in enumerate(text) if not ch.isspace()}
    assert spans or not text.strip()


@given(WORDS, st.integers(1, 60))
def test_without_overlap_spans_do_not_overlap(text: str, size: int) -> None:
    spans = split_spans(text, size)
    for (_, previous_end), (start, _) in itertools.pairwise(spans):
        assert start >= previous_end


def test_cuts_prefer_sentence_and_paragraph_ends() -> None:
    text = "The tower is tall. It was built in 1889.\n\nThe Rhine flows north to the sea."
    pieces = [text[a:b] for a, b in split_spans(text, 45)]
    assert pieces == [
        "The tower is tall. It was built in 1889.",
        "The Rhine flows north to the sea.",
    ]
    words, long = "word " * 3, "abcdefghij"
    assert [words[a:b] for a, b in split_spans(words, 4)] == ["word"] * 3
    assert [long[a:b] for a, b in split_spans(long, 4)] == ["abcd", "efgh", "ij"]


def test_overlap_starts_at_a_word() -> None:
    text = "one two three four five six seven eight"
    pieces = [text[a:b] for a, b in split_spans(text, 14, 6)]
    assert pieces[0] == "one two three"
    assert all(text.find(p) >= 0 and (text.find(p) == 0 or text[text.find(p) - 1] == " ")
               for p in pieces)  # fmt: skip
    assert pieces[1].startswith("three")


@given(WORDS.filter(lambda t: bool(t.strip())), st.integers(5, 40))
def test_parts_map_back_into_the_document(text: str, size: int) -> None:
    source = Source(text, {"title": "T", "id": "doc-1"})
    parts = split_source(source, size)
    assert {p.document for p in parts} == {"doc-1"}
    for part in parts:
        assert part.document_start is not None
        assert text[part.document_start : part.document_start + len(part.content)] == part.content
        assert part.metadata == source.metadata


def test_parts_of_a_part_extend_its_offsets() -> None:
    chunk = Source("Alpha beta. Gamma delta.", document="file.txt", document_start=100)
    parts = split_source(chunk, 12)
    assert [(p.content, p.document_start) for p in parts] == [
        ("Alpha beta.", 100),
        ("Gamma delta.", 112),
    ]
    assert {p.document for p in parts} == {"file.txt"}
    unknown = split_source(Source("Alpha beta. Gamma delta.", document="f"), 12)
    assert [p.document_start for p in unknown] == [None, None]
    named = split_source(Source("Alpha beta. Gamma delta."), 12, document="mine")
    assert {p.document for p in named} == {"mine"}


def test_a_document_key_is_derived_when_none_is_given() -> None:
    by_doi = split_source(Source("A b. C d.", {"DOI": "10.1/x"}), 4)
    assert {p.document for p in by_doi} == {"10.1/x"}
    digest = split_source(Source("A b. C d."), 4)
    assert len({p.document for p in digest}) == 1
    assert str(digest[0].document).startswith("sha256:")
    assert split_source(Source("A b. C d."), 4)[0].document == digest[0].document


@pytest.mark.parametrize(
    ("size", "overlap"), [(0, 0), (-1, 0), (True, 0), ("10", 0), (10, 10), (10, -1), (10, 1.5)]
)
def test_bad_sizes_are_typed_errors(size: object, overlap: object) -> None:
    with pytest.raises(InvalidOptionError, match="chunk_"):
        split_spans("text", size, overlap)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("document", "start"), [("", None), ("  ", 0), (3, None), (None, 0), ("d", -1), ("d", True)]
)
def test_bad_document_fields_are_typed_errors(document: object, start: object) -> None:
    with pytest.raises(InvalidSourceError, match=r"Source\.document"):
        Source("text", document=document, document_start=start)  # type: ignore[arg-type]


def test_document_fields_take_part_in_equality_hashing_and_json() -> None:
    from citeformer import GenerationResult

    plain, part = Source("x"), Source("x", document="d", document_start=4)
    assert plain != part and hash(plain) != hash(part)
    result = GenerationResult("x", sources=(plain, part))
    again = GenerationResult.from_json(result.to_json())
    assert again.sources == (plain, part)
    old = result.to_dict()
    for source in old["sources"]:  # results stored before the fields existed still load
        source.pop("document")
        source.pop("document_start")
    assert GenerationResult.from_dict(old).sources == (plain, plain)
