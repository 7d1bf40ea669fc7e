"""Schema-tier output, whole or streamed: JSON segments in, answer text out.

The JSON is parsed with jiter (pydantic's parser; its partial mode reads a prefix
of a document), and rendered by :class:`~citeformer.grammar.schema.SegmentWriter`,
so a streamed answer and a whole one are the same text by construction. Each
update re-parses the document so far: jiter reads a few kB in microseconds, and
re-parsing keeps no parser state that a malformed chunk could corrupt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from citeformer.core import InvalidMarker
from citeformer.errors import BackendError, MissingDependencyError
from citeformer.grammar.language import CitationLanguage
from citeformer.grammar.schema import SegmentWriter


def _jiter() -> Any:
    try:
        import jiter
    except ImportError as exc:  # pragma: no cover - jiter ships with every API extra
        raise MissingDependencyError("schema-tier API backends", "openai", package="jiter") from exc
    return jiter


class SegmentDecoder:
    """Incremental decoder for one call's JSON segment document.

    Args:
        language: The call's citation language.
        provider: Backend name, for errors.
    """

    __slots__ = ("_jiter", "_json", "_provider", "_writer")

    def __init__(self, language: CitationLanguage, provider: str) -> None:
        self._jiter = _jiter()
        self._writer = SegmentWriter(language)
        self._provider = provider
        self._json = ""

    @property
    def raw(self) -> str:
        """The JSON received so far."""
        return self._json

    def feed(self, delta: str) -> str:
        """Add a piece of the JSON; return newly settled answer text."""
        if not delta:
            return ""
        self._json += delta
        try:
            document = self._jiter.from_json(self._json.encode(), partial_mode="trailing-strings")
        except ValueError as exc:
            raise self._malformed(exc) from exc
        return self._writer.update(_segments(document))

    def finish(self, *, truncated: bool = False) -> str:
        """The rest of the text, once the document has ended.

        Args:
            truncated: The model stopped early (token limit); keep what parses
                instead of requiring a complete document.

        Raises:
            BackendError: The document is not valid JSON (a server that ignored the
                structured-output request).
        """
        partial = "trailing-strings" if truncated else "off"
        try:
            document = self._jiter.from_json(self._json.encode(), partial_mode=partial)
        except ValueError as exc:
            if truncated:
                return self._writer.update([], complete=True)
            raise self._malformed(exc) from exc
        return self._writer.update(_segments(document), complete=True)

    @property
    def dropped(self) -> tuple[InvalidMarker, ...]:
        """Ids outside the enum found in settled segments."""
        return self._writer.dropped

    def _malformed(self, exc: ValueError) -> BackendError:
        head = self._json[:80] + ("..." if len(self._json) > 80 else "")
        return BackendError(
            f"the structured output is not valid JSON ({exc}); it began {head!r}. The server"
            " may not support JSON-schema output: use constraint='grammar' or 'none'",
            provider=self._provider,
            retryable=False,
        )


def decode_segments(
    document: str, language: CitationLanguage, provider: str, *, truncated: bool = False
) -> tuple[str, tuple[InvalidMarker, ...]]:
    """Decode a whole JSON segment document (the non-streamed path).

    Returns:
        The answer text and the ids outside the enum that were dropped.
    """
    decoder = SegmentDecoder(language, provider)
    text = decoder.feed(document) + decoder.finish(truncated=truncated)
    return text, decoder.dropped


def _segments(document: object) -> Sequence[Mapping[str, Any]]:
    if isinstance(document, Mapping):
        segments = document.get("segments")
        if isinstance(segments, list):
            return segments
    return []
