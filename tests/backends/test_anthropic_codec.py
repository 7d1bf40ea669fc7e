"""The Anthropic codec: request payloads and decoding, with no network and no SDK objects."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from citeformer import MarkerStyle, Policy, Source, TokenUsage
from citeformer.backends.anthropic.codec import (
    CitationAssembler,
    RequestShape,
    ResponseDecoder,
    build_payload,
    decode_response,
    finish_reason,
    usage_of,
)
from citeformer.backends.base import CitationRequest, ProviderCitation, Reply
from citeformer.core import Enforcement
from citeformer.errors import BackendError, InvalidOptionError
from citeformer.markers import validate
from citeformer.prompts import PromptBudget
from tests.loopback import anthropic_wire as wire

SOURCES = [
    Source("The Eiffel Tower is 330 metres tall and stands in Paris.", {"title": "Eiffel Tower"}),
    Source("The Colosseum in Rome held about 50,000 spectators."),
    Source("Big Ben is the nickname of the bell in the Elizabeth Tower.", {"title": "Big Ben"}),
]
EIFFEL = wire.cite_source(0, SOURCES[0].content, "The Eiffel Tower is 330 metres tall")
ROME = wire.cite_source(1, SOURCES[1].content, "held about 50,000 spectators")
BEN = wire.cite_source(2, SOURCES[2].content, "Big Ben is the nickname of the bell")


def request(
    policy: Policy = Policy.AUTO, style: MarkerStyle = MarkerStyle.BRACKET, **kw: Any
) -> CitationRequest:
    return CitationRequest.build("How tall is it?", SOURCES, policy, marker_style=style, **kw)


def whole(blocks: list[wire.Block], req: CitationRequest | None = None, **kw: Any) -> Reply:
    body = wire.message(blocks, **kw).body
    return decode_response(body, req or request())


def streamed(
    blocks: list[wire.Block], req: CitationRequest | None = None, **kw: Any
) -> list[Reply]:
    """The decoder's outputs, each as a Reply (text with the facts it carried)."""
    decoder = ResponseDecoder(req or request(), "anthropic")
    chunks: list[Reply] = []
    for _, data in wire.stream(blocks, **kw).events or ():
        out = decoder.feed(data)
        if out:
            chunks.append(out if isinstance(out, Reply) else Reply(out))
    chunks.append(decoder.finish())
    return chunks


def joined(chunks: list[Reply]) -> str:
    return "".join(chunk.text for chunk in chunks)


def citations_of(chunks: list[Reply]) -> tuple[ProviderCitation, ...]:
    found: tuple[ProviderCitation, ...] = ()
    for chunk in chunks:
        found += chunk.info.citations
    return found


ANSWER: list[wire.Block] = [
    ("According to the documents, ", []),
    ("the tower is 330 metres tall.", [EIFFEL]),
    (" The arena ", []),
    ("held 50,000 people and Big Ben is a bell", [BEN, ROME]),
    (".", []),
]


# -- requests ----------------------------------------------------------------------------


def test_one_document_block_per_source_with_citations_and_cache() -> None:
    payload = build_payload(RequestShape("claude-x"), request(), {}, stream=False)
    (turn,) = payload["messages"]
    assert turn["role"] == "user"
    *docs, question = turn["content"]
    assert question == {"type": "text", "text": "How tall is it?"}
    assert [d["source"]["data"] for d in docs] == [s.content for s in SOURCES]
    for doc in docs:
        assert doc["type"] == "document"
        assert doc["source"]["type"] == "text" and doc["source"]["media_type"] == "text/plain"
        assert doc["citations"] == {"enabled": True}
    assert [d.get("title") for d in docs] == ["Eiffel Tower", None, "Big Ben"]
    assert [d.get("cache_control") for d in docs] == [None, None, {"type": "ephemeral"}]
    assert payload["model"] == "claude-x" and payload["max_tokens"] == 1024
    assert "Never write citation markers" in payload["system"]
    assert "stream" not in payload


def test_cache_off_options_and_stream_flag() -> None:
    shape = RequestShape("claude-x", max_tokens=50, cache_sources=False)
    options = {"temperature": 0.2, "top_k": 5, "stop": "END", "max_tokens": 77, "model": "m2"}
    payload = build_payload(shape, request(), options, stream=True)
    docs = payload["messages"][0]["content"][:-1]
    assert all("cache_control" not in d for d in docs)
    assert payload["stream"] is True
    assert payload["extra_body"] == {"temperature": 0.2, "top_k": 5}
    assert payload["stop_sequences"] == ["END"]
    assert payload["max_tokens"] == 77 and payload["model"] == "m2"
    on_again = build_payload(shape, request(), {"cache_sources": True}, stream=False)
    assert on_again["messages"][0]["content"][2]["cache_control"] == {"type": "ephemeral"}


def test_policy_changes_the_instructions() -> None:
    texts = {
        p: build_payload(RequestShape("m"), request(p), {}, stream=False)["system"] for p in Policy
    }
    assert "Every sentence" in texts[Policy.REQUIRED]
    assert "word for word" in texts[Policy.QUOTES_ONLY]
    assert len(set(texts.values())) == len(texts)


def test_budget_truncates_document_text() -> None:
    req = CitationRequest.build(
        "q", [Source("word " * 200), Source("short")], Policy.AUTO, budget=PromptBudget(100)
    )
    docs = build_payload(RequestShape("m"), req, {}, stream=False)["messages"][0]["content"][:-1]
    assert docs[1]["source"]["data"] == "short"
    assert len(docs[0]["source"]["data"]) <= 95 and docs[0]["source"]["data"].endswith(" …")


def test_custom_messages_keep_their_system_and_get_the_documents() -> None:
    req = request().with_messages(
        [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Height?"}]
    )
    payload = build_payload(RequestShape("m"), req, {}, stream=False)
    assert payload["system"] == "Be terse."
    content = payload["messages"][0]["content"]
    assert [b["type"] for b in content] == ["document"] * 3 + ["text"]
    assert content[-1]["text"] == "Height?"


def test_bad_shape_is_rejected() -> None:
    with pytest.raises(InvalidOptionError):
        RequestShape("m", max_tokens=0)
    with pytest.raises(InvalidOptionError):
        RequestShape("m", cache_sources="yes")  # type: ignore[arg-type]


# -- whole messages ----------------------------------------------------------------------


def test_markers_go_before_trailing_punctuation_with_spans() -> None:
    reply = whole(ANSWER)
    out = reply.text
    assert out == (
        "According to the documents, the tower is 330 metres tall [1]."
        " The arena held 50,000 people and Big Ben is a bell [2, 3]."
    )
    info = reply.info
    assert info.enforcement is Enforcement.PROVIDER
    assert info.finish_reason == "stop"
    by_id = {c.source_id: c for c in info.citations}
    assert out[by_id[1].raw_offset :].startswith("[1]")
    assert by_id[2].raw_offset == by_id[3].raw_offset == out.index("[2, 3]")
    assert by_id[1].cited_text == "The Eiffel Tower is 330 metres tall"
    assert SOURCES[1].content[by_id[2].source_start : by_id[2].source_end] == ROME["cited_text"]
    assert SOURCES[2].content[by_id[3].source_start : by_id[3].source_end] == BEN["cited_text"]
    assert [m.ids for m in validate(out, 3, MarkerStyle.BRACKET).markers] == [(1,), (2, 3)]


def test_prose_markers_and_out_of_range_documents_never_become_citations() -> None:
    blocks: list[wire.Block] = [
        ("The tower [9] is tall [2] and [[9]3] and [ [8]1] and (see [1, ", []),
        ("330 metres", [wire.cite(7, "bogus", 0, 5), wire.cite(-1, "bogus", 0, 5)]),
        ("). Also ", []),
        ("it stands in Paris", [EIFFEL, wire.cite(3, "bogus", 0, 5)]),
        (".", []),
    ]
    reply = whole(blocks)
    out = reply.text
    checked = validate(out, 3, MarkerStyle.BRACKET)
    assert checked.invalid == ()
    assert [m.ids for m in checked.markers] == [(1,)]
    assert "[9]" not in out and "[2]" not in out and "[3]" not in out
    info = reply.info
    assert [c.source_id for c in info.citations] == [1]
    assert sorted(m.text for m in info.invalid_markers) == ["[4]", "[8]", "document -1"]
    assert all(m.reason == "out_of_range" for m in info.invalid_markers)


def test_caret_markers_stay_unambiguous_and_each_id_has_its_offset() -> None:
    req = request(style=MarkerStyle.CARET)
    reply = whole([("Towers and arenas", [EIFFEL, ROME]), ("5 times ^2 more", [])], req)
    out = reply.text
    # One caret per id, never side by side (``^1^2`` is not in the citation language).
    assert out == "Towers and arenas^1 ^2 5 times more"
    by_id = {c.source_id: c.raw_offset for c in reply.info.citations}
    assert out[by_id[1] :].startswith("^1 ^2") and out[by_id[2] :].startswith("^2 ")
    assert [m.ids for m in validate(out, 3, MarkerStyle.CARET).markers] == [(1,), (2,)]


def test_other_block_kinds_and_non_document_citations_are_ignored() -> None:
    body = wire.message([("Tall", [EIFFEL])]).body
    body["content"].insert(0, {"type": "thinking", "thinking": "[3] hmm", "signature": "x"})
    web = {"type": "web_search_result_location", "url": "u", "cited_text": "c", "title": "t"}
    body["content"].append({"type": "text", "text": " indeed", "citations": [web]})
    reply = decode_response(body, request())
    out = reply.text
    assert out == "Tall [1] indeed"
    assert len(reply.info.citations) == 1


def test_usage_and_stop_reasons() -> None:
    use = wire.usage(input_tokens=10, output_tokens=4, cache_read=100, cache_creation=5)
    assert usage_of(use) == TokenUsage(prompt_tokens=115, completion_tokens=4, cached_tokens=100)
    assert usage_of({"input_tokens": 3, "output_tokens": 1}, {"output_tokens": 9}) == TokenUsage(
        3, 9, 0
    )
    assert usage_of(None) is None
    assert [finish_reason(r) for r in ("end_turn", "max_tokens", "refusal", "stop_sequence")] == [
        "stop",
        "length",
        "refusal",
        "stop",
    ]
    assert finish_reason("pause_turn") == "pause_turn" and finish_reason(None) is None
    assert whole([("No.", [])], stop_reason="refusal").info.finish_reason == "refusal"


# -- streams -----------------------------------------------------------------------------


@pytest.mark.parametrize("citations_at", ["start", "end"])
@pytest.mark.parametrize("size", [1, 3, 50])
def test_stream_equals_whole_message(citations_at: Any, size: int) -> None:
    chunks = streamed(ANSWER, size=size, citations_at=citations_at)
    reply = whole(ANSWER)
    expected = reply.text
    assert joined(chunks) == expected
    assert sorted(citations_of(chunks), key=lambda c: c.source_id) == sorted(
        reply.info.citations, key=lambda c: c.source_id
    )
    final = chunks[-1].info
    assert final.usage == TokenUsage(11, 7) and final.finish_reason == "stop"


def test_stream_releases_text_early_and_markers_with_their_facts() -> None:
    chunks = streamed(ANSWER, size=4)
    assert len(chunks) > 10
    marker_chunk = next(c for c in chunks if "[1]" in c.text)
    assert [c.source_id for c in marker_chunk.info.citations] == [1]
    assert chunks.index(marker_chunk) < len(chunks) - 1


_BLOCK_TEXT = st.text(alphabet="a [](^{}29.", max_size=12)
_CITES = st.lists(st.integers(-1, 4), max_size=3)


@given(
    blocks=st.lists(st.tuples(_BLOCK_TEXT, _CITES), max_size=6),
    size=st.integers(1, 6),
    style=st.sampled_from(list(MarkerStyle)),
    citations_at=st.sampled_from(["start", "end"]),
)
@example(blocks=[("x [[9]2] y", [])], size=2, style=MarkerStyle.BRACKET, citations_at="start")
@example(blocks=[("x ^", [0]), ("2 y", [])], size=1, style=MarkerStyle.CARET, citations_at="end")
@settings(max_examples=400)
def test_stream_parity_and_only_cited_markers(
    blocks: list[tuple[str, list[int]]], size: int, style: MarkerStyle, citations_at: Any
) -> None:
    script: list[wire.Block] = [
        (text, [wire.cite(i, "x", 0, 1) for i in ids]) for text, ids in blocks
    ]
    req = request(style=style)
    reply = whole(script, req)
    expected = reply.text
    chunks = streamed(script, req, size=size, citations_at=citations_at)
    assert joined(chunks) == expected
    assert set(citations_of(chunks)) == set(reply.info.citations)
    checked = validate(expected, 3, style)
    assert checked.invalid == ()
    assert checked.text == expected  # the assembler writes the citation language
    cited = {(c.raw_offset, c.source_id) for c in reply.info.citations}
    assert {(m.raw_start, i) for m in checked.markers for i in m.ids} == cited


def test_stream_without_a_stop_reason_is_an_error() -> None:
    decoder = ResponseDecoder(request(), "anthropic")
    for _, data in wire.stream(ANSWER, stop_reason=None).events or ():
        decoder.feed(data)
    with pytest.raises(BackendError, match="before the model finished") as caught:
        decoder.finish()
    assert caught.value.retryable


def test_assembler_handles_an_answer_that_is_only_a_citation() -> None:
    assembler = CitationAssembler(3, MarkerStyle.BRACKET)
    out = assembler.start_block()
    assembler.cite(EIFFEL)
    out += assembler.end_block() + assembler.finish()
    assert out == "[1]"
    (citation,) = assembler.take_facts()[0]
    assert citation.raw_offset == 0


def test_a_document_index_that_is_not_an_integer_is_reported_not_cited() -> None:
    reply = whole([("Tall", [{**EIFFEL, "document_index": True}]), (" and old", [EIFFEL])])
    out = reply.text
    assert out == "Tall and old [1]"
    assert [c.source_id for c in reply.info.citations] == [1]  # true is not document 1
    assert [(m.text, m.reason) for m in reply.info.invalid_markers] == [
        ("document true", "malformed")
    ]
