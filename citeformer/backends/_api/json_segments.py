"""Schema-tier output, whole or streamed: JSON segments in, answer text out.

The document is read by :class:`~citeformer.backends._api.json_scan.JsonScanner`
(an incremental scanner; jiter decodes the values), and rendered by
:class:`~citeformer.grammar.schema.SegmentWriter`. A whole document is fed to the
same decoder at once, so a streamed answer and a whole one are the same text,
citations and dropped ids by construction. The rules, chosen so that a stream
can follow them as it goes:

* The first occurrence of a key wins: the first top-level ``"segments"``, and in a
  segment the first ``"text"``, ``"quote"`` and ``"citations"``. Later duplicates
  and unknown keys are read (the JSON must be valid) and skipped.
* A document of another shape (not an object, no ``"segments"`` array, a segment
  that is not an object, a ``text`` or ``quote`` that is not a string, a
  ``citations`` that is not an array) is a :class:`~citeformer.errors.BackendError`,
  raised as soon as the shape is known: the server did not follow the schema.
* Citation ids of the wrong type are dropped and reported like ids outside 1..N.
* A truncated document (the model hit its token limit) keeps what parsed.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from citeformer.backends._api.json_scan import Action, JsonScanner, JsonSyntaxError
from citeformer.backends.call import CallInfo, Reply
from citeformer.core import Enforcement, InvalidMarker, TokenUsage
from citeformer.errors import BackendError
from citeformer.grammar.language import CitationLanguage
from citeformer.grammar.schema import SegmentWriter

_HEAD: Final = 80
_FIX: Final = "The server may not support JSON-schema output: use constraint='grammar' or 'none'"

# Where a value is, in the document.
_TOP: Final = 0  # the document's object
_SEGMENTS: Final = 1  # the segments array
_SEGMENT: Final = 2  # one segment object
_FIELD: Final = 3  # a segment's text or quote string
_CITATIONS: Final = 4  # a segment's citations array
_ID: Final = 5  # one item of it
_STRING_FIELDS: Final = ("text", "quote")
TRUNCATING: Final = frozenset({"length", "content_filter"})
"""Finish reasons after which a document may end early (it keeps what parsed)."""


class SchemaViolation(Exception):
    """Valid JSON of a shape other than the requested schema's.

    Attributes:
        detail: What was wrong.
        end: How many characters of the document show it.
    """

    def __init__(self, detail: str, end: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.end = end


class _Document:
    """The segments found so far, as the scanner reports them (a scan handler).

    A string field arrives in pieces: they are kept in :attr:`pieces` (one list per
    field of the last segment) and joined once, when the string ends, into the
    segment (which holds ``""`` until then). Appending to a dict's string item would
    copy the whole string per piece: quadratic in a long segment.
    """

    __slots__ = ("_field", "_found", "_key", "_path", "changed", "pieces", "segments")

    def __init__(self) -> None:
        self.segments: list[dict[str, Any]] = []
        self.pieces: dict[str, list[str]] = {}  # the last segment's strings, as they came
        self.changed = False  # something a writer reads changed since the last look
        self._path: list[int] = []  # where each entered, streamed or captured value is
        self._key = ""  # the last key of the innermost entered object
        self._field = ""  # the segment field being streamed
        self._found = False  # the first "segments" key was found

    def value(self, first: str, offset: int) -> Action:
        path = self._path
        if not path:
            _expect(first, "{", "the output", offset)
            path.append(_TOP)
            return Action.ENTER
        where = path[-1]
        if where == _TOP:
            if self._key != "segments" or self._found:
                return Action.SKIP
            self._found = True
            _expect(first, "[", '"segments"', offset)
            path.append(_SEGMENTS)
            return Action.ENTER
        if where == _SEGMENTS:
            _expect(first, "{", f"segment {len(self.segments) + 1}", offset)
            self.segments.append({})
            self.pieces = {}  # the new segment's strings (the writer reads them from the start)
            self.changed = True
            path.append(_SEGMENT)
            return Action.ENTER
        if where == _CITATIONS:
            path.append(_ID)
            return Action.CAPTURE
        return self._field_value(first, offset)

    def _field_value(self, first: str, offset: int) -> Action:
        key, segment = self._key, self.segments[-1]
        if key in segment:
            return Action.SKIP  # a duplicate: the first one wins
        where = f'segment {len(self.segments)}\'s "{key}"'
        if key == "citations":
            _expect(first, "[", where, offset)
            segment[key] = []
            self._path.append(_CITATIONS)
            return Action.ENTER
        if key not in _STRING_FIELDS:
            return Action.SKIP
        _expect(first, '"', where, offset)
        segment[key] = ""
        self.pieces[key] = []
        self._field = key
        self.changed = True
        self._path.append(_FIELD)
        return Action.STREAM

    def key(self, name: str) -> None:
        self._key = name

    def piece(self, text: str) -> None:
        self.pieces[self._field].append(text)
        self.changed = True

    def end(self, value: object, offset: int) -> None:
        where = self._path.pop()
        if where == _ID:
            self.segments[-1]["citations"].append(value)
        elif where == _FIELD:
            self.flush()
            self._field = ""
        elif where == _TOP and not self._found:
            raise SchemaViolation('the object has no "segments" key', offset)

    def flush(self) -> None:
        """Put the string being streamed, as far as it came, into its segment."""
        if self._field:
            self.segments[-1][self._field] = "".join(self.pieces[self._field])


def _expect(first: str, want: str, what: str, offset: int) -> None:
    if first != want:
        raise SchemaViolation(f"{what} is {_kind(first)}, not {_kind(want)}", offset + 1)


def _kind(first: str) -> str:
    kinds = {"{": "an object", "[": "an array", '"': "a string"}
    if first in kinds:
        return kinds[first]
    return {"t": "true", "f": "false", "n": "null"}.get(first, "a number")


class SegmentDecoder:
    """Incremental decoder for one call's JSON segment document (linear in its size).

    Args:
        language: The call's citation language.
        provider: Backend name, for errors.
    """

    __slots__ = ("_document", "_error", "_parsed", "_parts", "_provider", "_scanner", "_writer")

    def __init__(self, language: CitationLanguage, provider: str) -> None:
        self._writer = SegmentWriter(language)
        self._document = _Document()
        self._scanner = JsonScanner(self._document)
        self._provider = provider
        self._parts: list[str] = []
        self._error: BackendError | None = None
        self._parsed: list[dict[str, Any]] | None = None  # a whole document's segments

    @property
    def raw(self) -> str:
        """The JSON received so far."""
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def feed(self, delta: str, *, whole: bool = False) -> str:
        """Add a piece of the JSON; return newly settled answer text.

        Args:
            delta: The next piece.
            whole: ``delta`` is the entire document (a non-streamed response). A
                well-formed document of the schema's shape is then read by the C JSON
                parser (:func:`whole_segments`), its text released by :meth:`finish`;
                any other takes the incremental scan, which says what is wrong.

        Raises:
            BackendError: The document is not JSON, or not of the schema's shape.
        """
        if not delta:
            return ""
        self._raise_if_failed()
        if self._parsed is not None:  # more after a whole document: scan it all after all
            self._parsed = None
            self._scan(self.raw)
        elif whole and not self._parts:
            self._parsed = whole_segments(delta)
        self._parts.append(delta)
        if self._parsed is not None:
            return ""
        self._scan(delta)
        document = self._document
        if not document.changed:
            return ""
        document.changed = False
        return self._writer.stream(document.segments, document.pieces)

    def finish(self, *, truncated: bool = False) -> str:
        """The rest of the text, once the document has ended.

        Args:
            truncated: The model stopped early (token limit); keep what parsed
                instead of requiring a complete document.

        Raises:
            BackendError: The document is not valid JSON (a server that ignored the
                structured-output request).
        """
        self._raise_if_failed()
        if self._parsed is not None:  # complete whatever the finish reason said
            return self._writer.update(self._parsed, complete=True)
        if not truncated:
            try:
                self._scanner.close()
            except JsonSyntaxError as exc:
                raise self._fail(self._malformed(exc)) from exc
        self._document.flush()  # a truncated document may end inside a string
        return self._writer.update(self._document.segments, complete=True)

    def finish_reply(
        self, finish: str | None, usage: TokenUsage | None, *, blocked: bool = False
    ) -> Reply:
        """The rest of the text with the call's facts, for a schema-tier provider.

        Args:
            finish: The provider's (normalised) finish reason; None means the
                response was cut before the model finished.
            usage: The call's token usage.
            blocked: The prompt was refused before any output (no document to read).

        Raises:
            BackendError: No finish reason (retryable), or the document is not valid JSON.
        """
        if finish is None:
            raise BackendError(
                "the response ended before the model finished (no finish_reason)",
                provider=self._provider,
                retryable=True,
            )
        text = "" if blocked else self.finish(truncated=finish in TRUNCATING)
        info = CallInfo(
            usage=usage,
            finish_reason=finish,
            invalid_markers=self.dropped,
            enforcement=Enforcement.SCHEMA,
        )
        return Reply(text, info)

    @property
    def dropped(self) -> tuple[InvalidMarker, ...]:
        """Ids outside the enum, or of the wrong type, found in settled segments."""
        return self._writer.dropped

    def _scan(self, delta: str) -> None:
        try:
            self._scanner.feed(delta)
        except JsonSyntaxError as exc:
            raise self._fail(self._malformed(exc)) from exc
        except SchemaViolation as exc:
            raise self._fail(self._wrong_shape(exc)) from exc

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _fail(self, error: BackendError) -> BackendError:
        self._error = error  # the scanner stopped mid-piece: it cannot go on
        return error

    def _head(self, end: int) -> str:
        """The output up to ``end`` (at most :data:`_HEAD` characters), for messages."""
        raw = self.raw
        end = len(raw) if end < 0 else min(end, len(raw))
        return repr(raw[: min(end, _HEAD)] + ("..." if end > _HEAD else ""))

    def _malformed(self, exc: JsonSyntaxError) -> BackendError:
        return BackendError(
            f"the structured output is not valid JSON ({exc}); it began"
            f" {self._head(exc.offset + 1)}. {_FIX}",
            provider=self._provider,
            retryable=False,
        )

    def _wrong_shape(self, exc: SchemaViolation) -> BackendError:
        return BackendError(
            f"the server did not follow the requested JSON schema ({exc.detail}); its output"
            f" began {self._head(exc.end)}. {_FIX}",
            provider=self._provider,
            retryable=False,
        )


def decode_segments(
    document: str, language: CitationLanguage, provider: str, *, truncated: bool = False
) -> tuple[str, tuple[InvalidMarker, ...]]:
    """Decode a whole JSON segment document (the non-streamed path: the same decoder).

    Returns:
        The answer text and the ids that were dropped.
    """
    decoder = SegmentDecoder(language, provider)
    text = decoder.feed(document, whole=True) + decoder.finish(truncated=truncated)
    return text, decoder.dropped


# A surrogate escape: jiter (the incremental scan's decoder) refuses a lone one, json
# accepts it; such documents take the scan.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
_ID_LIMIT: Final = 10**18  # larger ints are shown by their JSON text: the scan's business


def whole_segments(document: str) -> list[dict[str, Any]] | None:
    """The segments of a complete document of the schema's shape, by the C parser.

    What the incremental scan would hand the writer, for documents whose reading
    cannot differ: valid JSON (first key wins, as in the scan), an object whose first
    ``"segments"`` is an array of objects, each ``text``/``quote`` a string and each
    ``citations`` an array of integers. None for anything else (wrong shape, invalid
    JSON, surrogate escapes, ids of other types), which the scan then reads and
    reports exactly as before; a differential test compares the two.
    """
    if _SURROGATE_ESCAPE.search(document):
        return None
    try:
        top = json.loads(document, object_pairs_hook=_first_key_wins)
    except (ValueError, RecursionError):
        return None
    segments = top.get("segments") if isinstance(top, dict) else None
    if not isinstance(segments, list):
        return None
    for segment in segments:
        if not isinstance(segment, dict):
            return None
        for name in _STRING_FIELDS:
            if name in segment and not isinstance(segment[name], str):
                return None
        if "citations" in segment:
            ids = segment["citations"]
            if not isinstance(ids, list):
                return None
            for item in ids:
                if type(item) is not int or not -_ID_LIMIT < item < _ID_LIMIT:
                    return None
    return segments


def _first_key_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key not in out:
            out[key] = value
    return out
