"""Every hosted-API backend rejects bad constructor arguments at once, as InvalidOptionError.

Not as a raw ``TypeError`` from deep inside, and not later, at the first call, as a
misleading ``BackendError``: the message says what to pass instead. No request is
sent by these tests (the backends are only constructed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from citeformer.backends._api import ApiBackend
from citeformer.backends.anthropic import AnthropicBackend
from citeformer.backends.gemini import GeminiBackend
from citeformer.backends.mistral import MistralBackend
from citeformer.backends.openai import (
    FireworksBackend,
    OpenAIBackend,
    OpenRouterBackend,
    TogetherBackend,
)
from citeformer.errors import InvalidOptionError, UsageError

KEY = "sk-options-0123456789"
Factory = Callable[..., ApiBackend[Any, Any]]


def _for_server(model: Any, **kwargs: Any) -> ApiBackend[Any, Any]:
    return OpenAIBackend.for_server("http://127.0.0.1:9/v1", model, server="vllm", **kwargs)


def _keyed(cls: type[ApiBackend[Any, Any]]) -> Factory:
    def make(model: Any, **kwargs: Any) -> ApiBackend[Any, Any]:
        return cls(model, api_key=KEY, **kwargs)

    make.__name__ = cls.__name__
    return make


FACTORIES: dict[str, Factory] = {
    "OpenAIBackend": _keyed(OpenAIBackend),
    "OpenAIBackend.for_server": _for_server,
    "OpenRouterBackend": _keyed(OpenRouterBackend),
    "TogetherBackend": _keyed(TogetherBackend),
    "FireworksBackend": _keyed(FireworksBackend),
    "AnthropicBackend": _keyed(AnthropicBackend),
    "GeminiBackend": _keyed(GeminiBackend),
    "MistralBackend": _keyed(MistralBackend),
}
VALID_CLIENT_KWARG: dict[str, tuple[str, Any]] = {
    "OpenAIBackend": ("default_headers", {"x-team": "a"}),
    "OpenAIBackend.for_server": ("organization", "org-1"),
    "OpenRouterBackend": ("default_query", {"q": "1"}),
    "TogetherBackend": ("default_headers", {"x-team": "a"}),
    "FireworksBackend": ("max_retries", 0),
    "AnthropicBackend": ("default_headers", {"x-team": "a"}),
    "GeminiBackend": ("http_options", {"headers": {"x-team": "a"}}),
    "MistralBackend": ("server", "eu"),
}
"""One key each SDK's client constructor takes, and a value for it."""


@pytest.fixture(params=list(FACTORIES))
def name(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def make(name: str) -> Factory:
    return FACTORIES[name]


@pytest.mark.parametrize("model", [None, 123, "", "   ", b"gpt", ["gpt"]])
def test_an_unusable_model_says_what_to_pass(make: Factory, name: str, model: Any) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        make(model)
    message = str(caught.value)
    assert "needs a model name" in message and "non-empty str" in message
    assert f"got {model!r}" in message
    assert name.split(".")[0] in message  # the class, and an example call of it
    assert isinstance(caught.value, UsageError) and isinstance(caught.value, TypeError)


@pytest.mark.parametrize(
    "timeout", [math.nan, math.inf, -math.inf, 0, -1.0, "5", True, None, [5]], ids=repr
)
def test_a_non_finite_or_non_positive_timeout_is_rejected_at_construction(
    make: Factory, timeout: Any
) -> None:
    with pytest.raises(InvalidOptionError, match="timeout must be a finite number of seconds"):
        make("model-test", timeout=timeout)


@pytest.mark.parametrize("timeout", [0.001, 1, 30.5, 1e6])
def test_finite_positive_timeouts_are_kept(make: Factory, timeout: float) -> None:
    backend = make("model-test", timeout=timeout)
    assert backend.timeout == float(timeout)
    backend.close()


def test_an_unknown_client_kwarg_is_named_with_the_accepted_ones(make: Factory, name: str) -> None:
    valid, _ = VALID_CLIENT_KWARG[name]
    with pytest.raises(InvalidOptionError) as caught:
        make("model-test", client_kwargs={"bogus": 1})
    message = str(caught.value)
    assert "client_kwargs key 'bogus'" in message
    accepted = message.split("it accepts: ", 1)[1].split(", ")
    assert valid in accepted and "api_key" not in accepted
    assert all(not key.startswith("_") for key in accepted)
    # A near miss gets a suggestion.
    with pytest.raises(InvalidOptionError, match=f"did you mean '{valid}'"):
        make("model-test", client_kwargs={valid[:-1]: 1})


def test_client_kwargs_the_sdk_takes_are_accepted(make: Factory, name: str) -> None:
    key, value = VALID_CLIENT_KWARG[name]
    backend = make("model-test", client_kwargs={key: value})
    assert backend._client_kwargs == {key: value}
    backend.close()


@pytest.mark.parametrize(
    ("client_kwargs", "match"),
    [
        (5, "client_kwargs must be a mapping"),
        ([("timeout", 1)], "client_kwargs must be a mapping"),
        ({1: 2}, "client_kwargs keys must be str"),
        ({"api_key": KEY}, "pass api_key= to the backend"),
    ],
)
def test_client_kwargs_of_the_wrong_shape(make: Factory, client_kwargs: Any, match: str) -> None:
    with pytest.raises(InvalidOptionError, match=match):
        make("model-test", client_kwargs=client_kwargs)


def test_the_check_is_against_the_clients_citeformer_builds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the SDK's constructor decides: ``**kwargs`` accepts anything, and each class
    of a pair must take the key."""

    class TakesAnything:
        def __init__(self, *, api_key: str | None = None, **kwargs: Any) -> None: ...

    class SyncOnly:
        def __init__(self, *, api_key: str | None = None, pool: int = 1) -> None: ...

    class Neither:
        def __init__(self, *, api_key: str | None = None) -> None: ...

    def classes(*kinds: type[Any]) -> Callable[[ApiBackend[Any, Any]], tuple[type[Any], ...]]:
        return lambda self: kinds

    monkeypatch.setattr(OpenAIBackend, "_client_classes", classes(TakesAnything))
    OpenAIBackend("gpt-test", api_key=KEY, client_kwargs={"bogus": 1}).close()
    monkeypatch.setattr(OpenAIBackend, "_client_classes", classes(SyncOnly, TakesAnything))
    OpenAIBackend("gpt-test", api_key=KEY, client_kwargs={"pool": 2}).close()
    monkeypatch.setattr(OpenAIBackend, "_client_classes", classes(SyncOnly, Neither))
    with pytest.raises(InvalidOptionError, match=r"'pool' is not an argument of .*SyncOnly"):
        OpenAIBackend("gpt-test", api_key=KEY, client_kwargs={"pool": 2})


def test_client_kwargs_are_checked_with_an_injected_client_too() -> None:
    from openai import OpenAI

    client = OpenAI(api_key=KEY, base_url="http://127.0.0.1:9/v1")
    with pytest.raises(InvalidOptionError, match="'bogus'"):
        OpenAIBackend("gpt-test", client=client, client_kwargs={"bogus": 1})
    client.close()


# -- the other options each backend reads before ApiBackend's checks -----------------------


@pytest.mark.parametrize(
    ("make_backend", "kwargs", "match"),
    [
        (OpenAIBackend, {"extra_body": 5}, "extra_body must be a mapping"),
        (OpenAIBackend, {"extra_body": [1]}, "extra_body must be a mapping"),
        (OpenAIBackend, {"extra_headers": 5}, "extra_headers must be a mapping"),
        (OpenAIBackend, {"reasoning": "yes"}, "reasoning must be True or False"),
        (OpenRouterBackend, {"fallback_models": 5}, "fallback_models must be a list"),
        (OpenRouterBackend, {"fallback_models": [None]}, "fallback_models must be a list"),
        (OpenRouterBackend, {"provider": 5}, "provider must be a mapping"),
        (OpenRouterBackend, {"extra_body": 5}, "extra_body must be a mapping"),
        (OpenRouterBackend, {"extra_headers": 5}, "extra_headers must be a mapping"),
        (OpenRouterBackend, {"app_url": 5}, "app_url must be a str"),
        (AnthropicBackend, {"extra_headers": 5}, "extra_headers must be a mapping"),
        (GeminiBackend, {"safety_settings": 5}, "safety_settings must be a list"),
        (GeminiBackend, {"safety_settings": "BLOCK_NONE"}, "safety_settings must be a list"),
        (GeminiBackend, {"safety_settings": [5]}, "each safety_settings item"),
        (MistralBackend, {"safe_prompt": "no"}, "safe_prompt must be True or False"),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
def test_other_options_of_the_wrong_type(
    make_backend: type[ApiBackend[Any, Any]], kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidOptionError, match=match):
        make_backend("model-test", api_key=KEY, **kwargs)


def test_for_server_needs_the_servers_url() -> None:
    for url in (None, "", 8000):
        with pytest.raises(InvalidOptionError, match="for_server needs the server's API root"):
            OpenAIBackend.for_server(url, "served-model", server="vllm")  # type: ignore[arg-type]


def test_gemini_safety_settings_take_the_sdks_own_objects() -> None:
    from google.genai import types

    setting = types.SafetySetting(
        category=types.HarmCategory.HARM_CATEGORY_HATE_SPEECH,
        threshold=types.HarmBlockThreshold.BLOCK_NONE,
    )
    settings: list[Any] = [setting, {"category": "c", "threshold": "t"}]
    backend = GeminiBackend("gemini-test", api_key=KEY, safety_settings=settings)
    assert backend.shape.safety_settings[0]["threshold"] == "BLOCK_NONE"
    assert backend.shape.safety_settings[1] == {"category": "c", "threshold": "t"}
    backend.close()
