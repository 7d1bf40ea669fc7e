"""The marker parser and validator: the rules every path shares."""

from __future__ import annotations

import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from citeformer.core import MarkerStyle
from citeformer.markers import (
    InvalidMarkerEvent,
    MarkerEvent,
    MarkerParser,
    TextEvent,
    neutralize,
    parse_body,
    validate,
)

B = MarkerStyle.BRACKET


@pytest.mark.parametrize(
    ("body", "ids", "reason"),
    [
        ("1", (1,), None),
        ("1, 3", (1, 3), None),
        ("1,3", (1, 3), None),
        ("3, 1", (3, 1), None),
        ("1, 1", (1, 1), None),  # repeats are merged by the parser
        ("٣", (), "non_ascii_digit"),
        ("1, ٣", (), "non_ascii_digit"),
        ("１", (), "non_ascii_digit"),
        ("9" * 5000, (), "out_of_range"),
        ("0", (), "zero"),
        ("00", (), "zero"),
        ("02", (), "leading_zero"),
        ("11", (), "out_of_range"),
        ("1-3", (), "range"),
        ("1–3", (), "range"),
        ("1,", (), "malformed"),
        ("1 2", (), "malformed"),
        ("1;2", (), "malformed"),
    ],
)
def test_parse_body(body: str, ids: tuple[int, ...], reason: str | None) -> None:
    assert parse_body(body, 10) == (ids, reason)


@pytest.mark.parametrize(
    ("raw", "clean", "reasons"),
    [
        ("Paris [1].", "Paris [1].", []),
        ("Paris [0].", "Paris.", ["zero"]),
        ("Paris [4].", "Paris.", ["out_of_range"]),
        ("Paris [02].", "Paris.", ["leading_zero"]),
        ("Paris [1-999] is big.", "Paris is big.", ["range"]),
        ("Paris [1, 2, 4].", "Paris.", ["out_of_range"]),
        ("Paris [2, 2].", "Paris [2].", []),
        ("Paris [3, 1] and [1 ,2].", "Paris [1, 3] and [1, 2].", []),
        ("Paris [1][2] and [3][3].", "Paris [1] [2] and [3] [3].", []),
        ("Paris [1] [9][2].", "Paris [1] [2].", ["out_of_range"]),
        ("Many [1, 2, 3, 2, 1].", "Many [1, 2, 3].", []),
        ("Paris [1 is big.", "Paris is big.", ["malformed"]),
        ("Paris is big [2", "Paris is big", ["unclosed"]),
        ("See [the docs] and [a1].", "See [the docs] and [a1].", []),
        ("Arrays like x[] and [", "Arrays like x[] and [", []),
        ("Long [1111111111111111111111111111111111111111] x", "Long x", ["out_of_range"]),
        ("Arabic [٩] and Devanagari [९].", "Arabic and Devanagari.", ["non_ascii_digit"] * 2),
        ("Full ［1］ and ［１］ [1］.", "Full and.", ["full_width"] * 3),
        (
            "Growth was high (50%) [1a] last year [1, 2, …, 3].",
            "Growth was high (50%) last year.",
            ["malformed", "malformed"],
        ),
        ("Sources [1, 2 and more", "Sources and more", ["malformed"]),
        ("Line [1, 2\nnext]", "Line\nnext]", ["malformed"]),
    ],
)
def test_validate_removes_invalid_markers(raw: str, clean: str, reasons: list[str]) -> None:
    result = validate(raw, 3, B)
    assert [m.reason for m in result.invalid] == reasons
    assert result.text == clean
    for marker in result.invalid:
        assert raw[marker.start : marker.end] == marker.text


def test_valid_marker_positions_point_into_the_clean_text() -> None:
    result = validate("A [9] b [1, 3] c [2].", 3, B)
    assert result.text == "A b [1, 3] c [2]."
    assert [(m.ids, result.text[m.start : m.end]) for m in result.markers] == [
        ((1, 3), "[1, 3]"),
        ((2,), "[2]"),
    ]


@pytest.mark.parametrize(
    ("style", "raw", "clean"),
    [
        (MarkerStyle.PAREN, "Paris (1) is (see above) big (7).", "Paris (1) is (see above) big."),
        (
            MarkerStyle.PAREN,
            "Growth was high (50%) in (1990s) (3 km) (1).",
            "Growth was high in (1).",
        ),
        (MarkerStyle.CURLY, "Paris {1} and {x} {0}.", "Paris {1} and {x}."),
        (MarkerStyle.CARET, "Paris^1 and x^2 is 5^12.", "Paris^1 and x^2 is 5."),
        (MarkerStyle.CARET, "e^x grows^3", "e^x grows^3"),
        (MarkerStyle.CARET, "a^1^2^3 b^2^2 c^٣ d＾1", "a^1 ^2 ^3 b^2 ^2 c d"),
    ],
)
def test_other_styles(style: MarkerStyle, raw: str, clean: str) -> None:
    assert validate(raw, 3, style).text == clean


def test_neutralize_removes_every_marker() -> None:
    assert neutralize("Claim [1] and [9] stay text [x].", B) == "Claim and stay text [x]."


def _run_chunks(text: str, cuts: list[int], n: int, style: MarkerStyle) -> list[object]:
    parser = MarkerParser(n, style)
    events: list[object] = []
    last = 0
    for cut in sorted(set(cuts)):
        events += parser.feed(text[last:cut])
        last = cut
    events += parser.feed(text[last:])
    events += parser.flush()
    return events


ALPHABET = "ab .,[]()^{}0123456789-\n"


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(alphabet=ALPHABET, max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=8),
    style=st.sampled_from(list(MarkerStyle)),
    n=st.integers(1, 12),
)
def test_any_chunking_gives_the_same_events_as_one_pass(
    text: str, cuts: list[int], style: MarkerStyle, n: int
) -> None:
    whole = validate(text, n, style)
    events = _run_chunks(text, cuts, n, style)
    texts = [e.text for e in events if isinstance(e, (TextEvent, MarkerEvent))]
    assert "".join(texts) == whole.text
    assert tuple(e for e in events if isinstance(e, MarkerEvent)) == whole.markers
    assert tuple(e.marker for e in events if isinstance(e, InvalidMarkerEvent)) == whole.invalid
    # No text event ever carries a marker candidate: those come only as MarkerEvents.
    for event in events:
        if isinstance(event, TextEvent):
            assert validate(event.text, 0, style).invalid == ()


def test_marker_is_held_back_until_complete() -> None:
    parser = MarkerParser(3, B)
    assert parser.feed("Paris is big [") == [TextEvent("Paris is big")]
    assert parser.feed("1") == []
    events = parser.feed("] and")
    assert [type(e) for e in events] == [TextEvent, MarkerEvent, TextEvent]
    assert events[0] == TextEvent(" ")


def test_validation_is_fast_enough_for_long_texts() -> None:
    rng = random.Random(0)
    words = [rng.choice(["alpha", "beta", "[1]", "[2, 3]", "[9]", "x."]) for _ in range(5000)]
    result = validate(" ".join(words), 3, B)
    assert "[9]" not in result.text


@pytest.mark.parametrize("style", list(MarkerStyle))
@given(st.text(alphabet="[](){}^0123456789 ,-a.", max_size=30))
@example(text="a [[9]3] b")
@example(text="[ [9]3] (( 7)2) {{0}1}")
def test_removing_a_marker_never_joins_its_neighbours_into_a_new_one(
    style: MarkerStyle, text: str
) -> None:
    # "[" + "[9]" + "3]" must not read "[3]" once "[9]" is gone: validating the
    # output again finds exactly the markers the first pass kept, and nothing else.
    first = validate(text, 3, style)
    again = validate(first.text, 3, style)
    assert again.text == first.text
    assert [m.text for m in again.markers] == [m.text for m in first.markers]
    assert again.invalid == ()
    assert validate(neutralize(text, style), 3, style).markers == ()


MARKERISH = st.lists(
    st.one_of(
        st.sampled_from(["Fact", " ", "  ", "\t", ".", "a", "\n", "x)", "；", "５", "٣"]),
        st.builds(
            lambda open_, body, close: f"{open_}{body}{close}",
            st.sampled_from(["[", "(", "{", "^", "［"]),
            st.text(alphabet="0123456789, -;–", max_size=7),
            st.sampled_from(["]", ")", "}", "", "］", "a]"]),
        ),
    ),
    max_size=25,
).map("".join)


@settings(max_examples=600, deadline=None)
@given(text=MARKERISH, style=st.sampled_from(list(MarkerStyle)), n=st.sampled_from([1, 3, 12, 25]))
@example(text="a [1][2] b [99] [3].", style=B, n=3)
@example(text="[3, 1] [1, 1][0][1,2] x", style=B, n=3)
def test_the_whole_text_pass_gives_the_incremental_events(
    text: str, style: MarkerStyle, n: int
) -> None:
    """Differential: whole() (a regex pass where it applies) == feed() + flush().

    Event for event, once neighbouring text events are merged (the incremental scan
    emits held-back spaces as their own event; what the text is does not change).
    """
    incremental = MarkerParser(n, style)
    expected = [*incremental.feed(text), *incremental.flush()]
    assert _merged(MarkerParser(n, style).whole(text)) == _merged(expected)


def _merged(events: list[object]) -> list[object]:
    out: list[object] = []
    for event in events:
        if isinstance(event, TextEvent) and out and isinstance(out[-1], TextEvent):
            out[-1] = TextEvent(out[-1].text + event.text)
        else:
            out.append(event)
    return out


def test_the_whole_text_pass_is_taken_for_answers_and_not_for_odd_text() -> None:
    parser = MarkerParser(3, B)
    assert parser.whole_parse("Paris [1]. Rome [2, 3][9]. Done.") is not None
    for odd in ("a [b] c [1].", "x ［1］ [1].", "[1", "[[9]3]", "(3 km) [1]."):
        assert MarkerParser(3, B).whole_parse(odd) is None or "(" in odd
    assert MarkerParser(3, MarkerStyle.CARET).whole_parse("a ^1.") is None
