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
library underneath (httpx, httpx2, aiohttp) does not matter. Known secrets are
scrubbed from every message.
"""

from __future__ import annotations

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

    Args:
        provider: Backend name for the message and the ``provider`` attribute.
        error: What the SDK raised.
        secrets: Strings (API keys) that must not appear in the message.
    """
    if isinstance(error, CiteformerError):
        return error
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
    for secret in secrets:
        if secret and len(secret) >= 4:
            message = message.replace(secret, "***")
    return message
