"""A citation's ``document_index`` that is not an integer never becomes a citation.

Through the real anthropic SDK against the loopback Messages server, whole and
streamed: the objects the SDK builds are what :class:`CitationAssembler` reads.
Where the SDK's model cannot validate the value (``1.5``, ``"x"``) it keeps it
as sent, and the assembler reports it. Where pydantic's lax validation can
coerce it (``true``, ``"1"``, ``1.0`` become ``1``), the raw value is gone from
the object (not in ``model_extra`` nor anywhere else): so the backend reads the
raw response, whole and streamed, and sees the value as sent.
"""

from __future__ import annotations

from typing import Any

import pytest

from citeformer import Citeformer
from citeformer.backends.anthropic import AnthropicBackend
from citeformer.backends.anthropic.codec import CitationAssembler, decode_response
from citeformer.backends.base import CitationRequest
from citeformer.core import MarkerStyle, Policy
from citeformer.testing import QUESTION, SOURCES
from tests.loopback import anthropic_wire as wire
from tests.loopback.server import LoopbackServer

KEY = "sk-ant-loopback-0123456789"
EIFFEL = wire.cite_source(0, SOURCES[0].content, SOURCES[0].content[:20])


def odd(index: object) -> dict[str, Any]:
    return {**EIFFEL, "document_index": index}


def results(loopback: LoopbackServer, index: object) -> list[Any]:
    blocks: list[wire.Block] = [("The tower is tall", [odd(index)]), (" and old", [EIFFEL])]
    loopback.reset(wire.answer(blocks, size=4))
    backend = AnthropicBackend("claude-test", api_key=KEY, base_url=loopback.url)
    try:
        cf = Citeformer(backend)
        return [cf.generate(QUESTION, SOURCES), cf.stream(QUESTION, SOURCES).finalize()]
    finally:
        backend.close()


@pytest.mark.parametrize(("index", "shown"), [(1.5, "document 1.5"), ("x", 'document "x"')])
def test_an_index_the_sdk_keeps_as_sent_is_reported_not_cited(
    loopback: LoopbackServer, index: object, shown: str
) -> None:
    for result in results(loopback, index):
        assert result.text == "The tower is tall and old [1]"
        assert [c.source_id for c in result.citations] == [1]
        assert [(m.text, m.reason) for m in result.invalid_markers] == [(shown, "malformed")]


@pytest.mark.parametrize("index", [True, "1", 1.0])
def test_a_value_the_sdk_would_coerce_is_read_as_sent(
    loopback: LoopbackServer, index: object
) -> None:
    # The SDK's models turn these into 1 (source 2); the backend reads the raw JSON.
    for result in results(loopback, index):
        assert [c.source_id for c in result.citations] == [1]
        assert [m.reason for m in result.invalid_markers] == ["malformed"]


@pytest.mark.parametrize("index", [True, False, 1.0, 0.5, "1", [0]])
def test_the_assembler_reports_every_index_that_is_not_an_integer(index: object) -> None:
    request = CitationRequest.build("Q?", SOURCES, Policy.AUTO)
    body = wire.message([("Tall", [odd(index)]), (" and old", [EIFFEL])]).body
    reply = decode_response(body, request)
    out = reply.text
    assert out == "Tall and old [1]"
    (invalid,) = reply.info.invalid_markers
    assert invalid.reason == "malformed" and invalid.text.startswith("document ")
    assembler = CitationAssembler(3, MarkerStyle.BRACKET)
    assembler.start_block()
    assembler.cite({"type": "web_search_result_location", "url": "u", "cited_text": "c"})
    assert assembler.take_facts() == ((), ())  # no document index at all: not a document
