"""Bounded retries with backoff that honour ``Retry-After``, for the API backends.

Retries apply to errors marked ``retryable`` (429, 408/409, 5xx, timeouts and
dropped connections), never to misuse (other 4xx). A streamed call is retried
only until its first event arrives: after that, text has reached the caller and
a failure is reported with what arrived. The waiting is tenacity's; the async
path sleeps with ``asyncio.sleep`` (no threads).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from citeformer.errors import BackendError, InvalidOptionError

if TYPE_CHECKING:
    from tenacity import RetryCallState

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How an API backend retries a failed call.

    Attributes:
        max_retries: Retries after the first attempt (0 turns retrying off).
        initial_backoff: Seconds before the first retry when the provider gave no
            ``Retry-After``; doubled per retry.
        max_backoff: Longest computed backoff, in seconds.
        max_retry_after: A ``Retry-After`` longer than this is not waited for: the
            error is raised at once (waiting minutes inside a call helps nobody).
        jitter: Fraction of each computed backoff added at random, so many clients
            do not retry in lockstep.
    """

    max_retries: int = 2
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise InvalidOptionError("RetryPolicy.max_retries must be an int >= 0")
        for name in ("initial_backoff", "max_backoff", "max_retry_after", "jitter"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0:
                raise InvalidOptionError(f"RetryPolicy.{name} must be a number >= 0")

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_retries=0)

    def should_retry(self, error: BaseException) -> bool:
        """Whether ``error`` is worth another try (the attempt budget aside)."""
        if not isinstance(error, BackendError) or not error.retryable:
            return False
        return error.retry_after is None or error.retry_after <= self.max_retry_after

    def wait(self, error: BaseException, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        retry_after = error.retry_after if isinstance(error, BackendError) else None
        if retry_after is not None:
            return max(0.0, retry_after)
        backoff = min(self.max_backoff, self.initial_backoff * 2.0 ** (attempt - 1))
        return backoff * (1 + self.jitter * random.random())


def _wait_for(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        # tenacity counts from the first retry: attempt 1 of it is the call's second
        return policy.wait(error, state.attempt_number + 1) if error is not None else 0.0

    return wait


def call_with_retries(policy: RetryPolicy, attempt: Callable[[], T]) -> T:
    """Run ``attempt`` until it succeeds, a non-retryable error, or the budget ends.

    The first attempt runs bare (most calls succeed; no retry machinery is built for
    them); tenacity takes over after a retryable failure.
    """
    try:
        return attempt()
    except Exception as error:
        if policy.max_retries == 0 or not policy.should_retry(error):
            raise
        first = error
    from tenacity import Retrying, retry_if_exception, stop_after_attempt

    time.sleep(policy.wait(first, 1))
    retrying = Retrying(
        stop=stop_after_attempt(policy.max_retries),
        wait=_wait_for(policy),
        retry=retry_if_exception(policy.should_retry),
        reraise=True,
    )
    return retrying(attempt)


async def acall_with_retries(policy: RetryPolicy, attempt: Callable[[], Awaitable[T]]) -> T:
    """Async :func:`call_with_retries`; waits with ``asyncio.sleep``."""
    try:
        return await attempt()
    except Exception as error:
        return await aretry_after(policy, error, attempt)


async def aretry_after(
    policy: RetryPolicy, first: Exception, attempt: Callable[[], Awaitable[T]]
) -> T:
    """The rest of :func:`acall_with_retries`, once the caller's own first attempt failed.

    The caller runs the first attempt without a wrapper and calls this from the
    ``except`` block that caught ``first``, which is raised again if not worth retrying.
    """
    if policy.max_retries == 0 or not policy.should_retry(first):
        raise first
    from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

    await asyncio.sleep(policy.wait(first, 1))
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_retries),
        wait=_wait_for(policy),
        retry=retry_if_exception(policy.should_retry),
        reraise=True,
    )
    result: T = await retrying(attempt)
    return result
