"""The metadata error tree: every failure says what went wrong and what to do."""

from __future__ import annotations

from citeformer.errors import CiteformerError


class MetadataError(CiteformerError):
    """A source's metadata could not be fetched or read.

    Attributes:
        identifier: The identifier or path concerned, where there is one.
    """

    def __init__(self, message: str, *, identifier: str | None = None) -> None:
        super().__init__(message)
        self.identifier = identifier


class MetadataNotFoundError(MetadataError):
    """The service has no record for the identifier (a 404, an empty arXiv feed...)."""


class MetadataRateLimitedError(MetadataError):
    """The service kept answering 429 after the retries.

    Attributes:
        retry_after: Seconds the service asked to wait, where it said.
    """

    def __init__(
        self, message: str, *, identifier: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, identifier=identifier)
        self.retry_after = retry_after


class MetadataUnavailableError(MetadataError):
    """The service could not be reached or kept failing (timeouts, 5xx, connection errors).

    Attributes:
        status: The last HTTP status, where there was one.
    """

    def __init__(
        self, message: str, *, identifier: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, identifier=identifier)
        self.status = status


class MetadataParseError(MetadataError):
    """The input or the service's answer is not in the expected format."""


class MetadataOfflineError(MetadataNotFoundError):
    """Offline mode (``offline=True`` or ``CITEFORMER_OFFLINE=1``) and nothing cached."""


class UnrecognizedIdentifierError(MetadataError, ValueError):
    """The identifier is none of the kinds :func:`citeformer.metadata.fetch` reads."""


class MetadataWarning(UserWarning):
    """Something about a fetched source the caller should know (no text to cite from)."""
