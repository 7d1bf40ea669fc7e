"""The JSON-schema rendering: enum-bounded ids, checked with real validators."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citeformer.core import MarkerStyle, Policy
from citeformer.grammar.language import citation_language
from citeformer.grammar.schema import SegmentWriter, segments_to_text, to_json_schema
from citeformer.markers import validate
from tests.grammar.harness import Matchers


def _doc(*ids: object, text: str = "Paris is big.") -> dict[str, object]:
    return {"segments": [{"text": text, "citations": list(ids)}]}


@pytest.mark.parametrize("n", [1, 3, 1000])
def test_schema_accepts_in_range_ids_and_rejects_the_rest(n: int) -> None:
    schema = to_json_schema(citation_language(n))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(_doc(1, n), schema)
    for bad in (0, n + 1, -1, "1", 1.5, True):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(_doc(bad), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"segments": [{"text": "x", "citations": [], "extra": 1}]}, schema)


def test_required_and_quotes_need_a_citation_per_segment() -> None:
    for policy in (Policy.REQUIRED, Policy.QUOTES_ONLY):
        schema = to_json_schema(citation_language(3, policy))
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"segments": [{"text": "x", "quote": "", "citations": []}]}, schema)
        relaxed = to_json_schema(citation_language(3, policy), min_items=False)
        assert "minItems" not in json.dumps(relaxed)
    auto = to_json_schema(citation_language(3, Policy.AUTO))
    jsonschema.validate(_doc(), auto)
    assert "quote" not in auto["properties"]["segments"]["items"]["properties"]


def test_schema_is_cached_but_callers_get_their_own_copy() -> None:
    language = citation_language(10_000)
    first = to_json_schema(language)
    first["required"].append("mutated")
    assert to_json_schema(language)["required"] == ["segments"]


def test_llguidance_json_matcher_masks_out_of_range_ids(matchers: Matchers) -> None:
    import llguidance as llg

    schema = to_json_schema(citation_language(3))
    grammar = llg.LLMatcher.grammar_from_json_schema(json.dumps(schema))

    def accepts(document: str) -> bool:
        matcher = llg.LLMatcher(matchers.lltok, grammar, log_level=0)
        ok = matcher.consume_tokens(matchers.encode(document))
        return bool(ok) and matcher.is_accepting()

    assert accepts('{"segments": [{"text": "Paris [9] is big.", "citations": [1, 3]}]}')
    assert not accepts('{"segments": [{"text": "Paris is big.", "citations": [4]}]}')
    assert not accepts('{"segments": [{"text": "Paris is big.", "citations": [0]}]}')


def test_segments_become_markers_and_prose_markers_are_neutralised() -> None:
    language = citation_language(3)
    segments = [
        {"text": "Paris [9] is the capital [1].", "citations": [2, 1, 2]},
        {"text": " Rome too.", "citations": [7]},
        {"text": " Berlin.", "citations": []},
    ]
    text, dropped = segments_to_text(segments, language)
    assert text == "Paris is the capital [1, 2]. Rome too. Berlin."
    assert [(d.text, d.reason) for d in dropped] == [("[7]", "not_in_schema")]
    assert text[dropped[0].start - 8 : dropped[0].start] == "Rome too"


def test_quotes_and_caret_styles() -> None:
    quotes = citation_language(2, Policy.QUOTES_ONLY, MarkerStyle.PAREN)
    text, _ = segments_to_text([{"text": "He said", "quote": "yes (3)", "citations": [2]}], quotes)
    assert text == 'He said "yes"(2)'
    caret = citation_language(3, Policy.AUTO, MarkerStyle.CARET)
    text, _ = segments_to_text(
        [{"text": "A is 1", "citations": [1]}, {"text": "5 more", "citations": [2]}], caret
    )
    assert text == "A is 1^1 5 more^2"
    assert validate(text, 3, MarkerStyle.CARET).invalid == ()


segment = st.fixed_dictionaries(
    {
        "text": st.text(alphabet="ab .[](){}^0123456789", max_size=12),
        "quote": st.text(alphabet='ab "[]1', max_size=5),
        "citations": st.lists(st.integers(-2, 8), max_size=4),
    }
)


@settings(max_examples=300, deadline=None)
@given(
    segments=st.lists(segment, max_size=5),
    style=st.sampled_from(list(MarkerStyle)),
    policy=st.sampled_from(list(Policy)),
)
def test_segment_text_always_validates_clean(
    segments: list[dict[str, object]], style: MarkerStyle, policy: Policy
) -> None:
    language = citation_language(5, policy, style)
    text, dropped = segments_to_text(segments, language)
    checked = validate(text, 5, style)
    assert checked.invalid == () and checked.text == text
    cited = sorted({i for m in checked.markers for i in m.ids})
    wanted = sorted({i for s in segments for i in s["citations"] if 1 <= i <= 5})  # type: ignore[attr-defined]
    assert cited == wanted
    assert len(dropped) == sum(1 for s in segments for i in s["citations"] if not 1 <= i <= 5)  # type: ignore[attr-defined]


@st.composite
def _streams(draw: st.DrawFn) -> list[list[tuple[str, object]]]:
    """Segments as the (key, value) pairs they arrive in: strings as lists of pieces."""
    pieces = st.lists(st.text(alphabet='ab .,;!"[](){}^0123456789 。', max_size=4), max_size=6)
    out = []
    for _ in range(draw(st.integers(0, 4))):
        keys = draw(st.permutations(["text", "quote", "citations"]))
        keys = keys[: draw(st.integers(0, 3))] if draw(st.booleans()) else keys
        ids = st.lists(st.integers(-1, 6), max_size=3)
        out.append([(k, draw(ids if k == "citations" else pieces)) for k in keys])
    return out


@settings(max_examples=300, deadline=None)
@given(_streams(), st.sampled_from(list(MarkerStyle)), st.sampled_from(list(Policy)))
def test_streamed_pieces_render_exactly_as_growing_segments(
    stream: list[list[tuple[str, object]]], style: MarkerStyle, policy: Policy
) -> None:
    # SegmentWriter.stream (pieces, read incrementally) releases, call for call, what
    # update releases given the same segments with their strings grown so far.
    language = citation_language(3, policy, style)
    plain, streamed = SegmentWriter(language), SegmentWriter(language)
    grown: list[dict[str, object]] = []  # the segments so far, strings joined
    held: list[dict[str, object]] = []  # the same, the open string a placeholder
    out_plain: list[str] = []
    out_streamed: list[str] = []
    for pairs in stream:
        grown.append({})
        held.append({})
        pieces: dict[str, list[str]] = {}
        for key, value in pairs:
            if key == "citations":
                grown[-1][key] = held[-1][key] = value
                continue
            assert isinstance(value, list)
            pieces[key] = []
            grown[-1][key], held[-1][key] = "", "(placeholder)"
            for piece in [*value, ""]:
                pieces[key].append(piece)
                grown[-1][key] += piece
                out_plain.append(plain.update([dict(s) for s in grown]))
                out_streamed.append(streamed.stream(held, pieces))
            held[-1][key] = grown[-1][key]
    assert out_streamed == out_plain
    whole, dropped = segments_to_text(grown, language)
    assert "".join(out_plain) + plain.update(grown, complete=True) == whole
    assert "".join(out_streamed) + streamed.update(grown, complete=True) == whole
    assert plain.dropped == streamed.dropped == dropped
