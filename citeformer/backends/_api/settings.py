"""The constructor arguments every hosted-API backend shares, and their checks.

:class:`ApiOptions` declares them once; each provider's constructor takes
``**kwargs: Unpack[ApiOptions[...]]`` next to its own arguments and hands them to
:class:`~citeformer.backends._api.backend.ApiBackend`, which checks them here.
"""

from __future__ import annotations

import difflib
import inspect
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypedDict, TypeVar

from citeformer.backends._api.retry import RetryPolicy
from citeformer.errors import InvalidOptionError

SyncClient = TypeVar("SyncClient")
AsyncClient = TypeVar("AsyncClient")

DEFAULT_TIMEOUT = 60.0
"""Seconds a call may take unless ``timeout=`` says otherwise."""

ASYNC_POOL_LIMITS = {"max_connections": 1000, "max_keepalive_connections": 100}
"""Connection limits for async HTTP clients citeformer builds itself (the openai SDK's
defaults; sized for fan-out)."""

_SECRET_NAME = re.compile(r"key|token|secret|password|credential", re.I)
_SECRET_HEADER = re.compile(r"authorization|api[-_]?key|token|secret", re.I)


class ApiOptions(TypedDict, Generic[SyncClient, AsyncClient], total=False):
    """Keyword arguments every hosted-API backend takes (all optional).

    Attributes:
        api_key: The key; read from the backend's ``api_key_env`` when omitted. Held
            as a secret: it never appears in ``repr``, logs or error messages.
        base_url: The API root (a proxy, a gateway, a self-hosted server, a test server).
        client: A ready sync SDK client (used as is; citeformer's retries apply).
        async_client: A ready async SDK client.
        client_kwargs: Extra keyword arguments for the clients citeformer builds; a key
            the SDK client's constructor does not take is refused at once.
        timeout: Default seconds per call, finite and > 0 (default
            :data:`DEFAULT_TIMEOUT`; ``timeout=`` per call overrides).
        retry: Retry policy (default: 2 retries with backoff, honouring Retry-After).
    """

    api_key: str | None
    base_url: str | None
    client: SyncClient | None
    async_client: AsyncClient | None
    client_kwargs: Mapping[str, Any] | None
    timeout: float
    retry: RetryPolicy | None


API_OPTIONS = frozenset(ApiOptions.__annotations__)
"""The names :class:`ApiOptions` declares."""


def check_unknown(owner: type[Any], options: Mapping[str, Any]) -> None:
    """Refuse keyword arguments that neither ``owner`` nor :class:`ApiOptions` declares.

    Raises:
        InvalidOptionError: Naming the first unknown argument and the accepted ones
            (a ``TypeError``, as Python's own complaint about such an argument is).
    """
    unknown = [name for name in options if name not in API_OPTIONS]
    if not unknown:
        return
    accepted = sorted(API_OPTIONS | _constructor_keywords(owner))
    close = difflib.get_close_matches(unknown[0], accepted, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InvalidOptionError(
        f"{owner.__name__}() got an unexpected keyword argument {unknown[0]!r}{hint};"
        f" it accepts: {', '.join(accepted)}"
    )


def checked_base_url(value: object) -> str | None:
    """``base_url`` as given (None for an empty one).

    Raises:
        InvalidOptionError: It is not a str.
    """
    if value is not None and not isinstance(value, str):
        raise InvalidOptionError(f"base_url must be a str, got {type(value).__name__}")
    return value or None


def checked_timeout(value: object) -> float:
    """``timeout`` as a float.

    Raises:
        InvalidOptionError: It is not a finite number > 0.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)  # nan passes "<= 0", inf reaches the SDK
        or value <= 0
    ):
        raise InvalidOptionError(f"timeout must be a finite number of seconds > 0, got {value!r}")
    return float(value)


def checked_retry(value: object) -> RetryPolicy:
    """``retry``, or the default policy for None.

    Raises:
        InvalidOptionError: It is not a :class:`RetryPolicy`.
    """
    if value is not None and not isinstance(value, RetryPolicy):
        raise InvalidOptionError("retry must be a citeformer.backends.retry.RetryPolicy")
    return value or RetryPolicy()


def checked_api_key(value: object) -> str | None:
    """``api_key`` as given (None for an empty one).

    Raises:
        InvalidOptionError: It is not a str.
    """
    if value is not None and not isinstance(value, str):
        raise InvalidOptionError("api_key must be a str")
    return value or None


def checked_client_kwargs(value: object) -> dict[str, Any]:
    """``client_kwargs`` as a new dict.

    Raises:
        InvalidOptionError: It is not a mapping with str keys, or it holds ``api_key``.
    """
    kwargs = mapping_option("client_kwargs", value)
    if "api_key" in kwargs:
        raise InvalidOptionError("pass api_key= to the backend, not inside client_kwargs")
    return kwargs


def check_client_kwargs(
    owner: str, client_kwargs: Mapping[str, Any], classes: Iterable[type[Any]]
) -> None:
    """Reject ``client_kwargs`` keys the SDK client constructors ``classes`` do not take.

    Without this an unknown key fails only at the first call, as the SDK's
    ``TypeError``. A constructor taking ``**kwargs`` accepts anything; with several
    classes, each must take the key.

    Raises:
        InvalidOptionError: Naming the key, the classes and the accepted keys.
    """
    classes = tuple(classes)
    accepted: set[str] | None = None
    for cls in classes:
        names = _keyword_parameters(cls)
        if names is not None:
            accepted = names if accepted is None else accepted & names
    if accepted is None:
        return
    unknown = [key for key in client_kwargs if key not in accepted]
    if not unknown:
        return
    listed = sorted(n for n in accepted if not n.startswith("_") and n != "api_key")
    close = difflib.get_close_matches(unknown[0], listed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    where = " / ".join(f"{c.__module__}.{c.__qualname__}" for c in classes)
    raise InvalidOptionError(
        f"{owner}: client_kwargs key {unknown[0]!r} is not an argument of"
        f" {where}{hint}; it accepts: {', '.join(listed)}"
    )


def client_kwarg_secrets(client_kwargs: Mapping[str, Any]) -> list[str]:
    """Credentials passed through ``client_kwargs``: tokens, keys, auth headers."""
    found: list[str] = []
    for name, value in client_kwargs.items():
        if isinstance(value, str) and _SECRET_NAME.search(name):
            found.append(value)
        elif isinstance(value, Mapping):  # default_headers={"Authorization": ...}
            found += [
                v.removeprefix("Bearer ").strip()
                for k, v in value.items()
                if isinstance(k, str) and isinstance(v, str) and _SECRET_HEADER.search(k)
            ]
    return found


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


def milliseconds(seconds: float) -> int:
    """``seconds`` as whole milliseconds, at least 1 (SDKs that time out in ms)."""
    return max(1, round(seconds * 1000))


def _keyword_parameters(cls: type[Any]) -> set[str] | None:
    """Names ``cls(...)`` takes by keyword; None if it takes ``**kwargs`` (or is unreadable)."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _constructor_keywords(owner: type[Any]) -> set[str]:
    """The keyword arguments the constructors along ``owner``'s MRO declare by name."""
    names: set[str] = set()
    for cls in owner.__mro__:
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):  # pragma: no cover - a C-level constructor
            continue
        names |= {p.name for p in parameters if p.kind is p.KEYWORD_ONLY}
    return names
