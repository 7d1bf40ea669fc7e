"""Stream = whole through the orchestrator, and the result invariants, under fuzzing.

Random and hostile backend texts (every marker style and policy, digits of other
scripts, full-width brackets, nesting, long groups), cut into random chunks, give
exactly ``generate()``'s text, citations, invalid markers and policy violations when
streamed (sync and async); no chunk holds a partial or invalid marker; and every
result's citations are exactly the markers in its text, spans included.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citeformer import Citeformer, GenerationResult, MarkerStyle, MockBackend, Policy
from citeformer.markers import validate

FUZZ = settings(
    max_examples=600,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
SOURCES = [f"Source number {i} says something." for i in range(1, 13)]


@st.composite
def backend_text(draw: st.DrawFn, style: MarkerStyle) -> str:
    o, c = style.open, style.close or " "
    wo, wc = style.wide_open, style.wide_close or " "
    pieces = (
        "Paris is big", " ", ". ", "\n", "e.g. the", "3.5", '"yes"', "“no”", "東京。", "x",
        f"{o}1{c}", f"{o}12{c}", f"{o}13{c}", f"{o}2, 1{c}", f"{o}1, 2, 3, 4, 5{c}", f"{o}0{c}",
        f"{o}1-3{c}", f"{o}50%{c}", f"{wo}1{wc}", f"{o}٩{c}", f"{o}{o}9{c}3{c}", f"{o}1{c}{o}2{c}",
        f"{o}1 is", o, wo, c, "1", "٣", "^", "^1^2", "9" * 30, " " * 7,
    )  # fmt: skip
    return "".join(draw(st.lists(st.sampled_from(pieces), max_size=16)))


@st.composite
def cases(draw: st.DrawFn) -> tuple[MarkerStyle, Policy, int, str, list[int]]:
    style = draw(st.sampled_from(list(MarkerStyle)))
    policy = draw(st.sampled_from(list(Policy)))
    n = draw(st.sampled_from([1, 3, 12]))
    text = draw(backend_text(style))
    sizes = draw(st.lists(st.integers(1, 9), min_size=1, max_size=6))
    return style, policy, n, text, sizes


def _facts(result: GenerationResult) -> tuple[object, ...]:
    return (result.text, result.citations, result.invalid_markers, result.policy_violations)


def assert_result_invariants(result: GenerationResult, style: MarkerStyle) -> None:
    """Every citation is a marker in the text and every marker's ids are citations."""
    markers = validate(result.text, len(result.sources), style).markers
    expected = [(i, m.start, m.end, m.text) for m in markers for i in m.ids]
    assert [(c.source_id, c.start, c.end, c.marker) for c in result.citations] == expected


@FUZZ
@given(case=cases())
def test_streams_give_exactly_what_generate_gives(
    case: tuple[MarkerStyle, Policy, int, str, list[int]],
) -> None:
    style, policy, n, text, sizes = case
    cf = Citeformer(MockBackend(text, chunks=sizes), citation_policy=policy, marker_style=style)
    sources = SOURCES[:n]
    whole = cf.generate("q", sources)
    assert_result_invariants(whole, style)
    stream = cf.stream("q", sources)
    chunks = list(stream)
    streamed = stream.finalize()
    assert "".join(chunks) == whole.text == stream.text
    assert _facts(streamed) == _facts(whole)
    for chunk in chunks:  # no chunk holds a partial or invalid marker
        checked = validate(chunk, n, style)
        assert checked.invalid == () and checked.text == chunk, (chunk, text)

    async def run() -> tuple[list[str], GenerationResult, GenerationResult]:
        astream = cf.astream("q", sources)
        pieces = [piece async for piece in astream]
        return pieces, await astream.finalize(), await cf.agenerate("q", sources)

    pieces, astreamed, agenerated = asyncio.run(run())
    assert "".join(pieces) == whole.text
    assert _facts(astreamed) == _facts(agenerated) == _facts(whole)
