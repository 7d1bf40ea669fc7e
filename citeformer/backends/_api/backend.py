"""The call template shared by every hosted-API backend: errors, retries, streaming.

A provider backend supplies pure translation (build the request payload, decode
a response, decode stream events) and the few lines that call its SDK;
:class:`ApiBackend` does the rest once:

* **Clients.** Injected, or built lazily per side and per event loop
  (:mod:`citeformer.backends._api.clients`).
* **Errors.** Everything the SDK raises goes through
  :func:`~citeformer.backends._api.errors.translate_error`, here only.
* **Retries and timeouts.** Per call ``timeout=`` (seconds) and a
  :class:`~citeformer.backends.retry.RetryPolicy`; a stream is retried only until
  its first event.
* **Async.** ``agenerate``/``astream`` await the SDK's async client: no threads.

Per-call facts travel beside the text, in :class:`~citeformer.backends.call.Reply`.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from typing import Any, ClassVar, Protocol, Unpack

from citeformer.backends._api.clients import ApiClients
from citeformer.backends._api.errors import translate_error
from citeformer.backends._api.retry import acall_with_retries, aretry_after, call_with_retries
from citeformer.backends._api.settings import (
    ApiOptions,
    AsyncClient,
    SyncClient,
    check_unknown,
    checked_base_url,
)
from citeformer.backends.base import (
    BackendCall,
    CallBackend,
    CitationRequest,
    Piece,
    Reply,
    aclose_iterator,
)
from citeformer.backends.choice import Choice, ChoiceCall
from citeformer.errors import InvalidOptionError


class StreamDecoder(Protocol):
    """Turns one call's stream events into answer text (pure; no I/O)."""

    def feed(self, event: Any) -> str | Reply:
        """Consume one SDK stream event; return new text (a Reply when facts came too)."""

    def finish(self) -> Reply:
        """The remaining text with the call's :class:`~citeformer.backends.call.CallInfo`."""


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


class ApiBackend(ApiClients[SyncClient, AsyncClient], CallBackend):
    """Base class of the hosted-API backends.

    Args:
        model: The provider's model name.
        **options: The shared :class:`~citeformer.backends._api.settings.ApiOptions`
            (``api_key``, ``base_url``, ``client``, ``async_client``,
            ``client_kwargs``, ``timeout``, ``retry``).

    Raises:
        InvalidOptionError: An argument has the wrong type or value, or is unknown.
        ConfigurationError: No API key was given or found, and the host needs one.
        MissingDependencyError: The SDK is not installed (and no client was injected).
    """

    example_model: ClassVar[str] = "model-name"
    """A model name, for the message when the model argument is unusable."""

    def __init__(self, model: str, **options: Unpack[ApiOptions[SyncClient, AsyncClient]]) -> None:
        check_unknown(type(self), options)
        checked_base_url(options.get("base_url"))  # refused before the model, as it always was
        self._check_model(model)
        self.model = model
        super().__init__(**options)

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

    def __repr__(self) -> str:
        """Class, model and host; never the key or client configuration."""
        host = f", base_url={self._base_url!r}" if self._base_url else ""
        return f"{type(self).__name__}(model={self.model!r}{self._repr_extra()}{host})"

    def _repr_extra(self) -> str:
        """More ``, name=value`` pairs for ``repr`` (never secrets)."""
        return ""

    # -- provider hooks (pure translation, then the SDK call) ----------------------

    @abc.abstractmethod
    def _prepare(
        self, request: CitationRequest, options: Mapping[str, Any], *, stream: bool
    ) -> ApiCall:
        """Build the SDK arguments for one call (pure)."""

    @abc.abstractmethod
    def _decode(self, response: Any, call: ApiCall) -> Reply:
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

    def _prepare_choice(self, call: ChoiceCall) -> ApiCall:
        """Build the SDK arguments for one constrained choice (pure)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement choose()")

    def _decode_choice(self, response: Any, call: ApiCall, choice: ChoiceCall) -> Choice:
        """Read the chosen option (and its probabilities) from a whole response (pure)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement choose()")

    # -- the Backend contract ----------------------------------------------------------

    def _choose(self, call: ChoiceCall) -> Choice:
        """One constrained choice: the same request path as :meth:`_complete`."""
        api_call = self._prepare_choice(call)
        return self._decode_choice(self._send(api_call), api_call, call)

    async def _achoose(self, call: ChoiceCall) -> Choice:
        """Native async :meth:`_choose` on the async client."""
        api_call = self._prepare_choice(call)
        return self._decode_choice(await self._asend(api_call), api_call, call)

    def _send(self, api_call: ApiCall) -> Any:
        """Send one whole request (retried; errors translated); the raw response."""
        client = self.client

        def attempt() -> Any:
            try:
                return self._create(client, api_call)
            except Exception as exc:
                raise self._translate_error(exc) from exc

        return call_with_retries(self.retry, attempt)

    async def _asend(self, api_call: ApiCall) -> Any:
        """Native async :meth:`_send` on the async client.

        The first attempt runs without the retry machinery, which is built only after
        a failure: an in-flight call holds fewer live objects (with hundreds in
        flight, that makes garbage collection cheaper).
        """
        client = self.async_client
        try:
            return await self._aattempt(client, api_call)
        except Exception as error:
            again = functools.partial(self._aattempt, client, api_call)
            return await aretry_after(self.retry, error, again)

    async def _aattempt(self, client: AsyncClient, api_call: ApiCall) -> Any:
        """One attempt of :meth:`_asend`'s call, its error translated."""
        try:
            return await self._acreate(client, api_call)
        except Exception as exc:
            raise self._translate_error(exc) from exc

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
        return self._decode(self._send(api_call), api_call)

    async def _acomplete(self, call: BackendCall) -> Reply:
        """Native async :meth:`_complete` on the async client."""
        api_call = self._api_call(call, stream=False)
        return self._decode(await self._asend(api_call), api_call)

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
                yield from _pieces(decoder.feed(event))
                try:
                    event = next(events, _END)
                except Exception as exc:
                    raise self._translate_error(exc) from exc
            yield from decoder.finish().pieces
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
                for piece in _pieces(decoder.feed(event)):
                    yield piece
                try:
                    event = await anext(events, _END)
                except Exception as exc:
                    raise self._translate_error(exc) from exc
            for piece in decoder.finish().pieces:
                yield piece
        finally:
            await aclose_iterator(events)


_END = object()


def _pieces(out: str | Reply) -> tuple[Piece, ...]:
    """A decoder's output as stream pieces."""
    if isinstance(out, Reply):
        return out.pieces
    return (out,) if out else ()
