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
from typing import Any, ParamSpec, TypeVar

from llama_index.core.instrumentation import (
    DISPATCHER_SPAN_DECORATED_ATTR,
    Dispatcher,
    NullEventHandler,
    NullSpanHandler,
)
from llama_index.core.instrumentation.dispatcher import active_instrument_tags
from llama_index.core.instrumentation.events.span import SpanDropEvent
from llama_index.core.instrumentation.span import active_span_id

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
    """One open span: entered on creation, then :meth:`exit` or :meth:`drop`."""

    __slots__ = ("bound_args", "dispatcher", "id_", "instance", "token")

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

    def exit(self, result: Any) -> None:
        self.dispatcher.span_exit(
            id_=self.id_, bound_args=self.bound_args, instance=self.instance, result=result
        )

    def drop(self, error: BaseException) -> None:
        self.dispatcher.event(SpanDropEvent(span_id=self.id_, err_str=str(error)))
        self.dispatcher.span_drop(
            id_=self.id_, bound_args=self.bound_args, instance=self.instance, err=error
        )

    def close(self) -> None:
        active_span_id.reset(self.token)


def _without_self(method: Callable[..., Any]) -> inspect.Signature:
    """The method's signature as the bound method has it (what ``Dispatcher.span`` binds)."""
    signature = inspect.signature(method)
    return signature.replace(parameters=tuple(signature.parameters.values())[1:])


def _observed(dispatcher: Dispatcher) -> bool:
    return receives_spans(dispatcher) or receives_events(dispatcher)


def span(dispatcher: Dispatcher) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a sync method: a span per call, as ``dispatcher.span`` makes one."""

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        signature = _without_self(method)
        name = method.__name__

        @functools.wraps(method)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not _observed(dispatcher):
                return method(*args, **kwargs)
            opened = _Span(dispatcher, signature, name, args[0], args[1:], kwargs)
            try:
                result = method(*args, **kwargs)
            except BaseException as error:
                opened.drop(error)
                raise
            else:
                opened.exit(result)
                return result
            finally:
                opened.close()

        setattr(wrapper, DISPATCHER_SPAN_DECORATED_ATTR, True)
        return wrapper

    return decorate


def aspan(
    dispatcher: Dispatcher,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Decorate an async method: a span per call, as ``dispatcher.span`` makes one."""

    def decorate(
        method: Callable[P, Coroutine[Any, Any, R]],
    ) -> Callable[P, Coroutine[Any, Any, R]]:
        signature = _without_self(method)
        name = method.__name__

        @functools.wraps(method)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not _observed(dispatcher):
                return await method(*args, **kwargs)
            opened = _Span(dispatcher, signature, name, args[0], args[1:], kwargs)
            try:
                result = await method(*args, **kwargs)
            except BaseException as error:
                opened.drop(error)
                raise
            else:
                opened.exit(result)
                return result
            finally:
                opened.close()

        setattr(wrapper, DISPATCHER_SPAN_DECORATED_ATTR, True)
        return wrapper

    return decorate
