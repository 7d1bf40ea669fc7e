"""OpenAI-compatible hosts, declared by their facts: base URL, key variable, headers, mode.

They inherit everything else from :class:`OpenAIBackend`, native async included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from citeformer.backends._api import mapping_option
from citeformer.backends.openai.backend import OpenAIBackend
from citeformer.backends.openai.codec import Constraint, GrammarDialect
from citeformer.core import Enforcement
from citeformer.errors import InvalidOptionError


class OpenRouterBackend(OpenAIBackend):
    """OpenRouter: one key for many providers' models, strict JSON schema.

    Requests carry ``provider.require_parameters`` so OpenRouter routes only to
    providers that honour structured output (a provider that ignored the schema
    would still be caught by the validator, but would waste the call).

    Args:
        model: An OpenRouter model id, e.g. ``openai/gpt-4.1-mini``.
        app_url: Sent as ``HTTP-Referer`` (OpenRouter's app attribution).
        app_name: Sent as ``X-Title``.
        fallback_models: Models to try, in order, when ``model`` is unavailable.
        provider: OpenRouter provider preferences (merged over the default).
        **kwargs: :class:`OpenAIBackend` arguments.
    """

    name = "openrouter"
    api_key_env: ClassVar[str | None] = "OPENROUTER_API_KEY"
    example_model: ClassVar[str] = "openai/gpt-4.1-mini"
    base_url: ClassVar[str | None] = "https://openrouter.ai/api/v1"

    def __init__(
        self,
        model: str,
        *,
        app_url: str | None = None,
        app_name: str | None = None,
        fallback_models: Sequence[str] = (),
        provider: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(fallback_models, str):
            raise InvalidOptionError("fallback_models must be a list of model ids, not a str")
        if not isinstance(fallback_models, Sequence) or not all(
            isinstance(m, str) and m for m in fallback_models
        ):
            raise InvalidOptionError(
                f"fallback_models must be a list of model ids (str), got {fallback_models!r}"
            )
        for option, value in (("app_url", app_url), ("app_name", app_name)):
            if value is not None and not isinstance(value, str):
                raise InvalidOptionError(f"{option} must be a str, got {type(value).__name__}")
        headers = mapping_option("extra_headers", kwargs.pop("extra_headers", None))
        if app_url:
            headers["HTTP-Referer"] = app_url
        if app_name:
            headers["X-Title"] = app_name
        body: dict[str, Any] = {
            "provider": {"require_parameters": True, **mapping_option("provider", provider)},
            **mapping_option("extra_body", kwargs.pop("extra_body", None)),
        }
        if fallback_models:
            body["models"] = [model, *fallback_models]
        super().__init__(model, extra_headers=headers, extra_body=body, **kwargs)


class TogetherBackend(OpenAIBackend):
    """Together AI's OpenAI-compatible API, strict JSON schema."""

    name = "together"
    api_key_env: ClassVar[str | None] = "TOGETHER_API_KEY"
    example_model: ClassVar[str] = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    base_url: ClassVar[str | None] = "https://api.together.xyz/v1"


class FireworksBackend(OpenAIBackend):
    """Fireworks AI with its grammar mode: plain text whose markers the grammar bounds.

    The citation grammar goes in ``response_format={"type": "grammar"}`` as GBNF,
    and the prompt asks for prose with inline markers (not JSON), so the tier is
    ``grammar``.
    """

    name = "fireworks"
    enforcement = Enforcement.GRAMMAR
    api_key_env: ClassVar[str | None] = "FIREWORKS_API_KEY"
    example_model: ClassVar[str] = "accounts/fireworks/models/llama-v3p1-8b-instruct"
    base_url: ClassVar[str | None] = "https://api.fireworks.ai/inference/v1"
    default_constraint: ClassVar[Constraint] = "grammar"
    default_dialect: ClassVar[GrammarDialect | None] = "fireworks"
