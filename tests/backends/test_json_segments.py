"""Streamed JSON segments render exactly like whole ones, whatever the chunking."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from citeformer.backends.json_segments import SegmentDecoder, decode_segments
from citeformer.core import MarkerStyle, Policy
from citeformer.errors import BackendError
from citeformer.grammar.language import citation_language
from citeformer.grammar.schema import segments_to_text

PIECES = ["[9]", "[1]", "[1, 2]", "^3", "(2)", "{4}", "e.g. ", "\\", "\n", "3.5", "“", "”"]
TEXT_ALPHABET = st.sampled_from([*"ab 1290.,!?;:[]()^{}-\"'é。", *PIECES])
texts = st.lists(TEXT_ALPHABET, max_size=12).map("".join)
ids = st.lists(st.integers(min_value=-1, max_value=6) | st.sampled_from(["2", "x"]), max_size=4)


@st.composite
def documents(draw: st.DrawFn) -> tuple[list[dict[str, object]], bool]:
    quotes = draw(st.booleans())
    segments = []
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        segment: dict[str, object] = {"text": draw(texts)}
        if quotes:
            segment["quote"] = draw(texts)
        segment["citations"] = draw(ids)
        if draw(st.integers(0, 9)) == 0:  # a server that ignored the key order
            segment = dict(reversed(list(segment.items())))
        segments.append(segment)
    return segments, quotes


@given(
    documents(),
    st.sampled_from(list(MarkerStyle)),
    st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=40),
)
def test_any_chunking_streams_the_whole_documents_text(
    document: tuple[list[dict[str, object]], bool], style: MarkerStyle, sizes: list[int]
) -> None:
    segments, quotes = document
    language = citation_language(3, Policy.QUOTES_ONLY if quotes else Policy.AUTO, style)
    raw = json.dumps({"segments": segments}, ensure_ascii=bool(sizes[0] % 2))
    whole, dropped = segments_to_text(segments, language)

    decoder = SegmentDecoder(language, "test")
    streamed, at, turn = [], 0, 0
    while at < len(raw):
        size = sizes[turn % len(sizes)]
        streamed.append(decoder.feed(raw[at : at + size]))
        # Every release is final: what has been streamed is a prefix of the answer.
        assert whole.startswith("".join(streamed))
        at, turn = at + size, turn + 1
    streamed.append(decoder.finish())
    assert "".join(streamed) == whole
    assert decoder.dropped == dropped


def test_text_is_released_before_the_segment_closes() -> None:
    language = citation_language(2, Policy.AUTO)
    decoder = SegmentDecoder(language, "test")
    assert decoder.feed('{"segments": [{"text": "Paris is the capital') == "Paris is the capital"
    assert decoder.feed(' of France.", "citations": [1') == " of France"  # "." waits
    assert decoder.feed("]}, {") == " [1]."
    assert decoder.feed('"text": "Rome [2] too.", "citations": []}]}') == " Rome too"
    assert decoder.finish() == "."


def test_ids_outside_the_enum_and_prose_markers_are_dropped() -> None:
    text, dropped = decode_segments(
        '{"segments": [{"text": "Tall [9].", "citations": [1, 4, "2", 0]}]}',
        citation_language(3, Policy.AUTO),
        "test",
    )
    assert text == "Tall [1, 2]."
    assert [(m.text, m.reason) for m in dropped] == [
        ("[4]", "not_in_schema"),
        ("[0]", "not_in_schema"),
    ]


def test_malformed_json_is_a_backend_error_and_truncation_keeps_the_settled_part() -> None:
    language = citation_language(2, Policy.AUTO)
    with pytest.raises(BackendError, match="not valid JSON"):
        decode_segments('{"segments": [oops', language, "test")
    text, _ = decode_segments(
        '{"segments": [{"text": "One.", "citations": [1]}, {"text": "Two and',
        language,
        "test",
        truncated=True,
    )
    assert text == "One [1]. Two and"


def test_cjk_segments_run_together_and_others_get_a_space() -> None:
    language = citation_language(2, Policy.AUTO)
    cjk, _ = segments_to_text(
        [{"text": "巴黎是首都。", "citations": [1]}, {"text": "罗马也是。", "citations": []}],
        language,
    )
    assert cjk == "巴黎是首都 [1]。罗马也是。"
