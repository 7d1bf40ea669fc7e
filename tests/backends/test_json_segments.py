"""Streamed JSON segments render exactly like whole ones, whatever the chunking."""

from __future__ import annotations

import json
from typing import Any

import jiter
import pytest
from hypothesis import given
from hypothesis import strategies as st

from citeformer.backends._api.json_segments import SegmentDecoder, decode_segments
from citeformer.core import MarkerStyle, Policy
from citeformer.errors import BackendError
from citeformer.grammar.language import CitationLanguage, citation_language
from citeformer.grammar.schema import SegmentWriter, segments_to_text

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


# -- regressions: linear streaming, first key wins, wrong shapes, wrong id types ---------


def feed_in(doc: str, size: int, language: CitationLanguage | None = None) -> tuple[str, Any]:
    decoder = SegmentDecoder(language or citation_language(3, Policy.AUTO), "test")
    text = "".join(decoder.feed(doc[at : at + size]) for at in range(0, len(doc), size))
    return text + decoder.finish(), decoder.dropped


def test_streaming_parses_each_character_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # jiter decodes values (escaped string pieces, ids); it never re-reads the document.
    parsed = [0]
    original = jiter.from_json

    def counting(data: bytes, *args: Any, **kwargs: Any) -> Any:
        parsed[0] += len(data)
        return original(data, *args, **kwargs)

    monkeypatch.setattr(jiter, "from_json", counting)
    segment = {"text": 'Caf\u00e9 "\u00e9" \U0001f600 [2] and more.', "citations": [1, 2]}
    doc = json.dumps({"segments": [segment] * 400})
    assert len(doc) > 24_000
    text, _ = feed_in(doc, 4)
    assert text.startswith('Café "é" 😀 and more [1, 2]. Café')
    assert parsed[0] < 2 * len(doc)  # the whole document re-parsed per delta: ~6000x


def test_the_first_segments_key_wins_so_a_later_one_cannot_forge_a_marker() -> None:
    doc = (
        '{"segments":[{"text":"Intro."},{"text":"foo [."}],'
        '"segments":[{"text":"x"},{"text":"zzzzz1] and more"}]}'
    )
    whole, dropped = decode_segments(doc, citation_language(3, Policy.AUTO), "test")
    assert (whole, dropped) == ("Intro. foo [.", ())
    for size in (1, 2, 3, 5, 8, len(doc)):
        assert feed_in(doc, size) == (whole, ())


def test_the_first_text_quote_and_citations_of_a_segment_win() -> None:
    quotes = citation_language(3, Policy.QUOTES_ONLY)
    doc = (
        '{"segments": [{"text": "A [", "te\\u0078t": "1] B", "quote": "q", "quote": "[2]",'
        ' "citations": [1], "citations": [3], "extra": {"text": "[3]"}}]}'
    )
    whole = decode_segments(doc, quotes, "test")
    assert whole == ('A [ "q"[1]', ())
    for size in (1, 2, 3, 7):
        assert feed_in(doc, size, quotes) == whole


WRONG_SHAPES = [  # (document, what is wrong, the part of it that shows that)
    ('{"answer": "Paris [1]."}', 'the object has no "segments" key', '{"answer": "Paris [1]."}'),
    ("[]", "the output is an array, not an object", "["),
    ('"Paris [1]."', "the output is a string, not an object", '"'),
    ('{"segments": 5}', '"segments" is a number, not an array', '{"segments": 5'),
    (
        '{"segments": [{"text": "A."}, 3]}',
        "segment 2 is a number",
        '{"segments": [{"text": "A."}, 3',
    ),
    ('{"segments": [{"text": null}]}', 'segment 1\'s "text" is null', '{"segments": [{"text": n'),
    (
        '{"segments": [{"citations": {}}]}',
        '"citations" is an object',
        '{"segments": [{"citations": {',
    ),
]


@pytest.mark.parametrize(("doc", "detail", "shown_by"), WRONG_SHAPES)
def test_valid_json_of_the_wrong_shape_is_a_typed_error_whole_and_streamed(
    doc: str, detail: str, shown_by: str
) -> None:
    language = citation_language(2, Policy.AUTO)
    with pytest.raises(BackendError, match="did not follow the requested JSON schema") as whole:
        decode_segments(doc, language, "test", truncated=True)
    known = len(shown_by)
    assert detail in str(whole.value) and not whole.value.retryable
    assert f"its output began {doc[:known]!r}" in str(whole.value)
    # Streamed, the error comes as soon as the shape is known, with the same message.
    decoder = SegmentDecoder(language, "test")
    for char in doc[: known - 1]:
        decoder.feed(char)
    with pytest.raises(BackendError) as streamed:
        decoder.feed(doc[known - 1])
    assert str(streamed.value) == str(whole.value)


def test_a_truncated_document_keeps_what_parsed_until_its_shape_is_known() -> None:
    language = citation_language(2, Policy.AUTO)
    assert decode_segments('{"answer": "Paris is', language, "test", truncated=True) == ("", ())
    assert decode_segments("", language, "test", truncated=True) == ("", ())
    text, _ = decode_segments(
        '{"segments": [{"text": "One.", "citations": [1]}, {"text": "Two',
        language,
        "test",
        truncated=True,
    )
    assert text == "One [1]. Two"


def test_ids_of_the_wrong_type_are_dropped_and_reported() -> None:
    language = citation_language(3, Policy.AUTO)
    doc = (
        '{"segments": [{"text": "Tall.", "citations": [1.0, true, null, [2], "x", 2.5, {}, "2",'
        ' 7, 1]}, {"text": "Old.", "citations": [false]}]}'
    )
    whole = decode_segments(doc, language, "test")
    text, dropped = whole
    assert text == "Tall [1, 2]. Old."
    assert [m.text for m in dropped] == [
        "[1.0]", "[true]", "[null]", "[[2]]", '["x"]', "[2.5]", "[{}]", "[7]", "[false]"
    ]  # fmt: skip
    assert all(m.reason == "not_in_schema" for m in dropped)
    assert {(m.start, m.end) for m in dropped[:-1]} == {(4, 4)}  # where the marker went
    assert (dropped[-1].start, dropped[-1].end) == (len("Tall [1, 2]. Old"),) * 2
    assert feed_in(doc, 3) == whole
    caret = citation_language(3, Policy.AUTO, MarkerStyle.CARET)
    _, dropped = decode_segments('{"segments": [{"text": "A", "citations": [true]}]}', caret, "t")
    assert [m.text for m in dropped] == ["^true"]


# -- regressions: a long segment (or quote) streams in linear time -----------------------

LONG = 8_000
_LONG_TEXT = ('Claim holds \u00e9 in "this" [3] setting, ' * (LONG // 30))[:LONG]
LONG_SHAPES = {  # (segments, policy): one long text, one long quote, a long quote first...
    "text": ([{"text": _LONG_TEXT, "citations": [1]}], Policy.AUTO),
    "quote": ([{"text": "He said", "quote": _LONG_TEXT, "citations": [1]}], Policy.QUOTES_ONLY),
    "both": ([{"text": _LONG_TEXT, "quote": _LONG_TEXT, "citations": [2]}], Policy.QUOTES_ONLY),
    "quote first": ([{"quote": _LONG_TEXT, "text": _LONG_TEXT}], Policy.QUOTES_ONLY),
    "punctuation": ([{"text": "A" + ". ," * (LONG // 3), "citations": [1]}], Policy.AUTO),
}


def _strings(value: object) -> list[str]:
    """Every string in ``value`` (through mappings, lists and tuples)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


@pytest.mark.parametrize("shape", list(LONG_SHAPES))
def test_a_long_segment_reaches_the_writer_as_pieces_not_as_a_string_per_delta(
    shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Growing a segment's text in place hands the writer a new copy of the whole text
    # per delta (quadratic); pieces, joined once when the string ends, do not.
    segments, policy = LONG_SHAPES[shape]
    language = citation_language(3, policy)
    whole = segments_to_text(segments, language)
    long_strings: dict[int, str] = {}  # every long string any writer method was given

    def spy(method: Any) -> Any:
        def watched(self: SegmentWriter, *args: Any, **kwargs: Any) -> Any:
            for s in _strings([args, kwargs]):
                if len(s) > 100:  # longer than any piece of a 4-character delta
                    long_strings[id(s)] = s  # (kept alive, so ids are not reused)
            return method(self, *args, **kwargs)

        return watched

    for name in dir(SegmentWriter):
        if not name.startswith("_") and callable(getattr(SegmentWriter, name)):
            monkeypatch.setattr(SegmentWriter, name, spy(getattr(SegmentWriter, name)))
    doc = json.dumps({"segments": segments})
    assert feed_in(doc, 4, language) == whole
    fields = sum(len(s.get(k, "")) > 100 for s in segments for k in ("text", "quote"))
    assert 0 < len(long_strings) <= fields  # each long string once (~2000 times, before)


@pytest.mark.parametrize("shape", list(LONG_SHAPES))
def test_a_long_segment_is_neutralised_a_bounded_number_of_times(
    shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer's marker parsing (MarkerParser with no sources, neutralize) reads each
    # character of the answer a bounded number of times, however long the open
    # segment: re-reading the open quote (or the text before it) per delta is quadratic.
    from citeformer.grammar import schema

    read = [0]
    original_neutralize = schema.neutralize

    class CountingParser(schema.MarkerParser):  # type: ignore[misc]
        def feed(self, chunk: str) -> Any:
            read[0] += len(chunk)
            return super().feed(chunk)

    def counting_neutralize(text: str, style: MarkerStyle) -> str:
        read[0] += len(text)
        return original_neutralize(text, style)

    monkeypatch.setattr(schema, "MarkerParser", CountingParser)
    monkeypatch.setattr(schema, "neutralize", counting_neutralize)
    segments, policy = LONG_SHAPES[shape]
    language = citation_language(3, policy)
    doc = json.dumps({"segments": segments})
    assert feed_in(doc, 4, language) == segments_to_text(segments, language)
    read[0] = 0
    feed_in(doc, 4, language)
    assert read[0] <= 4 * len(doc)  # each field: fed once, neutralised at most twice
