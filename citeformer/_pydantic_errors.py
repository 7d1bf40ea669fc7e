"""Pydantic validation errors, read back as citeformer's own messages."""

from __future__ import annotations

from citeformer.errors import InvalidResultError


def invariant_error(exc: Exception) -> InvalidResultError | None:
    """The InvalidResultError a value type raised inside pydantic's validation, if any."""
    errors = getattr(exc, "errors", None)
    for error in errors() if callable(errors) else ():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, InvalidResultError):
            return cause
    return None


def first_error(exc: Exception) -> str:
    """The first of pydantic's errors, as ``where: what``."""
    errors = getattr(exc, "errors", None)
    for error in errors() if callable(errors) else ():
        where = ".".join(str(part) for part in error.get("loc", ())) or "the result"
        return f"{where}: {error.get('msg')}"
    return str(exc)
