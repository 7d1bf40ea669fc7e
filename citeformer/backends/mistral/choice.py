"""Mistral constrained choices: strict JSON schema ``{"answer": <enum of the options>}``.

Pure: no I/O and no SDK import. Mistral returns no log-probabilities, so the
answer scores 1/0 (``probabilities`` is None).
"""

from __future__ import annotations

from typing import Any

from citeformer.backends.choice import (
    DEFAULT_MAX_TOKENS,
    Choice,
    ChoiceCall,
    choice_schema,
    json_answer,
)
from citeformer.backends.mistral.codec import RequestShape, content_text
from citeformer.errors import BackendError


def build_choice_payload(shape: RequestShape, call: ChoiceCall, timeout: float) -> dict[str, Any]:
    """Keyword arguments for ``chat.complete`` (and ``complete_async``) asking for one option."""
    options = call.call_options
    temperature = options.get("temperature")
    payload: dict[str, Any] = {
        "model": options.get("model") or shape.model,
        "messages": [dict(m) for m in call.messages],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "choice",
                "schema": choice_schema(call.options),
                "strict": True,
            },
        },
        "max_tokens": int(options.get("max_tokens") or DEFAULT_MAX_TOKENS),
        "temperature": 0 if temperature is None else temperature,
        "retries": None,  # citeformer's RetryPolicy retries, once
        "timeout_ms": max(1, round(timeout * 1000)),
    }
    if options.get("seed") is not None:
        payload["random_seed"] = options["seed"]
    if shape.safe_prompt:
        payload["safe_prompt"] = True
    return payload


def decode_choice(response: Any, call: ChoiceCall, provider: str) -> Choice:
    """The option in a whole ``ChatCompletionResponse``.

    Raises:
        BackendError: The response has no choices (retryable).
        UnparsableChoiceError: The answer is none of the options.
    """
    choices = getattr(response, "choices", None) or ()
    if not choices:
        raise BackendError("the response has no choices", provider=provider, retryable=True)
    content = content_text(getattr(getattr(choices[0], "message", None), "content", None))
    return Choice(json_answer(content, call.options, provider=provider), None)
