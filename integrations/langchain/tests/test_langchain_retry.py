"""``with_retry`` wraps the backend's own retries: the README's arithmetic, measured."""

from __future__ import annotations

import pytest
from citeformer.backends.openai import OpenAIBackend
from citeformer.backends.retry import RetryPolicy
from citeformer.errors import BackendError
from langchain_core.documents import Document
from tests.loopback import openai_wire as wire
from tests.loopback.server import LoopbackServer

from langchain_citeformer import CiteformerRunnable

ASK = {"question": "Capital?", "documents": [Document("Paris is the capital of France.")]}


@pytest.mark.parametrize(
    ("policy", "requests"),
    [
        (RetryPolicy(max_retries=2, initial_backoff=0.01, max_backoff=0.02), 9),
        (RetryPolicy.none(), 3),
    ],
)
def test_with_retry_multiplies_the_backend_retries(
    loopback: LoopbackServer, policy: RetryPolicy, requests: int
) -> None:
    loopback.reset(lambda _: wire.error(503, "overloaded"))
    backend = OpenAIBackend(
        "gpt-test", api_key="sk-test-retry", base_url=f"{loopback.url}/v1", retry=policy
    )
    retried = CiteformerRunnable(backend=backend).with_retry(
        stop_after_attempt=3, wait_exponential_jitter=False
    )
    with pytest.raises(BackendError):
        retried.invoke(ASK)
    assert len(loopback.requests) == requests
