"""Marker-aware sentences: spans, citations from the result's own spans, clean claims."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from citeformer import Citeformer, GenerationResult, MarkerStyle, Source
from citeformer.backends.mock import MockBackend
from citeformer.core import Citation
from citeformer.verify.sentences import answer_sentences, strip_markers

SOURCES = [Source(f"Source {i}.") for i in range(1, 6)]


def answer(text: str, style: MarkerStyle = MarkerStyle.BRACKET) -> GenerationResult:
    return Citeformer(MockBackend(text), marker_style=style).generate("Q?", SOURCES)


def test_a_marker_after_the_full_stop_belongs_to_the_sentence_before() -> None:
    result = answer("The tower is 330 metres tall. [1] It opened in 1889 [2].")
    sentences = answer_sentences(result)
    assert [(s.text, s.claim, s.cited_ids) for s in sentences] == [
        ("The tower is 330 metres tall. [1]", "The tower is 330 metres tall.", (1,)),
        ("It opened in 1889 [2].", "It opened in 1889.", (2,)),
    ]
    for s in sentences:
        assert result.text[s.start : s.end] == s.text


def test_abbreviations_decimals_and_cjk_endings() -> None:
    text = "Dr. Smith measured 3.5 m. [3] 東京は大きい。[4] 次の文です。"
    sentences = answer_sentences(answer(text))
    assert [s.cited_ids for s in sentences] == [(3,), (4,), ()]
    assert sentences[0].claim == "Dr. Smith measured 3.5 m."
    assert sentences[1].claim == "東京は大きい。"


def test_headings_and_list_items_are_their_own_sentences() -> None:
    sentences = answer_sentences(answer("# Towers\n- The first is tall [1].\n- The second [2]."))
    assert [s.text for s in sentences] == [
        "# Towers",
        "- The first is tall [1].",
        "- The second [2].",
    ]
    assert sentences[0].is_heading and not sentences[1].is_heading


def test_a_line_of_markers_alone_cites_the_sentence_before() -> None:
    sentences = answer_sentences(answer("The tower is tall.\n[1][2]\nNext claim here."))
    assert [(s.claim, s.cited_ids) for s in sentences] == [
        ("The tower is tall.", (1, 2)),
        ("Next claim here.", ()),
    ]


def test_citations_come_from_the_results_spans_not_a_pattern() -> None:
    # Prose that looks like a marker but is no citation of the result is not assigned.
    text = "See item [2] here."
    result = GenerationResult(text, (), sources=tuple(SOURCES))
    (sentence,) = answer_sentences(result)
    assert sentence.cited_ids == ()


def test_every_style_is_stripped_from_the_claim() -> None:
    for style, text in [
        (MarkerStyle.PAREN, "It is tall (1, 2)."),
        (MarkerStyle.CURLY, "It is tall {1}."),
        (MarkerStyle.CARET, "It is tall^1 ^2."),
    ]:
        (sentence,) = answer_sentences(answer(text, style))
        assert sentence.claim == "It is tall.", style
        assert sentence.cited_ids == ((1, 2) if "2" in text else (1,))
    assert strip_markers("Tall [3] and (4) {5} ^6 wide.") == "Tall and wide."


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["It is tall", "Dr. Who came", "A 3.5 m pole", "東京です", "x"]),
            st.lists(st.integers(1, 5), max_size=3),
            st.sampled_from([". ", ".", "。", "! ", ".\n", "\n\n"]),
        ),
        max_size=8,
    )
)
@settings(max_examples=200, deadline=None)
def test_spans_are_exact_and_every_citation_lands_in_one_sentence(
    parts: list[tuple[str, list[int], str]],
) -> None:
    text = "".join(body + "".join(f" [{i}]" for i in ids) + end for body, ids, end in parts)
    result = answer(text)
    sentences = answer_sentences(result)
    seen: list[Citation] = []
    for s in sentences:
        assert result.text[s.start : s.end] == s.text
        assert s.text == s.text.strip()
        assert all(s.start <= c.start and c.end <= s.end for c in s.citations)
        assert "[" not in s.claim
        seen += s.citations
    assert sorted(seen, key=lambda c: c.start) == sorted(result.citations, key=lambda c: c.start)
    assert [s.start for s in sentences] == sorted(s.start for s in sentences)
