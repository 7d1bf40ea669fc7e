"""The tests every schema-constrained API backend runs against the loopback server.

:class:`SchemaApiSuite` extends :class:`~tests.backends.conformance.BackendConformance`
with what an HTTP API backend (an :class:`~citeformer.backends.api.ApiBackend` driving
a provider SDK that sends the citation schema as the response format) must also do:
keep prose markers and out-of-enum ids out of the citations, stream with parity and
early citation events, turn cut streams, HTTP faults, timeouts and malformed bodies
into typed errors, retry what is retryable, never show the key, and serve hundreds
of concurrent async calls and streams natively.

A subclass says how its provider differs:

* ``backend_class``, ``model``, ``key``: :meth:`SchemaApiSuite.build` makes the
  backend from them, pointed at the loopback server (which already answers
  :data:`DOC`; ``make_backend`` points at ``self.server``);
* ``wire``: the provider's wire module in ``tests/loopback`` (``answer``, ``error``,
  ``stream`` with ``cut_after``/``event_delay``/``finish_reason``, ``segments``, ``usage``);
* ``key``, ``provider``, ``sdk_module``, ``key_header``, ``unauthorized``,
  ``truncated_body``;
* ``prompt_of``, ``schema_of``: where the user prompt and the citation schema are
  in a request body;
* ``check_stream_requests``: how a stream request shows it asked for SSE;
* ``raw_sdk_call``: one bare SDK call (the concurrency test's floor).

Provider-specific tests (the exact request, keys from the environment, injected
clients, the provider's refusal shapes) stay in the provider's test module.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any, ClassVar, TypeVar

import pytest

from citeformer import Citeformer, Policy, StreamInterruptedError
from citeformer.backends.api import ApiBackend
from citeformer.backends.retry import RetryPolicy
from citeformer.errors import BackendError, BackendTimeoutError, RateLimitError
from citeformer.events import CitationEvent, Completed
from tests.backends.conformance import QUESTION, SOURCES, BackendConformance
from tests.loopback.openai_wire import segments
from tests.loopback.server import LoopbackServer, Received, Reply

DOC = segments(
    ("The Eiffel Tower is 330 metres tall.", [1]),
    ("It stands in Paris, unlike the Colosseum.", [1, 2]),
)
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


class SchemaApiSuite(BackendConformance):
    """Subclass, set the class attributes and implement the hooks below."""

    backend_class: ClassVar[type[Backend]]  # built as (model, api_key=, base_url=, retry=)
    model: ClassVar[str]
    wire: ClassVar[ModuleType]
    key: ClassVar[str]  # the API key the backend is built with
    provider: ClassVar[str]  # BackendError.provider
    sdk_module: ClassVar[str]  # where the SDK's own exceptions live
    key_header: ClassVar[str]  # the request header that carries the API key
    unauthorized: ClassVar[str]  # a 401 message, which the server ends with that header
    truncated_body: ClassVar[bytes]  # a response body cut off mid-JSON

    server: LoopbackServer

    # -- hooks ---------------------------------------------------------------------------

    @classmethod
    def build(cls, server: LoopbackServer, **kwargs: Any) -> Backend:
        """The backend under test, pointed at ``server`` with the test key.

        ``kwargs`` go to the constructor; ``retry`` defaults to fast retries.
        """
        kwargs.setdefault("retry", FAST_RETRY)
        return cls.backend_class(cls.model, api_key=cls.key, base_url=server.url, **kwargs)

    def make_backend(self, **kwargs: Any) -> Backend:
        return self.build(self.server, **kwargs)

    def prompt_of(self, request: Received) -> str:
        """The user prompt (sources and question) in a request body."""
        raise NotImplementedError

    def schema_of(self, request: Received) -> dict[str, Any]:
        """The citation JSON schema in a request body."""
        raise NotImplementedError

    def check_stream_requests(self, requests: Sequence[Received]) -> None:
        """Assert that the stream requests among ``requests`` asked for SSE."""
        raise NotImplementedError

    async def raw_sdk_call(self, backend: Backend, i: int) -> Any:
        """One call straight through ``backend.async_client``, asking ``question {i}``."""
        raise NotImplementedError

    # -- setup ---------------------------------------------------------------------------

    @pytest.fixture(autouse=True)
    def _serve(self, loopback: LoopbackServer) -> None:
        loopback.reset(self.wire.answer(DOC))
        self.server = loopback

    def _number(self, request: Received) -> int:
        match = re.search(r"question (\d+)", self.prompt_of(request))
        assert match is not None
        return int(match.group(1))

    def _scripted(self, request: Received) -> str:
        n = self._number(request)
        return self.wire.segments((f"Answer {n}.", [n % 3 + 1]))

    def _usage(self, request: Received) -> dict[str, Any]:
        n = self._number(request)
        return self.wire.usage(prompt=1000 + n, completion=n, cached=n % 7)

    # -- the guarantee -------------------------------------------------------------------

    def test_prose_markers_and_ids_outside_the_enum_never_become_citations(
        self, loopback: LoopbackServer
    ) -> None:
        # A model writing "[9]" in prose, and a server ignoring the schema's enum.
        wire = self.wire
        lying = wire.segments(("The tower is tall [9].", [9]), ("It is in Paris [3].", [1, 4, 0]))
        loopback.reset(wire.answer(lying))
        backend = self.make_backend()
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

    def test_policy_argument_reaches_the_schema(self, loopback: LoopbackServer) -> None:
        loopback.reset(self.wire.answer(self.wire.segments(("Tall.", [1]))))
        backend = self.make_backend()
        Citeformer(backend).generate(QUESTION, SOURCES, policy=Policy.REQUIRED)
        schema = self.schema_of(loopback.requests[0])
        assert schema["properties"]["segments"]["items"]["properties"]["citations"]["minItems"] == 1
        backend.close()

    # -- streaming -----------------------------------------------------------------------

    async def test_streaming_parity_and_citation_events_before_the_end(
        self, loopback: LoopbackServer
    ) -> None:
        backend = self.make_backend()  # the server answers DOC
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
        self.check_stream_requests(loopback.requests)
        await backend.aclose()
        backend.close()

    def test_stream_cut_midway_raises_with_the_partial_text(self, loopback: LoopbackServer) -> None:
        loopback.reset(lambda r: self.wire.stream(DOC, size=12, cut_after=5))
        backend = self.make_backend()
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

    def test_stream_ending_without_finish_reason_is_interrupted(
        self, loopback: LoopbackServer
    ) -> None:
        loopback.reset(lambda r: self.wire.stream(DOC, size=20, finish_reason=None))
        backend = self.make_backend()
        with pytest.raises(StreamInterruptedError, match="finish_reason"):
            list(Citeformer(backend).stream(QUESTION, SOURCES))
        backend.close()

    # -- faults and errors ---------------------------------------------------------------

    def test_429_with_retry_after_is_retried_after_waiting(self, loopback: LoopbackServer) -> None:
        wire = self.wire
        loopback.reset(wire.answer(DOC))
        loopback.queue(wire.error(429, "quota exceeded", headers={"Retry-After": "0.4"}))
        backend = self.make_backend()
        start = time.perf_counter()
        result = Citeformer(backend).generate(QUESTION, SOURCES)
        assert time.perf_counter() - start >= 0.4
        assert result.text.startswith("The Eiffel Tower")
        assert len(loopback.requests) == 2
        backend.close()

    async def test_500_is_retried_async_and_429_exhausts_into_a_rate_limit_error(
        self, loopback: LoopbackServer
    ) -> None:
        wire = self.wire
        loopback.reset(wire.answer(DOC))
        loopback.queue(wire.error(500, "internal"), wire.error(503, "unavailable"))
        backend = self.make_backend()
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

    def test_400_is_not_retried(self, loopback: LoopbackServer) -> None:
        loopback.reset(lambda r: self.wire.error(400, "Invalid JSON payload: unknown field"))
        backend = self.make_backend()
        with pytest.raises(BackendError) as info:
            Citeformer(backend).generate(QUESTION, SOURCES)
        assert info.value.status == 400
        assert not info.value.retryable
        assert info.value.provider == self.provider
        assert info.value.__cause__ is not None
        assert type(info.value.__cause__).__module__.startswith(self.sdk_module)
        assert len(loopback.requests) == 1
        backend.close()

    async def test_401_never_shows_the_key(self, loopback: LoopbackServer) -> None:
        loopback.reset(
            lambda r: self.wire.error(401, f"{self.unauthorized}: {r.headers[self.key_header]}")
        )
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
            assert key not in str(info.value)
            assert key not in repr(info.value)
            assert "***" in str(info.value)
        assert len(loopback.requests) == 2
        backend.close()

    async def test_timeout_is_a_backend_timeout_error(self, loopback: LoopbackServer) -> None:
        loopback.reset(lambda r: Reply(body={}, delay=2.0))
        backend = self.make_backend(retry=RetryPolicy.none())
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

    def test_malformed_json_is_a_typed_error(self, loopback: LoopbackServer) -> None:
        backend = self.make_backend(retry=RetryPolicy.none())
        cf = Citeformer(backend)
        loopback.reset(lambda r: Reply(raw=self.truncated_body))
        with pytest.raises(BackendError):
            cf.generate(QUESTION, SOURCES)
        # A server that ignored the JSON mode: prose, with a marker out of range.
        loopback.reset(self.wire.answer("The tower is 330 metres tall [9]."))
        with pytest.raises(BackendError, match="not valid JSON"):
            cf.generate(QUESTION, SOURCES)
        with pytest.raises(BackendError, match="not valid JSON"):
            list(cf.stream(QUESTION, SOURCES))
        backend.close()

    # -- concurrency ---------------------------------------------------------------------

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
        loopback.reset(self.wire.answer(self._scripted, use=self._usage), latency=0.2)
        backend = self.make_backend()
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
        await backend.aclose()

    @pytest.mark.slow
    async def test_200_concurrent_astreams_with_a_fifth_cancelled_leave_nothing_behind(
        self, loopback: LoopbackServer
    ) -> None:
        loopback.reset(lambda r: self.wire.stream(self._scripted(r), size=2, event_delay=0.02))
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
