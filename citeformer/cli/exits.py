"""Exit codes of the ``citeformer`` command and the one-line message of each failure."""

from __future__ import annotations

import enum


class Exit(enum.IntEnum):
    """What the command's exit status means (documented in ``--help`` and the README)."""

    OK = 0
    CHECK_FAILED = 1
    """A check failed: ``--fail-under``, or ``--strict`` validation."""
    USAGE = 2
    """The command line was wrong, or a backend is not set up (key, extra, model file)."""
    BAD_INPUT = 3
    """Input data is unusable: unreadable file, unknown style, malformed BibTeX or JSON."""
    UNAVAILABLE = 4
    """A backend or network service failed after retries (an ``--offline`` cache miss too)."""
    INTERRUPTED = 130
    """Ctrl-C: the backend's stream was cancelled and closed."""


EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 a check failed (--fail-under, --strict); 2 usage or setup "
    "(bad option, missing key or extra); 3 bad input data (unreadable file, unknown style, "
    "malformed BibTeX or JSON); 4 backend or network unavailable after retries (an --offline "
    "cache miss too); 130 interrupted."
)


class CommandError(Exception):
    """A failure the command classified itself (message and exit code)."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(message)
        self.code = code


def bad_input(message: str) -> CommandError:
    """Input data the command cannot use (exit 3)."""
    return CommandError(message, Exit.BAD_INPUT)


def usage(message: str) -> CommandError:
    """A wrong command line (exit 2)."""
    return CommandError(message, Exit.USAGE)


def exit_code(error: BaseException) -> Exit:
    """The exit status for an error that ended a command."""
    # Imported here: the mapping is only needed once something went wrong.
    from citeformer import errors
    from citeformer.metadata import errors as metadata

    if isinstance(error, CommandError):
        return error.code
    if isinstance(error, errors.InvalidCitationError | errors.CitationPolicyError):
        return Exit.CHECK_FAILED
    if isinstance(error, metadata.MetadataOfflineError):
        return Exit.UNAVAILABLE
    if isinstance(error, metadata.MetadataUnavailableError | metadata.MetadataRateLimitedError):
        return Exit.UNAVAILABLE
    if isinstance(error, errors.GenerationError):  # backend failures, interrupted streams
        return Exit.UNAVAILABLE
    if isinstance(error, errors.InvalidResultError | errors.SchemaVersionError):
        return Exit.BAD_INPUT
    if isinstance(error, errors.InvalidSourceError):
        return Exit.BAD_INPUT
    if isinstance(error, metadata.MetadataError):  # parse errors, unknown ids, not found
        return Exit.BAD_INPUT
    if isinstance(error, errors.UsageError):  # options, missing keys and extras
        return Exit.USAGE
    if isinstance(error, OSError | UnicodeError):
        return Exit.BAD_INPUT
    return Exit.UNAVAILABLE


def one_line(error: BaseException) -> str:
    """The error as one line: ``citeformer: <what happened; what to do>``."""
    text = " ".join(str(error).split()) or type(error).__name__
    from citeformer.errors import InvalidCitationError

    if isinstance(error, InvalidCitationError):  # the Python hint, in command-line words
        text = text.replace("Pass strict=False", "Drop --strict")
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        text = f"cannot read {error.filename}: {error.strerror}"
    return f"citeformer: error: {text}"
