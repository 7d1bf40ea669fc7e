"""MistralBackend: Mistral chat completions through mistralai, sync and natively async."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Generator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, Unpack

from citeformer.backends._api import (
    ASYNC_POOL_LIMITS,
    ApiBackend,
    ApiCall,
    ApiOptions,
    StreamDecoder,
    bool_option,
    milliseconds,
)
from citeformer.backends.base import CitationRequest, Reply
from citeformer.backends.choice import Choice, ChoiceCall
from citeformer.backends.mistral.choice import build_choice_payload, decode_choice
from citeformer.backends.mistral.codec import (
    RequestShape,
    ResponseDecoder,
    build_payload,
    decode_response,
)
from citeformer.core import Enforcement

if TYPE_CHECKING:
    from mistralai.client import Mistral


class MistralBackend(ApiBackend["Mistral", "Mistral"]):
    """Mistral with strict JSON-schema output whose citation ids are an enum of ``1..N``.

    The model answers in JSON segments (``response_format`` of type
    ``json_schema``, ``strict``); only the schema-bounded ids become citations,
    and marker-like text in the free-text fields is neutralised. Streaming parses
    the JSON as it arrives (an incremental decoder) and releases settled text.

    Clients. A mistralai ``Mistral`` object serves both sides: ``chat.complete``
    and ``chat.stream`` on its sync HTTP client, ``complete_async`` and
    ``stream_async`` on its async one. An injected ``client=`` is used for both
    (unless ``async_client=`` is also given); the caller owns it. Otherwise
    citeformer builds one ``Mistral`` for sync calls on first sync use and one per
    event loop on first async use, from the same arguments; each is given only
    the HTTP client its side uses (the other slot holds a stand-in that refuses
    requests), so async calls never construct a sync HTTP client and sync-only
    users never construct an async one. The async HTTP client citeformer builds
    allows 1,000 connections (:data:`ASYNC_POOL_LIMITS`) for fan-out.

    The SDK's own retries are off for every call (``retries=None``, also on an
    injected client): citeformer's :class:`~citeformer.backends.retry.RetryPolicy`
    retries, once. Timeouts use the SDK's per-call ``timeout_ms``.

    Args:
        model: Model name, e.g. ``mistral-small-latest``.
        safe_prompt: Ask Mistral to prepend its safety prompt.
        **kwargs: The shared :class:`~citeformer.backends._api.ApiOptions`:
            ``api_key`` (default: ``$MISTRAL_API_KEY``), ``base_url`` (the SDK's
            ``server_url``), ``client`` and ``async_client`` (a ready
            ``mistralai.client.Mistral``), ``client_kwargs`` (``server``,
            ``client``, ``async_client`` for custom httpx clients,
            ``debug_logger``...), ``timeout``, ``retry``.

    Per-call options: ``max_tokens`` (or ``max_new_tokens``), ``temperature``,
    ``top_p``, ``seed`` (``random_seed``), ``stop``, ``timeout``, ``model``.

    Example:
        >>> backend = MistralBackend("mistral-small-latest", api_key="...")  # doctest: +SKIP
    """

    name = "mistral"
    enforcement = Enforcement.SCHEMA
    extra = "mistral"
    api_key_env: ClassVar[str | None] = "MISTRAL_API_KEY"
    example_model: ClassVar[str] = "mistral-small-latest"

    def __init__(
        self,
        model: str,
        *,
        safe_prompt: bool = False,
        **kwargs: Unpack[ApiOptions[Mistral, Mistral]],
    ) -> None:
        self._owned_http: weakref.WeakKeyDictionary[Mistral, Any] = weakref.WeakKeyDictionary()
        self.shape = RequestShape(model=model, safe_prompt=bool_option("safe_prompt", safe_prompt))
        super().__init__(model, **kwargs)

    # -- configuration ---------------------------------------------------------------

    def _import_sdk(self) -> Any:
        from mistralai import client

        return client

    def _client_classes(self) -> tuple[type[Any], ...]:
        from mistralai.client import Mistral

        return (Mistral,)

    def _async_side(self, client: Mistral) -> Mistral:
        return client  # one Mistral object serves both sides

    def _connection_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "api_key": self._api_key_value(),
            "retry_config": None,  # citeformer's RetryPolicy retries, once
            "timeout_ms": milliseconds(self.timeout),
        }
        if self._base_url:
            args["server_url"] = self._base_url
        return args

    def _make_client(self) -> Mistral:
        from mistralai.client import Mistral

        args = self._client_args()
        args.setdefault("async_client", _Unused("async"))
        return Mistral(**args)

    def _make_async_client(self) -> Mistral:
        import httpx2
        from mistralai.client import Mistral

        args = self._client_args()
        args.setdefault("client", _Unused("sync"))
        if "async_client" not in args:
            limits = httpx2.Limits(**ASYNC_POOL_LIMITS)
            http = httpx2.AsyncClient(follow_redirects=True, limits=limits)
            args["async_client"] = http
            client = Mistral(**args)
            self._owned_http[client] = http
            return client
        return Mistral(**args)

    def close(self) -> None:
        """Close the sync HTTP client citeformer built (injected clients are the caller's)."""
        if not self._owns_client:
            return
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            owner: Any = client  # mistralai's context-manager methods are untyped
            owner.__exit__(None, None, None)

    async def aclose(self) -> None:
        """Close this event loop's async HTTP client citeformer built, and the sync one."""
        import asyncio

        client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            http = self._owned_http.pop(client, None)
            if http is not None:
                await http.aclose()
            owner: Any = client
            await owner.__aexit__(None, None, None)
        self.close()

    # -- translation -----------------------------------------------------------------

    def _prepare(
        self, request: CitationRequest, options: Mapping[str, Any], *, stream: bool
    ) -> ApiCall:
        seconds = self._call_timeout(options)
        return ApiCall(request, build_payload(self.shape, request, options, seconds), seconds)

    def _decode(self, response: Any, call: ApiCall) -> Reply:
        return decode_response(response, call.request, self.name)

    def _stream_decoder(self, call: ApiCall) -> StreamDecoder:
        return ResponseDecoder(call.request, self.name)

    def _prepare_choice(self, call: ChoiceCall) -> ApiCall:
        seconds = self._call_timeout(call.call_options)
        return ApiCall(call.request, build_choice_payload(self.shape, call, seconds), seconds)

    def _decode_choice(self, response: Any, call: ApiCall, choice: ChoiceCall) -> Choice:
        return decode_choice(response, choice, self.name)

    # -- the SDK calls ----------------------------------------------------------------

    def _create(self, client: Mistral, call: ApiCall) -> Any:
        return client.chat.complete(**call.payload)

    async def _acreate(self, client: Mistral, call: ApiCall) -> Any:
        return await client.chat.complete_async(**call.payload)

    def _events(self, client: Mistral, call: ApiCall) -> Generator[Any, None, None]:
        stream: Any = client.chat.stream(**call.payload)
        try:
            yield from stream
        finally:
            stream.close()
            stream.generator.close()

    async def _aevents(self, client: Mistral, call: ApiCall) -> AsyncIterator[Any]:
        stream: Any = await client.chat.stream_async(**call.payload)
        try:
            async for event in stream:
                yield event
        finally:
            await stream.close()
            await stream.generator.aclose()


class _Unused:
    """Stands in for the HTTP client a side of a citeformer-built ``Mistral`` never uses.

    mistralai builds both a sync and an async httpx client unless given them; this
    satisfies its ``HttpClient``/``AsyncHttpClient`` protocols and refuses to send.
    """

    def __init__(self, side: str) -> None:
        self.side = side

    def _refuse(self) -> NoReturn:
        raise RuntimeError(
            f"citeformer built this Mistral client without a {self.side} HTTP client;"
            f" use the backend's {'async_client' if self.side == 'sync' else 'client'}"
        )

    def send(self, *args: Any, **kwargs: Any) -> Any:
        self._refuse()

    def build_request(self, *args: Any, **kwargs: Any) -> Any:
        self._refuse()

    def close(self) -> None:
        """Nothing to close."""

    async def aclose(self) -> None:
        """Nothing to close."""
