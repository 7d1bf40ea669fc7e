"""The error choke point and the retry policy, as pure logic (no network)."""

from __future__ import annotations

import asyncio
import email.utils
import pickle
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import pytest

from citeformer.backends._api.errors import (
    parse_retry_after,
    scrub_exception,
    translate_error,
)
from citeformer.backends._api.retry import RetryPolicy, acall_with_retries, call_with_retries
from citeformer.errors import (
    BackendError,
    BackendTimeoutError,
    ContentFilteredError,
    InvalidOptionError,
    RateLimitError,
)


class FakeResponse:
    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status_code = status
        self.headers = headers


class StainlessLike(Exception):
    """Shaped like openai/anthropic's APIStatusError."""

    def __init__(self, message: str, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status
        self.response = FakeResponse(status, headers or {})
        self.request_id = (headers or {}).get("x-request-id")


class GenaiLike(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"{code} RESOURCE_EXHAUSTED")
        self.code = code
        self.response = FakeResponse(code, {"Retry-After": "3"})


class APITimeoutError(Exception):
    pass


class ConnectError(Exception):
    pass


@pytest.mark.parametrize(
    ("error", "kind", "status", "retryable"),
    [
        (StainlessLike("slow", 429, {"retry-after": "2"}), RateLimitError, 429, True),
        (StainlessLike("oops", 500), BackendError, 500, True),
        (StainlessLike("overloaded", 529), BackendError, 529, True),
        (StainlessLike("bad", 400), BackendError, 400, False),
        (StainlessLike("nope", 404), BackendError, 404, False),
        (StainlessLike("flagged by content_filter", 400), ContentFilteredError, 400, False),
        (GenaiLike(429), RateLimitError, 429, True),
        (APITimeoutError("timed out"), BackendTimeoutError, None, True),
        (TimeoutError(), BackendTimeoutError, None, True),
        (ConnectError("refused"), BackendError, None, True),
        (ValueError("weird"), BackendError, None, False),
    ],
)
def test_provider_errors_become_typed_errors(
    error: Exception, kind: type[Exception], status: int | None, retryable: bool
) -> None:
    translated = translate_error("prov", error)
    assert type(translated) is kind
    assert isinstance(translated, BackendError)
    assert translated.status == status and translated.retryable is retryable
    assert translated.provider == "prov"


def test_facts_and_secrets() -> None:
    error = StainlessLike("key sk-abc123 is wrong", 401, {"x-request-id": "req_9"})
    translated = translate_error("openai", error, secrets=["sk-abc123"])
    assert isinstance(translated, BackendError)
    assert "sk-abc123" not in str(translated) and "check the API key" in str(translated)
    assert translated.request_id == "req_9"
    genai = translate_error("gemini", GenaiLike(429))
    assert isinstance(genai, BackendError) and genai.retry_after == 3.0
    already = RateLimitError("x", provider="p")
    assert translate_error("p", already) is already


SECRET = "sk-live-abcdef0123456789"


class Headers:
    """A header mapping by behaviour only (like httpx.Headers), built from pairs."""

    def __init__(self, pairs: Any) -> None:
        self._pairs = list(pairs.items() if isinstance(pairs, dict) else pairs)

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def get(self, name: str, default: str | None = None) -> str | None:
        return next((v for k, v in self._pairs if k.lower() == name.lower()), default)


@dataclass(frozen=True)
class FrozenSdkError(Exception):
    """Shaped like mistralai's dataclass errors, frozen so setattr refuses."""

    message: str
    body: str
    headers: Any = field(default=None)

    def __str__(self) -> str:
        return f"{self.message}: {self.body}"


def _chain() -> StainlessLike:
    """An SDK error whose every printable part holds the secret."""
    error = StainlessLike(
        f"Error code: 401 - bad key {SECRET}", 401, {"x-request-id": f"req-{SECRET}"}
    )
    error.body = {  # type: ignore[attr-defined]
        "error": {"message": f"key {SECRET}", "param": [SECRET, (f"x{SECRET}",), {SECRET}]},
        SECRET: b"raw " + SECRET.encode(),
    }
    error.add_note(f"while sending {SECRET}")
    try:
        try:
            raise OSError(2, f"no file {SECRET}", f"/tmp/{SECRET}")
        except OSError as low:
            group = ExceptionGroup("two", [ValueError(SECRET), low])
            raise FrozenSdkError(SECRET, f"body {SECRET}", Headers({"echo": SECRET})) from group
    except FrozenSdkError as middle:
        error.__context__ = middle
    return error


def test_the_secret_is_scrubbed_from_everything_printing_the_chain_shows() -> None:
    error = _chain()
    body = error.body  # type: ignore[attr-defined]
    assert SECRET in "".join(traceback.format_exception(error))
    translated = translate_error("openai", error, secrets=[SECRET, "", "ab"])
    with pytest.raises(BackendError) as caught:
        raise translated from error
    assert caught.value.__cause__ is error  # the original, scrubbed in place
    printed = "".join(traceback.format_exception(caught.value))
    assert SECRET not in printed and SECRET not in repr(translated)
    assert "Error code: 401 - bad key ***" in printed and "while sending ***" in printed
    assert SECRET not in pickle.dumps(translated).decode("latin-1")
    assert isinstance(translated, BackendError) and translated.request_id == "req-***"
    assert error.body["error"]["param"] == ["***", ("x***",), {"***"}]  # type: ignore[attr-defined]
    assert error.body["***"] == b"raw ***"  # type: ignore[attr-defined]
    assert SECRET in str(body)  # containers are rebuilt, not mutated under other holders
    middle = error.__context__
    assert isinstance(middle, FrozenSdkError) and str(middle) == "***: body ***"
    assert isinstance(middle.headers, Headers) and middle.headers.get("echo") == "***"
    group = middle.__cause__
    assert isinstance(group, ExceptionGroup)
    low = group.exceptions[1]
    assert isinstance(low, OSError) and (low.strerror, low.filename) == ("no file ***", "/tmp/***")
    assert str(group.exceptions[0]) == "***"


def test_scrubbing_leaves_other_text_and_cycles_alone() -> None:
    error = ValueError("nothing secret here", {"a": [1, 2]})
    args = error.args
    cyclic: list[Any] = ["x"]
    cyclic.append(cyclic)
    error.cyclic = cyclic  # type: ignore[attr-defined]
    error.__context__ = error  # a cycle in the chain
    scrub_exception(error, [SECRET])
    assert error.args is args and error.cyclic is cyclic  # type: ignore[attr-defined]
    scrub_exception(error, [])  # no secrets: nothing to do
    passed = RateLimitError(f"x {SECRET}", provider="p", request_id=SECRET)
    assert translate_error("p", passed, secrets=[SECRET]) is passed
    assert SECRET not in str(passed) and passed.request_id == "***"


def test_error_events_inside_a_200_stream_get_their_real_status() -> None:
    error = StainlessLike("Overloaded", 200)
    error.body = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}  # type: ignore[attr-defined]
    translated = translate_error("anthropic", error)
    assert isinstance(translated, BackendError)
    assert translated.status == 529 and translated.retryable


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (parse_retry_after({"retry-after": future}) or 0) <= 30
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_policy_validation_and_backoff() -> None:
    with pytest.raises(InvalidOptionError):
        RetryPolicy(max_retries=-1)
    with pytest.raises(InvalidOptionError):
        RetryPolicy(initial_backoff=-1)
    policy = RetryPolicy(initial_backoff=1, max_backoff=3, jitter=0)
    plain = BackendError("x", provider="p", retryable=True)
    assert [policy.wait(plain, n) for n in (1, 2, 3, 4)] == [1, 2, 3, 3]
    told = BackendError("x", provider="p", retryable=True, retry_after=0.5)
    assert policy.wait(told, 1) == 0.5
    assert not policy.should_retry(BackendError("x", provider="p", retryable=False))
    assert not policy.should_retry(ValueError())
    assert not RetryPolicy(max_retry_after=10).should_retry(
        BackendError("x", provider="p", retryable=True, retry_after=11)
    )


def _flaky(failures: list[Exception]) -> Any:
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "ok"

    return attempt, calls


def test_sync_retries_are_bounded_and_skip_misuse() -> None:
    fast = RetryPolicy(max_retries=2, initial_backoff=0.001)
    retryable = BackendError("x", provider="p", retryable=True)
    attempt, calls = _flaky([retryable, retryable])
    assert call_with_retries(fast, attempt) == "ok" and len(calls) == 3
    attempt, calls = _flaky([retryable] * 3)
    with pytest.raises(BackendError):
        call_with_retries(fast, attempt)
    assert len(calls) == 3
    attempt, calls = _flaky([BackendError("bad", provider="p", retryable=False)])
    with pytest.raises(BackendError):
        call_with_retries(fast, attempt)
    assert len(calls) == 1
    attempt, calls = _flaky([retryable])
    with pytest.raises(BackendError):
        call_with_retries(RetryPolicy.none(), attempt)


async def test_async_retries_wait_without_blocking_the_loop() -> None:
    policy = RetryPolicy(max_retries=1)
    failures = [BackendError("x", provider="p", retryable=True, retry_after=0.2)]
    ticks = 0

    async def attempt() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    assert await acall_with_retries(policy, attempt) == "ok"
    assert time.perf_counter() - started >= 0.2
    task.cancel()
    assert ticks >= 10  # the loop kept running while the retry waited
