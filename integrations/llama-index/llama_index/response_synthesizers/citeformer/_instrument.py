"""LlamaIndex instrumentation at a per-call cost that fits a hot path.

``Dispatcher.span`` computes ``inspect.signature`` and a ``uuid4`` on every call (about
25 µs) and every event is a pydantic model (about 7 µs to build), whether or not any
handler is attached: by default the root dispatcher holds only ``NullSpanHandler`` and
``NullEventHandler``. Here:

- :func:`span` sends handlers exactly what ``Dispatcher.span`` sends (same span id
  format ``Class.method-<uuid>``, ``bound_args``, ``instance``, ``parent_id``, tags,
  ``SpanDropEvent`` on error) with the signature computed once per method and a cheaper
  random id; it marks the method as span-decorated so LlamaIndex's
  ``DispatcherSpanMixin`` does not wrap it a second time.
- Spans and events are skipped only when no handler other than the null ones is
  reachable from the dispatcher (its own handlers and its parents', as ``event`` and
  ``span_enter`` walk them). This is checked on every call, so a handler attached at
  any time (Phoenix, Langfuse, your own) sees every span and event from then on.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Coroutine
from contextvars import Token
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

from llama_index.core.instrumentation.event_handlers import NullEventHandler
from llama_index.core.instrumentation.span import active_span_id
from llama_index.core.instrumentation.span_handlers import NullSpanHandler

# Not re-exported explicitly by llama_index.core.instrumentation (no __all__ there):
# imported from the package that defines them, which llama-index-core re-exports.
from llama_index_instrumentation.dispatcher import (
    DISPATCHER_SPAN_DECORATED_ATTR,
    Dispatcher,
    active_instrument_tags,
)
from llama_index_instrumentation.events.span import SpanDropEvent

P = ParamSpec("P")
R = TypeVar("R")


def receives_events(dispatcher: Dispatcher) -> bool:
    """Whether ``dispatcher.event`` would reach a handler other than the null one."""
    current: Dispatcher | None = dispatcher
    while current is not None:
        for handler in current.event_handlers:
            if not isinstance(handler, NullEventHandler):
                return True
        current = current.parent if current.propagate else None
    return False


def receives_spans(dispatcher: Dispatcher) -> bool:
    """Whether ``dispatcher.span_enter`` would reach a handler other than the null one."""
    current: Dispatcher | None = dispatcher
    while current is not None:
        for handler in current.span_handlers:
            if not isinstance(handler, NullSpanHandler):
                return True
        current = current.parent if current.propagate else None
    return False


def _span_uuid() -> str:
    """A random version-4 UUID string (``str(uuid4())`` costs ~5x more)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


class _Span:
    """One open span, as a context manager: entered on creation, closed on exit.

    The body reports success with :meth:`exit`; an exception leaving the body before
    that drops the span (a failure inside :meth:`exit` itself, from a handler, does not:
    the span was already reported).
    """

    __slots__ = ("bound_args", "dispatcher", "exited", "id_", "instance", "token")

    def __init__(
        self,
        dispatcher: Dispatcher,
        signature: inspect.Signature,
        name: str,
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.dispatcher = dispatcher
        self.instance = instance
        self.exited = False
        self.bound_args = signature.bind(*args, **kwargs)
        self.id_ = f"{type(instance).__name__}.{name}-{_span_uuid()}"
        self.token: Token[str | None] = active_span_id.set(self.id_)
        parent = self.token.old_value
        dispatcher.span_enter(
            id_=self.id_,
            bound_args=self.bound_args,
            instance=instance,
            parent_id=None if parent is Token.MISSING else parent,
            tags=active_instrument_tags.get(),
        )

    def __enter__(self) -> Self:
        return self

    def exit(self, result: R) -> R:
        """Report the method's result to the handlers; returns it."""
        self.exited = True
        self.dispatcher.span_exit(
            id_=self.id_, bound_args=self.bound_args, instance=self.instance, result=result
        )
        return result

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if error is not None and not self.exited:
                self.dispatcher.event(SpanDropEvent(span_id=self.id_, err_str=str(error)))
                self.dispatcher.span_drop(
                    id_=self.id_, bound_args=self.bound_args, instance=self.instance, err=error
                )
        finally:
            active_span_id.reset(self.token)


class _Method:
    """What both decorators compute once per method: its bound signature and name."""

    __slots__ = ("dispatcher", "name", "signature")

    def __init__(self, dispatcher: Dispatcher, method: Callable[..., Any]) -> None:
        signature = inspect.signature(method)
        # What ``Dispatcher.span`` binds: the bound method's signature (no ``self``).
        self.signature = signature.replace(parameters=tuple(signature.parameters.values())[1:])
        self.name = method.__name__
        self.dispatcher = dispatcher

    def observed(self) -> bool:
        """Whether a span or an event of this call would reach a handler."""
        return receives_spans(self.dispatcher) or receives_events(self.dispatcher)

    def open(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Span:
        """Enter the span of one call (``args[0]`` is the instance)."""
        return _Span(self.dispatcher, self.signature, self.name, args[0], args[1:], kwargs)


def _decorated(wrapper: Callable[P, R]) -> Callable[P, R]:
    # Tells LlamaIndex's DispatcherSpanMixin not to wrap the method a second time.
    setattr(wrapper, DISPATCHER_SPAN_DECORATED_ATTR, True)
    return wrapper


def span(dispatcher: Dispatcher) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a sync method: a span per call, as ``dispatcher.span`` makes one."""

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        spanned = _Method(dispatcher, method)

        @functools.wraps(method)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not spanned.observed():
                return method(*args, **kwargs)
            with spanned.open(args, kwargs) as opened:
                return opened.exit(method(*args, **kwargs))

        return _decorated(wrapper)

    return decorate


def aspan(
    dispatcher: Dispatcher,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Decorate an async method: a span per call, as ``dispatcher.span`` makes one."""

    def decorate(
        method: Callable[P, Coroutine[Any, Any, R]],
    ) -> Callable[P, Coroutine[Any, Any, R]]:
        spanned = _Method(dispatcher, method)

        @functools.wraps(method)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not spanned.observed():
                return await method(*args, **kwargs)
            with spanned.open(args, kwargs) as opened:
                return opened.exit(await method(*args, **kwargs))

        return _decorated(wrapper)

    return decorate
