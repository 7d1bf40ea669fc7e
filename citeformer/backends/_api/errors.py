"""The one place where provider SDK exceptions become citeformer errors.

Every API backend passes whatever its SDK raised through :func:`translate_error`.
The SDKs differ in names, not in facts, so the facts are read by duck typing:

==========================  ==============================  ======================
SDK                         status                          headers
==========================  ==============================  ======================
openai, anthropic           ``status_code``                 ``response.headers``
google-genai                ``code``                        ``response.headers``
mistralai                   ``status_code``                 ``headers``
==========================  ==============================  ======================

Timeouts and dropped connections are recognised by class name along the MRO
(``APITimeoutError``, ``TimeoutException``, ``ConnectError``...), so the HTTP
library underneath (httpx, httpx2, aiohttp) does not matter.

Known secrets (the API key) are scrubbed, in place, from everything printing the
error can show (:func:`scrub_exception`): the citeformer error and the SDK's
exception, which stays its ``__cause__``, with that exception's own chain.
"""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Iterable, Mapping
from typing import Any

from citeformer.errors import (
    BackendError,
    BackendTimeoutError,
    CiteformerError,
    ContentFilteredError,
    RateLimitError,
)

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})
"""Statuses worth retrying (529: Anthropic's "overloaded")."""

_TIMEOUT_NAMES = ("Timeout",)
_CONNECTION_NAMES = (
    "APIConnectionError",
    "ConnectError",
    "ConnectionError",
    "RemoteProtocolError",
    "ReadError",
    "WriteError",
    "NetworkError",
    "TransportError",
    "NoResponseError",
    "ServerDisconnectedError",
    "ClientPayloadError",
)
_FILTER_WORDS = ("content_filter", "content_policy", "safety", "responsible_ai")


def translate_error(
    provider: str, error: BaseException, *, secrets: Iterable[str] = ()
) -> CiteformerError:
    """Wrap ``error`` (raised by ``provider``'s SDK) in a citeformer error.

    The caller raises the result ``from error`` so the original stays the
    ``__cause__``. Citeformer's own errors pass through unchanged.

    Before returning, both ``error`` and the result are scrubbed of ``secrets``
    (:func:`scrub_exception`): the key must not come back through the cause chain,
    a log's traceback or a pickle.

    Args:
        provider: Backend name for the message and the ``provider`` attribute.
        error: What the SDK raised.
        secrets: Strings (API keys) that must not appear in the message.
    """
    secrets = tuple(secrets)
    translated = error if isinstance(error, CiteformerError) else _typed(provider, error, secrets)
    scrub_exception(error, secrets)
    if translated is not error:
        scrub_exception(translated, secrets)
    return translated


def _typed(provider: str, error: BaseException, secrets: Iterable[str]) -> CiteformerError:
    status = _status(error)
    headers = _headers(error)
    request_id = _request_id(error, headers)
    message = _scrub(_message(error), secrets)
    names = [cls.__name__ for cls in type(error).__mro__]
    if status is None and (
        isinstance(error, TimeoutError) or any(t in n for n in names for t in _TIMEOUT_NAMES)
    ):
        return BackendTimeoutError(
            f"the request timed out ({message}); raise timeout= or retry later",
            provider=provider,
            retryable=True,
            request_id=request_id,
        )
    if status is None:
        retryable = any(n in _CONNECTION_NAMES for n in names) or isinstance(error, OSError)
        what = "could not reach the provider" if retryable else "the provider call failed"
        return BackendError(
            f"{what}: {message}", provider=provider, retryable=retryable, request_id=request_id
        )
    retry_after = parse_retry_after(headers)
    kwargs: dict[str, Any] = {
        "provider": provider,
        "status": status,
        "request_id": request_id,
        "retry_after": retry_after,
    }
    if status == 429:
        return RateLimitError(
            f"rate limited: {message}; citeformer retries with backoff (RetryPolicy)",
            retryable=True,
            **kwargs,
        )
    if status in (401, 403):
        return BackendError(
            f"the provider rejected the credentials ({message}); check the API key",
            retryable=False,
            **kwargs,
        )
    if status == 400 and any(word in message.lower() for word in _FILTER_WORDS):
        return ContentFilteredError(
            f"the provider's content filter refused the request: {message}",
            retryable=False,
            **kwargs,
        )
    return BackendError(message, retryable=status in RETRYABLE_STATUS or status >= 500, **kwargs)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_ERROR_TYPE_STATUS = {
    "overloaded_error": 529,
    "api_error": 500,
    "server_error": 500,
    "internal_error": 500,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "timeout_error": 504,
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
}


def _status(error: BaseException) -> int | None:
    status = _http_status(error)
    if status is None or status < 400:
        # An error event inside a stream arrives on a 200 response: its body's type
        # says what really happened ("overloaded_error" is a 529, not a 200).
        return _body_status(error) or status
    return status


def _body_status(error: BaseException) -> int | None:
    body = getattr(error, "body", None)
    if not isinstance(body, Mapping):
        return None
    inner = body.get("error", body)
    if not isinstance(inner, Mapping):
        return None
    for key in ("type", "code", "status"):
        value = inner.get(key)
        if isinstance(value, str) and value.lower() in _ERROR_TYPE_STATUS:
            return _ERROR_TYPE_STATUS[value.lower()]
    return None


def _http_status(error: BaseException) -> int | None:
    for attribute in ("status_code", "code", "status"):
        value = getattr(error, attribute, None)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
    response = getattr(error, "response", None)
    value = getattr(response, "status_code", None) or getattr(response, "status", None)
    if isinstance(value, int) and 100 <= value <= 599:
        return value
    return None


def _headers(error: BaseException) -> Mapping[str, str]:
    for holder in (error, getattr(error, "response", None), getattr(error, "raw_response", None)):
        headers = getattr(holder, "headers", None)
        if isinstance(headers, Mapping) or hasattr(headers, "get"):
            return _LowerHeaders(headers)
    return {}


class _LowerHeaders(dict[str, str]):
    """Case-insensitive view of whatever header mapping the SDK exposed."""

    def __init__(self, headers: Any) -> None:
        try:
            items = list(headers.items())
        except (AttributeError, TypeError):
            items = []
        super().__init__((str(k).lower(), str(v)) for k, v in items)


def _request_id(error: BaseException, headers: Mapping[str, str]) -> str | None:
    value = getattr(error, "request_id", None)
    if isinstance(value, str) and value:
        return value
    for name in ("x-request-id", "request-id", "x-goog-request-id", "mistral-correlation-id"):
        if headers.get(name):
            return headers[name]
    return None


def _message(error: BaseException) -> str:
    for attribute in ("message", "body"):
        value = getattr(error, attribute, None)
        if isinstance(value, str) and value.strip():
            return value.strip()
    text = str(error).strip()
    return text or type(error).__name__


def _scrub(message: str, secrets: Iterable[str]) -> str:
    for secret in _needles(secrets):
        message = message.replace(secret, _MASK)
    return message


_MASK = "***"
_MAX_DEPTH = 32
"""How deep :func:`scrub_exception` walks nested containers (a guard against cycles)."""


def scrub_exception(error: BaseException, secrets: Iterable[str]) -> None:
    """Replace every secret in what printing ``error`` can show, in place.

    ``traceback.format_exception``, ``logging``'s ``exception()`` and ``repr`` show
    each exception of the chain through its ``args`` (and ``__str__``, which SDKs
    build from attributes such as ``message`` and ``body``), its ``__notes__``, and
    then its ``__cause__`` and ``__context__``; pickling a citeformer error carries
    its ``__dict__``. So for ``error`` and every exception its chain (and an
    exception group's members) reaches, this rewrites ``args``, every attribute in
    its ``__dict__`` (strings and bytes, recursively through dicts, lists, tuples,
    sets and header mappings; other objects such as an HTTP response are left as
    they are) and the string members of built-in exceptions (``OSError.filename``...).
    The exceptions stay the same objects, so ``__cause__`` is still the original.

    Args:
        error: The exception to clean; its chain is cleaned too.
        secrets: Strings that must not appear; ones shorter than 4 characters are
            ignored (replacing them would mangle ordinary text).
    """
    needles = _needles(secrets)
    if not needles:
        return
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        # Written past any __setattr__ (object's, and __dict__ directly): SDK errors
        # can be frozen dataclasses.
        args = _clean(current.args, needles)
        if args is not current.args:
            object.__setattr__(current, "args", args)
        state = getattr(current, "__dict__", None)
        if isinstance(state, dict):
            for name, value in list(state.items()):
                clean = _clean(value, needles)
                if clean is not value:
                    state[name] = clean
        _clean_members(current, needles)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)


def _needles(secrets: Iterable[str]) -> tuple[str, ...]:
    # Longest first, so a secret that contains another is masked whole.
    found = {s for s in secrets if isinstance(s, str) and len(s) >= 4}
    return tuple(sorted(found, key=len, reverse=True))


def _clean(value: Any, needles: tuple[str, ...], depth: int = 0) -> Any:
    """``value`` with the needles masked: the very same object when nothing changed."""
    if isinstance(value, str):
        masked = value
        for needle in needles:
            masked = masked.replace(needle, _MASK)
        return value if masked == value else masked
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
        for needle in needles:
            raw = raw.replace(needle.encode(), _MASK.encode())
        return value if raw == value else type(value)(raw)
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, list | tuple | set | frozenset):
        items = [_clean(item, needles, depth + 1) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return _rebuilt(value, items)
    if isinstance(value, Mapping) or _is_header_mapping(value):
        originals = list(value.items())
        pairs = [
            (_clean(k, needles, depth + 1), _clean(v, needles, depth + 1)) for k, v in originals
        ]
        if all(k is ok and v is ov for (k, v), (ok, ov) in zip(pairs, originals, strict=True)):
            return value
        return _rebuilt(value, pairs, mapping=True)
    return value


def _is_header_mapping(value: object) -> bool:
    # httpx's Headers and aiohttp's multidicts are mappings by behaviour, not by ABC.
    return callable(getattr(value, "items", None)) and callable(getattr(value, "get", None))


def _rebuilt(original: Any, items: list[Any], *, mapping: bool = False) -> Any:
    """A container of ``original``'s type holding ``items`` (a plain one if it refuses)."""
    kind = type(original)
    try:
        if hasattr(original, "_fields"):  # a namedtuple takes its fields one by one
            return kind(*items)
        return kind(items)  # list, dict..., httpx.Headers and multidicts take pairs
    except Exception:
        return dict(items) if mapping else list(items)


def _clean_members(error: BaseException, needles: tuple[str, ...]) -> None:
    """Mask the string members built-in exceptions keep outside ``__dict__``."""
    builtins = [base for base in type(error).__mro__ if base.__module__ == "builtins"]
    for name in _MEMBERS:
        if not any(name in vars(base) for base in builtins):
            continue  # not a built-in member: an SDK's property may do anything
        value = getattr(error, name, None)
        if isinstance(value, str):
            clean = _clean(value, needles)
            if clean is not value:
                # A read-only member is left as is (none that str() reads is read-only).
                with contextlib.suppress(AttributeError, TypeError):
                    object.__setattr__(error, name, clean)


_MEMBERS = ("msg", "strerror", "filename", "filename2", "text", "reason", "name", "path")
"""Built-in exceptions' own attributes that ``str()`` may read (OSError, SyntaxError...)."""
