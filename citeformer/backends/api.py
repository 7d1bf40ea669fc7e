"""The shell shared by every hosted-API backend: clients, retries, errors, streaming.

A provider backend supplies pure translation (build the request payload, decode
a response, decode stream events) and the few lines that call its SDK; this
class does the rest once:

* **Clients.** An injected sync or async client is used as given. Otherwise each
  is built lazily from the same ``client_kwargs``: the sync one on the first sync
  call, the async one (:attr:`ApiBackend.async_client`) on the first async call,
  one per event loop (an SDK's async connection pool belongs to the loop that
  opened it). Sync-only users never construct the async client, and async calls
  never construct the sync one.
* **Errors.** Everything the SDK raises goes through
  :func:`~citeformer.backends.provider_errors.translate_error`, here only.
* **Retries and timeouts.** Per call ``timeout=`` (seconds) and a
  :class:`~citeformer.backends.retry.RetryPolicy`; a stream is retried only until
  its first event.
* **Async.** ``agenerate``/``astream`` await the SDK's async client: no threads.

Per-call facts travel in the returned :class:`~citeformer.backends.base.BackendText`.
"""

from __future__ import annotations

import abc
import asyncio
import difflib
import inspect
import math
import os
import re
import threading
import weakref
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Mapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import SecretStr

from citeformer.backends.base import (
    BackendCall,
    BackendText,
    CallBackend,
    CitationRequest,
    Piece,
    Reply,
    aclose_iterator,
    call_info,
)
from citeformer.backends.call import pieces
from citeformer.backends.provider_errors import translate_error
from citeformer.backends.retry import RetryPolicy, acall_with_retries, call_with_retries
from citeformer.errors import ConfigurationError, InvalidOptionError, MissingDependencyError

SyncClient = TypeVar("SyncClient")
AsyncClient = TypeVar("AsyncClient")

DEFAULT_TIMEOUT = 60.0
"""Seconds a call may take unless ``timeout=`` says otherwise."""

ASYNC_POOL_LIMITS = {"max_connections": 1000, "max_keepalive_connections": 100}
"""Connection limits for async HTTP clients citeformer builds itself (the openai SDK's
defaults; sized for fan-out)."""


_SECRET_NAME = re.compile(r"key|token|secret|password|credential", re.I)
_SECRET_HEADER = re.compile(r"authorization|api[-_]?key|token|secret", re.I)


class StreamDecoder(Protocol):
    """Turns one call's stream events into answer text (pure; no I/O)."""

    def feed(self, event: Any) -> str:
        """Consume one SDK stream event; return new answer text (maybe empty)."""

    def finish(self) -> BackendText:
        """The remaining text, carrying the call's :class:`CallInfo`."""


class ApiCall:
    """One prepared call: the SDK arguments plus what decoding needs.

    Attributes:
        request: The citation request.
        payload: Keyword arguments for the SDK's create call.
        timeout: Seconds for this call.
        context: Provider-specific facts the decoder needs.
    """

    __slots__ = ("context", "payload", "request", "timeout")

    def __init__(
        self,
        request: CitationRequest,
        payload: dict[str, Any],
        timeout: float,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.request = request
        self.payload = payload
        self.timeout = timeout
        self.context: Mapping[str, Any] = context or {}


class ApiBackend(CallBackend, Generic[SyncClient, AsyncClient], abc.ABC):
    """Base class of the hosted-API backends.

    Args:
        model: The provider's model name.
        api_key: The key; read from :attr:`api_key_env` when omitted. Held as a
            secret: it never appears in ``repr``, logs or error messages.
        client: A ready sync SDK client (used as is; citeformer's retries apply).
        async_client: A ready async SDK client.
        client_kwargs: Extra keyword arguments for the clients citeformer builds;
            a key the SDK client's constructor does not take is refused at once.
        timeout: Default seconds per call, finite and > 0 (``timeout=`` per call
            overrides).
        retry: Retry policy (default: 2 retries with backoff, honouring Retry-After).
        base_url: The API root (a proxy, a gateway, a self-hosted server, a test server).
    """

    extra: ClassVar[str] = ""
    """The pip extra that installs this backend's SDK."""
    api_key_env: ClassVar[str | None] = None
    """Environment variable holding the API key."""
    example_model: ClassVar[str] = "model-name"
    """A model name, for the message when the model argument is unusable."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        client: SyncClient | None = None,
        async_client: AsyncClient | None = None,
        client_kwargs: Mapping[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        base_url: str | None = None,
    ) -> None:
        if base_url is not None and not isinstance(base_url, str):
            raise InvalidOptionError(f"base_url must be a str, got {type(base_url).__name__}")
        self._base_url = base_url or None
        self._check_model(model)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)  # nan passes "<= 0", inf reaches the SDK
            or timeout <= 0
        ):
            raise InvalidOptionError(
                f"timeout must be a finite number of seconds > 0, got {timeout!r}"
            )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidOptionError("retry must be a citeformer.backends.retry.RetryPolicy")
        if api_key is not None and not isinstance(api_key, str):
            raise InvalidOptionError("api_key must be a str")
        self.model = model
        self.timeout = float(timeout)
        self.retry = retry or RetryPolicy()
        self._api_key = SecretStr(api_key) if api_key else None
        self._client_kwargs = mapping_option("client_kwargs", client_kwargs)
        if "api_key" in self._client_kwargs:
            raise InvalidOptionError("pass api_key= to the backend, not inside client_kwargs")
        self._client: SyncClient | None = client
        self._owns_client = client is None
        self._injected_async: AsyncClient | None = async_client
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncClient]
        self._async_clients = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        if client is None and async_client is None:
            self._check_sdk()
            self._require_key()
        self._check_client_kwargs()

    # -- configuration ---------------------------------------------------------------

    @classmethod
    def _check_model(cls, model: object) -> None:
        """Raise :class:`InvalidOptionError` unless ``model`` is a non-empty str.

        Subclasses that read the model before ``ApiBackend.__init__`` call this first.
        """
        if not isinstance(model, str) or not model.strip():
            name = cls.__name__
            raise InvalidOptionError(
                f"{name} needs a model name: pass the provider's model id as a non-empty"
                f" str, e.g. {name}({cls.example_model!r}); got {model!r}"
            )

    def _client_classes(self) -> tuple[type[Any], ...]:
        """The SDK client classes citeformer builds from ``client_kwargs`` (imports the SDK).

        Empty (the default): ``client_kwargs`` are not checked at construction.
        """
        return ()

    def _check_client_kwargs(self) -> None:
        """Reject ``client_kwargs`` keys the SDK's client constructors do not take.

        Without this an unknown key fails only at the first call, as the SDK's
        ``TypeError``. A constructor taking ``**kwargs`` accepts anything.
        """
        if not self._client_kwargs:
            return
        try:
            classes = self._client_classes()
        except ImportError:
            return  # clients were injected and the SDK is not importable: nothing to check
        accepted: set[str] | None = None
        for cls in classes:
            names = _keyword_parameters(cls)
            if names is not None:
                accepted = names if accepted is None else accepted & names
        if accepted is None:
            return
        unknown = [key for key in self._client_kwargs if key not in accepted]
        if not unknown:
            return
        listed = sorted(n for n in accepted if not n.startswith("_") and n != "api_key")
        close = difflib.get_close_matches(unknown[0], listed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        where = " / ".join(f"{c.__module__}.{c.__qualname__}" for c in classes)
        raise InvalidOptionError(
            f"{type(self).__name__}: client_kwargs key {unknown[0]!r} is not an argument of"
            f" {where}{hint}; it accepts: {', '.join(listed)}"
        )

    def _require_key(self) -> SecretStr | None:
        """The key, from the argument or the environment; some hosts need none."""
        if self._api_key is None and self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if value:
                self._api_key = SecretStr(value)
        if self._api_key is None and self._needs_key():
            raise ConfigurationError(
                f"{type(self).__name__} needs an API key: pass api_key=... or set"
                f" {self.api_key_env}"
            )
        return self._api_key

    def _needs_key(self) -> bool:
        """Whether calls fail without a key (local OpenAI-compatible servers need none)."""
        return True

    def _secrets(self) -> Iterable[str]:
        """The key, and credentials passed through ``client_kwargs`` (tokens, auth headers)."""
        found = [self._api_key.get_secret_value()] if self._api_key else []
        for name, value in self._client_kwargs.items():
            if isinstance(value, str) and _SECRET_NAME.search(name):
                found.append(value)
            elif isinstance(value, Mapping):  # default_headers={"Authorization": ...}
                found += [
                    v.removeprefix("Bearer ").strip()
                    for k, v in value.items()
                    if isinstance(k, str) and isinstance(v, str) and _SECRET_HEADER.search(k)
                ]
        return found

    def _api_key_value(self) -> str | None:
        return self._api_key.get_secret_value() if self._api_key else None

    def _check_sdk(self) -> None:
        """Import the SDK now, so a missing extra fails at construction."""
        try:
            self._import_sdk()
        except ImportError as exc:
            raise MissingDependencyError(type(self).__name__, self.extra) from exc

    @abc.abstractmethod
    def _import_sdk(self) -> Any:
        """Import and return the SDK module."""

    @abc.abstractmethod
    def _make_client(self) -> SyncClient:
        """Build the sync client from the configuration."""

    @abc.abstractmethod
    def _make_async_client(self) -> AsyncClient:
        """Build the async client from the same configuration."""

    @property
    def client(self) -> SyncClient:
        """The sync SDK client (built on first use unless one was injected)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    @property
    def async_client(self) -> AsyncClient:
        """The async SDK client (built on first async use unless one was injected)."""
        if self._injected_async is not None:
            return self._injected_async
        try:
            loop: Any = asyncio.get_running_loop()
        except RuntimeError:
            loop = _NO_LOOP
        client = self._async_clients.get(loop)
        if client is None:
            client = self._async_clients[loop] = self._make_async_client()
        return client

    def __repr__(self) -> str:
        """Class, model and host; never the key or client configuration."""
        host = f", base_url={self._base_url!r}" if self._base_url else ""
        return f"{type(self).__name__}(model={self.model!r}{self._repr_extra()}{host})"

    def _repr_extra(self) -> str:
        """More ``, name=value`` pairs for ``repr`` (never secrets)."""
        return ""

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(f"{type(self).__name__} holds credentials and clients; it is not pickled")

    # -- provider hooks (pure translation, then the SDK call) ----------------------

    @abc.abstractmethod
    def _prepare(
        self, request: CitationRequest, options: Mapping[str, Any], *, stream: bool
    ) -> ApiCall:
        """Build the SDK arguments for one call (pure)."""

    @abc.abstractmethod
    def _decode(self, response: Any, call: ApiCall) -> BackendText:
        """Turn a whole response into answer text with facts (pure)."""

    @abc.abstractmethod
    def _stream_decoder(self, call: ApiCall) -> StreamDecoder:
        """A fresh decoder for one streamed call."""

    @abc.abstractmethod
    def _create(self, client: SyncClient, call: ApiCall) -> Any:
        """Send the request and return the whole response."""

    @abc.abstractmethod
    async def _acreate(self, client: AsyncClient, call: ApiCall) -> Any:
        """Async :meth:`_create`."""

    @abc.abstractmethod
    def _events(self, client: SyncClient, call: ApiCall) -> Generator[Any, None, None]:
        """Open a stream and yield its events; closing the generator closes the stream."""

    @abc.abstractmethod
    def _aevents(self, client: AsyncClient, call: ApiCall) -> AsyncIterator[Any]:
        """Async :meth:`_events` (an async generator; ``aclose`` closes the stream)."""

    # -- the Backend contract ----------------------------------------------------------

    def _api_call(self, call: BackendCall, *, stream: bool) -> ApiCall:
        return self._prepare(call.request, call.options, stream=stream)

    def _call_timeout(self, options: Mapping[str, Any]) -> float:
        """Seconds for one call: its ``timeout=`` option, else the backend's default."""
        timeout = options.get("timeout")
        return float(timeout) if timeout is not None else self.timeout

    def _translate_error(self, error: BaseException) -> Exception:
        return translate_error(self.name, error, secrets=self._secrets())

    def _complete(self, call: BackendCall) -> Reply:
        """One request; the response decoded into text with markers."""
        api_call = self._api_call(call, stream=False)
        client = self.client

        def attempt() -> Any:
            try:
                return self._create(client, api_call)
            except Exception as exc:
                raise self._translate_error(exc) from exc

        return _reply(self._decode(call_with_retries(self.retry, attempt), api_call))

    async def _acomplete(self, call: BackendCall) -> Reply:
        """Native async :meth:`_complete` on the async client."""
        api_call = self._api_call(call, stream=False)
        client = self.async_client

        async def attempt() -> Any:
            try:
                return await self._acreate(client, api_call)
            except Exception as exc:
                raise self._translate_error(exc) from exc

        return _reply(self._decode(await acall_with_retries(self.retry, attempt), api_call))

    def _complete_stream(self, call: BackendCall) -> Iterator[Piece]:
        """Stream text as the provider sends it; the call's facts come last."""
        api_call = self._api_call(call, stream=True)
        client = self.client
        decoder = self._stream_decoder(api_call)

        def open_stream() -> tuple[Generator[Any, None, None], Any]:
            events = self._events(client, api_call)
            try:
                return events, next(events, _END)
            except Exception as exc:
                events.close()
                raise self._translate_error(exc) from exc

        events, event = call_with_retries(self.retry, open_stream)
        try:
            while event is not _END:
                yield from pieces(decoder.feed(event), self.name)
                try:
                    event = next(events, _END)
                except Exception as exc:
                    raise self._translate_error(exc) from exc
            yield from pieces(decoder.finish(), self.name)
        finally:
            events.close()

    async def _acomplete_stream(self, call: BackendCall) -> AsyncIterator[Piece]:
        """Native async :meth:`_complete_stream`; cancelling it closes the HTTP stream."""
        api_call = self._api_call(call, stream=True)
        client = self.async_client
        decoder = self._stream_decoder(api_call)

        async def open_stream() -> tuple[AsyncIterator[Any], Any]:
            events = self._aevents(client, api_call)
            try:
                return events, await anext(events, _END)
            except BaseException as exc:
                await aclose_iterator(events)
                if isinstance(exc, Exception):
                    raise self._translate_error(exc) from exc
                raise

        events, event = await acall_with_retries(self.retry, open_stream)
        try:
            while event is not _END:
                for piece in pieces(decoder.feed(event), self.name):
                    yield piece
                try:
                    event = await anext(events, _END)
                except Exception as exc:
                    raise self._translate_error(exc) from exc
            for piece in pieces(decoder.finish(), self.name):
                yield piece
        finally:
            await aclose_iterator(events)

    # -- cleanup ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync client citeformer built (injected clients are the caller's)."""
        if not self._owns_client:
            return
        with self._lock:
            client, self._client = self._client, None
        if client is not None and hasattr(client, "close"):
            client.close()

    async def aclose(self) -> None:
        """Close the async client citeformer built for the running event loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - always called from a coroutine
            return
        client = self._async_clients.pop(loop, None)
        if client is not None:
            closer = getattr(client, "close", None) or getattr(client, "aclose", None)
            if closer is not None:
                result = closer()
                if asyncio.iscoroutine(result):
                    await result


def mapping_option(name: str, value: object) -> dict[str, Any]:
    """``value`` (a mapping with str keys, or None) as a new dict.

    Raises:
        InvalidOptionError: ``value`` is something else (naming ``name``).
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidOptionError(f"{name} must be a mapping (a dict), got {type(value).__name__}")
    keys = [key for key in value if not isinstance(key, str)]
    if keys:
        raise InvalidOptionError(f"{name} keys must be str, got {keys[0]!r}")
    return dict(value)


def bool_option(name: str, value: object) -> bool:
    """``value`` if it is a bool; :class:`InvalidOptionError` naming ``name`` otherwise."""
    if not isinstance(value, bool):
        raise InvalidOptionError(f"{name} must be True or False, got {value!r}")
    return value


def _keyword_parameters(cls: type[Any]) -> set[str] | None:
    """Names ``cls(...)`` takes by keyword; None if it takes ``**kwargs`` (or is unreadable)."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


class _NoLoop:
    """Key for an async client built outside a running loop (a weakref-able object)."""


_NO_LOOP = _NoLoop()
_END = object()


def _reply(text: str) -> Reply:
    return Reply(str(text), call_info(text))
