"""AnthropicBackend through the real anthropic SDK against the loopback Messages server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pytest

from citeformer import Citeformer, Policy, TokenUsage
from citeformer.backends.anthropic import AnthropicBackend
from citeformer.backends.retry import RetryPolicy
from citeformer.core import Enforcement
from citeformer.errors import (
    BackendError,
    BackendTimeoutError,
    ConfigurationError,
    StreamInterruptedError,
)
from citeformer.events import CitationEvent, Completed, TextDelta
from citeformer.testing import QUESTION, SOURCES
from tests.backends.api_suite import ApiSuite
from tests.loopback import anthropic_wire as wire
from tests.loopback.server import LoopbackServer, Received, Reply

KEY = "sk-ant-loopback-0123456789"
EIFFEL = wire.cite_source(0, SOURCES[0].content, "The Eiffel Tower is 330 metres tall")
ROME = wire.cite_source(1, SOURCES[1].content, "held about 50,000 spectators")
ANSWER: list[wire.Block] = [
    ("The tower ", []),
    ("is 330 metres tall.", [EIFFEL]),
    (" It is not the Colosseum, which ", []),
    ("held about 50,000 spectators", [ROME]),
    (".", []),
]
FAST_RETRY = RetryPolicy(max_retries=2, initial_backoff=0.01, jitter=0)


_made: list[AnthropicBackend] = []


def backend_for(server: LoopbackServer, **kwargs: Any) -> AnthropicBackend:
    kwargs.setdefault("retry", FAST_RETRY)
    backend = AnthropicBackend("claude-test", api_key=KEY, base_url=server.url, **kwargs)
    _made.append(backend)
    return backend


@pytest.fixture(autouse=True)
def _close_sync_clients() -> Iterator[None]:
    """Sync clients are closed after each test (async ones inside their own loop)."""
    yield
    while _made:
        _made.pop().close()


def sent_key(request: Received) -> str | None:
    """The key as the SDK sent it (``x-api-key``, or a bearer token in newer SDKs)."""
    if "x-api-key" in request.headers:
        return request.headers["x-api-key"]
    return request.headers.get("authorization", "").removeprefix("Bearer ") or None


class TestAnthropicApi(ApiSuite):
    """The contract, faults, streaming and concurrency, through the anthropic SDK."""

    backend_class = AnthropicBackend
    model = "claude-test"
    wire = wire
    key = KEY
    provider = "anthropic"
    sdk_module = "anthropic"
    key_header = "x-api-key"
    unauthorized = "invalid x-api-key"
    truncated_body = b'{"id": "msg_x", "type": "message", "role": "assistant", "content": ['
    error_request_id = "req_err"
    # AsyncStream.close() closes the response, not the generators reading it (as openai).
    sdk_leaves_stream_generators_to_gc = True
    answer: ClassVar[list[wire.Block]] = [
        ("The Eiffel Tower is 330 metres tall.", [EIFFEL]),
        (
            " It stands in Paris, unlike the Colosseum.",
            [
                wire.cite_source(0, SOURCES[0].content, "stands in Paris"),
                wire.cite_source(1, SOURCES[1].content, "The Colosseum in Rome"),
            ],
        ),
    ]

    def scripted(self, n: int) -> list[wire.Block]:
        passage = f"passage {n}"
        return [(f"Answer {n}", [wire.cite(n % 3, passage, 0, len(passage))]), (".", [])]

    def stream(
        self,
        content: Any,
        *,
        size: int,
        cut_after: int | None = None,
        event_delay: float = 0.0,
        finished: bool = True,
    ) -> Reply:
        extra: dict[str, Any] = {} if finished else {"stop_reason": None}
        return wire.stream(
            content, size=size, cut_after=cut_after, event_delay=event_delay, **extra
        )

    def usage(self, prompt: int, completion: int, cached: int) -> dict[str, Any]:
        # Anthropic counts cache reads apart from the other input tokens.
        return wire.usage(input_tokens=prompt - cached, output_tokens=completion, cache_read=cached)

    def sent_key(self, request: Received) -> str:
        return sent_key(request) or ""

    def prompt_of(self, request: Received) -> str:
        content = request.body["messages"][0]["content"]
        return content if isinstance(content, str) else str(content[-1]["text"])

    def check_stream_requests(self, requests: Sequence[Received]) -> None:
        streams = [r for r in requests if r.body.get("stream")]
        assert streams
        assert all(r.body["stream"] is True for r in streams)

    async def raw_sdk_call(self, backend: Any, i: int) -> Any:
        return await backend.async_client.messages.create(
            model=self.model,
            max_tokens=64,
            messages=[{"role": "user", "content": f"question {i}"}],
        )

    def connection_pool(self, backend: Any) -> Any:
        return backend.async_client._client._transport._pool  # httpcore's pool


# -- construction ----------------------------------------------------------------------


def test_import_does_not_import_the_sdk() -> None:
    code = (
        "import sys, citeformer.backends.anthropic; "
        "print('anthropic' in sys.modules or 'httpx2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_key_from_environment_or_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY"):
        AnthropicBackend("claude-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    backend = AnthropicBackend("claude-test")
    assert KEY not in repr(backend)
    assert backend.name == "anthropic" and backend.enforcement is Enforcement.PROVIDER


def test_request_shape_on_the_wire(loopback: LoopbackServer) -> None:
    loopback.reset(wire.answer(ANSWER))
    backend = backend_for(loopback, max_tokens=300)
    Citeformer(backend).generate(QUESTION, SOURCES, temperature=0)
    (seen,) = loopback.requests
    assert seen.method == "POST" and seen.path == "/v1/messages"
    assert sent_key(seen) == KEY and "anthropic-version" in seen.headers
    body = seen.body
    assert body["model"] == "claude-test" and body["max_tokens"] == 300
    assert body["temperature"] == 0 and "stream" not in body
    assert "Never write citation markers" in body["system"]
    *docs, question = body["messages"][0]["content"]
    assert question == {"type": "text", "text": QUESTION}
    assert [d["source"] for d in docs] == [
        {"type": "text", "media_type": "text/plain", "data": s.content} for s in SOURCES
    ]
    assert [d["title"] for d in docs] == ["Eiffel Tower", "Colosseum", "Big Ben"]
    assert all(d["type"] == "document" and d["citations"] == {"enabled": True} for d in docs)
    assert [d.get("cache_control") for d in docs] == [None, None, {"type": "ephemeral"}]
    backend.close()

    loopback.reset(wire.answer(ANSWER))
    list(Citeformer(backend_for(loopback, cache_sources=False)).stream(QUESTION, SOURCES))
    (seen,) = loopback.requests
    assert seen.body["stream"] is True
    assert all("cache_control" not in d for d in seen.body["messages"][0]["content"])


def test_citations_carry_cited_text_spans_usage_and_tier(loopback: LoopbackServer) -> None:
    use = wire.usage(input_tokens=20, output_tokens=9, cache_read=300, cache_creation=0)
    loopback.reset(wire.answer(ANSWER, use=use))
    result = Citeformer(backend_for(loopback)).generate(QUESTION, SOURCES)
    assert result.text == (
        "The tower is 330 metres tall [1]. It is not the Colosseum, which held about"
        " 50,000 spectators [2]."
    )
    first, second = result.citations
    assert (first.source_id, first.marker) == (1, "[1]")
    assert result.text[first.start : first.end] == "[1]"
    assert first.cited_text == "The Eiffel Tower is 330 metres tall"
    assert SOURCES[0].content[first.source_start : first.source_end] == first.cited_text
    assert second.source_id == 2 and second.cited_text == "held about 50,000 spectators"
    assert SOURCES[1].content[second.source_start : second.source_end] == second.cited_text
    assert result.usage == TokenUsage(prompt_tokens=320, completion_tokens=9, cached_tokens=300)
    assert result.finish_reason == "stop"
    assert result.enforcement is Enforcement.PROVIDER
    assert [r.source_id for r in result.references] == [1, 2]


@pytest.mark.parametrize("citations_at", ["start", "end"])
async def test_streaming_parity_and_citation_events_mid_stream(
    loopback: LoopbackServer, citations_at: Any
) -> None:
    loopback.reset(wire.answer(ANSWER, size=3, citations_at=citations_at))
    backend = backend_for(loopback)
    cf = Citeformer(backend)
    expected = cf.generate(QUESTION, SOURCES)
    stream = cf.stream(QUESTION, SOURCES)
    events = list(stream.events())
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == expected.text
    assert stream.finalize().citations == expected.citations
    cites = [i for i, e in enumerate(events) if isinstance(e, CitationEvent)]
    texts = [i for i, e in enumerate(events) if isinstance(e, TextDelta)]
    assert len(cites) == 2 and cites[0] < texts[-1]  # the first arrives while text still flows
    first = events[cites[0]]
    assert isinstance(first, CitationEvent) and first.citation.cited_text == EIFFEL["cited_text"]

    astream = cf.astream(QUESTION, SOURCES)
    aevents = [e async for e in astream.events()]
    assert [e for e in aevents if not isinstance(e, Completed)] == [
        e for e in events if not isinstance(e, Completed)
    ]
    assert (await astream.finalize()).citations == expected.citations
    await backend.aclose()


async def test_prose_markers_and_out_of_range_documents(loopback: LoopbackServer) -> None:
    broken: list[wire.Block] = [
        ("The tower [9] is [[9]2] tall ", []),
        ("330 metres", [wire.cite(8, "forged", 0, 6)]),
        (" and in Paris", [EIFFEL, wire.cite(3, "forged", 0, 6)]),
        (" [4].", []),
    ]
    loopback.reset(wire.answer(broken, size=2))
    backend = backend_for(loopback)
    cf = Citeformer(backend)
    results = [cf.generate(QUESTION, SOURCES), await cf.agenerate(QUESTION, SOURCES)]
    stream = cf.astream(QUESTION, SOURCES)
    streamed = "".join([c async for c in stream])
    results.append(await stream.finalize())
    for result in results:
        assert [c.source_id for c in result.citations] == [1]
        assert all(1 <= c.source_id <= len(SOURCES) for c in result.citations)
        assert "[9]" not in result.text and "[2]" not in result.text and "[4]" not in result.text
        assert {m.text for m in result.invalid_markers} == {"[9]", "[4]"}
    assert streamed == results[0].text == "The tower is [ 2] tall 330 metres and in Paris [1]."
    await backend.aclose()


# -- errors and retries ----------------------------------------------------------------


async def test_overloaded_is_retried(loopback: LoopbackServer) -> None:
    reply = wire.overloaded()  # 529; the 5xx every API backend retries: ApiSuite
    loopback.reset(wire.answer(ANSWER))
    loopback.queue(reply)
    backend = backend_for(loopback)
    result = await Citeformer(backend).agenerate(QUESTION, SOURCES)
    assert len(loopback.requests) == 2 and result.citations
    loopback.reset(wire.answer(ANSWER))
    loopback.queue(reply)
    assert "".join([c async for c in Citeformer(backend).astream(QUESTION, SOURCES)])
    assert len(loopback.requests) == 2
    await backend.aclose()


def test_timeout(loopback: LoopbackServer) -> None:
    loopback.reset(lambda _: wire.message(ANSWER))
    loopback.queue(Reply(delay=2.0, body={}))
    backend = backend_for(loopback, timeout=0.3, retry=RetryPolicy.none())
    started = time.perf_counter()
    with pytest.raises(BackendTimeoutError) as caught:
        Citeformer(backend).generate(QUESTION, SOURCES)
    assert time.perf_counter() - started < 1.5
    assert caught.value.retryable
    # A per-call timeout overrides the default, and a retry after a timeout succeeds.
    loopback.queue(Reply(delay=0.5, body={}))
    result = Citeformer(backend_for(loopback, retry=FAST_RETRY)).generate(
        QUESTION, SOURCES, timeout=0.2
    )
    assert result.citations and len(loopback.requests) == 3


@pytest.mark.parametrize("how", ["no_stop", "error_event"])  # a cut stream: ApiSuite
async def test_a_stream_failing_mid_way_keeps_the_partial_text(
    loopback: LoopbackServer, how: str
) -> None:
    full = Citeformer(backend_for(loopback))
    loopback.reset(wire.answer(ANSWER, size=3))
    expected = full.generate(QUESTION, SOURCES).text
    if how == "no_stop":
        loopback.reset(lambda _: wire.stream(ANSWER, size=3, stop_reason=None))
    else:
        overloaded = {"type": "overloaded_error", "message": "Overloaded"}
        loopback.reset(lambda _: wire.stream(ANSWER, size=3, error=overloaded))
    backend = backend_for(loopback)
    cf = Citeformer(backend)
    for run in ("sync", "async"):
        got: list[str] = []
        with pytest.raises(StreamInterruptedError) as caught:
            if run == "sync":
                for chunk in cf.stream(QUESTION, SOURCES):
                    got.append(chunk)
            else:
                async for chunk in cf.astream(QUESTION, SOURCES):
                    got.append(chunk)
        partial = caught.value.partial_text
        assert partial and expected.startswith(partial) and partial != expected
        assert "".join(got) == partial
        assert isinstance(caught.value.__cause__, BackendError)
    await backend.aclose()


async def test_refusal_is_a_typed_outcome(loopback: LoopbackServer) -> None:
    loopback.reset(wire.answer([("I can't help with that.", [])], stop_reason="refusal"))
    backend = backend_for(loopback)
    cf = Citeformer(backend)
    result = cf.generate(QUESTION, SOURCES)
    assert result.finish_reason == "refusal" and result.citations == ()
    stream = cf.astream(QUESTION, SOURCES)
    assert "".join([c async for c in stream]) == result.text
    assert (await stream.finalize()).finish_reason == "refusal"
    await backend.aclose()


# -- concurrency -----------------------------------------------------------------------


async def test_500_concurrent_calls_get_their_own_facts(loopback: LoopbackServer) -> None:
    def per_question(request: Received) -> list[wire.Block]:
        i = int(request.body["messages"][0]["content"][-1]["text"].split()[-1])
        doc = i % 3
        passage = f"passage {i}"
        return [(f"Answer {i}", [wire.cite(doc, passage, i, i + len(passage))]), (".", [])]

    def per_usage(request: Received) -> dict[str, Any]:
        i = int(request.body["messages"][0]["content"][-1]["text"].split()[-1])
        return wire.usage(input_tokens=1000 + i, output_tokens=i)

    loopback.reset(wire.answer(per_question, use=per_usage, size=3), latency=0.05)
    backend = backend_for(loopback)
    cf = Citeformer(backend)

    async def one(i: int, stream: bool) -> None:
        if stream:
            s = cf.astream(f"question {i}", SOURCES)
            text = "".join([c async for c in s])
            result = await s.finalize()
            assert text == result.text
        else:
            result = await cf.agenerate(f"question {i}", SOURCES)
        (citation,) = result.citations
        assert result.text == f"Answer {i} [{i % 3 + 1}]."
        assert citation.source_id == i % 3 + 1 and citation.cited_text == f"passage {i}"
        assert (citation.source_start, citation.source_end) == (i, i + len(f"passage {i}"))
        assert result.usage == TokenUsage(1000 + i, i)

    await asyncio.gather(*(one(i, stream=i % 2 == 1) for i in range(500)))
    await backend.aclose()


# 200 streams with a fifth cancelled: ApiSuite.
@pytest.mark.parametrize("count", [pytest.param(1000, marks=pytest.mark.slow)])
async def test_astreams_with_a_fifth_cancelled_close_cleanly(
    loopback: LoopbackServer, count: int
) -> None:
    long_answer: list[wire.Block] = [(f"Sentence {k} about the tower", [EIFFEL]) for k in range(20)]
    loopback.reset(lambda _: wire.stream(long_answer, size=8, event_delay=0.01), latency=0.0)
    backend = backend_for(loopback)
    cf = Citeformer(backend)
    first_chunk = [asyncio.Event() for _ in range(count)]

    async def consume(i: int) -> str:
        parts = []
        async for chunk in cf.astream(QUESTION, SOURCES):
            parts.append(chunk)
            first_chunk[i].set()
        return "".join(parts)

    tasks = [asyncio.create_task(consume(i)) for i in range(count)]
    cancelled = tasks[::5]
    await asyncio.gather(*(first_chunk[i].wait() for i in range(0, count, 5)))
    for task in cancelled:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(results[i], asyncio.CancelledError) for i in range(0, count, 5))
    finished = [r for i, r in enumerate(results) if i % 5]
    assert len(finished) == count * 4 // 5 and len({str(r) for r in finished}) == 1
    assert str(finished[0]).count("[1]") == 20
    await asyncio.sleep(0.05)
    assert asyncio.all_tasks() == {asyncio.current_task()}
    for _ in range(150):  # the server notices a closed connection at its next write
        if not loopback.open_streams:
            break
        await asyncio.sleep(0.02)
    assert loopback.open_streams == 0
    # The client's pool: no request in flight, every connection left is idle and reusable
    # (a cancelled stream's connection is closed and dropped, never handed out half-read).
    pool = backend.async_client._client._transport._pool
    assert not pool._requests
    assert all(c.is_idle() and c.is_available() for c in pool.connections)
    await backend.aclose()


def test_sync_use_never_builds_the_async_client(loopback: LoopbackServer) -> None:
    loopback.reset(wire.answer(ANSWER))
    backend = backend_for(loopback)
    cf = Citeformer(backend)
    cf.generate(QUESTION, SOURCES)
    list(cf.stream(QUESTION, SOURCES))
    assert not backend._async_clients
    backend.close()


def test_the_policy_reaches_the_instructions(loopback: LoopbackServer) -> None:
    loopback.reset(wire.answer(ANSWER))
    Citeformer(backend_for(loopback)).generate(QUESTION, SOURCES, policy=Policy.REQUIRED)
    assert "Every sentence" in loopback.requests[0].body["system"]
