"""GeminiBackend: Gemini's generateContent through google-genai, sync and natively async."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Unpack

from pydantic import SecretStr

from citeformer.backends._api import (
    ASYNC_POOL_LIMITS,
    ApiBackend,
    ApiCall,
    ApiOptions,
    StreamDecoder,
    milliseconds,
)
from citeformer.backends.base import CitationRequest, Reply
from citeformer.backends.choice import Choice, ChoiceCall
from citeformer.backends.gemini.choice import build_choice_payload, decode_choice
from citeformer.backends.gemini.codec import (
    RequestShape,
    ResponseDecoder,
    SchemaDialect,
    build_payload,
    decode_response,
)
from citeformer.core import Enforcement
from citeformer.errors import InvalidOptionError

if TYPE_CHECKING:
    from google.genai import Client
    from google.genai.client import AsyncClient

_KEYLESS = ("vertexai", "enterprise", "credentials")


class GeminiBackend(ApiBackend["Client", "AsyncClient"]):
    """Gemini with a response schema whose citation ids are an enum of ``1..N``.

    The model answers in JSON segments (``response_mime_type="application/json"``
    with the segment schema); only the schema-bounded ids become citations, and
    marker-like text in the free-text fields is neutralised. Streaming parses the
    JSON as it arrives (an incremental decoder) and releases text once it is settled.

    Clients. google-genai has one ``Client`` whose ``.aio`` attribute is the async
    side, sharing its configuration. citeformer maps that onto "inject, or build
    lazily from one configuration":

    * ``client=`` (a ready ``genai.Client``) serves sync calls, and its ``.aio``
      serves async calls, unless ``async_client=`` (a ready ``Client.aio``) is
      also given. The caller owns and closes injected clients.
    * Otherwise :attr:`client` is built on the first sync call and
      :attr:`async_client` (a ``Client.aio``) on the first async call in each
      event loop, each from the same arguments. A ``genai.Client`` always builds
      an httpx pool for sync requests when it is constructed; the one built for
      the async side has that pool closed at once (it never opens a connection),
      so async calls neither construct :attr:`client` nor hold a sync pool. The
      async side sends through an httpx transport of its own (see
      :func:`_use_httpx_transport`), one per event loop.

    The SDK's own retries are off for every call (also on an injected client):
    citeformer's :class:`~citeformer.backends.retry.RetryPolicy` retries, once.

    Args:
        model: Model name, e.g. ``gemini-2.5-flash``.
        schema_dialect: ``json_schema`` (default: ``response_json_schema`` with
            integer enum ids) or ``openapi`` (``response_schema`` with string enum
            ids, for models without JSON Schema support).
        safety_settings: Gemini safety settings sent with every request.
        **kwargs: The shared :class:`~citeformer.backends._api.ApiOptions`:
            ``api_key`` (default: ``$GEMINI_API_KEY``, then ``$GOOGLE_API_KEY``;
            Vertex AI through ``client_kwargs`` needs none), ``base_url``
            (``HttpOptions.base_url``), ``client`` (a ready ``google.genai.Client``),
            ``async_client`` (a ready ``google.genai.client.AsyncClient``, a
            ``Client.aio``), ``client_kwargs`` (``vertexai``, ``project``,
            ``location``, ``credentials``, ``http_options``...), ``timeout``,
            ``retry``.

    Per-call options: ``max_tokens`` (or ``max_new_tokens``), ``temperature``,
    ``top_p``, ``seed``, ``stop``, ``timeout``, ``model``.

    Example:
        >>> backend = GeminiBackend("gemini-2.5-flash", api_key="...")  # doctest: +SKIP
    """

    name = "gemini"
    enforcement = Enforcement.SCHEMA
    extra = "gemini"
    api_key_env: ClassVar[str | None] = "GEMINI_API_KEY"
    example_model: ClassVar[str] = "gemini-2.5-flash"
    fallback_key_env: ClassVar[str] = "GOOGLE_API_KEY"
    """Read when :attr:`api_key_env` is unset (google-genai's own variable)."""

    def __init__(
        self,
        model: str,
        *,
        schema_dialect: SchemaDialect = "json_schema",
        safety_settings: Sequence[Mapping[str, Any]] | None = None,
        **kwargs: Unpack[ApiOptions[Client, AsyncClient]],
    ) -> None:
        if safety_settings is not None and (
            isinstance(safety_settings, str) or not isinstance(safety_settings, Sequence)
        ):
            raise InvalidOptionError(
                "safety_settings must be a list of mappings (Gemini SafetySetting dicts),"
                f" got {type(safety_settings).__name__}"
            )
        self.shape = RequestShape(
            model=model,
            schema_dialect=schema_dialect,
            safety_settings=tuple(_safety_setting(s) for s in safety_settings or ()),
        )
        super().__init__(model, **kwargs)

    # -- configuration ---------------------------------------------------------------

    def _require_key(self) -> SecretStr | None:
        if self._api_key is None:
            value = os.environ.get(self.fallback_key_env)
            if value and not os.environ.get(self.api_key_env or ""):
                self._api_key = SecretStr(value)
        return super()._require_key()

    def _needs_key(self) -> bool:
        # Vertex AI authenticates with Google Cloud credentials instead.
        return not any(self._client_kwargs.get(name) for name in _KEYLESS)

    def _async_side(self, client: Client) -> AsyncClient:
        return client.aio  # one injected Client serves both sides

    def _import_sdk(self) -> Any:
        from google import genai

        return genai

    def _client_classes(self) -> tuple[type[Any], ...]:
        from google.genai import Client

        return (Client,)

    def _client_args(self) -> dict[str, Any]:
        # The settings go inside http_options, merged with the caller's (not over them).
        args: dict[str, Any] = dict(self._client_kwargs)
        options = args.pop("http_options", None)
        if options is not None and not isinstance(options, dict):
            options = options.model_dump(exclude_none=True)
        http_options: dict[str, Any] = dict(options or {})
        if self._base_url:
            http_options["base_url"] = self._base_url
        http_options.setdefault("timeout", milliseconds(self.timeout))
        http_options["retry_options"] = {"attempts": 1}  # citeformer's RetryPolicy retries
        args["http_options"] = http_options
        key = self._api_key_value()
        if key:
            args["api_key"] = key
        return args

    def _make_client(self) -> Client:
        from google.genai import Client

        return Client(**self._client_args())

    def _make_async_client(self) -> AsyncClient:
        from google.genai import Client

        args = self._client_args()
        _use_httpx_transport(args["http_options"])
        owner = Client(**args)
        owner.close()  # its sync httpx pool: never used by the async side
        return owner.aio

    # -- translation -----------------------------------------------------------------

    def _prepare(
        self, request: CitationRequest, options: Mapping[str, Any], *, stream: bool
    ) -> ApiCall:
        seconds = self._call_timeout(options)
        payload = build_payload(self.shape, request, options, seconds)
        return ApiCall(request, payload, seconds)

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

    def _create(self, client: Client, call: ApiCall) -> Any:
        return client.models.generate_content(**call.payload)

    async def _acreate(self, client: AsyncClient, call: ApiCall) -> Any:
        return await client.models.generate_content(**call.payload)

    def _events(self, client: Client, call: ApiCall) -> Generator[Any, None, None]:
        stream: Any = client.models.generate_content_stream(**call.payload)
        try:
            yield from stream
        finally:
            stream.close()  # a generator: closing it releases the HTTP response

    async def _aevents(self, client: AsyncClient, call: ApiCall) -> AsyncIterator[Any]:
        stream = await client.models.generate_content_stream(**call.payload)
        try:
            async for chunk in stream:
                yield chunk
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()


def _safety_setting(value: object) -> dict[str, Any]:
    """One safety setting as a dict: a mapping, or a ``types.SafetySetting`` (its fields)."""
    try:
        setting: dict[str, Any] = dict(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise InvalidOptionError(
            "each safety_settings item must be a mapping such as"
            f" {{'category': ..., 'threshold': ...}}, got {value!r}"
        ) from None
    return setting


def _use_httpx_transport(http_options: dict[str, Any]) -> None:
    """Send async requests through an httpx transport instead of genai's aiohttp session.

    google-genai prefers aiohttp when it is installed; its aiohttp session class
    triggers aiohttp's ``DeprecationWarning`` on every session it creates and has
    an implicit retry path of its own. An explicit transport selects httpx (the
    same stack as the sync side) with pool limits sized for fan-out; citeformer
    already keeps one async client per event loop. Left alone when the caller
    chose an async HTTP client or transport in ``client_kwargs``.
    """
    chosen = http_options.get("async_client_args") or {}
    if http_options.get("httpx_async_client") or http_options.get("aiohttp_client"):
        return
    if "transport" in chosen:
        return
    try:
        import httpx2 as httpx_module
    except ImportError:  # pragma: no cover - older google-genai releases use httpx
        import httpx as httpx_module  # type: ignore[no-redef]
    limits = httpx_module.Limits(**ASYNC_POOL_LIMITS)
    transport = httpx_module.AsyncHTTPTransport(limits=limits)
    http_options["async_client_args"] = {**chosen, "transport": transport}
