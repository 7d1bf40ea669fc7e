"""Collapsing runs of adjacent markers: the text function and the result operation."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from citeformer import Citeformer, MockBackend
from citeformer.core import Citation, GenerationResult, MarkerStyle, PolicyViolation, Source
from citeformer.dedupe import deduplicate_adjacent_cites, deduplicated
from citeformer.errors import InvalidOptionError
from citeformer.grammar.language import citation_language, group_size
from citeformer.grammar.policy import check_policy
from citeformer.markers import MarkerEvent, canonical_markers, validate

B, P, C, K = MarkerStyle.BRACKET, MarkerStyle.PAREN, MarkerStyle.CURLY, MarkerStyle.CARET


@pytest.mark.parametrize(
    ("style", "raw", "expected"),
    [
        (B, "Paris [2][1][2].", "Paris [1, 2]."),
        (B, "Paris [1] [1] and [1, 1].", "Paris [1] and [1]."),
        (B, "Paris [1]\t [2] is big [3].", "Paris [1, 2] is big [3]."),
        (B, "Paris [3, 1][1].", "Paris [1, 3]."),
        (B, "All [4][2][3][1][2].", "All [1, 2, 3] [4]."),  # a marker holds three ids
        (B, "x[2][1]y", "x[1, 2]y"),
        (P, "Paris (1)(2) and (2) (2).", "Paris (1, 2) and (2)."),
        (C, "Paris {3}{3} and {1}{2}.", "Paris {3} and {1, 2}."),
        (K, "Paris ^1 ^1 ^2 and ^2^1.", "Paris ^1 ^2 and ^1 ^2."),
        (K, "Paris ^3\t^3.", "Paris ^3."),
        (B, "No markers here.", "No markers here."),
    ],
)
def test_examples(style: MarkerStyle, raw: str, expected: str) -> None:
    assert deduplicate_adjacent_cites(raw, style, n=5) == expected
    assert deduplicate_adjacent_cites(raw, style.value, n=5) == expected
    assert deduplicate_adjacent_cites(raw) == expected  # style detected, any id counts
    assert validate(expected, 5, style).text == expected


@pytest.mark.parametrize(
    "raw",
    [
        "See [a] [b] and [a1][1a].",
        "Zero [0][0], lead [01] [01].",
        "Full width ［1］［1］ and ［１］.",
        "Ranges [1-2][1-2] and [1 2].",
        "Unclosed [1",
        "Caret text E = mc^2, x^0 ^01.",
        "(50%) (3 km) {x}",
    ],
)
def test_non_markers_are_left_untouched(raw: str) -> None:
    for style in MarkerStyle:
        assert deduplicate_adjacent_cites(raw, style, n=3) == raw


def test_invalid_markers_stay_and_split_runs() -> None:
    raw = "A [1][0][1] b [1][7][1] c ［1］[1][1]."
    assert deduplicate_adjacent_cites(raw, n=5) == "A [1][0][1] b [1][7][1] c ［1］[1]."
    assert deduplicate_adjacent_cites(raw, n=5) == deduplicate_adjacent_cites(raw, B, n=5)
    assert deduplicate_adjacent_cites("[7][7]", n=5) == "[7][7]"  # out of range: no marker
    assert deduplicate_adjacent_cites("[7][7]") == "[7]"  # no n: any id counts


def test_style_detection_takes_the_first_valid_marker() -> None:
    assert deduplicate_adjacent_cites("(a) (1)(1) [1][1]") == "(a) (1) [1][1]"
    assert deduplicate_adjacent_cites("[x] ^2^2 (1)(1)") == "[x] ^2 (1)(1)"
    assert deduplicate_adjacent_cites("") == ""


def test_group_size_follows_n() -> None:
    raw = "A [1][2][2] b."
    assert deduplicate_adjacent_cites(raw, n=3) == "A [1, 2] b."
    # Above 20 sources a marker holds one id, so the run stays one marker per id.
    assert deduplicate_adjacent_cites(raw, n=25) == "A [1] [2] b."
    assert deduplicate_adjacent_cites("A [1][25][1] b.") == "A [1] [25] b."
    assert validate("A [1] [2] b.", 25, B).text == "A [1] [2] b."


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(InvalidOptionError):
        deduplicate_adjacent_cites("[1]", "square")
    with pytest.raises(InvalidOptionError):
        deduplicate_adjacent_cites("[1]", n=-1)
    with pytest.raises(InvalidOptionError):
        deduplicate_adjacent_cites("[1]", n=True)


# -- properties of the text function ---------------------------------------------------

_WORDS = st.text(alphabet='abcxyz.,;:"?', min_size=1, max_size=6)


@st.composite
def _run(draw: st.DrawFn, style: MarkerStyle, n: int) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        size = 1 if style is K else draw(st.integers(1, 4))
        ids = draw(st.lists(st.integers(1, n), min_size=size, max_size=size))
        body = draw(st.sampled_from([", ", ","])).join(map(str, ids))
        parts.append(f"{style.open}{body}{style.close}")
        parts.append(draw(st.sampled_from(["", " ", "\t", "  "])))
    return "".join(parts[:-1])


@st.composite
def _answers(draw: st.DrawFn) -> tuple[str, MarkerStyle, int]:
    style = draw(st.sampled_from(list(MarkerStyle)))
    n = draw(st.integers(1, 25))
    pieces = draw(st.lists(st.one_of(_WORDS, _run(style, n)), max_size=10))
    joins = draw(st.lists(st.sampled_from([" ", "", "\t"]), min_size=len(pieces)))
    return "".join(p + j for p, j in zip(pieces, joins, strict=False)), style, n


def _runs(text: str, n: int, style: MarkerStyle) -> list[list[MarkerEvent]]:
    """The validated text's markers, grouped into runs (only spaces or tabs between)."""
    checked = validate(text, n, style)
    runs: list[list[MarkerEvent]] = []
    for marker in checked.markers:
        if runs and checked.text[runs[-1][-1].end : marker.start].strip(" \t") == "":
            runs[-1].append(marker)
        else:
            runs.append([marker])
    return runs


def _id_sets(text: str, n: int, style: MarkerStyle) -> list[set[int]]:
    return [{i for m in run for i in m.ids} for run in _runs(text, n, style)]


def _gaps(text: str, n: int, style: MarkerStyle) -> list[str]:
    """The validated text between runs."""
    checked = validate(text, n, style).text
    gaps, done = [], 0
    for run in _runs(text, n, style):
        gaps.append(checked[done : run[0].start])
        done = run[-1].end
    return [*gaps, checked[done:]]


@settings(max_examples=300)
@given(_answers())
@example(("a [1][2][3][4][4] b", B, 4))
@example(("^1^1 ^2\t^1", K, 2))
def test_runs_collapse_into_canonical_markers(case: tuple[str, MarkerStyle, int]) -> None:
    text, style, n = case
    out = deduplicate_adjacent_cites(text, style, n=n)
    checked = validate(out, n, style)
    assert checked.invalid == ()
    assert checked.text == out  # markers already in the language's form
    group = group_size(n, style)
    for run in _runs(out, n, style):
        ids = [i for m in run for i in m.ids]
        assert ids == sorted(set(ids))
        assert " ".join(m.text for m in run) == canonical_markers(ids, style, group)
        if len(ids) <= group:
            assert len(run) == 1  # no two adjacent markers left
    assert _id_sets(out, n, style) == _id_sets(text, n, style)
    assert _gaps(out, n, style) == _gaps(text, n, style)
    assert deduplicate_adjacent_cites(out, style, n=n) == out
    if n <= 20:  # the group size of the largest id seen is then n's
        assert deduplicate_adjacent_cites(text) == out


@settings(max_examples=300)
@given(
    st.text(alphabet="[](){}^0123456789 ,-a.\t［］", max_size=40),
    st.sampled_from(list(MarkerStyle)),
    st.integers(0, 25),
)
@example("[[1][1]3]", B, 3)
@example("[1 [1][1]] ^1^1٣", B, 3)
def test_any_text_keeps_its_invalid_markers_and_cited_ids(
    text: str, style: MarkerStyle, n: int
) -> None:
    out = deduplicate_adjacent_cites(text, style, n=n)
    before, after = validate(text, n, style), validate(out, n, style)
    assert [(m.text, m.reason) for m in after.invalid] == [
        (m.text, m.reason) for m in before.invalid
    ]
    assert {i for m in after.markers for i in m.ids} == {i for m in before.markers for i in m.ids}
    assert deduplicate_adjacent_cites(out, style, n=n) == out


# -- the result operation --------------------------------------------------------------


def _generate(text: str, style: MarkerStyle, n: int, policy: str = "auto") -> GenerationResult:
    sources = [f"source {k}" for k in range(1, n + 1)]
    return Citeformer(MockBackend(text)).generate("q", sources, policy, marker_style=style)


def test_result_citations_follow_the_collapsed_marker() -> None:
    result = _generate("Paris [2][1][2] is big [1] [1]. Lyon [3].", B, 3)
    assert result.text == "Paris [2] [1] [2] is big [1] [1]. Lyon [3]."
    done = result.deduplicated()
    assert done.text == "Paris [1, 2] is big [1]. Lyon [3]."
    assert [(c.source_id, c.start, c.end, c.marker) for c in done.citations] == [
        (1, 6, 12, "[1, 2]"),
        (2, 6, 12, "[1, 2]"),
        (1, 20, 23, "[1]"),
        (3, 30, 33, "[3]"),
    ]
    assert done.references == result.references
    assert deduplicated(done) == done


def test_result_keeps_the_first_citations_evidence() -> None:
    text = "Paris [1] [2] [1] here."
    citations = (
        Citation(1, 6, 9, "[1]", "first", 0, 5),
        Citation(2, 10, 13, "[2]", "second", 1, 3),
        Citation(1, 14, 17, "[1]", "third", 2, 7),
    )
    sources = (Source("one"), Source("two"))
    done = deduplicated(GenerationResult(text, citations, sources=sources))
    assert done.text == "Paris [1, 2] here."
    assert [(c.source_id, c.cited_text, c.source_start) for c in done.citations] == [
        (1, "first", 0),
        (2, "second", 1),
    ]


def test_result_violations_are_shifted() -> None:
    result = _generate('He said "x" [1]. And [1][2] then [2] [2]. Tail here', B, 2, "quotes_only")
    done = result.deduplicated()
    assert done.text == 'He said "x" [1]. And [1, 2] then [2]. Tail here'
    missing = result.policy_violations[0].missing
    assert done.policy_violations == (
        PolicyViolation("marker_outside_quotation", 21, 27, "[1, 2]", missing),
        PolicyViolation("marker_outside_quotation", 33, 36, "[2]", missing),
    )
    # A hand-set violation ending inside a run now ends where the collapsed run ends.
    wide = dataclasses.replace(result.policy_violations[0], start=17, end=25, text="x")
    done = deduplicated(result.replace(policy_violations=(wide,)))
    assert (done.policy_violations[0].start, done.policy_violations[0].end) == (17, 27)


def test_result_without_anything_to_collapse_is_returned_as_is() -> None:
    result = _generate("Paris [1] is big [2].", B, 2)
    assert deduplicated(result) is result
    empty = GenerationResult("Text [1][1] with no citations.")
    assert deduplicated(empty) is empty


def test_result_run_whose_citations_do_not_fit_is_left_alone() -> None:
    text = "A [1] [1] b [1] [1] c [1][1]."
    citations = (
        Citation(1, 0, 5, "A [1]"),  # reaches out of the first run
        Citation(1, 12, 28, "[1] [1] c [1][1]"),  # spans two runs
    )
    odd = GenerationResult(text, citations, sources=(Source("one"),))
    assert deduplicated(odd) is odd
    fine = odd.replace(citations=(citations[0], Citation(1, 12, 15, "[1]")))
    done = deduplicated(fine)
    assert done.text == "A [1] [1] b [1] c [1]."
    assert done.citations == (Citation(1, 0, 5, "A [1]"), Citation(1, 12, 15, "[1]"))


@settings(max_examples=200)
@given(_answers(), st.sampled_from(["auto", "required", "quotes_only"]))
@example(('He said "x" [1][1] and [2][1].', B, 2), "quotes_only")
@example((". [1][1] : ", B, 1), "required")
def test_result_matches_the_text_function(case: tuple[str, MarkerStyle, int], policy: str) -> None:
    text, style, n = case
    result = _generate(text, style, n, policy)
    done = deduplicated(result)
    assert done == result.deduplicated()
    assert done.text == deduplicate_adjacent_cites(result.text, style, n=n)
    if n <= 20:
        assert done.text == deduplicate_adjacent_cites(result.text)
    for citation in done.citations:
        assert done.text[citation.start : citation.end] == citation.marker
    assert set(done.cited_ids) == set(result.cited_ids)
    # One citation per distinct id per run, in text order.
    expected = [(i, m.start) for run in _runs(done.text, n, style) for m in run for i in m.ids]
    assert [(c.source_id, c.start) for c in done.citations] == expected
    for violation in done.policy_violations:
        assert done.text[violation.start : violation.end] == violation.text
    # The shifted violations are what the policy check finds in the new text, except
    # that under REQUIRED a run straddling a sentence end ("A. [1] [1] b": the second
    # marker counts for "b") can leave the next sentence uncited once collapsed.
    found = check_policy(done.text, citation_language(n, policy, style))
    if policy == "required":
        assert set(done.policy_violations) <= set(found)
    else:
        assert done.policy_violations == found
    assert deduplicated(done) == done
