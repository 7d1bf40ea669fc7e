"""JudgeScorer: scores, what it reports, and a truly async path.

The backends themselves are tested for real in ``tests/backends/test_choice*.py``
(SmolLM2 through HF and llama.cpp, the OpenAI and Anthropic SDKs on the loopback).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from citeformer.backends.base import Backend
from citeformer.backends.choice import UnparsableChoiceError
from citeformer.backends.mock import MockBackend
from citeformer.core import Policy, Source
from citeformer.errors import BackendError, InvalidOptionError
from citeformer.verify.judge import JudgeScorer, judge_question, model_id
from citeformer.verify.scorer import ScorerKind

PAIRS = [("The tower is 330 m tall.", "The tower is 330 m tall."), ("Paris.", "Berlin.")]


class SlowNative(Backend):
    """An out-of-tree backend with a native ``agenerate`` that counts calls in flight."""

    def __init__(self, answers: dict[str, str], delay: float = 0.05) -> None:
        self.answers = answers
        self.delay = delay
        self.in_flight = 0
        self.peak = 0
        self.threads: set[int] = set()

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        raise AssertionError("the async path must not call generate")

    async def agenerate(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> str:
        self.threads.add(threading.get_ident())
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        answer = self.answers[sources[0].content]
        if answer == "fail":
            raise RuntimeError("backend down")
        return answer


def test_scores_are_p_yes_or_one_and_zero() -> None:
    replies = {judge_question(PAIRS[0][1]): "yes", judge_question(PAIRS[1][1]): "No."}
    assert JudgeScorer(MockBackend(replies)).score_batch(PAIRS) == [1.0, 0.0]
    scripted = MockBackend("yes", probabilities={"yes": 0.3, "no": 0.7})
    assert JudgeScorer(scripted).score_batch(PAIRS) == pytest.approx([0.3, 0.3])


def test_the_report_names_an_llm_judge() -> None:
    judge = JudgeScorer(MockBackend("yes"))
    info = judge.info()
    assert info.kind is ScorerKind.LLM_JUDGE and info.judges_entailment
    assert info.threshold == 0.5 and judge.window_words == 250
    assert info.model is None  # a mock has no model
    assert JudgeScorer(MockBackend("yes"), threshold=0.7).info().threshold == 0.7


def test_model_ids() -> None:
    class Api(MockBackend):
        model = "gpt-test"

    class Config:
        _name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct"

    class Hf(MockBackend):
        model = type("M", (), {"config": Config()})()

    class Llama(MockBackend):
        llama = type("L", (), {"model_path": "/models/smol.gguf"})()

    assert model_id(Api("yes")) == "gpt-test"
    assert model_id(Hf("yes")) == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert model_id(Llama("yes")) == "smol.gguf"


@pytest.mark.parametrize(
    "kwargs", [{"concurrency": 0}, {"window_words": True}, {"instruction": ""}, {"threshold": "x"}]
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidOptionError):
        JudgeScorer(MockBackend("yes"), **kwargs)
    with pytest.raises(InvalidOptionError, match="citeformer backend"):
        JudgeScorer(lambda p, h: 1.0)  # type: ignore[arg-type]


def test_an_unparsable_answer_is_raised_never_scored_no() -> None:
    with pytest.raises(UnparsableChoiceError, match="'perhaps'"):
        JudgeScorer(MockBackend("perhaps")).score_batch(PAIRS)


def test_call_options_reach_the_backend() -> None:
    seen: list[dict[str, Any]] = []

    class Spy(Backend):
        def generate(self, prompt: str, sources: list[Source], policy: Policy, **o: Any) -> str:
            seen.append(o)
            return "yes"

    JudgeScorer(Spy(), temperature=0.0, max_tokens=4).score("p", "c")
    assert seen[0]["temperature"] == 0.0 and seen[0]["max_tokens"] == 4


async def test_thread_backends_run_in_one_worker_thread() -> None:
    judge = JudgeScorer(MockBackend("yes", delay=0.01))
    assert not judge.native_async
    assert await judge.ascore_batch(PAIRS) == [1.0, 1.0]
    assert await judge.ascore_batch([]) == []


async def test_native_backends_fan_out_on_the_loop_bounded_by_concurrency() -> None:
    premises = {f"premise {i}": "yes" if i % 2 else "no" for i in range(40)}
    backend = SlowNative(premises, delay=0.05)
    judge = JudgeScorer(backend, concurrency=10)
    assert judge.native_async
    start = time.perf_counter()
    scores = await judge.ascore_batch([(p, "claim") for p in premises])
    elapsed = time.perf_counter() - start
    assert scores == [1.0 if i % 2 else 0.0 for i in range(40)]
    assert backend.peak == 10  # bounded, and really concurrent
    assert elapsed < 1.0  # 4 rounds of 50 ms; serial would be 2 s
    assert backend.threads == {threading.get_ident()}  # on the loop's own thread


async def test_a_failure_cancels_the_calls_in_flight_and_is_raised() -> None:
    premises = {"ok 1": "yes", "bad": "fail", **{f"ok {i}": "yes" for i in range(2, 30)}}
    backend = SlowNative(premises, delay=0.05)
    with pytest.raises(BackendError, match="backend down"):
        await JudgeScorer(backend, concurrency=30).ascore_batch([(p, "c") for p in premises])
    await asyncio.sleep(0)
    assert backend.in_flight == 0
