"""What a :class:`~citeformer.backends._api.json_scan.JsonScanner` reports, and to whom.

A scan's vocabulary, apart from the state machine that produces it: the
:class:`ScanHandler` protocol a caller implements, the :class:`Action` it answers
each value with, and the :class:`JsonSyntaxError` a malformed document raises.
"""

from __future__ import annotations

import enum
from typing import Protocol


class JsonSyntaxError(ValueError):
    """The text is not JSON.

    Attributes:
        offset: Where the problem is, in characters from the document's start.
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at offset {offset}")
        self.offset = offset


class Action(enum.IntEnum):
    """What the scanner does with a value that begins (see :meth:`ScanHandler.value`)."""

    SKIP = 0
    """Validate it; report nothing."""
    ENTER = 1
    """A container: report its keys and items, then :meth:`ScanHandler.end`."""
    STREAM = 2
    """A string: report decoded pieces as they arrive, then :meth:`ScanHandler.end`."""
    CAPTURE = 3
    """Report the decoded value once it is complete, with :meth:`ScanHandler.end`."""


class ScanHandler(Protocol):
    """Receives what a :class:`JsonScanner` finds (it may raise to stop the scan)."""

    def value(self, first: str, offset: int) -> Action:
        """A value begins with ``first`` (``{``, ``[``, ``"``, or a scalar's first character)."""

    def key(self, name: str) -> None:
        """A key of an entered object (decoded)."""

    def piece(self, text: str) -> None:
        """More decoded text of a streamed string."""

    def end(self, value: object, offset: int) -> None:
        """An entered, streamed or captured value ended just before ``offset``.

        ``value`` is the captured value (None for the others).
        """
