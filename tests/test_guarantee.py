"""Regression tests for the holes an independent review found in the guarantee.

Each test names the hole it closes; each failed on the code before the fix.
"""

from __future__ import annotations

import asyncio
import gc
import pickle
from collections.abc import Iterator
from typing import Any

import pytest

from citeformer import (
    Backend,
    Citation,
    Citeformer,
    GenerationResult,
    MarkerStyle,
    MockBackend,
    Policy,
    Reference,
    Source,
)
from citeformer.backends.anthropic.codec import CitationAssembler
from citeformer.errors import (
    BackendContractError,
    CitationPolicyError,
    InvalidOptionError,
    InvalidResultError,
    StreamInterruptedError,
)
from citeformer.grammar.language import citation_language
from citeformer.grammar.recognizer import recognize
from citeformer.grammar.schema import segments_to_text
from citeformer.markers import validate
from citeformer.prompts import build_messages
from citeformer.testing import SOURCES
from tests.loopback import openai_wire as wire
from tests.loopback.server import LoopbackServer

# -- 1. per-call marker_style -------------------------------------------------------------


def test_hole_1_per_call_marker_style_is_honoured_everywhere() -> None:
    seen: list[Any] = []

    def reply(prompt: str, sources: Any) -> str:
        return "Paris {99} and {1}."

    class Spy(MockBackend):
        def complete(self, call: Any) -> Any:
            seen.append(call)
            return super().complete(call)

    cf = Citeformer(Spy(reply))
    result = cf.generate("q", ["s"], marker_style="curly")
    assert result.text == "Paris and {1}."
    assert [m.text for m in result.invalid_markers] == ["{99}"]
    assert [c.marker for c in result.citations] == ["{1}"]
    assert seen[0].marker_style is MarkerStyle.CURLY
    assert seen[0].public_options()["marker_style"] is MarkerStyle.CURLY
    assert "{1}" in seen[0].request.messages[1]["content"]  # the prompt's labels
    with pytest.raises(InvalidOptionError, match="unknown marker style"):
        cf.generate("q", ["s"], marker_style="angle")


# -- 2. digits of other scripts, full-width brackets ---------------------------------------


@pytest.mark.parametrize(
    ("style", "text"),
    [
        (MarkerStyle.BRACKET, "Nine [٩] and [९]."),
        (MarkerStyle.PAREN, "Nine (۹)."),
        (MarkerStyle.CARET, "Nine^٩."),
        (MarkerStyle.BRACKET, "Nine ［１］ and ［9］."),
    ],
)
def test_hole_2_markers_with_other_digits_are_removed_and_reported(
    style: MarkerStyle, text: str
) -> None:
    result = Citeformer(MockBackend(text), marker_style=style).generate("q", SOURCES * 3)
    assert result.citations == ()
    assert result.invalid_markers and all(
        m.reason in {"non_ascii_digit", "full_width"} for m in result.invalid_markers
    )
    for policy in (Policy.AUTO, Policy.QUOTES_ONLY):  # the grammar refuses them too
        assert not recognize(citation_language(9, policy, style), text).viable


# -- 3. many citations for one sentence -----------------------------------------------------


def test_hole_3_no_provider_citation_is_lost_when_a_sentence_cites_many() -> None:
    n = 1000
    ids = [100, 200, 300, 400, 500, 600, 700]
    language = citation_language(n)
    text, dropped = segments_to_text([{"text": "Many sources agree.", "citations": ids}], language)
    assert dropped == ()
    checked = validate(text, n, MarkerStyle.BRACKET)
    assert checked.text == text and checked.invalid == ()
    assert [i for m in checked.markers for i in m.ids] == ids
    assert recognize(language, text).accepted

    assembler = CitationAssembler(n, MarkerStyle.BRACKET)
    out = assembler.start_block()
    for source_id in ids:
        assembler.cite({"type": "char_location", "document_index": source_id - 1})
    out += assembler.text("Many sources agree.") + assembler.end_block() + assembler.finish()
    checked = validate(out, n, MarkerStyle.BRACKET)
    assert checked.text == out and [i for m in checked.markers for i in m.ids] == ids


# -- 4. stream and generate agree at any marker length ---------------------------------------


def test_hole_4_stream_and_generate_agree_on_long_markers() -> None:
    text = "See [100, 200, 300, 400, 500, 600, 70] here."
    sources = [f"s{i}" for i in range(1000)]
    cf = Citeformer(MockBackend(text, chunks=1))
    whole = cf.generate("q", sources)
    # Above 20 sources a marker holds one id: the group is rewritten, no id is lost.
    assert whole.text == "See [70] [100] [200] [300] [400] [500] [600] here."
    stream = cf.stream("q", sources)
    assert "".join(stream) == whole.text
    assert stream.finalize().citations == whole.citations
    assert [c.source_id for c in whole.citations] == [70, 100, 200, 300, 400, 500, 600]


# -- 6. prose that looks like a marker -----------------------------------------------------


@pytest.mark.parametrize(
    ("style", "raw", "clean", "removed"),
    [
        (MarkerStyle.PAREN, "Growth was high (50%) last year.", "Growth was high last year.",
         "(50%)"),
        (MarkerStyle.PAREN, "In the (1990s) it grew.", "In the it grew.", "(1990s)"),
        (MarkerStyle.PAREN, "A walk (3 km) away.", "A walk away.", "(3 km)"),
        (MarkerStyle.BRACKET, "Ids [1, 2, …, 13].", "Ids.", "[1, 2, …, 13]"),
        (MarkerStyle.BRACKET, "Code x[0] here.", "Code x here.", "[0]"),
    ],
)  # fmt: skip
def test_hole_6_a_candidate_is_removed_whole_never_in_pieces(
    style: MarkerStyle, raw: str, clean: str, removed: str
) -> None:
    result = Citeformer(MockBackend(raw), marker_style=style).generate("q", ["a", "b", "c"])
    assert result.text == clean
    assert [m.text for m in result.invalid_markers] == [removed]
    (marker,) = result.invalid_markers
    assert raw[marker.start : marker.end] == removed


# -- 7. adjacent markers -----------------------------------------------------------------


def test_hole_7_adjacent_markers_are_kept_apart_in_every_writer() -> None:
    result = Citeformer(MockBackend("Paris [1][2] and source^1^2^3."), marker_style="bracket")
    bracket = result.generate("q", SOURCES)
    assert bracket.text == "Paris [1] [2] and source^1^2^3."
    caret = Citeformer(MockBackend("Source^1^2^3."), marker_style="caret").generate("q", SOURCES)
    assert caret.text == "Source^1 ^2 ^3."
    assert [c.source_id for c in caret.citations] == [1, 2, 3]
    for text, style in ((bracket.text, "bracket"), (caret.text, "caret")):
        assert recognize(citation_language(3, "auto", style), text).accepted


# -- 8. the policy is checked after generation on every tier ------------------------------


def test_hole_8_an_uncited_sentence_is_reported_and_strict_raises() -> None:
    text = "The tower is 8,849. 8,849 is the height of the Eiffel Tower [1]."
    cf = Citeformer(MockBackend(text), citation_policy="required")
    result = cf.generate("q", SOURCES)
    (violation,) = result.policy_violations
    assert violation.kind == "uncited_sentence" and violation.text == "The tower is 8,849."
    assert result.text[violation.start : violation.end] == violation.text
    with pytest.raises(CitationPolicyError, match="uncited_sentence"):
        cf.generate("q", SOURCES, strict=True)
    with pytest.raises(CitationPolicyError):
        cf.stream("q", SOURCES, strict=True).finalize()
    quotes = Citeformer(MockBackend('He said "yes". And [1].'), citation_policy="quotes_only")
    kinds = [v.kind for v in quotes.generate("q", SOURCES).policy_violations]
    assert kinds == ["uncited_quotation", "marker_outside_quotation"]


def test_hole_8_a_schema_server_that_ignores_min_items_is_reported(
    loopback: LoopbackServer,
) -> None:
    from citeformer.backends.openai import OpenAIBackend

    loopback.reset(wire.answer(wire.segments(("Cited.", [1]), ("Not cited.", []))))
    backend = OpenAIBackend("gpt-test", api_key="sk-x", base_url=f"{loopback.url}/v1")
    result = Citeformer(backend, citation_policy="required").generate("q", SOURCES)
    assert [v.text for v in result.policy_violations] == ["Not cited."]


# -- 9. impossible results cannot be built -------------------------------------------------


def test_hole_9_value_types_enforce_their_invariants() -> None:
    with pytest.raises(InvalidResultError, match="source_id must be an int >= 1"):
        Citation(source_id=0, start=0, end=3, marker="[0]")
    with pytest.raises(InvalidResultError):
        Reference(source_id=0, text="x", style="ieee")
    with pytest.raises(InvalidResultError, match="1 source"):
        GenerationResult("a [7]", citations=(Citation(7, 2, 5, "[7]"),), sources=(Source("s"),))
    good = Citeformer(MockBackend("Paris [1].")).generate("q", ["s"])
    data = good.to_dict()
    data["citations"][0]["source_id"] = 7
    with pytest.raises(InvalidResultError):
        GenerationResult.from_dict(data)
    for bad in ("{", "[]", '"text"', '{"schema_version": 1, "text": 5}', b"\xff"):
        with pytest.raises(InvalidResultError):
            GenerationResult.from_json(bad)


# -- 12. a cancelled consumer closes the stream ------------------------------------------


def test_hole_12_a_cancelled_consumer_closes_a_thread_default_stream() -> None:
    closed: list[bool] = []

    class Slow(Backend):
        def generate(self, prompt: str, sources: Any, policy: Any, **options: Any) -> str:
            return "x"

        def stream(self, prompt: str, sources: Any, policy: Any, **options: Any) -> Iterator[str]:
            try:
                for i in range(1000):
                    yield f"chunk {i} "
            finally:
                closed.append(True)

    cf = Citeformer(Slow())
    kept: list[asyncio.Task[None]] = []

    async def consumer() -> None:
        async for _ in cf.astream("q", SOURCES):
            await asyncio.sleep(30)  # cancelled while awaiting something else

    async def main() -> None:
        task = asyncio.create_task(consumer())
        kept.append(task)  # the task object (and its traceback) stays alive
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(50):
            if closed:
                break
            await asyncio.sleep(0.02)

    asyncio.run(main())
    assert closed == [True]


# -- 14. typed errors instead of raw ones -------------------------------------------------


@pytest.mark.parametrize("value", [None, b"bytes", 42])
def test_hole_14_a_backend_that_breaks_the_contract_is_named(value: object) -> None:
    class Broken(Backend):
        def generate(self, prompt: str, sources: Any, policy: Any, **options: Any) -> Any:
            return value

        def stream(self, prompt: str, sources: Any, policy: Any, **options: Any) -> Any:
            yield "fine "
            yield value

    cf = Citeformer(Broken())
    with pytest.raises(BackendContractError, match="Broken: returned"):
        cf.generate("q", SOURCES)
    with pytest.raises(StreamInterruptedError) as caught:
        cf.stream("q", SOURCES).finalize()
    assert isinstance(caught.value.__cause__, BackendContractError)


def test_hole_14_huge_numbers_and_odd_options_are_typed_errors() -> None:
    caret = "x^" + "9" * 5000
    result = Citeformer(MockBackend(caret), marker_style="caret").generate("q", SOURCES)
    assert result.text == "x" and result.invalid_markers[0].reason == "out_of_range"
    assert not recognize(citation_language(3, "auto", "caret"), caret).viable
    cf = Citeformer(MockBackend("x"))
    for timeout in (float("nan"), float("inf"), -1, "5"):
        with pytest.raises(InvalidOptionError, match="timeout"):
            cf.generate("q", SOURCES, timeout=timeout)
    with pytest.raises(InvalidOptionError, match="disagree"):
        cf.generate("q", SOURCES, max_tokens=5, max_new_tokens=6)
    with pytest.raises(InvalidOptionError):
        MockBackend(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError):
        MockBackend("x", chunks="x")  # type: ignore[arg-type]
    lone = Citeformer(MockBackend("Paris [1].")).generate("q", [Source("bad \ud800 text")])
    assert GenerationResult.from_json(lone.to_json()) == lone


# -- 16. .text is what the caller received --------------------------------------------------


def test_hole_16_stream_text_is_what_was_handed_out() -> None:
    stream = Citeformer(MockBackend("Hi [1]. Bye", chunks=20)).stream("q", SOURCES)
    chunks = iter(stream)
    first = next(chunks)
    assert stream.text == first
    rest = "".join(chunks)
    assert stream.text == first + rest == stream.finalize().text


# -- 18. consistency -------------------------------------------------------------------


def test_hole_18_one_style_spelling_one_token_budget_clean_prompts() -> None:
    assert Citeformer(MockBackend("x"), style="IEEE").style == "ieee"
    seen: list[dict[str, Any]] = []

    class Spy(MockBackend):
        def generate(self, prompt: str, sources: Any, policy: Any, **options: Any) -> str:
            seen.append(options)
            return "x"

    Citeformer(Spy()).generate("q", SOURCES, max_tokens=10)
    Citeformer(Spy()).generate("q", SOURCES, max_new_tokens=12)
    assert (seen[0]["max_tokens"], seen[0]["max_new_tokens"]) == (10, 10)
    assert (seen[1]["max_tokens"], seen[1]["max_new_tokens"]) == (12, 12)
    language = citation_language(2)
    prompt = build_messages("q", [Source("", {"title": "Only a title"}), Source("x")], language)
    assert "\n\n\n" not in prompt[1]["content"]


def test_errors_raised_here_survive_pickling() -> None:
    violation_error = pytest.raises(CitationPolicyError)
    with violation_error as caught:
        Citeformer(MockBackend("Uncited."), citation_policy="required", strict=True).generate(
            "q", SOURCES
        )
    again = pickle.loads(pickle.dumps(caught.value))
    assert again.violations == caught.value.violations and str(again) == str(caught.value)
    gc.collect()
