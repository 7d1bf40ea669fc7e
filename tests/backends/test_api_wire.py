"""Reading response JSON and SSE from the wire (citeformer.backends._api.wire).

The parser is checked against the openai SDK's own SSE decoder (a differential
property test), and the OpenAI backends' raw-response path end to end: the real SDK
over real HTTP against the loopback server, with the odd streams servers send.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citeformer import Citeformer
from citeformer.backends._api.wire import SseParser, read_json
from citeformer.backends.openai import OpenAIBackend
from citeformer.backends.retry import RetryPolicy
from citeformer.errors import BackendError, StreamInterruptedError
from citeformer.testing import QUESTION, SOURCES
from tests.loopback import openai_wire as wire
from tests.loopback.server import LoopbackServer, Reply

DOCUMENT = wire.segments(("Die Tour Eiffel misst 330 m — «haut» [9].", [1]), ("Rom: 50 000.", [2]))

# -- the parser ----------------------------------------------------------------------

_FIELD = st.sampled_from(["data", "event", "id", "retry", "dat", "data ", ":", ""])
_VALUE = st.text(st.sampled_from("ab {}:[]é\0 "), max_size=6)
_LINE = st.one_of(
    st.just(""),
    st.builds(lambda f, v: f"{f}:{v}", _FIELD, _VALUE),
    st.builds(lambda f, v: f"{f}: {v}", _FIELD, _VALUE),
    _FIELD,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_LINE, max_size=30))
def test_events_are_the_sdk_decoders_events(lines: list[str]) -> None:
    from openai._streaming import SSEDecoder  # the SDK's own, as the reference

    reference = SSEDecoder()
    expected = [e.data for e in map(reference.decode, lines) if e is not None and e.data]
    parser = SseParser()
    got = [data for data in map(parser.line, lines) if data]
    assert got == expected


def test_multi_line_data_comments_and_empty_events() -> None:
    parser = SseParser()
    lines = [": keep-alive", "event: ping", "", "data: {", "data:  1}", "id: 7", "", "data", ""]
    assert [d for d in map(parser.line, lines) if d is not None] == ["{\n 1}", ""]


def test_the_end_event_and_everything_after_it_yield_nothing() -> None:
    parser = SseParser(end="[DONE]")
    lines = ["data: 1", "", "data: [DONE]", "", "data: 2", "", ""]
    assert [d for d in map(parser.line, lines) if d is not None] == ["1"]


def test_json_objects_read_as_attributes() -> None:
    chunk = read_json(b'{"choices": [{"delta": {"content": "x"}}], "usage": null}', "p")
    assert chunk.choices[0].delta == SimpleNamespace(content="x") and chunk.usage is None


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", "[" * 100_000, b'{"a": '])
def test_a_body_that_is_not_json_says_so(body: str | bytes) -> None:
    with pytest.raises(BackendError, match=r"not JSON.*base_url") as caught:
        read_json(body, "openai")
    assert caught.value.retryable and caught.value.provider == "openai"


# -- the OpenAI backends' raw path over real HTTP ------------------------------------


@pytest.fixture
def backend(loopback: LoopbackServer) -> Iterator[OpenAIBackend]:
    made = OpenAIBackend(
        "gpt-test", api_key="sk-x", base_url=f"{loopback.url}/v1", retry=RetryPolicy.none()
    )
    yield made
    made.close()  # the sync client (async tests close the async one themselves)


def _sse(lines: list[str], newline: str = "\n") -> Reply:
    body = newline.join(lines).encode("utf-8")
    # A wrong charset on purpose: SSE is UTF-8 whatever the header says.
    return Reply(raw=body, headers={"Content-Type": "text/event-stream; charset=iso-8859-1"})


def _chunks(document: str, size: int = 7) -> list[dict[str, Any]]:
    events = [wire.chunk({"role": "assistant", "content": ""})]
    for i in range(0, len(document), size):
        events.append(wire.chunk({"content": document[i : i + size]}))
    final = {**wire.chunk({}), "choices": [], "usage": wire.usage()}
    return [*events, wire.chunk({}, "stop"), final]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
async def test_odd_but_valid_streams_give_the_whole_answer(
    loopback: LoopbackServer, backend: OpenAIBackend, newline: str
) -> None:
    lines = [": OPENROUTER PROCESSING", ""]
    for i, event in enumerate(_chunks(DOCUMENT)):
        text = json.dumps(event, ensure_ascii=False)
        if i % 3 == 1:  # one event's JSON over two data lines (joined by a newline)
            cut = text.index(",") + 1
            lines += ["event: message", f"data: {text[:cut]}", f"data:{text[cut:]}", ""]
        else:
            lines += [f"data: {text}", "", ""]
    lines += ["data: [DONE]", "", "data: not json at all", "", ""]
    loopback.reset(wire.answer(DOCUMENT))
    async with Citeformer(backend) as cf:
        whole = await cf.agenerate(QUESTION, SOURCES)
        loopback.reset(lambda _: _sse(lines, newline))
        streamed = [piece async for piece in cf.astream(QUESTION, SOURCES)]
        assert "".join(streamed) == whole.text
        assert "330 m — «haut» [1]" in whole.text and whole.cited_ids == [1, 2]
        assert "".join(await asyncio.to_thread(lambda: list(cf.stream(QUESTION, SOURCES)))) == (
            whole.text
        )


def test_an_error_event_interrupts_the_stream_and_keeps_what_arrived(
    loopback: LoopbackServer, backend: OpenAIBackend
) -> None:
    events = _chunks(DOCUMENT)[:6]
    lines = [f"data: {json.dumps(event)}\n" for event in events]
    lines.append('data: {"error": {"message": "upstream overloaded", "code": 529}}\n\n')
    loopback.reset(lambda _: _sse(lines))
    with pytest.raises(StreamInterruptedError, match="upstream overloaded") as caught:
        "".join(Citeformer(backend).stream(QUESTION, SOURCES))
    assert caught.value.partial_text.startswith("Die Tour")
    assert type(caught.value.__cause__).__name__ == "BackendError"
    assert type(caught.value.__cause__.__cause__).__name__ == "APIError"  # the SDK's type


def test_a_stream_of_junk_is_a_typed_error(
    loopback: LoopbackServer, backend: OpenAIBackend
) -> None:
    loopback.reset(lambda _: _sse(["data: <html>oops</html>", "", ""]))
    with pytest.raises(BackendError, match="not JSON"):
        "".join(Citeformer(backend).stream(QUESTION, SOURCES))


def test_a_whole_answer_that_is_not_json_is_a_typed_error(
    loopback: LoopbackServer, backend: OpenAIBackend
) -> None:
    page = Reply(raw=b"<html>502</html>", headers={"Content-Type": "text/html"})
    loopback.reset(lambda _: page)
    with pytest.raises(BackendError, match=r"not JSON.*begins '<html>502"):
        Citeformer(backend).generate(QUESTION, SOURCES)


async def test_streams_reuse_their_connection(
    loopback: LoopbackServer, backend: OpenAIBackend
) -> None:
    """Reading past [DONE] to the end of the body lets the pool keep the connection."""
    reply = wire.stream(DOCUMENT, size=90)
    late = [*reply.events, (None, "[DONE]")]  # more body after [DONE], a little later
    loopback.reset(lambda _: Reply(events=late, event_delay=0.02))
    async with Citeformer(backend) as cf:
        for _ in range(5):
            assert "".join([p async for p in cf.astream(QUESTION, SOURCES)])
    peers = {request.peer for request in loopback.requests}
    assert len(loopback.requests) == 5 and len(peers) == 1
