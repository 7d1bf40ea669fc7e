"""HTTP for the fetchers: one request description, a sync and an async runner.

Fetchers never do I/O. Each is a *plan*: a generator that yields
:class:`HttpRequest` values and receives :class:`HttpResponse` values, then returns
its result. :func:`run` drives a plan with an ``httpx.Client``, :func:`arun` with an
``httpx.AsyncClient``; only these two functions (and the two ``send`` helpers) are
written twice. Both apply the same rules:

* **Endpoints** come from the call, else the environment, read at call time
  (``CITEFORMER_DOI_URL``, ``CITEFORMER_CROSSREF_URL``, ``CITEFORMER_ARXIV_URL``,
  ``CITEFORMER_GROBID_URL``); ``CITEFORMER_CROSSREF_MAILTO`` puts a mailto in the
  User-Agent (Crossref's polite pool).
* **Politeness**: at most one request per host per interval (arXiv: 3 s), shared by
  the sync and async paths of the process.
* **Retries**: 429, 500, 502, 503 and 504 and transport errors are retried with the
  project's :class:`~citeformer.backends.retry.RetryPolicy`, honouring ``Retry-After``.
* **Limits**: a timeout per request and a cap on the body size.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import threading
import time
import urllib.parse
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar

from citeformer import __version__
from citeformer.backends.retry import RetryPolicy
from citeformer.errors import InvalidOptionError, MissingDependencyError
from citeformer.metadata.errors import (
    MetadataError,
    MetadataRateLimitedError,
    MetadataUnavailableError,
)

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")

DEFAULT_TIMEOUT: Final = 30.0
MAX_BODY: Final = 20 * 1024 * 1024
"""Largest response body read (bytes); a larger one is refused."""
RETRIED_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
DEFAULT_ENDPOINTS: Final = {
    "doi": ("CITEFORMER_DOI_URL", "https://doi.org"),
    "crossref": ("CITEFORMER_CROSSREF_URL", "https://api.crossref.org"),
    "arxiv": ("CITEFORMER_ARXIV_URL", "https://export.arxiv.org/api/query"),
    "grobid": ("CITEFORMER_GROBID_URL", ""),
}
HOST_INTERVALS: Final = {"export.arxiv.org": 3.0, "arxiv.org": 3.0}
"""Seconds between requests to a host (arXiv's terms: one request every 3 s)."""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request a fetcher wants sent.

    Attributes:
        method: ``GET`` or ``POST``.
        url: The full URL.
        headers: Extra headers.
        params: Query parameters.
        files: Multipart files (``{"input": (name, bytes, type)}``).
        data: Multipart form fields.
        interval: Seconds between requests to this host (None: the host's default).
        retry_statuses: Statuses retried for this request (None: 429 and 5xx);
            GROBID's 500s are final, only its 503 "busy" is worth a retry.
        timeout: Seconds for this request (None: the settings' timeout).
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, tuple[str, bytes, str]] | None = None
    data: Mapping[str, str] | None = None
    interval: float | None = None
    retry_statuses: frozenset[int] | None = None
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What came back (after redirects).

    Attributes:
        status: The HTTP status.
        headers: Response headers (lower-case names).
        content: The body.
        url: The final URL.
    """

    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str

    @property
    def content_type(self) -> str:
        """The media type, lower-cased, without parameters."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def text(self) -> str:
        """The body decoded with its declared charset (UTF-8 otherwise)."""
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")


Plan = Generator[HttpRequest, HttpResponse, T]


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """How requests are sent: endpoints, client, timeout, retries.

    Attributes:
        endpoints: Base URLs overriding the environment (``doi``, ``crossref``,
            ``arxiv``, ``grobid``).
        client: A user's ``httpx.Client`` (proxies, mTLS...); one is made otherwise.
        async_client: A user's ``httpx.AsyncClient``.
        timeout: Seconds per request.
        retry: Retry policy for 429/5xx and transport errors.
        max_body: Largest body read, in bytes.
    """

    endpoints: Mapping[str, str] = field(default_factory=dict)
    client: Any = None
    async_client: Any = None
    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_body: int = MAX_BODY

    def endpoint(self, name: str) -> str:
        """A base URL: the call's, else the environment's (read now), else the default."""
        if self.endpoints.get(name):
            return self.endpoints[name].rstrip("/")
        variable, default = DEFAULT_ENDPOINTS[name]
        return (os.environ.get(variable) or default).rstrip("/")


def user_agent() -> str:
    """The User-Agent citeformer sends, with ``CITEFORMER_CROSSREF_MAILTO`` (read now) when set."""
    agent = f"citeformer/{__version__} (https://pypi.org/project/citeformer/)"
    mailto = os.environ.get("CITEFORMER_CROSSREF_MAILTO", "").strip()
    return f"{agent[:-1]}; mailto:{mailto})" if mailto else agent


class _Politeness:
    """The earliest time each host may be asked again (process-wide, both paths)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def reserve(self, url: str, interval: float | None) -> float:
        """Seconds to wait before sending to ``url``'s host; books the slot."""
        host = (urllib.parse.urlsplit(url).hostname or "").lower()
        gap = HOST_INTERVALS.get(host, 0.0) if interval is None else interval
        if gap <= 0:
            return 0.0
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + gap
            return start - now


POLITENESS: Final = _Politeness()


def run(plan: Plan[T], settings: HttpSettings) -> T:
    """Drive ``plan`` with a sync client.

    A :class:`~citeformer.metadata.MetadataError` the runner raises (retries used
    up, the service unreachable, the body cap) is thrown into the plan, so a plan can
    fall back (a web page keeps its own metadata when its DOI cannot be resolved).
    """
    client, owned = _sync_client(settings)
    try:
        request = next(plan)
        while True:
            try:
                response = _send(client, request, settings)
            except MetadataError as exc:
                request = plan.throw(exc)
                continue
            request = plan.send(response)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        plan.close()
        if owned:
            client.close()


async def arun(plan: Plan[T], settings: HttpSettings, *, offload: bool = False) -> T:
    """Drive ``plan`` with an async client (no threads for the I/O).

    The plan's own work after a large or document-like response (PDF, HTML: pypdf
    and trafilatura are CPU-bound) runs in a worker thread, so the event loop keeps
    serving other calls; ``offload=True`` sends every step there (a plan that parses
    before its first request, such as a local PDF's).
    """
    client: httpx.AsyncClient | None = None
    owned = False
    try:
        step = await asyncio.to_thread(_step, plan, None) if offload else _step(plan, None)
        while not step.done:
            if client is None:  # built on the first request: a cache hit needs none
                client, owned = _async_client(settings)
            assert step.request is not None
            try:
                response = await _asend(client, step.request, settings)
            except MetadataError as exc:
                step = _step(plan, exc)
                continue
            if offload or _heavy(response):
                step = await asyncio.to_thread(_step, plan, response)
            else:
                step = _step(plan, response)
        return step.value  # type: ignore[no-any-return]
    finally:
        plan.close()
        if owned and client is not None:
            await client.aclose()


@dataclass(frozen=True, slots=True)
class _Step:
    done: bool
    request: HttpRequest | None = None
    value: Any = None


def _step(plan: Plan[Any], answer: HttpResponse | MetadataError | None) -> _Step:
    """Resume ``plan`` once; its end as a value, not StopIteration.

    StopIteration cannot cross a future (``asyncio.to_thread`` would never finish).
    """
    try:
        if isinstance(answer, MetadataError):
            return _Step(False, plan.throw(answer))
        return _Step(False, plan.send(answer))  # type: ignore[arg-type]
    except StopIteration as done:
        return _Step(True, value=done.value)


_HEAVY_TYPES: Final = frozenset({"application/pdf", "text/html", "application/xhtml+xml"})
_HEAVY_BYTES: Final = 256 * 1024


def _heavy(response: HttpResponse) -> bool:
    return response.content_type in _HEAVY_TYPES or len(response.content) > _HEAVY_BYTES


def _send(client: httpx.Client, request: HttpRequest, settings: HttpSettings) -> HttpResponse:
    import httpx

    attempt = 0
    while True:
        time.sleep(POLITENESS.reserve(request.url, request.interval))
        try:
            with client.stream(**_arguments(request, settings)) as answer:
                body = _read(answer.iter_bytes(), answer, settings)
            response = _response(answer, body)
        except httpx.TransportError as exc:
            wait = _transport_retry(exc, request, settings, attempt)
            time.sleep(wait)
            attempt += 1
            continue
        wait_for = _status_retry(response, request, settings, attempt)
        if wait_for is None:
            return response
        time.sleep(wait_for)
        attempt += 1


async def _asend(
    client: httpx.AsyncClient, request: HttpRequest, settings: HttpSettings
) -> HttpResponse:
    import httpx

    attempt = 0
    while True:
        await asyncio.sleep(POLITENESS.reserve(request.url, request.interval))
        try:
            async with client.stream(**_arguments(request, settings)) as answer:
                chunks = [chunk async for chunk in _capped(answer.aiter_bytes(), settings)]
                body = b"".join(chunks)
            response = _response(answer, body)
        except httpx.TransportError as exc:
            await asyncio.sleep(_transport_retry(exc, request, settings, attempt))
            attempt += 1
            continue
        wait_for = _status_retry(response, request, settings, attempt)
        if wait_for is None:
            return response
        await asyncio.sleep(wait_for)
        attempt += 1


def _arguments(request: HttpRequest, settings: HttpSettings) -> dict[str, Any]:
    headers = {"User-Agent": user_agent(), **request.headers}
    arguments: dict[str, Any] = {
        "method": request.method,
        "url": request.url,
        "headers": headers,
        "params": dict(request.params) or None,
        "timeout": request.timeout if request.timeout is not None else settings.timeout,
        "follow_redirects": True,
    }
    if request.files is not None:
        arguments["files"] = dict(request.files)
    if request.data is not None:
        arguments["data"] = dict(request.data)
    return arguments


def _read(chunks: Any, answer: Any, settings: HttpSettings) -> bytes:
    out = bytearray()
    for chunk in chunks:
        out += chunk
        if len(out) > settings.max_body:
            raise _too_big(answer, settings)
    return bytes(out)


async def _capped(chunks: Any, settings: HttpSettings) -> Any:
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > settings.max_body:
            raise _too_big(None, settings)
        yield chunk


def _too_big(answer: Any, settings: HttpSettings) -> MetadataUnavailableError:
    url = str(answer.url) if answer is not None else "the server"
    return MetadataUnavailableError(
        f"{url} sent more than {settings.max_body} bytes; citeformer stops reading there "
        "(raise HttpSettings.max_body for larger documents)",
        identifier=url,
    )


def _response(answer: Any, body: bytes) -> HttpResponse:
    headers = {k.lower(): v for k, v in answer.headers.items()}
    return HttpResponse(answer.status_code, headers, body, str(answer.url))


def _status_retry(
    response: HttpResponse, request: HttpRequest, settings: HttpSettings, attempt: int
) -> float | None:
    """Seconds to wait before retrying, or None to hand the response to the plan."""
    retried = RETRIED_STATUSES if request.retry_statuses is None else request.retry_statuses
    if response.status not in retried:
        return None
    policy = settings.retry
    retry_after = _retry_after(response.headers.get("retry-after"))
    if attempt >= policy.max_retries or (
        retry_after is not None and retry_after > policy.max_retry_after
    ):
        if response.status == 429:
            raise MetadataRateLimitedError(
                f"{request.url} is rate limiting citeformer (429 after {attempt + 1} tries);"
                " wait and retry, or set CITEFORMER_CROSSREF_MAILTO for Crossref's polite pool",
                identifier=request.url,
                retry_after=retry_after,
            )
        raise MetadataUnavailableError(
            f"{request.url} answered {response.status} {attempt + 1} times; the service is "
            "unavailable, try again later",
            identifier=request.url,
            status=response.status,
        )
    return retry_after if retry_after is not None else _backoff(policy, attempt)


def _transport_retry(
    exc: Exception, request: HttpRequest, settings: HttpSettings, attempt: int
) -> float:
    if attempt >= settings.retry.max_retries:
        raise MetadataUnavailableError(
            f"could not reach {request.url}: {type(exc).__name__}: {exc}. Check the network "
            "or the endpoint (CITEFORMER_*_URL), or use offline=True with a filled cache",
            identifier=request.url,
        ) from exc
    return _backoff(settings.retry, attempt)


def _backoff(policy: RetryPolicy, attempt: int) -> float:
    backoff = min(policy.max_backoff, policy.initial_backoff * 2.0**attempt)
    return backoff * (1 + policy.jitter * random.random())


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, when.timestamp() - time.time()) if when else None


def _sync_client(settings: HttpSettings) -> tuple[httpx.Client, bool]:
    httpx = _httpx()
    if settings.client is not None:
        if not isinstance(settings.client, httpx.Client):
            raise InvalidOptionError(
                f"client must be an httpx.Client, got {type(settings.client).__name__}"
            )
        return settings.client, False
    return _shared_client(), False


_SHARED: list[Any] = []
_SHARED_LOCK: Final = threading.Lock()


def _shared_client() -> httpx.Client:
    """One process-wide sync client (thread-safe; its pool is reused across calls).

    Building a client costs tens of milliseconds (TLS context), more than a cached
    lookup; it is built on the first network request, never for a cache hit.
    """
    with _SHARED_LOCK:
        if not _SHARED:
            _SHARED.append(_httpx().Client())
        client: httpx.Client = _SHARED[0]
        return client


def _async_client(settings: HttpSettings) -> tuple[httpx.AsyncClient, bool]:
    httpx = _httpx()
    if settings.async_client is not None:
        if not isinstance(settings.async_client, httpx.AsyncClient):
            raise InvalidOptionError(
                "async_client must be an httpx.AsyncClient, got "
                f"{type(settings.async_client).__name__}"
            )
        return settings.async_client, False
    return httpx.AsyncClient(), True


def _httpx() -> Any:
    try:
        import httpx
    except ImportError as exc:
        raise MissingDependencyError("fetching metadata", "metadata", package="httpx") from exc
    return httpx
