"""AnthropicBackend: the Citations API through the anthropic SDK, sync and natively async."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Unpack

from citeformer.backends._api import (
    ApiBackend,
    ApiCall,
    ApiOptions,
    StreamDecoder,
    mapping_option,
)
from citeformer.backends.anthropic import sse
from citeformer.backends.anthropic.choice import build_choice_payload, decode_choice
from citeformer.backends.anthropic.codec import (
    DEFAULT_MAX_TOKENS,
    RequestShape,
    ResponseDecoder,
    build_payload,
    decode_response,
)
from citeformer.backends.base import CitationRequest, Reply
from citeformer.backends.choice import Choice, ChoiceCall
from citeformer.core import Enforcement
from citeformer.options import Check

if TYPE_CHECKING:
    from anthropic import Anthropic, AsyncAnthropic


class AnthropicBackend(ApiBackend["Anthropic", "AsyncAnthropic"]):
    """Claude with the Citations API: the provider itself ties text to sources.

    Each source is sent as a plain-text ``document`` block with citations enabled
    (prompt caching on the documents by default). The model's cited text blocks
    come back with ``document_index`` and the quoted passage; citeformer writes one
    marker per cited block (``document_index + 1``, before the block's trailing
    punctuation) and keeps ``cited_text`` and the character span in the source on
    each :class:`~citeformer.core.Citation`. Marker-like text the model writes in
    prose is neutralised, and a ``document_index`` outside the supplied sources is
    dropped, so only the API's own citations to supplied documents become markers.
    Streaming is real: text is released as it arrives and each marker, with its
    citation details, as soon as its block ends.

    Args:
        model: Model name, e.g. ``claude-sonnet-4-5``.
        max_tokens: ``max_tokens`` when a call does not pass one.
        cache_sources: Put a prompt-cache breakpoint after the documents (default
            on; ``cache_sources=`` per call overrides).
        extra_headers: Headers sent with every request (beta flags...).
        **kwargs: The shared :class:`~citeformer.backends._api.ApiOptions`:
            ``api_key`` (default: ``$ANTHROPIC_API_KEY``), ``base_url``, ``client``
            and ``async_client`` (a ready ``anthropic.Anthropic`` /
            ``anthropic.AsyncAnthropic``), ``client_kwargs`` (``default_headers``,
            ``http_client``...), ``timeout``, ``retry`` (citeformer's clients have
            the SDK's own retries off).

    Per-call options: ``max_tokens`` (or ``max_new_tokens``), ``temperature``,
    ``top_p``, ``top_k``, ``stop``, ``timeout``, ``model``, ``cache_sources``.

    Example:
        >>> backend = AnthropicBackend("claude-sonnet-4-5", api_key="sk-ant-...")  # doctest: +SKIP
    """

    name = "anthropic"
    enforcement = Enforcement.PROVIDER
    extra = "anthropic"
    api_key_env: ClassVar[str | None] = "ANTHROPIC_API_KEY"
    example_model: ClassVar[str] = "claude-sonnet-4-5"

    option_checks: ClassVar[Mapping[str, Check]] = {
        "cache_sources": (lambda value: isinstance(value, bool), "a bool (True or False)"),
    }

    def __init__(
        self,
        model: str,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        cache_sources: bool = True,
        extra_headers: Mapping[str, str] | None = None,
        **kwargs: Unpack[ApiOptions[Anthropic, AsyncAnthropic]],
    ) -> None:
        self.shape = RequestShape(
            model=model,
            max_tokens=max_tokens,
            cache_sources=cache_sources,
            extra_headers=mapping_option("extra_headers", extra_headers),
        )
        super().__init__(model, **kwargs)

    # -- configuration ---------------------------------------------------------------

    def _import_sdk(self) -> Any:
        import anthropic

        return anthropic

    def _client_classes(self) -> tuple[type[Any], ...]:
        from anthropic import Anthropic, AsyncAnthropic

        return (Anthropic, AsyncAnthropic)

    def _make_client(self) -> Anthropic:
        from anthropic import Anthropic

        return Anthropic(**self._client_args())

    def _make_async_client(self) -> AsyncAnthropic:
        from anthropic import AsyncAnthropic

        return AsyncAnthropic(**self._client_args())

    # -- translation -----------------------------------------------------------------

    def _prepare(
        self, request: CitationRequest, options: Mapping[str, Any], *, stream: bool
    ) -> ApiCall:
        return ApiCall(
            request,
            build_payload(self.shape, request, options, stream=stream),
            self._call_timeout(options),
        )

    def _decode(self, response: Any, call: ApiCall) -> Reply:
        return decode_response(response, call.request)

    def _stream_decoder(self, call: ApiCall) -> StreamDecoder:
        return ResponseDecoder(call.request, self.name)

    def _prepare_choice(self, call: ChoiceCall) -> ApiCall:
        payload = build_choice_payload(self.shape, call)
        return ApiCall(call.request, payload, self._call_timeout(call.call_options))

    def _decode_choice(self, response: Any, call: ApiCall, choice: ChoiceCall) -> Choice:
        return decode_choice(response, choice, self.name)

    # -- the SDK calls ----------------------------------------------------------------

    # The raw JSON is read, not the SDK's models: their lax validation coerces values
    # (``"document_index": true`` would become 1) that citeformer must see as sent.

    def _create(self, client: Anthropic, call: ApiCall) -> Any:
        raw = client.messages.with_raw_response.create(**call.payload, timeout=call.timeout)
        return raw.json()

    async def _acreate(self, client: AsyncAnthropic, call: ApiCall) -> Any:
        create = client.messages.with_raw_response.create
        raw = await create(**call.payload, timeout=call.timeout)
        return await raw.json()

    def _events(self, client: Anthropic, call: ApiCall) -> Generator[Any, None, None]:
        create = client.messages.with_streaming_response.create
        with create(**call.payload, timeout=call.timeout) as response:
            for event in sse.events(response.iter_lines()):
                yield sse.raise_if_error(event, response.http_response)

    async def _aevents(self, client: AsyncAnthropic, call: ApiCall) -> AsyncIterator[Any]:
        create = client.messages.with_streaming_response.create
        async with create(**call.payload, timeout=call.timeout) as response:
            async for event in sse.aevents(response.iter_lines()):
                yield sse.raise_if_error(event, response.http_response)
