"""Citeformer.generate_batch / abatch: order, bounded concurrency, failures, progress.

The async batch runs on a native-async backend (it never uses threads: the test
records the threads its calls ran on) and on the real openai SDK against the
loopback server; the sync batch on worker threads, and on a backend that batches
natively (``complete_batch``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from citeformer import Citeformer, GenerationResult, MockBackend, Policy, Source
from citeformer.backends.base import Backend, BackendCall
from citeformer.backends.call import Reply
from citeformer.errors import BackendError, InvalidOptionError, InvalidSourceError
from tests.loopback import openai_wire as wire
from tests.loopback.server import LoopbackServer

SOURCES = ["Paris is the capital of France.", "Berlin is the capital of Germany."]


class Sleeper(Backend):
    """A native-async backend: each call awaits ``delay`` seconds and records itself."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.in_flight = self.peak = 0
        self.threads: set[int] = set()

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        raise AssertionError("abatch must stay on the async path")

    async def agenerate(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> str:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.threads.add(threading.get_ident())
        try:
            if prompt == "fail":
                raise RuntimeError("the model fell over")
            await asyncio.sleep(self.delay)
            return f"Answer to {prompt} [{len(sources)}]."
        finally:
            self.in_flight -= 1


def requests(count: int) -> list[Any]:
    return [(f"q{i}", SOURCES[: 1 + i % 2]) for i in range(count)]


async def test_abatch_keeps_order_bounds_concurrency_and_stays_on_the_loop() -> None:
    backend = Sleeper(delay=0.05)
    started = time.perf_counter()
    results = await Citeformer(backend).abatch(requests(40), concurrency=8)
    elapsed = time.perf_counter() - started
    assert [r.text for r in results] == [  # type: ignore[union-attr]
        f"Answer to q{i} [{1 + i % 2}]." for i in range(40)
    ]
    assert backend.peak == 8
    assert backend.threads == {threading.get_ident()}  # no worker threads
    assert elapsed < 40 * 0.05 / 2  # 5 waves of 8, not 40 calls in a row


async def test_many_concurrent_requests_take_about_one_call() -> None:
    backend = Sleeper(delay=0.2)
    started = time.perf_counter()
    results = await Citeformer(backend).abatch(requests(200), concurrency=200)
    assert len(results) == 200 and backend.peak == 200
    assert time.perf_counter() - started < 1.5  # ~0.2 s, far from 200 x 0.2 s


async def test_dict_requests_carry_their_own_options() -> None:
    seen: list[tuple[str, Any, Any]] = []

    class Spy(MockBackend):
        def complete(self, call: BackendCall) -> Reply:
            seen.append((call.prompt, call.policy, call.options.get("max_tokens")))
            return super().complete(call)

    cf = Citeformer(Spy("Paris (1)."))
    batch = [
        {"question": "a", "sources": SOURCES, "policy": "required", "marker_style": "paren"},
        {"question": "b", "sources": SOURCES, "max_tokens": 7},
    ]
    results = await cf.abatch(batch)
    assert [r.cited_ids for r in results] == [[1], []]  # type: ignore[union-attr]
    assert sorted(seen) == [("a", Policy.REQUIRED, None), ("b", Policy.AUTO, 7)]
    assert [r.cited_ids for r in cf.generate_batch(batch)] == [[1], []]  # type: ignore[union-attr]


async def test_return_exceptions_keeps_every_slot() -> None:
    batch: list[Any] = [("ok", SOURCES), ("fail", SOURCES), ("ok2", []), ("ok3", SOURCES)]
    results = await Citeformer(Sleeper()).abatch(batch, return_exceptions=True)
    assert isinstance(results[0], GenerationResult) and isinstance(results[3], GenerationResult)
    assert isinstance(results[1], BackendError)  # wrapped as every backend failure is
    assert isinstance(results[2], InvalidSourceError)


async def test_without_return_exceptions_the_first_failure_cancels_the_rest() -> None:
    backend = Sleeper(delay=0.5)
    batch: list[Any] = [("fail", SOURCES), *requests(20)]
    started = time.perf_counter()
    with pytest.raises(BackendError, match="fell over"):
        await Citeformer(backend).abatch(batch, concurrency=4)
    assert time.perf_counter() - started < 0.4  # the sleeping calls were cancelled
    await asyncio.sleep(0)
    assert backend.in_flight == 0


def test_generate_batch_on_worker_threads() -> None:
    backend = MockBackend(lambda prompt, sources: f"{prompt} [1].", delay=0.05)
    started = time.perf_counter()
    results = Citeformer(backend).generate_batch(requests(16), concurrency=8)
    assert [r.text for r in results] == [f"q{i} [1]." for i in range(16)]  # type: ignore[union-attr]
    assert time.perf_counter() - started < 16 * 0.05 / 2
    failing = [("q", SOURCES), ("q", [])]
    with pytest.raises(InvalidSourceError):
        Citeformer(backend).generate_batch(failing)
    slots = Citeformer(backend).generate_batch(failing, return_exceptions=True)
    assert isinstance(slots[0], GenerationResult) and isinstance(slots[1], InvalidSourceError)


class NativeBatch(MockBackend):
    """A backend with ``complete_batch`` (as VLLMBackend's offline engine has)."""

    def __init__(self) -> None:
        super().__init__(lambda prompt, sources: f"{prompt} [{len(sources)}] [7].")
        self.batches: list[int] = []

    def complete_batch(self, calls: Sequence[BackendCall]) -> list[Reply]:
        self.batches.append(len(calls))
        return [self.complete(call) for call in calls]


def test_a_natively_batching_backend_gets_one_batch_and_results_are_validated() -> None:
    backend = NativeBatch()
    results = Citeformer(backend).generate_batch(
        [*requests(5), ("bad", [])], return_exceptions=True
    )
    assert backend.batches == [5]  # the malformed request never reached the engine
    assert [r.text for r in results[:5]] == [  # type: ignore[union-attr]
        f"q{i} [{1 + i % 2}]."
        for i in range(5)  # [7] removed by the validator
    ]
    assert isinstance(results[5], InvalidSourceError)


def test_progress_callback_and_bar() -> None:
    seen: list[tuple[int, int]] = []
    Citeformer(MockBackend("x [1].")).generate_batch(
        requests(5), progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(i, 5) for i in range(1, 6)]


async def test_progress_bar_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    await Citeformer(Sleeper(0.0)).abatch(requests(3), progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "citeformer batch" in captured.err


@pytest.mark.parametrize(
    ("batch", "options", "words"),
    [
        ("q", {}, "list of"),
        ([("q",)], {}, r"requests\[0\]"),
        ([{"question": "q"}], {}, "'question' and 'sources'"),
        (requests(1), {"concurrency": 0}, "concurrency"),
        (requests(1), {"progress": "yes"}, "progress"),
    ],
)
def test_malformed_batches_are_typed_errors(batch: Any, options: Any, words: str) -> None:
    with pytest.raises(InvalidOptionError, match=words):
        Citeformer(MockBackend("x [1].")).generate_batch(batch, **options)


async def test_abatch_through_the_openai_sdk_on_real_http(loopback: LoopbackServer) -> None:
    from citeformer.backends.openai import OpenAIBackend

    segments = wire.segments(("Paris is the capital.", [1]), ("Madrid is too.", [2]))
    loopback.reset(wire.answer(segments), latency=0.1)
    backend = OpenAIBackend("gpt-test", api_key="sk-test", base_url=f"{loopback.url}/v1")
    try:
        started = time.perf_counter()
        results = await Citeformer(backend).abatch(requests(50), concurrency=50)
        elapsed = time.perf_counter() - started
    finally:
        await backend.aclose()
    for index, result in enumerate(results):  # request i has 1 + i % 2 sources
        assert isinstance(result, GenerationResult)
        assert result.cited_ids == [1, 2][: 1 + index % 2]  # [2] of one source: dropped
    assert elapsed < 50 * 0.1 / 3
