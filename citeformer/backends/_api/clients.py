"""The connection settings and SDK clients of a hosted-API backend.

An injected sync or async client is used as given. Otherwise each is built lazily
from the same settings (:meth:`ApiClients._client_args`): the sync one on the first
sync call, the async one (:attr:`ApiClients.async_client`) on the first async
call, one per event loop (an SDK's async connection pool belongs to the loop that
opened it). Sync-only users never construct the async client, and async calls
never construct the sync one.
"""

from __future__ import annotations

import abc
import asyncio
import os
import threading
import weakref
from collections.abc import Iterable
from typing import Any, ClassVar, Generic, Unpack

from pydantic import SecretStr

from citeformer.backends._api.settings import (
    DEFAULT_TIMEOUT,
    ApiOptions,
    AsyncClient,
    SyncClient,
    check_client_kwargs,
    checked_api_key,
    checked_base_url,
    checked_client_kwargs,
    checked_retry,
    checked_timeout,
    client_kwarg_secrets,
)
from citeformer.errors import ConfigurationError, MissingDependencyError


class ApiClients(Generic[SyncClient, AsyncClient], abc.ABC):
    """The key, base URL, timeout, retry policy and SDK clients of one backend.

    The base of :class:`~citeformer.backends._api.backend.ApiBackend`; a provider
    supplies :meth:`_import_sdk`, :meth:`_make_client` and :meth:`_make_async_client`,
    and overrides the other hooks where its SDK differs.

    Args:
        **options: The :class:`~citeformer.backends._api.settings.ApiOptions`.

    Attributes:
        timeout: Default seconds per call.
        retry: The retry policy.
    """

    extra: ClassVar[str] = ""
    """The pip extra that installs this backend's SDK."""
    api_key_env: ClassVar[str | None] = None
    """Environment variable holding the API key."""

    def __init__(self, **options: Unpack[ApiOptions[SyncClient, AsyncClient]]) -> None:
        self._base_url = checked_base_url(options.get("base_url"))
        self.timeout = checked_timeout(options.get("timeout", DEFAULT_TIMEOUT))
        self.retry = checked_retry(options.get("retry"))
        api_key = checked_api_key(options.get("api_key"))
        self._api_key = SecretStr(api_key) if api_key else None
        self._client_kwargs = checked_client_kwargs(options.get("client_kwargs"))
        client = options.get("client")
        async_client = options.get("async_client")
        if client is not None and async_client is None:
            async_client = self._async_side(client)
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

    # -- provider hooks ------------------------------------------------------------------

    @abc.abstractmethod
    def _import_sdk(self) -> Any:
        """Import and return the SDK module."""

    @abc.abstractmethod
    def _make_client(self) -> SyncClient:
        """Build the sync client from :meth:`_client_args`."""

    @abc.abstractmethod
    def _make_async_client(self) -> AsyncClient:
        """Build the async client from the same arguments."""

    def _client_classes(self) -> tuple[type[Any], ...]:
        """The SDK client classes citeformer builds from ``client_kwargs`` (imports the SDK).

        Empty (the default): ``client_kwargs`` are not checked at construction.
        """
        return ()

    def _async_side(self, client: SyncClient) -> AsyncClient | None:
        """The async side of an injected sync client, where the SDK's client has one."""
        return None

    def _connection_args(self) -> dict[str, Any]:
        """The key, timeout, base URL and retries-off, under the SDK's argument names.

        The default suits the Stainless-generated SDKs (openai, anthropic). The SDK's
        own retries are off: citeformer's RetryPolicy retries, once.
        """
        args: dict[str, Any] = {
            "api_key": self._api_key_value(),
            "timeout": self.timeout,
            "max_retries": 0,
        }
        if self._base_url:
            args["base_url"] = self._base_url
        return args

    def _client_args(self) -> dict[str, Any]:
        """Keyword arguments for the SDK clients: the connection's, then ``client_kwargs``."""
        return {**self._connection_args(), **self._client_kwargs}

    def _needs_key(self) -> bool:
        """Whether calls fail without a key (local OpenAI-compatible servers need none)."""
        return True

    # -- configuration -------------------------------------------------------------------

    def _check_client_kwargs(self) -> None:
        """Reject ``client_kwargs`` keys the SDK's client constructors do not take."""
        if not self._client_kwargs:
            return
        try:
            classes = self._client_classes()
        except ImportError:
            return  # clients were injected and the SDK is not importable: nothing to check
        check_client_kwargs(type(self).__name__, self._client_kwargs, classes)

    def _check_sdk(self) -> None:
        """Import the SDK now, so a missing extra fails at construction."""
        try:
            self._import_sdk()
        except ImportError as exc:
            raise MissingDependencyError(type(self).__name__, self.extra) from exc

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

    def _api_key_value(self) -> str | None:
        return self._api_key.get_secret_value() if self._api_key else None

    def _secrets(self) -> Iterable[str]:
        """The key, and credentials passed through ``client_kwargs`` (tokens, auth headers)."""
        found = [self._api_key.get_secret_value()] if self._api_key else []
        return found + client_kwarg_secrets(self._client_kwargs)

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(f"{type(self).__name__} holds credentials and clients; it is not pickled")

    # -- the clients -----------------------------------------------------------------------

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


class _NoLoop:
    """Key for an async client built outside a running loop (a weakref-able object)."""


_NO_LOOP = _NoLoop()
