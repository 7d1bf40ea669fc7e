"""The API key never escapes through an error: not its message, cause chain, logs or pickle.

Each provider's real SDK talks to the loopback server, which rejects the call with a
401 whose JSON body and response headers echo the key back (as some gateways and
misconfigured proxies do). Whatever a caller does with the citeformer error it
catches — print it, log it with its traceback, pickle it — shows no key, while the
SDK's exception stays the ``__cause__``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import pickle
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import pytest

from citeformer import Citeformer
from citeformer.backends._api import ApiBackend
from citeformer.backends.anthropic import AnthropicBackend
from citeformer.backends.gemini import GeminiBackend
from citeformer.backends.mistral import MistralBackend
from citeformer.backends.openai import OpenAIBackend
from citeformer.backends.retry import RetryPolicy
from citeformer.errors import BackendError, CiteformerError
from citeformer.testing import QUESTION, SOURCES
from tests.loopback import anthropic_wire, gemini_wire, mistral_wire, openai_wire
from tests.loopback.server import LoopbackServer, Received, Reply

KEY = "sk-echoed-SECRET-0123456789abcdef"


@dataclass(frozen=True)
class Provider:
    name: str
    backend_class: type[ApiBackend[Any, Any]]
    wire: ModuleType
    sdk_module: str
    key_header: str
    path: str = ""  # appended to the server URL for base_url


PROVIDERS = [
    Provider("openai", OpenAIBackend, openai_wire, "openai", "authorization", "/v1"),
    Provider("anthropic", AnthropicBackend, anthropic_wire, "anthropic", "x-api-key"),
    Provider("gemini", GeminiBackend, gemini_wire, "google.genai", "x-goog-api-key"),
    Provider("mistral", MistralBackend, mistral_wire, "mistralai", "authorization"),
]


def echoing_401(provider: Provider) -> Callable[[Received], Reply]:
    """A responder that rejects the key and echoes it in the body and the headers."""

    def reply(request: Received) -> Reply:
        # Newer anthropic SDKs send the key as a bearer token instead of x-api-key.
        sent = request.headers.get(provider.key_header) or request.headers.get("authorization", "")
        assert KEY in sent, "the SDK must have sent the key for the echo to mean anything"
        base: Reply = provider.wire.error(401, f"Incorrect API key provided: {sent}")
        body = {**base.body, "echo": {"key": KEY, "seen": [sent, {"header": sent}]}}
        headers = {
            **base.headers,
            # Every header citeformer reads a request id from, and some it does not.
            "x-request-id": KEY,
            "request-id": KEY,
            "x-goog-request-id": KEY,
            "mistral-correlation-id": KEY,
            "www-authenticate": f'Bearer error="invalid_token", key="{KEY}"',
            "x-echo-api-key": sent,
        }
        echoed: Reply = replace(base, body=body, headers=headers)
        return echoed

    return reply


def everything_printable(error: BaseException) -> dict[str, str]:
    """Each way a caller shows an error, as text (pickle as its bytes' latin-1 text)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.secrets")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise error
        except CiteformerError:
            logger.exception("the call failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return {
        "str": str(error),
        "repr": repr(error),
        "traceback": "".join(traceback.format_exception(error)),
        "logging": stream.getvalue(),
        "pickle": pickle.dumps(error).decode("latin-1"),
    }


@pytest.fixture(params=PROVIDERS, ids=[p.name for p in PROVIDERS])
def provider(request: pytest.FixtureRequest) -> Provider:
    value: Provider = request.param
    return value


@pytest.fixture
def backend(provider: Provider, loopback: LoopbackServer) -> Iterator[ApiBackend[Any, Any]]:
    loopback.reset(echoing_401(provider))
    backend = provider.backend_class(
        "model-test",
        api_key=KEY,
        base_url=f"{loopback.url}{provider.path}",
        retry=RetryPolicy.none(),
    )
    yield backend
    backend.close()


def _generate(backend: ApiBackend[Any, Any]) -> None:
    Citeformer(backend).generate(QUESTION, SOURCES)


def _stream(backend: ApiBackend[Any, Any]) -> None:
    list(Citeformer(backend).stream(QUESTION, SOURCES))


def _agenerate(backend: ApiBackend[Any, Any]) -> None:
    async def main() -> None:
        try:
            await Citeformer(backend).agenerate(QUESTION, SOURCES)
        finally:
            await backend.aclose()

    asyncio.run(main())


def _astream(backend: ApiBackend[Any, Any]) -> None:
    async def main() -> None:
        try:
            async for _ in Citeformer(backend).astream(QUESTION, SOURCES):
                pass
        finally:
            await backend.aclose()

    asyncio.run(main())


CALLS = {"generate": _generate, "stream": _stream, "agenerate": _agenerate, "astream": _astream}


@pytest.mark.parametrize("call", list(CALLS))
def test_a_401_echoing_the_key_leaks_it_nowhere(
    provider: Provider,
    backend: ApiBackend[Any, Any],
    loopback: LoopbackServer,
    call: str,
) -> None:
    with pytest.raises(BackendError) as caught:
        CALLS[call](backend)
    error = caught.value
    assert len(loopback.requests) == 1
    assert error.status == 401 and error.provider == provider.name
    assert "check the API key" in str(error)
    # The SDK's own exception is kept as the cause, and still says what happened.
    cause = error.__cause__
    assert cause is not None and type(cause).__module__.startswith(provider.sdk_module)
    assert "***" in str(cause)
    for where, text in everything_printable(error).items():
        assert KEY not in text, f"the key leaked through {where}"
    assert error.request_id is not None and KEY not in error.request_id
    restored = pickle.loads(pickle.dumps(error))
    assert type(restored) is type(error) and str(restored) == str(error)
    assert (restored.status, restored.request_id) == (401, error.request_id)


def test_credentials_passed_through_client_kwargs_are_scrubbed_too() -> None:
    from citeformer.backends.openai import OpenAIBackend

    backend = OpenAIBackend(
        "gpt-test",
        api_key="sk-main-0123456789",
        client_kwargs={
            "default_headers": {"Authorization": "Bearer tok-header-0123456789", "X-App": "a"},
            "organization": "org-visible",
        },
    )
    secrets = set(backend._secrets())
    assert {"sk-main-0123456789", "tok-header-0123456789"} <= secrets
    assert "org-visible" not in secrets and "a" not in secrets
