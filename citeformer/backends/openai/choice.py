"""Chat-completions constrained choices: the request, and P(option) from ``top_logprobs``.

Pure: no I/O and no SDK import (responses are read by attribute).

The constraint follows the backend's mode, as citations do:

==============  ==================================================================
mode            request
==============  ==================================================================
``json_schema`` strict JSON schema ``{"answer": <enum of the options>}``
``grammar``     the options' grammar in the server's field (``root ::= "yes" | "no"``)
``none``        the instruction alone; the first word is parsed
==============  ==================================================================

Every request but a reasoning model's carries ``logprobs: true`` and
``top_logprobs`` (20 by default, the API's maximum). Each entry of
``choices[0].logprobs.content`` has ``token``, ``logprob``, ``bytes`` and a
``top_logprobs`` list of the same fields; offsets are counted in bytes, since a
token may end inside a character.

The deciding token is the token that holds the first byte of the answer value:
the first token in ``grammar`` mode (the content is the option itself), the first
non-blank one in ``none`` mode (compared case-folded, leading blanks dropped), and
in ``json_schema`` mode the token after the fixed ``{"answer": "`` prefix (the
first content tokens are ``{"``, ``answer``, ``":"``... and say nothing about the
choice). A token may straddle the prefix and
the value (``":"yes``): the alternatives that share the part before the value are
the ones read, by the part after it. P(option) is the mass of the alternatives
consistent with the option, normalised over the options; alternatives consistent
with none (``Yes`` under a grammar, when a server reports pre-mask log-probs) are
left out. Reasoning models return no log-probs: their answer scores 1/0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from citeformer.backends.choice import (
    DEFAULT_MAX_TOKENS,
    Choice,
    ChoiceCall,
    UnparsableChoiceError,
    choice_schema,
    json_answer,
    options_ebnf,
    options_gbnf,
    parse_choice,
    probabilities_from,
)
from citeformer.backends.openai.codec import RequestShape, put_grammar
from citeformer.errors import BackendError, InvalidOptionError

TOP_LOGPROBS = 20
"""``top_logprobs`` when the call sets none (the API allows 0..20)."""
SCHEMA_NAME = "choice"
_VALUE_START = re.compile(r'\{\s*"answer"\s*:\s*"')


def build_choice_payload(shape: RequestShape, call: ChoiceCall) -> dict[str, Any]:
    """Keyword arguments for ``client.chat.completions.create`` asking for one option.

    Raises:
        InvalidOptionError: ``top_logprobs`` is not an int in 0..20.
    """
    options = call.call_options
    payload: dict[str, Any] = {
        "model": options.get("model") or shape.model,
        "messages": [dict(m) for m in call.messages],
    }
    limit = options.get("max_tokens")
    if shape.reasoning:  # no sampling parameters and no log-probs for these models
        if limit:
            payload["max_completion_tokens"] = limit
        if options.get("reasoning_effort"):
            payload["reasoning_effort"] = options["reasoning_effort"]
    else:
        payload["max_tokens"] = limit or DEFAULT_MAX_TOKENS
        temperature = options.get("temperature")
        payload["temperature"] = 0 if temperature is None else temperature
        top = options.get("top_logprobs", TOP_LOGPROBS)
        if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 20:
            raise InvalidOptionError(f"top_logprobs must be an int in 0..20, got {top!r}")
        payload["logprobs"] = True
        payload["top_logprobs"] = top
    if options.get("seed") is not None:
        payload["seed"] = options["seed"]
    extra_body = dict(shape.extra_body)
    if shape.constraint == "json_schema":
        payload["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": SCHEMA_NAME,
                "strict": True,
                "schema": choice_schema(call.options),
            },
        }
    elif shape.constraint == "grammar":
        ebnf, gbnf = options_ebnf(call.options), options_gbnf(call.options)
        put_grammar(shape, payload, extra_body, ebnf=ebnf, gbnf=gbnf)
    if extra_body:
        payload["extra_body"] = extra_body
    if shape.extra_headers:
        payload["extra_headers"] = dict(shape.extra_headers)
    return payload


def decode_choice(response: Any, shape: RequestShape, call: ChoiceCall, provider: str) -> Choice:
    """The chosen option of a whole chat completion, with P(option) where log-probs came.

    Raises:
        BackendError: The response has no choices (retryable).
        UnparsableChoiceError: The answer is none of the options.
    """
    choices = getattr(response, "choices", None) or ()
    if not choices:
        raise BackendError("the response has no choices", provider=provider, retryable=True)
    first = choices[0]
    message = getattr(first, "message", None)
    content = getattr(message, "content", None) or ""
    refusal = getattr(message, "refusal", None)
    if not content and refusal:
        raise UnparsableChoiceError(str(refusal), call.options, provider=provider)
    if shape.constraint == "json_schema":
        text, start = _schema_answer(content, call.options, provider)
    else:
        text = parse_choice(content, call.options, provider=provider)
        start = 0  # the option itself (plain mode: the first token that is not blank)
    start_byte = len(content[:start].encode("utf-8"))
    entries = getattr(getattr(first, "logprobs", None), "content", None) or ()
    fold = shape.constraint == "none"
    return Choice(text, read_logprobs(entries, start_byte, call.options, fold=fold))


def _schema_answer(content: str, options: Sequence[str], provider: str) -> tuple[str, int]:
    """The answer in a schema-mode document and the offset where its value starts."""
    answer = json_answer(content, options, provider=provider)
    found = _VALUE_START.match(content.lstrip())
    if found is None:  # valid JSON, but not the plain form whose offsets can be read
        raise UnparsableChoiceError(content, options, provider=provider)
    return answer, len(content) - len(content.lstrip()) + found.end()


def read_logprobs(
    entries: Iterable[Any], start: int, options: Sequence[str], *, fold: bool = False
) -> dict[str, float] | None:
    """P(option) from the entry holding byte ``start`` of the content (see the module docs).

    Returns:
        The probabilities, or None when no log-probs came or none fits an option.
    """
    position = 0
    for entry in entries:
        token = token_bytes(entry)
        if position + len(token) <= start or (fold and not token.strip()):
            position += len(token)
            continue
        cut = start - position  # bytes of this token before the value starts
        alternatives = getattr(entry, "top_logprobs", None) or [entry]
        masses: list[tuple[str | bytes, float]] = []
        for alternative in alternatives:
            other = token_bytes(alternative)
            logprob = getattr(alternative, "logprob", None)
            if other[:cut] != token[:cut] or not isinstance(logprob, (int, float)):
                continue
            rest = other[cut:]
            masses.append((rest.decode("utf-8", "replace") if fold else rest, math.exp(logprob)))
        return probabilities_from(masses, options, fold=fold)
    return None


def token_bytes(entry: Any) -> bytes:
    """A log-prob entry's token as bytes (its ``bytes`` field, else its UTF-8 text)."""
    raw = getattr(entry, "bytes", None)
    if raw is not None:
        try:
            return bytes(raw)
        except (TypeError, ValueError):
            pass
    token = getattr(entry, "token", None)
    return token.encode("utf-8") if isinstance(token, str) else b""
