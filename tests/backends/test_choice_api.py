"""Constrained choices on the hosted-API backends, through their real SDKs, on the loopback.

OpenAI: the request carries ``logprobs``/``top_logprobs`` and the constraint (an
enum JSON schema, or the options' grammar on grammar servers); P(yes) is read from
``top_logprobs`` in the wire format. Anthropic, Gemini and Mistral score 1/0.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from citeformer.backends.anthropic import AnthropicBackend
from citeformer.backends.choice import Choice, UnparsableChoiceError, has_native_achoose
from citeformer.backends.gemini import GeminiBackend
from citeformer.backends.mistral import MistralBackend
from citeformer.backends.openai import OpenAIBackend
from citeformer.backends.retry import RetryPolicy
from citeformer.errors import RateLimitError
from citeformer.verify.judge import JudgeScorer
from tests.loopback import mistral_wire
from tests.loopback import openai_wire as wire
from tests.loopback.gemini_wire import response as gemini_response
from tests.loopback.server import LoopbackServer, Received, Reply

YES_NO = ("yes", "no")
FAST_RETRY = RetryPolicy(max_retries=2, initial_backoff=0.01, max_backoff=0.05)


def entry(token: str, logprob: float, top: list[tuple[str, float]] | None = None) -> dict[str, Any]:
    """One ``choices[0].logprobs.content`` entry: token, logprob, bytes, top_logprobs."""

    def one(text: str, value: float) -> dict[str, Any]:
        return {"token": text, "logprob": value, "bytes": list(text.encode())}

    return {**one(token, logprob), "top_logprobs": [one(t, v) for t, v in (top or [])]}


def logprob_completion(entries: list[dict[str, Any]], *, delay: float = 0.0) -> Reply:
    """A whole ``chat.completion`` whose content is the entries' tokens, with their log-probs."""
    content = "".join(e["token"] for e in entries)
    body = wire.completion_body(
        "chatcmpl-choice",
        {"role": "assistant", "content": content, "refusal": None},
        finish_reason="stop",
        use=wire.usage(),
        model="gpt-test",
        logprobs={"content": entries, "refusal": None},
    )
    return Reply(body=body, delay=delay)


# The schema-mode document {"answer":"yes"}: the third token holds the value's first byte.
SCHEMA_ENTRIES = [
    entry('{"', -0.01, [('{"', -0.01)]),
    entry("answer", -0.01, [("answer", -0.01)]),
    entry('":"yes', math.log(0.6), [('":"yes', math.log(0.6)), ('":"no', math.log(0.2)),
                                    ('":"', math.log(0.1)), ('":"Yes', math.log(0.05))]),
    entry('"}', -0.01, [('"}', -0.01)]),
]  # fmt: skip


def openai(server: LoopbackServer, **kwargs: Any) -> OpenAIBackend:
    return OpenAIBackend("gpt-test", api_key="sk-test", base_url=f"{server.url}/v1",
                         retry=FAST_RETRY, **kwargs)  # fmt: skip


def test_openai_schema_request_and_p_yes_from_top_logprobs(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: logprob_completion(SCHEMA_ENTRIES))
    backend = openai(loopback)
    choice = backend.choose("Claim: x", ["The premise."], YES_NO)
    # Of the alternatives at the deciding token, '":"yes' and '":"no' name an option;
    # '":"' decides nothing and '":"Yes' is outside the enum.
    assert choice.text == "yes"
    assert choice.probabilities == pytest.approx({"yes": 0.75, "no": 0.25})
    body = loopback.requests[0].body
    assert body["logprobs"] is True and body["top_logprobs"] == 20
    schema = body["response_format"]["json_schema"]
    assert schema["strict"] is True
    assert schema["schema"]["properties"]["answer"]["enum"] == ["yes", "no"]
    assert body["temperature"] == 0 and body["max_tokens"] == 16
    assert "The premise." in body["messages"][1]["content"]
    backend.close()


@pytest.mark.parametrize(
    ("server", "field"),
    [("llama.cpp", "grammar"), ("sglang", "ebnf"), ("vllm", "structured_outputs")],
)
def test_openai_grammar_servers_get_the_options_grammar(
    loopback: LoopbackServer, server: Any, field: str
) -> None:
    entries = [entry("no", math.log(0.7), [("no", math.log(0.7)), ("yes", math.log(0.2)),
                                           ("No", math.log(0.1))])]  # fmt: skip
    loopback.reset(lambda r: logprob_completion(entries))
    backend = OpenAIBackend.for_server(f"{loopback.url}/v1", "served", server=server)
    choice = backend.choose("Claim: x", ["p"], YES_NO)
    assert choice.text == "no"
    assert choice.probabilities == pytest.approx({"yes": 0.2 / 0.9, "no": 0.7 / 0.9})
    body = loopback.requests[0].body
    grammar = body[field]["grammar"] if field == "structured_outputs" else body[field]
    assert grammar == 'root ::= "yes" | "no"'
    assert "response_format" not in body and body["logprobs"] is True
    backend.close()


def test_openai_plain_mode_folds_case_and_space(loopback: LoopbackServer) -> None:
    top = [(" Yes", math.log(0.5)), ("yes", math.log(0.1)), (" No", math.log(0.4))]
    entries = [entry(" Yes", math.log(0.5), top), entry(".", -0.1)]
    loopback.reset(lambda r: logprob_completion(entries))
    choice = openai(loopback, constraint="none").choose("q", ["p"], YES_NO)
    assert choice.text == "yes"
    assert choice.probabilities == pytest.approx({"yes": 0.6, "no": 0.4})


def test_openai_without_logprobs_scores_one_or_zero(loopback: LoopbackServer) -> None:
    loopback.reset(wire.answer('{"answer": "no"}'))
    assert openai(loopback).choose("q", ["p"], YES_NO) == Choice("no", None)
    loopback.reset(wire.answer("yes"))
    reasoning = OpenAIBackend.for_server(f"{loopback.url}/v1", "o3-mini", server="llama.cpp")
    assert reasoning.choose("q", ["p"], YES_NO) == Choice("yes", None)
    assert "logprobs" not in loopback.requests[0].body


def test_openai_answer_outside_the_enum_is_unparsable(loopback: LoopbackServer) -> None:
    loopback.reset(wire.answer('{"answer": "maybe"}'))
    with pytest.raises(UnparsableChoiceError, match="maybe"):
        openai(loopback).choose("q", ["p"], YES_NO)


def test_openai_errors_are_typed_and_retried(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: wire.error(429, "slow down"))
    with pytest.raises(RateLimitError):
        openai(loopback).choose("q", ["p"], YES_NO)
    assert len(loopback.requests) == 3  # the backend's RetryPolicy: 1 + 2 retries


async def test_concurrent_judge_calls_are_native_and_start_no_threads(
    loopback: LoopbackServer,
) -> None:
    """48 pairs at 200 ms each finish in about one call's time, on no extra thread."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=2, thread_name_prefix="dns"))
    loopback.reset(lambda r: logprob_completion(SCHEMA_ENTRIES), latency=0.2)
    backend = openai(loopback)
    judge = JudgeScorer(backend, concurrency=48)
    assert judge.native_async and has_native_achoose(backend)
    try:
        await judge.ascore_batch([("warm", "up")])  # the loop's client and pool exist
        threads = threading.active_count() + 2  # at most the two resolver workers
        peak, done = threads, False

        async def watch() -> None:
            nonlocal peak
            while not done:
                peak = max(peak, threading.active_count())
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        start = time.perf_counter()
        scores = await judge.ascore_batch([(f"premise {i}", f"claim {i}") for i in range(48)])
        elapsed = time.perf_counter() - start
        done = True
        await watcher
        print(f"\n48 concurrent judge calls at 200 ms latency: {elapsed:.2f} s")
        assert scores == pytest.approx([0.75] * 48)
        assert elapsed < 1.5, "serial calls would take 9.6 s"
        assert peak <= threads, "native async judge calls must not start threads"
        assert backend._client is None, "async calls must not construct the sync client"
        # The semaphore bounds what is in flight: 12 pairs, 4 at a time, take 3 rounds.
        bounded = JudgeScorer(backend, concurrency=4)
        start = time.perf_counter()
        await bounded.ascore_batch([("p", "c")] * 12)
        assert time.perf_counter() - start >= 0.55
    finally:
        await backend.aclose()


def test_anthropic_forced_enum_tool_scores_one_or_zero(loopback: LoopbackServer) -> None:
    body = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "answer",
                     "input": {"answer": "no"}}],
        "stop_reason": "tool_use", "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }  # fmt: skip
    loopback.reset(lambda r: Reply(body=body))
    backend = AnthropicBackend("claude-test", api_key="sk-ant-test", base_url=loopback.url)
    assert backend.choose("Claim: x", ["The premise."], YES_NO) == Choice("no", None)
    sent = loopback.requests[0].body
    assert sent["tool_choice"] == {"type": "tool", "name": "answer"}
    assert sent["tools"][0]["input_schema"]["properties"]["answer"]["enum"] == ["yes", "no"]
    assert "The premise." in sent["messages"][0]["content"]
    assert JudgeScorer(backend).score("The premise.", "x") == 0.0


async def test_anthropic_achoose_is_native(loopback: LoopbackServer) -> None:
    text = {"id": "m", "type": "message", "role": "assistant", "model": "claude-test",
            "content": [{"type": "text", "text": "Yes."}], "stop_reason": "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}  # fmt: skip
    loopback.reset(lambda r: Reply(body=text))
    backend = AnthropicBackend("claude-test", api_key="sk-ant-test", base_url=loopback.url)
    try:
        assert has_native_achoose(backend)
        assert await backend.achoose("q", ["p"], YES_NO) == Choice("yes", None)
    finally:
        await backend.aclose()


def test_gemini_enum_response(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: gemini_response("yes"))
    backend = GeminiBackend("gemini-test", api_key="g-test", base_url=loopback.url)
    assert backend.choose("q", ["p"], YES_NO) == Choice("yes", None)
    config = loopback.requests[0].body["generationConfig"]
    assert config["responseMimeType"] == "text/x.enum"
    assert config["responseSchema"]["enum"] == ["yes", "no"]
    backend.close()


def test_mistral_enum_schema(loopback: LoopbackServer) -> None:
    loopback.reset(lambda r: mistral_wire.completion('{"answer": "no"}'))
    backend = MistralBackend("mistral-test", api_key="m-test", base_url=loopback.url)
    assert backend.choose("q", ["p"], YES_NO) == Choice("no", None)
    body: Received = loopback.requests[0]
    schema = body.body["response_format"]["json_schema"]
    assert schema["strict"] is True
    assert json.dumps(schema["schema"]["properties"]["answer"]["enum"]) == '["yes", "no"]'
    backend.close()
