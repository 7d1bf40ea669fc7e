"""The tests every hosted-API backend runs, through its real SDK, against the loopback server.

:class:`ApiSuite` extends :class:`citeformer.testing.BackendConformance` with what an
HTTP API backend (an :class:`~citeformer.backends._api.ApiBackend` driving a provider
SDK) must also do, whatever its tier (schema, grammar or provider citations): stream
with parity and early citation events, turn cut streams, HTTP faults, timeouts and
malformed bodies into typed errors, retry what is retryable and nothing else, never
show the key, and serve hundreds of concurrent async calls and streams natively,
cancelled ones included. The schema tier's own tests are in
:class:`tests.backends.schema_api_suite.SchemaApiSuite`.

A subclass says how its provider differs:

* ``backend_class``, ``model``, ``key``, ``base_path``: :meth:`ApiSuite.build` makes
  the backend from them, pointed at the loopback server (which already answers
  :attr:`ApiSuite.answer`; ``make_backend`` points at ``self.server``);
* ``wire``: the provider's wire module in ``tests/loopback`` (``answer``, ``error``,
  ``stream`` with ``cut_after``/``event_delay``, ``usage``); a wire whose signatures
  differ is adapted by overriding :meth:`ApiSuite.stream`, :meth:`ApiSuite.usage`...;
* ``answer``: the provider's content for the standard answer, which reads
  "The Eiffel Tower is 330 metres tall [1]. ..." with three citations; ``scripted(n)``:
  the content for "Answer n [n % 3 + 1]." (the concurrency tests' per-call answer);
* ``provider``, ``sdk_module``, ``key_header``, ``unauthorized``, ``truncated_body``,
  ``error_request_id``;
* ``prompt_of``: where the user prompt is in a request body;
* ``check_stream_requests``: how a stream request shows it asked for SSE;
* ``raw_sdk_call``: one bare SDK call (the concurrency test's floor);
* ``connection_pool``: the async client's httpcore pool, where it can be reached.

Provider-specific tests (the exact request, keys from the environment, injected
clients, the provider's refusal shapes) stay in the provider's test module.
"""

from __future__ import annotations

import asyncio
import gc
import re
import threading
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any, ClassVar, TypeVar

import pytest

from citeformer import Citeformer, StreamInterruptedError
from citeformer.backends._api import ApiBackend
from citeformer.backends.retry import RetryPolicy
from citeformer.errors import BackendError, BackendTimeoutError, RateLimitError
from citeformer.events import CitationEvent, Completed, TextDelta
from citeformer.testing import QUESTION, SOURCES, BackendConformance
from tests.loopback.server import LoopbackServer, Received, Reply

FAST_RETRY = RetryPolicy(max_retries=2, initial_backoff=0.01, jitter=0.0)
T = TypeVar("T")
Backend = ApiBackend[Any, Any]


def arun(backend: Backend, coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` that closes the loop's async client before the loop ends."""

    async def main() -> T:
        try:
            return await coroutine
        finally:
            await backend.aclose()

    return asyncio.run(main())


async def _collect_abandoned_generators() -> None:
    """Collect garbage until a collection closes no abandoned async generator.

    The event loop's finaliser closes each collected, unfinished async generator in a
    task of its own; closing one can free the next (the generator it was reading), so
    this repeats until a collection schedules nothing, and every such task has ended.
    """

    def others() -> set[asyncio.Task[Any]]:
        return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[arg-type]

    for _ in range(20):
        gc.collect()
        await asyncio.sleep(0)  # the finaliser's tasks start
        if not others():
            return
        for _ in range(100):
            if not others():
                break
            await asyncio.sleep(0.02)


class ApiSuite(BackendConformance, suite=True):
    """Subclass, set the class attributes and implement the hooks below."""

    backend_class: ClassVar[type[Backend]]  # built as (model, api_key=, base_url=, retry=)
    model: ClassVar[str]
    wire: ClassVar[ModuleType]
    key: ClassVar[str]  # the API key the backend is built with
    base_path: ClassVar[str] = ""  # appended to the server's URL for base_url
    provider: ClassVar[str]  # BackendError.provider
    sdk_module: ClassVar[str]  # where the SDK's own exceptions live
    key_header: ClassVar[str]  # the request header that carries the API key
    unauthorized: ClassVar[str]  # a 401 message, which the server ends with the sent key
    truncated_body: ClassVar[bytes]  # a response body cut off mid-JSON
    error_request_id: ClassVar[str | None] = None  # BackendError.request_id of wire.error
    # The SDK's stream object, closed, leaves its inner async generators suspended for
    # the garbage collector, whose finaliser closes each in a task of its own, whenever
    # it runs (openai's and anthropic's AsyncStream.close() closes the HTTP response, not
    # the generators reading it; google-genai's stream likewise): the cancellation test
    # then collects them and lets those tasks finish before it checks that nothing is
    # left running. False (mistralai): nothing may be left, with no collection at all.
    sdk_leaves_stream_generators_to_gc: ClassVar[bool] = False
    answer: ClassVar[Any]  # the standard answer, in the wire's content form

    server: LoopbackServer

    # -- hooks ---------------------------------------------------------------------------

    @classmethod
    def build(cls, server: LoopbackServer, **kwargs: Any) -> Backend:
        """The backend under test, pointed at ``server`` with the test key.

        ``kwargs`` go to the constructor; ``retry`` defaults to fast retries.
        """
        kwargs.setdefault("retry", FAST_RETRY)
        url = server.url + cls.base_path
        return cls.backend_class(cls.model, api_key=cls.key, base_url=url, **kwargs)

    def make_backend(self, **kwargs: Any) -> Backend:
        return self.build(self.server, **kwargs)

    def scripted(self, n: int) -> Any:
        """The content of the answer "Answer {n} [{n % 3 + 1}]."."""
        raise NotImplementedError

    def respond(self, content: Any, **kwargs: Any) -> Any:
        """A responder answering ``content`` whole or streamed (``size``, ``use``)."""
        return self.wire.answer(content, **kwargs)

    def stream(
        self,
        content: Any,
        *,
        size: int,
        cut_after: int | None = None,
        event_delay: float = 0.0,
        finished: bool = True,
    ) -> Reply:
        """A streamed reply of ``content``; ``finished=False`` never says it finished."""
        extra: dict[str, Any] = {} if finished else {"finish_reason": None}
        reply: Reply = self.wire.stream(
            content, size=size, cut_after=cut_after, event_delay=event_delay, **extra
        )
        return reply

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
        """The provider's error reply."""
        reply: Reply = self.wire.error(status, message, headers=headers)
        return reply

    def usage(self, prompt: int, completion: int, cached: int) -> dict[str, Any]:
        """The wire usage that reads as ``TokenUsage(prompt, completion, cached)``."""
        body: dict[str, Any] = self.wire.usage(prompt, completion, cached)
        return body

    def sent_key(self, request: Received) -> str:
        """The key as the SDK sent it (the whole header)."""
        return request.headers[self.key_header]

    def prompt_of(self, request: Received) -> str:
        """The user prompt (sources and question) in a request body."""
        raise NotImplementedError

    def check_stream_requests(self, requests: Sequence[Received]) -> None:
        """Assert that the stream requests among ``requests`` asked for SSE."""
        raise NotImplementedError

    async def raw_sdk_call(self, backend: Backend, i: int) -> Any:
        """One call straight through ``backend.async_client``, asking ``question {i}``."""
        raise NotImplementedError

    def connection_pool(self, backend: Backend) -> Any:
        """The async client's httpcore connection pool, or None where it is out of reach."""
        return None

    # -- setup ---------------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _serve(self, loopback: LoopbackServer) -> None:
        loopback.reset(self.respond(self.answer))
        self.server = loopback

    def _number(self, request: Received) -> int:
        match = re.search(r"question (\d+)", self.prompt_of(request))
        assert match is not None
        return int(match.group(1))

    def _scripted(self, request: Received) -> Any:
        return self.scripted(self._number(request))

    def _usage(self, request: Received) -> dict[str, Any]:
        n = self._number(request)
        return self.usage(1000 + n, n, n % 7)

    def _pool_is_idle(self, backend: Backend) -> None:
        pool = self.connection_pool(backend)
        if pool is not None:  # no request in flight, every connection idle and reusable
            assert not pool._requests
            assert all(c.is_idle() and c.is_available() for c in pool.connections)

    # -- streaming -----------------------------------------------------------------------

    async def test_streaming_parity_and_citation_events_before_the_end(
        self, loopback: LoopbackServer
    ) -> None:
        backend = self.make_backend()  # the server answers self.answer
        cf = Citeformer(backend)
        expected = cf.generate(QUESTION, SOURCES)
        assert expected.text.startswith("The Eiffel Tower is 330 metres tall [1].")
        chunks = list(cf.stream(QUESTION, SOURCES))
        assert len(chunks) > 3
        assert "".join(chunks) == expected.text
        sync_events = list(cf.stream(QUESTION, SOURCES).events())
        streamed = cf.astream(QUESTION, SOURCES)
        async_events = [event async for event in streamed.events()]
        result = await streamed.finalize()
        assert result.text == expected.text
        assert result.citations == expected.citations
        for events in (sync_events, async_events):
            kinds = [type(event) for event in events]
            assert kinds.count(CitationEvent) == len(expected.citations) == 3
            assert kinds[-1] is Completed
            last_text = max(i for i, kind in enumerate(kinds) if kind is TextDelta)
            assert kinds.index(CitationEvent) < last_text  # while text still flows
        self.check_stream_requests(loopback.requests)
        await backend.aclose()
        backend.close()

    async def test_stream_cut_midway_keeps_what_arrived(self, loopback: LoopbackServer) -> None:
        backend = self.make_backend()
        expected = Citeformer(backend).generate(QUESTION, SOURCES).text
        loopback.reset(lambda r: self.stream(self.answer, size=6, cut_after=8))
        for run in ("sync", "async"):
            received: list[str] = []
            with pytest.raises(StreamInterruptedError) as info:
                if run == "sync":
                    received.extend(Citeformer(backend).stream(QUESTION, SOURCES))
                else:
                    async for chunk in Citeformer(backend).astream(QUESTION, SOURCES):
                        received.append(chunk)
            partial = info.value.partial_text
            assert partial == "".join(received) != ""
            assert expected.startswith(partial)
            assert partial != expected
            assert isinstance(info.value.__cause__, BackendError)
        await backend.aclose()
        backend.close()

    def test_stream_ending_without_finishing_is_interrupted(self, loopback: LoopbackServer) -> None:
        loopback.reset(lambda r: self.stream(self.answer, size=20, finished=False))
        backend = self.make_backend()
        with pytest.raises(StreamInterruptedError, match="before the model finished"):
            list(Citeformer(backend).stream(QUESTION, SOURCES))
        backend.close()

    # -- faults and errors ---------------------------------------------------------------

    def test_429_with_retry_after_is_retried_after_waiting(self, loopback: LoopbackServer) -> None:
        loopback.queue(self.error(429, "quota exceeded", headers={"Retry-After": "0.4"}))
        backend = self.make_backend()
        start = time.perf_counter()
        result = Citeformer(backend).generate(QUESTION, SOURCES)
        assert time.perf_counter() - start >= 0.4
        assert result.text.startswith("The Eiffel Tower")
        assert len(loopback.requests) == 2
        backend.close()

    async def test_5xx_is_retried_sync_and_async_whole_and_streamed(
        self, loopback: LoopbackServer
    ) -> None:
        backend = self.make_backend()
        cf = Citeformer(backend)
        loopback.queue(self.error(500, "internal"), self.error(503, "unavailable"))
        expected = await asyncio.to_thread(cf.generate, QUESTION, SOURCES)
        assert expected.citations
        assert len(loopback.requests) == 3  # the first try and two retries
        loopback.reset()
        loopback.queue(self.error(500, "internal"))
        assert (await cf.agenerate(QUESTION, SOURCES)).citations == expected.citations
        assert len(loopback.requests) == 2
        loopback.reset()
        loopback.queue(self.error(503, "unavailable"))
        assert "".join([c async for c in cf.astream(QUESTION, SOURCES)]) == expected.text
        assert len(loopback.requests) == 2
        await backend.aclose()
        backend.close()

    async def test_retries_are_bounded_and_429_ends_as_a_rate_limit_error(
        self, loopback: LoopbackServer
    ) -> None:
        loopback.reset(lambda r: self.error(429, "slow down", headers={"Retry-After": "0"}))
        backend = self.make_backend()
        cf = Citeformer(backend)
        for call in (
            lambda: asyncio.to_thread(cf.generate, QUESTION, SOURCES),
            lambda: cf.agenerate(QUESTION, SOURCES),
        ):
            loopback.reset()
            with pytest.raises(RateLimitError) as info:
                await call()
            error = info.value
            assert error.status == 429
            assert error.retryable
            assert error.provider == self.provider
            assert error.request_id == self.error_request_id
            assert type(error.__cause__).__module__.startswith(self.sdk_module)
            assert len(loopback.requests) == 3  # the first try and two retries
        await backend.aclose()
        backend.close()

    def test_400_is_not_retried(self, loopback: LoopbackServer) -> None:
        loopback.reset(lambda r: self.error(400, "Invalid JSON payload: unknown field"))
        backend = self.make_backend()
        with pytest.raises(BackendError) as info:
            Citeformer(backend).generate(QUESTION, SOURCES)
        error = info.value
        assert error.status == 400
        assert not error.retryable
        assert error.provider == self.provider
        assert error.request_id == self.error_request_id
        assert "unknown field" in str(error)  # the provider's message, passed on
        assert error.__cause__ is not None
        assert type(error.__cause__).__module__.startswith(self.sdk_module)
        assert len(loopback.requests) == 1
        backend.close()

    async def test_401_says_check_the_key_and_never_shows_it(
        self, loopback: LoopbackServer
    ) -> None:
        loopback.reset(lambda r: self.error(401, f"{self.unauthorized}: {self.sent_key(r)}"))
        backend = self.make_backend()
        key = self.key
        assert key not in repr(backend)
        for call in (
            lambda: Citeformer(backend).generate(QUESTION, SOURCES),
            lambda: arun(backend, Citeformer(backend).agenerate(QUESTION, SOURCES)),
        ):
            with pytest.raises(BackendError) as info:
                await asyncio.to_thread(call)
            assert info.value.status == 401
            assert not info.value.retryable
            assert "check the API key" in str(info.value)
            assert key not in str(info.value)
            assert key not in repr(info.value)
            assert "***" in str(info.value)
        assert len(loopback.requests) == 2  # never retried
        backend.close()

    async def test_timeout_is_a_backend_timeout_error(self, loopback: LoopbackServer) -> None:
        loopback.reset(lambda r: Reply(body={}, delay=2.0))
        backend = self.make_backend(retry=RetryPolicy.none())
        cf = Citeformer(backend)
        start = time.perf_counter()
        with pytest.raises(BackendTimeoutError, match="timed out"):
            await cf.agenerate(QUESTION, SOURCES, timeout=0.2)
        with pytest.raises(BackendTimeoutError, match="timed out"):
            await asyncio.to_thread(cf.generate, QUESTION, SOURCES, timeout=0.2)
        with pytest.raises(BackendTimeoutError):
            async for _ in cf.astream(QUESTION, SOURCES, timeout=0.2):
                pass
        assert time.perf_counter() - start < 1.8
        await backend.aclose()

    def test_truncated_body_is_a_typed_error(self, loopback: LoopbackServer) -> None:
        backend = self.make_backend(retry=RetryPolicy.none())
        loopback.reset(lambda r: Reply(raw=self.truncated_body))
        with pytest.raises(BackendError):
            Citeformer(backend).generate(QUESTION, SOURCES)
        backend.close()

    # -- concurrency and cancellation ----------------------------------------------------

    def test_closing_a_sync_stream_closes_the_http_stream(self, loopback: LoopbackServer) -> None:
        loopback.reset(lambda r: self.stream(self.answer, size=2, event_delay=0.02))
        backend = self.make_backend()
        stream = Citeformer(backend).stream(QUESTION, SOURCES)
        next(iter(stream))
        assert loopback.open_streams == 1
        stream.close()
        deadline = time.monotonic() + 3
        while loopback.open_streams and time.monotonic() < deadline:
            time.sleep(0.02)
        assert loopback.open_streams == 0
        backend.close()

    @pytest.mark.slow
    async def test_500_concurrent_agenerate_are_native_and_per_call(
        self, loopback: LoopbackServer
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
        loopback.reset(self.respond(self._scripted, use=self._usage), latency=0.2)
        backend = self.make_backend()
        try:
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

            start = time.perf_counter()
            await asyncio.gather(*(self.raw_sdk_call(backend, i) for i in range(500)))
            floor = time.perf_counter() - start  # the SDK alone, same server, same loop
            watcher = asyncio.create_task(watch())
            start = time.perf_counter()
            results = await asyncio.gather(
                *(cf.agenerate(f"question {i}", SOURCES) for i in range(500))
            )
            elapsed = time.perf_counter() - start
            done = True
            await watcher
            print(f"\n{self.provider}: 500 concurrent agenerate at 200 ms latency: {elapsed:.2f} s")
            print(f"{self.provider}: the SDK alone, same 500 calls: {floor:.2f} s")
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
        finally:
            await backend.aclose()

    @pytest.mark.slow
    async def test_200_concurrent_astreams_with_a_fifth_cancelled_leave_nothing_behind(
        self, loopback: LoopbackServer
    ) -> None:
        loopback.reset(lambda r: self.stream(self._scripted(r), size=2, event_delay=0.02))
        backend = self.make_backend()
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

        try:
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
            for _ in range(150):  # the server notices a closed connection at its next write
                if loopback.open_streams == 0:
                    break
                await asyncio.sleep(0.02)
            assert loopback.open_streams == 0, "every HTTP stream was closed"
            if self.sdk_leaves_stream_generators_to_gc:
                await _collect_abandoned_generators()
            await asyncio.sleep(0.05)
            pending = asyncio.all_tasks() - {asyncio.current_task()}
            assert not pending, [task.get_coro() for task in pending]
            self._pool_is_idle(backend)
            assert backend._client is None
        finally:
            await backend.aclose()  # a failure here must not leak into the next test
