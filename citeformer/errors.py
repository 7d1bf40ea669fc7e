"""The exception tree.

Two roots under :class:`CiteformerError`: misuse (the caller can fix it; the message
says how) and runtime failures (something went wrong while generating)::

    CiteformerError
    ├── UsageError                      misuse; also a ValueError
    │   ├── InvalidSourceError          empty or malformed sources
    │   ├── InvalidPromptError          prompt not a non-empty str; also a TypeError
    │   ├── InvalidOptionError          unknown policy/style, option of the wrong type
    │   ├── SchemaVersionError          a stored result from a newer citeformer
    │   ├── InvalidResultError          an impossible citation/result, unreadable JSON
    │   ├── ConfigurationError          missing API key, unusable model path
    │   └── MissingDependencyError      an extra is not installed; also an ImportError
    └── GenerationError                 runtime
        ├── BackendError                provider/runtime failure: provider, status,
        │   │                           retryable, request_id, original as __cause__
        │   ├── RateLimitError          429
        │   ├── BackendTimeoutError     the call ran past its timeout
        │   ├── ContentFilteredError    refusal or content filter
        │   ├── BackendContractError    a backend returned something other than text
        │   └── UnexpectedBackendError  a backend raised something outside this tree
        ├── InvalidCitationError        strict mode found markers outside 1..N
        ├── CitationPolicyError         strict mode found text the policy does not allow
        └── StreamInterruptedError      a stream failed mid-way; keeps partial_text

Every class is importable from ``citeformer.errors``; the common ones also from
``citeformer``. Every class pickles with its message and attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from citeformer.core import InvalidMarker, PolicyViolation


class CiteformerError(Exception):
    """Base class of every error citeformer raises on purpose.

    Every subclass pickles and copies (multiprocessing, task queues) with its
    message, type and attributes, whatever its constructor takes. As for any
    exception, ``__cause__``, ``__context__`` and the traceback are not pickled.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own reduce rebuilds with cls(*self.args), which fails for any
        # constructor that is not (message) alone: keyword-only arguments, or a
        # message computed from the arguments. Rebuilding without __init__ and
        # restoring args and __dict__ (attributes, __notes__) needs no per-class code.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(
    cls: type[CiteformerError], args: tuple[Any, ...], state: dict[str, Any]
) -> CiteformerError:
    """Unpickle a :class:`CiteformerError` (pickles name this function: keep it)."""
    error = cls.__new__(cls, *args)
    error.__dict__.update(state)
    return error


class UsageError(CiteformerError, ValueError):
    """The call was wrong; the message says what to do instead."""


class InvalidSourceError(UsageError):
    """The sources are empty, of the wrong type, or unusable."""


class InvalidPromptError(UsageError, TypeError):
    """The prompt is not a non-empty string."""


class InvalidOptionError(UsageError, TypeError):
    """An option is unknown, of the wrong type, or out of range."""


class SchemaVersionError(UsageError):
    """Serialised data comes from a newer schema than this version reads, or has none."""


class ConfigurationError(UsageError):
    """The backend is not configured (missing key, missing model file...)."""


class MissingDependencyError(UsageError, ImportError):
    """An optional extra is not installed; the message names the pip command."""

    def __init__(self, feature: str, extra: str, *, package: str | None = None) -> None:
        self.extra = extra
        what = f" ({package})" if package else ""
        super().__init__(
            f"{feature} needs the '{extra}' extra{what}: pip install 'citeformer[{extra}]'"
        )


class GenerationError(CiteformerError):
    """Generation failed at run time."""


class BackendError(GenerationError):
    """A backend or provider failed.

    Attributes:
        provider: Backend/provider name (``openai``, ``hf``...).
        status: HTTP status where there was one.
        retryable: Whether retrying the same call may succeed.
        request_id: The provider's request id where given.
        retry_after: Seconds the provider asked to wait before retrying, where given.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        retryable: bool = False,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.retryable = retryable
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        parts = [f"{self.provider}: {self.args[0]}"]
        if self.status is not None:
            parts.append(f"status {self.status}")
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        return "; ".join(parts)


class RateLimitError(BackendError):
    """The provider rate-limited the call (HTTP 429)."""


class BackendTimeoutError(BackendError):
    """The call ran past its timeout."""


class ContentFilteredError(BackendError):
    """The model refused or the provider's content filter stopped the answer."""


class InvalidCitationError(GenerationError):
    """Strict validation found markers that do not point at a supplied source.

    Attributes:
        invalid_markers: What was found, with positions in the raw text.
        text: The raw backend text.
    """

    def __init__(self, invalid_markers: Sequence[InvalidMarker], text: str) -> None:
        self.invalid_markers = tuple(invalid_markers)
        self.text = text
        listed = ", ".join(f"{m.text!r} at {m.start} ({m.reason})" for m in self.invalid_markers)
        super().__init__(
            f"{len(self.invalid_markers)} invalid citation marker(s): {listed}. "
            "Pass strict=False to remove them instead of raising."
        )


class StreamInterruptedError(GenerationError):
    """A stream failed part-way; what arrived before the failure is kept.

    Attributes:
        partial_text: Validated text emitted before the failure.
        raw_text: Raw backend text received before the failure.
    """

    def __init__(self, message: str, *, partial_text: str, raw_text: str) -> None:
        super().__init__(message)
        self.partial_text = partial_text
        self.raw_text = raw_text


class InvalidResultError(UsageError):
    """A result value breaks an invariant, or stored data does not describe a result.

    Raised by :class:`~citeformer.core.Citation` and friends for impossible values
    (a source id below 1, a citation of a source the result does not have, a span
    that does not hold its marker), and by ``GenerationResult.from_json``/``from_dict``
    for input that is not a stored result; the message says what is wrong.
    """


class CitationPolicyError(GenerationError):
    """Strict mode: the answer does not meet its citation policy.

    Attributes:
        violations: Where and how (:class:`~citeformer.core.PolicyViolation`).
        text: The validated answer text.
    """

    def __init__(self, violations: Sequence[PolicyViolation], text: str) -> None:
        self.violations = tuple(violations)
        self.text = text
        listed = "; ".join(
            f"{v.kind} at {v.start}-{v.end} ({v.text[:40]!r})" for v in self.violations
        )
        super().__init__(
            f"{len(self.violations)} citation policy violation(s): {listed}. "
            "Pass strict=False to get the answer with result.policy_violations instead."
        )


class BackendContractError(BackendError):
    """A backend broke the Backend contract.

    For example ``generate`` returned ``None`` or a stream yielded ``bytes``; the
    message names the backend and what it returned.
    """


class UnexpectedBackendError(BackendError):
    """A backend raised an exception that is not citeformer's; it is the ``__cause__``.

    ``RuntimeError``, a torch error, an out-of-tree backend's own exception...
    Every call the orchestrator makes goes through one boundary that raises this, so
    callers catch :class:`BackendError` whatever the backend.
    """
