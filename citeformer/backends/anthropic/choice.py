"""Anthropic constrained choices: a forced tool whose only input is an enum of the options.

Pure: no I/O and no SDK import (the raw JSON response is read).

The Messages API has no grammar and returns no log-probabilities. The strongest
constraint it offers is a tool call it must make (``tool_choice`` names the tool)
whose ``input_schema`` is ``{"answer": <enum of the options>}``; the answer is that
input. The call scores 1/0 (``probabilities`` is None). Should a server answer in a
text block instead, its first word is parsed; anything else raises
:class:`~citeformer.backends.choice.UnparsableChoiceError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from citeformer.backends.anthropic.codec import RequestShape
from citeformer.backends.choice import Choice, ChoiceCall, UnparsableChoiceError, parse_choice

TOOL_NAME = "answer"
DEFAULT_MAX_TOKENS = 64
"""``max_tokens`` of a choice when the call sets none (a tool call takes a few dozen)."""


def build_choice_payload(shape: RequestShape, call: ChoiceCall) -> dict[str, Any]:
    """Keyword arguments for ``client.messages.create`` asking for one option."""
    options = call.call_options
    user = call.messages[-1]["content"]
    payload: dict[str, Any] = {
        "model": options.get("model") or shape.model,
        "max_tokens": int(options.get("max_tokens") or DEFAULT_MAX_TOKENS),
        "system": call.system,
        "messages": [{"role": "user", "content": user}],
        "tools": [
            {
                "name": TOOL_NAME,
                "description": f"Give the answer: {' or '.join(call.options)}.",
                "input_schema": {
                    "type": "object",
                    "properties": {"answer": {"type": "string", "enum": list(call.options)}},
                    "required": ["answer"],
                    "additionalProperties": False,
                },
            }
        ],
        "tool_choice": {"type": "tool", "name": TOOL_NAME},
    }
    extra_body = dict(shape.extra_body or {})
    temperature = options.get("temperature")
    extra_body["temperature"] = 0 if temperature is None else temperature
    payload["extra_body"] = extra_body
    if shape.extra_headers:
        payload["extra_headers"] = dict(shape.extra_headers)
    return payload


def decode_choice(response: Any, call: ChoiceCall, provider: str) -> Choice:
    """The option in a whole message: the forced tool's input (or a text block's word).

    Raises:
        UnparsableChoiceError: The message gives none of the options.
    """
    texts: list[str] = []
    for block in _get(response, "content") or ():
        kind = _get(block, "type")
        if kind == "tool_use" and _get(block, "name") == TOOL_NAME:
            answer = _get(_get(block, "input") or {}, "answer")
            if isinstance(answer, str) and answer in call.options:
                return Choice(answer, None)
            raise UnparsableChoiceError(repr(_get(block, "input")), call.options, provider=provider)
        if kind == "text":
            texts.append(str(_get(block, "text") or ""))
    return Choice(parse_choice("".join(texts), call.options, provider=provider), None)


def _get(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)
