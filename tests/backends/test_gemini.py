"""GeminiBackend through the real google-genai SDK against the loopback Gemini server."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from citeformer import Citeformer, Policy, StreamInterruptedError
from citeformer.backends.gemini import GeminiBackend
from citeformer.backends.retry import RetryPolicy
from citeformer.errors import (
    BackendError,
    BackendTimeoutError,
    ConfigurationError,
    ContentFilteredError,
    RateLimitError,
)
from citeformer.events import CitationEvent, Completed
from tests.backends.conformance import QUESTION, SOURCES, BackendConformance
from tests.loopback import gemini_wire as wire
from tests.loopback.server import LoopbackServer, Received, Reply

KEY = "gm-key-SECRET-0123456789"
DOC = wire.segments(
    ("The Eiffel Tower is 330 metres tall.", [1]),
    ("It stands in Paris, unlike the Colosseum.", [1, 2]),
)
T = TypeVar("T")
FAST_RETRY = RetryPolicy(max_retries=2, initial_backoff=0.01, jitter=0.0)


def arun(backend: GeminiBackend, coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` that closes the loop's async client before the loop ends."""

    async def main() -> T:
        try:
            return await coroutine
        finally:
            await backend.aclose()

    return asyncio.run(main())


def make(server: LoopbackServer, **kwargs: Any) -> GeminiBackend:
    kwargs.setdefault("retry", FAST_RETRY)
    return GeminiBackend("gemini-test", api_key=KEY, base_url=server.url, **kwargs)


@pytest.fixture
def backend(loopback: LoopbackServer) -> Iterator[GeminiBackend]:
    loopback.reset(wire.answer(DOC))
    b = make(loopback)
    yield b
    b.close()


class TestGeminiConformance(BackendConformance):
    @pytest.fixture(autouse=True)
    def _serve(self, loopback: LoopbackServer) -> None:
        loopback.reset(wire.answer(DOC))
        self.server = loopback

    def make_backend(self) -> GeminiBackend:
        return make(self.server)


# -- the request ---------------------------------------------------------------------------


def test_request_carries_schema_enum_system_prompt_sources_and_key(
    backend: GeminiBackend, loopback: LoopbackServer
) -> None:
    Citeformer(backend).generate(QUESTION, SOURCES, max_tokens=50, temperature=0.2, seed=3)
    [sent] = loopback.requests
    assert sent.path.endswith("/models/gemini-test:generateContent")
    assert sent.headers["x-goog-api-key"] == KEY
    config = sent.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    segment = config["responseJsonSchema"]["properties"]["segments"]["items"]
    assert segment["properties"]["citations"]["items"] == {"type": "integer", "enum": [1, 2, 3]}
    assert (config["maxOutputTokens"], config["temperature"], config["seed"]) == (50, 0.2, 3)
    assert "numbered sources" in sent.body["systemInstruction"]["parts"][0]["text"]
    prompt = sent.body["contents"][0]["parts"][0]["text"]
    for source in SOURCES:
        assert source.content in prompt
    assert QUESTION in prompt


def test_openapi_dialect_sends_string_enum_ids_and_reads_them_back(
    loopback: LoopbackServer,
) -> None:
    loopback.reset(wire.answer(wire.segments(("Tall.", ["1"]), ("Old.", ["2", "7"]))))
    backend = make(loopback, schema_dialect="openapi")
    result = Citeformer(backend).generate(QUESTION, SOURCES)
    items = loopback.requests[0].body["generationConfig"]["responseSchema"]["properties"]
    ids = items["segments"]["items"]["properties"]["citations"]["items"]
    assert ids["enum"] == ["1", "2", "3"]
    assert ids["type"] == "STRING"
    assert result.text == "Tall [1]. Old [2]."
    assert [m.text for m in result.invalid_markers] == ["[7]"]
    backend.close()


def test_key_from_environment_and_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY"):
        GeminiBackend("gemini-test")
    monkeypatch.setenv("GOOGLE_API_KEY", "from-google-env")
    assert GeminiBackend("gemini-test")._api_key_value() == "from-google-env"
    monkeypatch.setenv("GEMINI_API_KEY", "from-gemini-env")
    assert GeminiBackend("gemini-test")._api_key_value() == "from-gemini-env"
    assert GeminiBackend("m", client_kwargs={"vertexai": True})._api_key_value() is not None


def test_injected_client_serves_both_sides(loopback: LoopbackServer) -> None:
    import httpx2
    from google.genai import Client

    loopback.reset(wire.answer(DOC))
    # An httpx transport: genai's default aiohttp session class warns on creation
    # with aiohttp >= 3.14 (a DeprecationWarning, an error under this suite's filters).
    transport = {"transport": httpx2.AsyncHTTPTransport()}
    client = Client(
        api_key=KEY, http_options={"base_url": loopback.url, "async_client_args": transport}
    )
    backend = GeminiBackend("gemini-test", client=client)
    assert backend.client is client
    assert backend.async_client is client.aio
    cf = Citeformer(backend)

    async def both() -> str:
        text = (await cf.agenerate(QUESTION, SOURCES)).text
        await backend.aclose()  # injected: left open for its owner
        assert not client.aio._api_client._async_resources_are_closed()
        await client.aio.aclose()
        return text

    assert cf.generate(QUESTION, SOURCES).text == asyncio.run(both())
    backend.close()
    assert len(loopback.requests) == 2
    client.close()


# -- the guarantee ---------------------------------------------------------------------------


def test_prose_markers_and_ids_outside_the_enum_never_become_citations(
    loopback: LoopbackServer,
) -> None:
    # A model writing "[9]" in prose, and a server ignoring the schema's enum.
    lying = wire.segments(("The tower is tall [9].", [9]), ("It is in Paris [3].", [1, 4, 0]))
    loopback.reset(wire.answer(lying))
    backend = make(loopback)
    cf = Citeformer(backend)
    for result in (
        cf.generate(QUESTION, SOURCES),
        cf.stream(QUESTION, SOURCES).finalize(),
        arun(backend, cf.agenerate(QUESTION, SOURCES)),
    ):
        assert [c.source_id for c in result.citations] == [1]
        assert "[9]" not in result.text
        assert "[3]" not in result.text
        assert sorted(m.text for m in result.invalid_markers) == ["[0]", "[4]", "[9]"]
    backend.close()


# -- streaming -------------------------------------------------------------------------------


async def test_streaming_parity_and_citation_events_before_the_end(
    backend: GeminiBackend, loopback: LoopbackServer
) -> None:
    cf = Citeformer(backend)
    expected = cf.generate(QUESTION, SOURCES)
    chunks = list(cf.stream(QUESTION, SOURCES))
    assert len(chunks) > 3
    assert "".join(chunks) == expected.text
    kinds: list[str] = []
    streamed = cf.astream(QUESTION, SOURCES)
    async for event in streamed.events():
        kinds.append(type(event).__name__)
    result = await streamed.finalize()
    assert result.text == expected.text
    assert result.citations == expected.citations
    assert kinds.count(CitationEvent.__name__) == len(expected.citations) == 3
    assert kinds[-1] == Completed.__name__
    assert kinds.index(CitationEvent.__name__) < len(kinds) - 2
    assert all(r.query.get("alt") == "sse" for r in loopback.requests if wire.is_stream(r))
    await backend.aclose()


def test_stream_cut_midway_raises_with_the_partial_text(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: wire.stream(DOC, size=12, cut_after=5))
    backend = make(loopback)
    stream = Citeformer(backend).stream(QUESTION, SOURCES)
    with pytest.raises(StreamInterruptedError) as info:
        list(stream)
    assert info.value.partial_text.startswith("The Eiffel")
    assert isinstance(info.value.__cause__, BackendError)

    async def run() -> StreamInterruptedError:
        s = Citeformer(backend).astream(QUESTION, SOURCES)
        with pytest.raises(StreamInterruptedError) as ainfo:
            async for _ in s:
                pass
        await backend.aclose()
        return ainfo.value

    assert asyncio.run(run()).partial_text.startswith("The Eiffel")


def test_stream_ending_without_finish_reason_is_interrupted(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: wire.stream(DOC, size=20, finish_reason=None))
    backend = make(loopback)
    with pytest.raises(StreamInterruptedError, match="finish_reason"):
        list(Citeformer(backend).stream(QUESTION, SOURCES))
    backend.close()


# -- faults and errors -----------------------------------------------------------------------


def test_429_with_retry_after_is_retried_after_waiting(loopback: LoopbackServer) -> None:
    loopback.reset(wire.answer(DOC))
    loopback.queue(wire.error(429, "quota exceeded", headers={"Retry-After": "0.4"}))
    backend = make(loopback)
    start = time.perf_counter()
    result = Citeformer(backend).generate(QUESTION, SOURCES)
    assert time.perf_counter() - start >= 0.4
    assert result.text.startswith("The Eiffel Tower")
    assert len(loopback.requests) == 2
    backend.close()


async def test_500_is_retried_async_and_429_exhausts_into_a_rate_limit_error(
    loopback: LoopbackServer,
) -> None:
    loopback.reset(wire.answer(DOC))
    loopback.queue(wire.error(500, "internal"), wire.error(503, "unavailable"))
    backend = make(loopback)
    result = await Citeformer(backend).agenerate(QUESTION, SOURCES)
    assert result.citations
    assert len(loopback.requests) == 3
    loopback.reset(lambda r: wire.error(429, "slow down", headers={"Retry-After": "0"}))
    with pytest.raises(RateLimitError) as info:
        await Citeformer(backend).agenerate(QUESTION, SOURCES)
    assert info.value.status == 429
    assert info.value.retryable
    assert len(loopback.requests) == 3  # the first try and two retries
    await backend.aclose()


def test_400_is_not_retried(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: wire.error(400, "Invalid JSON payload: unknown field"))
    backend = make(loopback)
    with pytest.raises(BackendError) as info:
        Citeformer(backend).generate(QUESTION, SOURCES)
    assert info.value.status == 400
    assert not info.value.retryable
    assert info.value.provider == "gemini"
    assert info.value.__cause__ is not None
    assert type(info.value.__cause__).__module__.startswith("google.genai")
    assert len(loopback.requests) == 1
    backend.close()


async def test_401_never_shows_the_key(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: wire.error(401, f"API key not valid: {r.headers['x-goog-api-key']}"))
    backend = make(loopback)
    assert KEY not in repr(backend)
    for call in (
        lambda: Citeformer(backend).generate(QUESTION, SOURCES),
        lambda: arun(backend, Citeformer(backend).agenerate(QUESTION, SOURCES)),
    ):
        with pytest.raises(BackendError) as info:
            await asyncio.to_thread(call)
        assert info.value.status == 401
        assert KEY not in str(info.value)
        assert KEY not in repr(info.value)
        assert "***" in str(info.value)
    assert len(loopback.requests) == 2
    backend.close()


async def test_timeout_is_a_backend_timeout_error(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: Reply(body={}, delay=2.0))
    backend = make(loopback, retry=RetryPolicy.none())
    cf = Citeformer(backend)
    start = time.perf_counter()
    with pytest.raises(BackendTimeoutError):
        await cf.agenerate(QUESTION, SOURCES, timeout=0.2)
    with pytest.raises(BackendTimeoutError):
        await asyncio.to_thread(cf.generate, QUESTION, SOURCES, timeout=0.2)
    with pytest.raises(BackendTimeoutError):
        async for _ in cf.astream(QUESTION, SOURCES, timeout=0.2):
            pass
    assert time.perf_counter() - start < 1.8
    await backend.aclose()


def test_malformed_json_is_a_typed_error(loopback: LoopbackServer) -> None:
    backend = make(loopback, retry=RetryPolicy.none())
    cf = Citeformer(backend)
    loopback.reset(lambda r: Reply(raw=b'{"candidates": [{"content": '))
    with pytest.raises(BackendError):
        cf.generate(QUESTION, SOURCES)
    # A server that ignored the JSON mode: prose, with a marker out of range.
    loopback.reset(wire.answer("The tower is 330 metres tall [9]."))
    with pytest.raises(BackendError, match="not valid JSON"):
        cf.generate(QUESTION, SOURCES)
    with pytest.raises(BackendError, match="not valid JSON"):
        list(cf.stream(QUESTION, SOURCES))
    backend.close()


def test_safety_blocks_are_typed_outcomes(loopback: LoopbackServer) -> None:
    backend = make(loopback)
    cf = Citeformer(backend)
    loopback.reset(lambda r: wire.blocked("PROHIBITED_CONTENT", streamed=wire.is_stream(r)))
    for result in (cf.generate(QUESTION, SOURCES), cf.stream(QUESTION, SOURCES).finalize()):
        assert result.finish_reason == "content_filter"
        assert result.text == ""
        assert result.citations == ()
    partial = DOC[: DOC.index("It stands")]
    loopback.reset(wire.answer(partial, finish_reason="SAFETY"))
    result = cf.generate(QUESTION, SOURCES)
    assert result.finish_reason == "content_filter"
    assert result.text == "The Eiffel Tower is 330 metres tall [1]."
    loopback.reset(lambda r: wire.error(400, "The request was blocked by safety filters"))
    with pytest.raises(ContentFilteredError):
        cf.generate(QUESTION, SOURCES)
    backend.close()


# -- concurrency -----------------------------------------------------------------------------


def _number(request: Received) -> int:
    match = re.search(r"question (\d+)", request.body["contents"][0]["parts"][0]["text"])
    assert match is not None
    return int(match.group(1))


def _scripted(request: Received) -> str:
    n = _number(request)
    return wire.segments((f"Answer {n}.", [n % 3 + 1]))


def _usage(request: Received) -> dict[str, Any]:
    n = _number(request)
    return wire.usage(prompt=1000 + n, completion=n, cached=n % 7)


@pytest.mark.slow
async def test_500_concurrent_agenerate_are_native_and_per_call(
    loopback: LoopbackServer,
) -> None:
    """500 calls at 200 ms each finish in about the time of a few, on no extra threads.

    The only threads an async call may touch are the loop's default executor's, which
    asyncio uses for ``getaddrinfo`` when a new connection opens (anyio resolves even
    IP literals that way). The test caps that executor at 2 workers: a design that
    spent a thread per call would then need 500 x 0.2 s / 2 = 50 s.
    """
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dns")
    loop.set_default_executor(executor)
    loopback.reset(wire.answer(_scripted, use=_usage), latency=0.2)
    backend = make(loopback)
    cf = Citeformer(backend)
    await cf.agenerate("question 0", SOURCES)  # warm: the loop's client and pool exist
    threads = threading.active_count() + 2  # at most the two resolver workers
    peak = threads
    names: set[str] = set()
    done = False

    async def watch() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, threading.active_count())
            names.update(t.name for t in threading.enumerate())
            await asyncio.sleep(0.01)

    async def raw_call(i: int) -> Any:
        return await aio.models.generate_content(
            model="gemini-test",
            contents=f"question {i}",
            config={
                "response_mime_type": "application/json",
                "http_options": {"retry_options": {"attempts": 1}},
            },
        )

    aio = backend.async_client
    start = time.perf_counter()
    await asyncio.gather(*(raw_call(i) for i in range(500)))
    floor = time.perf_counter() - start  # the SDK alone, same server, same loop
    watcher = asyncio.create_task(watch())
    start = time.perf_counter()
    results = await asyncio.gather(*(cf.agenerate(f"question {i}", SOURCES) for i in range(500)))
    elapsed = time.perf_counter() - start
    done = True
    await watcher
    print(f"\ngemini: 500 concurrent agenerate at 200 ms latency: {elapsed:.2f} s")
    print(f"gemini: the SDK alone, same 500 calls: {floor:.2f} s")
    # Serial calls would take 100 s and the thread-pool path ~18 s; the SDK's own
    # per-call CPU cost sets the floor, so the bound is relative to it.
    assert elapsed < 2.0 * floor + 1.5
    assert elapsed < 20.0
    assert peak <= threads, f"async calls must not start threads: {names}"
    assert backend._client is None, "async calls must not construct the sync client"
    for i, result in enumerate(results):
        assert result.text == f"Answer {i} [{i % 3 + 1}]."
        assert result.usage is not None
        assert result.usage.prompt_tokens == 1000 + i
        assert result.usage.completion_tokens == i
        assert result.usage.cached_tokens == i % 7
    await backend.aclose()


@pytest.mark.slow
async def test_200_concurrent_astreams_with_a_fifth_cancelled_leave_nothing_behind(
    loopback: LoopbackServer,
) -> None:
    loopback.reset(lambda r: wire.stream(_scripted(r), size=2, event_delay=0.02))
    backend = make(loopback)
    cf = Citeformer(backend)

    started = [asyncio.Event() for _ in range(200)]

    async def consume(i: int) -> str:
        chunks = []
        async for chunk in cf.astream(f"question {i}", SOURCES):
            chunks.append(chunk)
            if i % 5 == 0:
                started[i].set()
                await asyncio.Event().wait()  # hold mid-stream until cancelled
        return "".join(chunks)

    tasks = [asyncio.create_task(consume(i)) for i in range(200)]
    async with asyncio.timeout(20):
        await asyncio.gather(*(started[i].wait() for i in range(0, 200, 5)))
    for task in tasks[::5]:
        task.cancel()  # mid-stream: each has received text, none has finished
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    cancelled = [o for o in outcomes if isinstance(o, asyncio.CancelledError)]
    assert len(cancelled) == 40
    for i, outcome in enumerate(outcomes):
        if i % 5:
            assert outcome == f"Answer {i} [{i % 3 + 1}]."
    for _ in range(100):
        if loopback.open_streams == 0:
            break
        await asyncio.sleep(0.02)
    assert loopback.open_streams == 0, "every HTTP stream was closed"
    await asyncio.sleep(0.05)
    assert asyncio.all_tasks() - {asyncio.current_task()} == set()
    assert backend._client is None
    await backend.aclose()


def test_policy_argument_reaches_the_schema(loopback: LoopbackServer) -> None:
    loopback.reset(wire.answer(wire.segments(("Tall.", [1]))))
    backend = make(loopback)
    Citeformer(backend).generate(QUESTION, SOURCES, policy=Policy.REQUIRED)
    schema = loopback.requests[0].body["generationConfig"]["responseJsonSchema"]
    assert schema["properties"]["segments"]["items"]["properties"]["citations"]["minItems"] == 1
    backend.close()
