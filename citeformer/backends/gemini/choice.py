"""Gemini constrained choices: an enum response (``text/x.enum``) of the options.

Pure: no I/O and no SDK import. The response is exactly one of the enum's
strings. Gemini's log-probabilities are not offered on every model, so the answer
scores 1/0 (``probabilities`` is None).
"""

from __future__ import annotations

from typing import Any

from citeformer.backends.choice import DEFAULT_MAX_TOKENS, Choice, ChoiceCall, parse_choice
from citeformer.backends.gemini.codec import RequestShape, _answer_text, _candidate


def build_choice_payload(shape: RequestShape, call: ChoiceCall, timeout: float) -> dict[str, Any]:
    """Keyword arguments for ``models.generate_content`` asking for one option."""
    options = call.call_options
    temperature = options.get("temperature")
    config: dict[str, Any] = {
        "system_instruction": call.system,
        "response_mime_type": "text/x.enum",
        "response_schema": {"type": "STRING", "enum": list(call.options)},
        "candidate_count": 1,
        "max_output_tokens": int(options.get("max_tokens") or DEFAULT_MAX_TOKENS),
        "temperature": 0 if temperature is None else temperature,
        "automatic_function_calling": {"disable": True},
        "http_options": {
            "timeout": max(1, round(timeout * 1000)),
            "retry_options": {"attempts": 1},  # citeformer's RetryPolicy retries, once
        },
    }
    if options.get("seed") is not None:
        config["seed"] = options["seed"]
    if shape.safety_settings:
        config["safety_settings"] = [dict(s) for s in shape.safety_settings]
    contents = [{"role": "user", "parts": [{"text": call.messages[-1]["content"]}]}]
    return {"model": options.get("model") or shape.model, "contents": contents, "config": config}


def decode_choice(response: Any, call: ChoiceCall, provider: str) -> Choice:
    """The option in a whole ``GenerateContentResponse``.

    Raises:
        UnparsableChoiceError: The answer is none of the options (a blocked prompt
            or candidate answers nothing).
    """
    candidate = _candidate(response)
    text = _answer_text(candidate) if candidate is not None else ""
    return Choice(parse_choice(text, call.options, provider=provider), None)
