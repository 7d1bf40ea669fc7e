"""The Backend ABC defaults, exactly as the contract states them."""

from __future__ import annotations

import asyncio
import pickle
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from citeformer import MarkerStyle, MockBackend, Policy, Source, TokenUsage
from citeformer.backends.base import (
    Backend,
    BackendText,
    CallInfo,
    CitationRequest,
    ProviderCitation,
    call_info,
)

S = [Source("alpha"), Source("beta")]


class OnlyGenerate(Backend):
    def __init__(self) -> None:
        self.threads: list[int] = []

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        self.threads.append(threading.get_ident())
        time.sleep(0.05)
        return f"{prompt} [1]"


class SlowChunks(Backend):
    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        return "".join(self.stream(prompt, sources, policy))

    def stream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> Iterator[str]:
        for word in ["a ", "b ", "c"]:
            time.sleep(0.05)
            yield word


def test_abstract_generate_is_required() -> None:
    with pytest.raises(TypeError):
        Backend()  # type: ignore[abstract]


def test_default_stream_yields_generate_whole() -> None:
    assert list(OnlyGenerate().stream("q", S, Policy.AUTO)) == ["q [1]"]


async def test_default_agenerate_runs_in_a_worker_thread_concurrently() -> None:
    backend = OnlyGenerate()
    start = time.perf_counter()
    out = await asyncio.gather(*(backend.agenerate(str(i), S, Policy.AUTO) for i in range(4)))
    assert out == [f"{i} [1]" for i in range(4)]
    assert time.perf_counter() - start < 0.18  # 4 x 50 ms overlapped
    assert threading.get_ident() not in backend.threads


async def test_default_astream_yields_to_the_loop_between_chunks() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    chunks = [c async for c in SlowChunks().astream("q", S, Policy.AUTO)]
    task.cancel()
    assert chunks == ["a ", "b ", "c"]
    assert ticks >= 15  # the loop kept running during the 150 ms of blocking work


async def test_default_astream_passes_empty_and_falsy_chunks_through() -> None:
    class Falsy(Backend):
        def generate(
            self, prompt: str, sources: list[Source], policy: Policy, **options: Any
        ) -> str:
            return ""

        def stream(
            self, prompt: str, sources: list[Source], policy: Policy, **options: Any
        ) -> Iterator[str]:
            yield ""
            yield "0"
            yield BackendText("", CallInfo(finish_reason="stop"))

    chunks = [c async for c in Falsy().astream("q", S, Policy.AUTO)]
    assert chunks == ["", "0", ""]
    assert call_info(chunks[-1]).finish_reason == "stop"


def test_backend_text_is_a_str_that_carries_info() -> None:
    info = CallInfo(usage=TokenUsage(1, 2), citations=(ProviderCitation(0, 1, "alpha"),))
    text = BackendText("hello [1]", info)
    assert text == "hello [1]" and isinstance(text, str)
    assert call_info(text) is info and call_info("plain") == CallInfo()
    clone = pickle.loads(pickle.dumps(text))
    assert clone == text and clone.info == info


def test_call_info_merge_keeps_order_and_later_wins() -> None:
    a = CallInfo(usage=TokenUsage(1, 1), citations=(ProviderCitation(0, 1),))
    b = CallInfo(finish_reason="stop", citations=(ProviderCitation(5, 2),))
    merged = a.merge(b)
    assert merged.usage == TokenUsage(1, 1) and merged.finish_reason == "stop"
    assert [c.source_id for c in merged.citations] == [1, 2]


def test_the_call_is_built_when_a_backend_is_called_directly() -> None:
    backend = MockBackend("x")
    call = backend.build_call("q", S, Policy.REQUIRED, {"marker_style": "curly", "seed": 1})
    assert isinstance(call.request, CitationRequest)
    assert call.request.language.n == 2 and call.request.language.policy is Policy.REQUIRED
    assert call.marker_style is MarkerStyle.CURLY
    assert call.options == {"seed": 1}
    with pytest.warns(DeprecationWarning, match="build_call"):
        assert Backend.request("q", S, Policy.AUTO, {}).language.n == 2
