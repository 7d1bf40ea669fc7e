"""OpenAIBackend: chat completions through the openai SDK, sync and natively async."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Generator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Unpack

from citeformer.backends._api import (
    ApiBackend,
    ApiCall,
    ApiOptions,
    StreamDecoder,
    bool_option,
    mapping_option,
)
from citeformer.backends._api.wire import SseParser, read_json
from citeformer.backends.base import CitationRequest, Reply
from citeformer.backends.choice import Choice, ChoiceCall
from citeformer.backends.openai.choice import build_choice_payload, decode_choice
from citeformer.backends.openai.codec import (
    Constraint,
    GrammarDialect,
    RequestShape,
    ResponseDecoder,
    build_payload,
    decode_response,
    is_reasoning_model,
)
from citeformer.core import Enforcement
from citeformer.errors import InvalidOptionError

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI


class OpenAIBackend(ApiBackend["OpenAI", "AsyncOpenAI"]):
    """Chat completions with strict JSON-schema output (or a server-side grammar).

    By default the model answers in JSON segments whose ``citations`` are an enum of
    ``1..N`` (strict structured output): a schema-following server cannot name a
    source that was not supplied, and marker-like text in the free-text fields is
    neutralised. Streaming parses the JSON as it arrives (an incremental decoder) and
    releases text as soon as it is settled.

    OpenAI-compatible servers that enforce grammars (vLLM ``serve``, the llama.cpp
    server, SGLang) take the citation grammar itself: pass ``base_url=``,
    ``constraint="grammar"`` and ``grammar_dialect=`` (or use :meth:`for_server`);
    the tier is then ``grammar``. ``constraint="none"`` sends the plain prompt
    (tier ``validated``) for servers with neither.

    Args:
        model: Model name.
        constraint: ``json_schema`` (default), ``grammar`` or ``none``.
        grammar_dialect: With ``constraint="grammar"``: ``vllm``, ``llama.cpp``,
            ``sglang`` or ``fireworks``.
        reasoning: Treat the model as a reasoning model (``max_completion_tokens``,
            no sampling parameters). Default: guessed from the name (o1, o3, gpt-5...).
        extra_body: Provider fields sent with every request.
        extra_headers: Headers sent with every request.
        **kwargs: The shared :class:`~citeformer.backends._api.ApiOptions`:
            ``api_key`` (default: ``$OPENAI_API_KEY``; local servers need none),
            ``base_url`` (for OpenAI-compatible servers), ``client`` and
            ``async_client`` (a ready ``openai.OpenAI`` / ``openai.AsyncOpenAI``),
            ``client_kwargs`` (``organization``, ``http_client``,
            ``default_headers``...), ``timeout``, ``retry`` (citeformer's clients
            have the SDK's own retries off).

    Per-call options: ``max_tokens`` (or ``max_new_tokens``), ``temperature``,
    ``top_p``, ``seed``, ``stop``, ``timeout``, ``model``, ``reasoning_effort``.

    Example:
        >>> backend = OpenAIBackend("gpt-4.1-mini", api_key="sk-...")  # doctest: +SKIP
    """

    name = "openai"
    enforcement = Enforcement.SCHEMA
    extra = "openai"
    api_key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    example_model: ClassVar[str] = "gpt-4.1-mini"
    base_url: ClassVar[str | None] = None
    """Default API root (None: the SDK's default, api.openai.com)."""
    default_constraint: ClassVar[Constraint] = "json_schema"
    default_dialect: ClassVar[GrammarDialect | None] = None
    default_headers: ClassVar[Mapping[str, str]] = {}
    supports_min_items: ClassVar[bool] = True

    def __init__(
        self,
        model: str,
        *,
        constraint: Constraint | None = None,
        grammar_dialect: GrammarDialect | None = None,
        reasoning: bool | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **kwargs: Unpack[ApiOptions[OpenAI, AsyncOpenAI]],
    ) -> None:
        self._check_model(model)  # the shape reads it before ApiBackend's checks run
        self.shape = RequestShape(
            model=model,
            constraint=constraint or self.default_constraint,
            dialect=grammar_dialect or self.default_dialect,
            reasoning=(
                is_reasoning_model(model)
                if reasoning is None
                else bool_option("reasoning", reasoning)
            ),
            min_items=self.supports_min_items,
            extra_body=mapping_option("extra_body", extra_body),
            extra_headers={
                **self.default_headers,
                **mapping_option("extra_headers", extra_headers),
            },
        )
        kwargs["base_url"] = kwargs.get("base_url") or self.base_url
        super().__init__(model, **kwargs)

    @classmethod
    def for_server(
        cls, base_url: str, model: str, *, server: GrammarDialect, **kwargs: Any
    ) -> OpenAIBackend:
        """A backend for a self-hosted OpenAI-compatible server that enforces grammars.

        Args:
            base_url: The server's API root, e.g. ``http://vllm:8000/v1``.
            model: The model name the server serves.
            server: ``vllm``, ``llama.cpp`` or ``sglang`` (where the grammar goes).
            **kwargs: Other constructor arguments.
        """
        if not isinstance(base_url, str) or not base_url.strip():
            raise InvalidOptionError(
                "for_server needs the server's API root as a str, e.g."
                f" 'http://localhost:8000/v1'; got {base_url!r}"
            )
        return cls(model, base_url=base_url, constraint="grammar", grammar_dialect=server, **kwargs)

    def _repr_extra(self) -> str:
        return f", constraint={self.shape.constraint!r}"

    # -- configuration ---------------------------------------------------------------

    def _needs_key(self) -> bool:
        # A self-hosted server usually takes no key; the hosted APIs always do.
        return self._base_url is None or type(self).base_url is not None

    def _import_sdk(self) -> Any:
        import openai

        return openai

    def _client_classes(self) -> tuple[type[Any], ...]:
        from openai import AsyncOpenAI, OpenAI

        return (OpenAI, AsyncOpenAI)

    def _connection_args(self) -> dict[str, Any]:
        # The SDK refuses a missing key; keyless self-hosted servers ignore this one.
        return {**super()._connection_args(), "api_key": self._api_key_value() or "unused"}

    def _make_client(self) -> OpenAI:
        from openai import OpenAI

        return OpenAI(**self._client_args())

    def _make_async_client(self) -> AsyncOpenAI:
        from openai import AsyncOpenAI

        return AsyncOpenAI(**self._client_args())

    # -- translation -----------------------------------------------------------------

    def _prepare(
        self, request: CitationRequest, options: Mapping[str, Any], *, stream: bool
    ) -> ApiCall:
        payload = build_payload(self.shape, request, options, stream=stream)
        return ApiCall(request, payload, self._call_timeout(options))

    def _decode(self, response: Any, call: ApiCall) -> Reply:
        return decode_response(response, self.shape, call.request, self.name)

    def _stream_decoder(self, call: ApiCall) -> StreamDecoder:
        return ResponseDecoder(self.shape, call.request, self.name)

    def _prepare_choice(self, call: ChoiceCall) -> ApiCall:
        payload = build_choice_payload(self.shape, call)
        return ApiCall(call.request, payload, self._call_timeout(call.call_options))

    def _decode_choice(self, response: Any, call: ApiCall, choice: ChoiceCall) -> Choice:
        return decode_choice(response, self.shape, choice, self.name)

    # -- the SDK calls ----------------------------------------------------------------
    #
    # The SDK sends each request (auth, headers, status errors, timeouts) and hands back
    # its raw response, whose JSON the codec reads as plain attribute objects
    # (citeformer.backends._api.wire): building the SDK's typed models would cost more
    # CPU than the rest of the call (~50 µs a stream chunk).

    def _create(self, client: OpenAI, call: ApiCall) -> Any:
        raw = client.chat.completions.with_raw_response.create(**call.payload, timeout=call.timeout)
        return read_json(raw.content, self.name)

    async def _acreate(self, client: AsyncOpenAI, call: ApiCall) -> Any:
        raw = await client.chat.completions.with_raw_response.create(
            **call.payload, timeout=call.timeout
        )
        return read_json(raw.content, self.name)

    def _events(self, client: OpenAI, call: ApiCall) -> Generator[Any, None, None]:
        create = client.chat.completions.with_streaming_response.create
        with create(**call.payload, timeout=call.timeout) as response:
            http, parser = _event_body(response)
            for line in http.iter_lines():
                data = parser.line(line)
                if data is not None:
                    yield self._chunk(data, http)

    async def _aevents(self, client: AsyncOpenAI, call: ApiCall) -> AsyncIterator[Any]:
        create = client.chat.completions.with_streaming_response.create
        async with create(**call.payload, timeout=call.timeout) as response:
            http, parser = _event_body(response)
            async for line in http.aiter_lines():
                data = parser.line(line)
                if data is not None:
                    yield self._chunk(data, http)

    def _chunk(self, data: str, http: Any) -> Any:
        """One event's chunk; an error event raises the SDK's ``APIError``, as its stream does."""
        chunk = read_json(data, self.name)
        error = getattr(chunk, "error", None)
        if error:
            from openai import APIError

            message = getattr(error, "message", None)
            if not isinstance(message, str) or not message:
                message = "An error occurred during streaming"
            raise APIError(message, request=http.request, body=json.loads(data).get("error"))
        return chunk


def _event_body(response: Any) -> tuple[Any, SseParser]:
    """A streamed response's HTTP body, read as UTF-8, and the parser for its events.

    The parser stops at ``[DONE]`` while the caller reads on to the end of the body.
    """
    http = response.http_response
    http.encoding = "utf-8"
    return http, SseParser(end="[DONE]")
