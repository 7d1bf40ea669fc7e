"""An incremental JSON scanner: structure by a small state machine, values by jiter.

:class:`JsonScanner` reads a JSON document in pieces of any size and tells a
:class:`~citeformer.backends._api.json_events.ScanHandler` what it finds, as it
finds it. It validates the whole document (the same grammar jiter accepts, ``NaN``
and ``Infinity`` included) but decodes only what the handler asks for: the handler
chooses, as each value begins, whether to enter it (containers: keys and items are
reported), stream it (strings: decoded pieces as they arrive), capture it (the
decoded value once it is complete) or skip it. Every character is examined a
bounded number of times whatever the chunking (runs are found with regular
expressions; only an unfinished escape, at most 11 characters, is carried into the
next piece), so scanning is linear in the document size, and any chunking reports
the same events with the same text.
"""

from __future__ import annotations

import re
from typing import Any, Final

from citeformer.backends._api.json_events import Action, JsonSyntaxError, ScanHandler
from citeformer.errors import MissingDependencyError

__all__ = ["Action", "JsonScanner", "JsonSyntaxError", "ScanHandler"]


def _jiter() -> Any:
    try:
        import jiter
    except ImportError as exc:  # pragma: no cover - jiter ships with every API extra
        raise MissingDependencyError("schema-tier API backends", "openai", package="jiter") from exc
    return jiter


# States between values.
_VALUE: Final = 0  # a value must come (after ":" or ",", or the document's start)
_ITEM_OR_CLOSE: Final = 1  # after "["
_KEY_OR_CLOSE: Final = 2  # after "{"
_KEY: Final = 3  # after "," in an object
_COLON: Final = 4
_AFTER: Final = 5  # after a value in a container
_END: Final = 6  # after the document's value
# States inside a token.
_STRING: Final = 7
_SCALAR: Final = 8

_SPACE: Final = re.compile(r"[ \t\n\r]*")
_STRING_STOP: Final = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')
_SCALAR_RUN: Final = re.compile(r"[A-Za-z0-9+\-.]*")
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_NUMBER_PREFIX: Final = re.compile(
    r"-?(?:(?:0|[1-9][0-9]*)(?:\.(?:[0-9]+(?:[eE][+-]?[0-9]*)?)?|[eE][+-]?[0-9]*)?)?"
)
_LITERALS: Final = ("true", "false", "null", "NaN", "Infinity", "-Infinity")
_PREFIX_CHECK: Final = 16  # longer than any literal: a longer scalar is a number
_SCALAR_START: Final = frozenset("-0123456789tfnNI")
_SIMPLE_ESCAPES: Final = frozenset('"\\/bfnrt')
_HEX: Final = frozenset("0123456789abcdefABCDEF")

# Modes of the string being read.
_SKIPPED: Final = 0
_STREAMED: Final = 1
_REPORTED_KEY: Final = 2


class JsonScanner:
    """Scans one JSON document fed in pieces; see the module docstring.

    Args:
        handler: Told what is found; an exception it raises propagates from :meth:`feed`.
    """

    __slots__ = (
        "_base",
        "_capture",
        "_capture_from",
        "_escaped",
        "_handler",
        "_in_key",
        "_jiter",
        "_key",
        "_pending",
        "_quiet",
        "_scalar",
        "_scalar_at",
        "_scalar_head",
        "_stack",
        "_state",
        "_streamed",
        "_string_mode",
    )

    def __init__(self, handler: ScanHandler) -> None:
        self._handler = handler
        self._jiter = _jiter()
        self._state = _VALUE
        self._stack: list[str] = []  # "{" or "[" per open container
        self._quiet = -1  # depth of the skipped or captured value being read, or -1
        self._streamed = False  # the string or scalar being read is reported to the handler
        self._base = 0  # document offset of the current text's first character
        self._pending = ""  # an unfinished escape, read again with the next piece
        self._string_mode = _SKIPPED
        self._in_key = False  # the string being read is a key
        self._escaped = False  # the key being read holds an escape
        self._key: list[str] = []  # raw pieces of a reported key
        self._scalar: list[str] = []  # raw pieces of a number or literal
        self._scalar_head = ""  # its first characters, for the early prefix check
        self._scalar_at = 0
        self._capture: list[str] | None = None  # raw pieces of a captured value
        self._capture_from = 0

    @property
    def done(self) -> bool:
        """Whether the document's value is complete."""
        return self._state == _END

    def feed(self, chunk: str) -> None:
        """Scan the next piece of the document.

        Raises:
            JsonSyntaxError: The document so far cannot be the start of any JSON.
        """
        if not chunk:
            return
        text = self._pending + chunk if self._pending else chunk
        self._pending = ""
        i, n = 0, len(text)
        while i < n:
            state = self._state
            if state == _STRING:
                i = self._string(text, i)
            elif state == _SCALAR:
                i = self._scalar_piece(text, i)
            else:
                i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
                if i < n:
                    i = self._structure(text, i)
        if self._capture is not None:
            self._capture.append(text[self._capture_from : n - len(self._pending)])
            self._capture_from = 0
        self._base += n - len(self._pending)

    def close(self) -> None:
        """The document has ended.

        Raises:
            JsonSyntaxError: It ended before its value was complete.
        """
        if self._state == _SCALAR and not self._stack and not self._pending:
            self._scalar_done("", 0)  # a document that is one number ends with the text
        if self._state != _END:
            raise JsonSyntaxError("the document ended early", self._base + len(self._pending))

    # -- between values ---------------------------------------------------------------

    def _structure(self, text: str, i: int) -> int:
        """Read the structural character at ``text[i]`` (not whitespace)."""
        c = text[i]
        state = self._state
        if state == _AFTER:
            top = self._stack[-1]
            if c == ",":
                self._state = _KEY if top == "{" else _VALUE
            elif c == ("}" if top == "{" else "]"):
                return self._close(text, i)
            else:
                raise self._error(f"expected ',' or {'}' if top == '{' else ']'!r}", i)
            return i + 1
        if (state == _KEY_OR_CLOSE and c == "}") or (state == _ITEM_OR_CLOSE and c == "]"):
            return self._close(text, i)
        if state in (_KEY_OR_CLOSE, _KEY):
            if c != '"':
                trailing = " (a trailing comma?)" if c == "}" else ""
                raise self._error(f"expected a key{trailing}", i)
            reported = self._quiet < 0
            self._string_mode = _REPORTED_KEY if reported else _SKIPPED
            self._key.clear()
            self._escaped = False
            self._in_key = True
            self._state = _STRING
            return i + 1
        if state == _COLON:
            if c != ":":
                raise self._error("expected ':'", i)
            self._state = _VALUE
            return i + 1
        if state == _END:
            raise self._error("unexpected text after the document", i)
        return self._begin(text, i)  # _VALUE, or _ITEM_OR_CLOSE with an item

    def _begin(self, text: str, i: int) -> int:
        c = text[i]
        if c not in '{["' and c not in _SCALAR_START:
            raise self._error("expected a value", i)
        action = Action.SKIP if self._quiet >= 0 else self._handler.value(c, self._base + i)
        depth = len(self._stack)
        container = c in "{["
        reported = action is (Action.ENTER if container else Action.STREAM)
        if not reported and self._quiet < 0:
            self._quiet = depth  # this value, and everything in it, is not reported
            if action is Action.CAPTURE:
                self._capture, self._capture_from = [], i
        self._streamed = reported
        if container:
            self._stack.append(c)
            self._state = _KEY_OR_CLOSE if c == "{" else _ITEM_OR_CLOSE
        elif c == '"':
            self._string_mode = _STREAMED if reported else _SKIPPED
            self._in_key = False
            self._state = _STRING
        else:
            self._scalar.clear()
            self._scalar_head = ""
            self._scalar_at = self._base + i
            self._state = _SCALAR
            return i  # the scalar's first character is read as part of its run
        return i + 1

    def _close(self, text: str, i: int) -> int:
        self._stack.pop()
        self._streamed = self._quiet < 0
        self._value_done(text, i + 1)
        return i + 1

    def _value_done(self, text: str, end: int) -> None:
        """A value ended just before ``text[end]``: report it, and expect what follows."""
        depth = len(self._stack)
        if self._quiet == depth:
            self._quiet = -1
            if self._capture is not None:
                raw = "".join(self._capture) + text[self._capture_from : end]
                self._capture = None
                offset = self._base + end
                self._handler.end(self._decode(raw, offset - len(raw)), offset)
        elif self._quiet < 0 and self._streamed:
            self._handler.end(None, self._base + end)
        self._state = _AFTER if depth else _END

    # -- strings ----------------------------------------------------------------------

    def _string(self, text: str, i: int) -> int:
        """Read string content from ``text[i]``; return where reading stopped."""
        start = i
        escaped = False
        n = len(text)
        while True:
            found = _STRING_STOP.search(text, i)
            if found is None:
                i = n
                break
            j = found.start()
            c = text[j]
            if c == '"':
                self._string_piece(text[start:j], escaped)
                self._string_end(text, j + 1)
                return j + 1
            if c != "\\":
                what = "a lone surrogate" if c >= "\ud800" else "a control character"
                raise self._error(f"{what} in a string", j)
            end = self._escape_end(text, j)
            if end < 0:  # unfinished: read it again with the next piece
                self._pending = text[j:]
                i = j
                break
            escaped = True
            i = end
        self._string_piece(text[start:i], escaped)
        return n

    def _escape_end(self, text: str, j: int) -> int:
        """End of the escape at ``text[j]``, or -1 if the text ends inside it."""
        n = len(text)
        if j + 1 >= n:
            return -1
        if text[j + 1] in _SIMPLE_ESCAPES:
            return j + 2
        if text[j + 1] != "u":
            raise self._error("an invalid escape", j)
        code = self._hex(text, j + 2)
        if code < 0:
            return -1
        if 0xDC00 <= code <= 0xDFFF:
            raise self._error("a lone surrogate escape", j)
        if not 0xD800 <= code <= 0xDBFF:
            return j + 6
        # A high surrogate: its low half must follow, as a \u escape.
        for k, want in ((j + 6, "\\"), (j + 7, "u")):
            if k >= n:
                return -1
            if text[k] != want:
                raise self._error("a lone surrogate escape", j)
        low = self._hex(text, j + 8, surrogate_of=j)
        if low < 0:
            return -1
        if not 0xDC00 <= low <= 0xDFFF:
            raise self._error("a lone surrogate escape", j)
        return j + 12

    def _hex(self, text: str, k: int, *, surrogate_of: int = -1) -> int:
        """The four hex digits at ``text[k]``, or -1 if the text ends first."""
        digits = text[k : k + 4]
        for d in digits:
            if d not in _HEX:
                at = surrogate_of if surrogate_of >= 0 else k - 2
                what = "a lone surrogate escape" if surrogate_of >= 0 else "an invalid escape"
                raise self._error(what, at)
        return int(digits, 16) if len(digits) == 4 else -1

    def _string_piece(self, raw: str, escaped: bool) -> None:
        mode = self._string_mode
        if not raw or mode == _SKIPPED:
            return
        if mode == _REPORTED_KEY:
            self._key.append(raw)
            self._escaped = self._escaped or escaped
            return
        self._handler.piece(self._unescape(raw) if escaped else raw)

    def _string_end(self, text: str, end: int) -> None:
        if not self._in_key:
            self._value_done(text, end)
            return
        self._state = _COLON
        if self._string_mode == _REPORTED_KEY:
            raw = "".join(self._key)
            self._key.clear()
            self._handler.key(self._unescape(raw) if self._escaped else raw)

    def _unescape(self, raw: str) -> str:
        result: str = self._jiter.from_json(f'"{raw}"'.encode())
        return result

    # -- numbers and literals ---------------------------------------------------------

    def _scalar_piece(self, text: str, i: int) -> int:
        end = _SCALAR_RUN.match(text, i).end()  # type: ignore[union-attr]
        run = text[i:end]
        self._scalar.append(run)
        if len(self._scalar_head) < _PREFIX_CHECK:
            self._scalar_head = (self._scalar_head + run)[:_PREFIX_CHECK]
            if not _prefix_ok(self._scalar_head):
                raise JsonSyntaxError("an invalid number or literal", self._scalar_at)
        if end == len(text):
            return end  # it may go on in the next piece
        self._scalar_done(text, end)
        return end

    def _scalar_done(self, text: str, end: int) -> None:
        token = "".join(self._scalar)
        self._scalar.clear()
        if token not in _LITERALS and _NUMBER.fullmatch(token) is None:
            raise JsonSyntaxError("an invalid number or literal", self._scalar_at)
        self._value_done(text, end)

    def _decode(self, raw: str, offset: int) -> object:
        try:
            return self._jiter.from_json(raw.encode())
        except ValueError as exc:  # valid JSON that jiter cannot hold (a huge integer)
            reason = str(exc).split(" at line ", 1)[0]
            raise JsonSyntaxError(f"a value jiter cannot read ({reason})", offset) from exc

    def _error(self, message: str, i: int) -> JsonSyntaxError:
        return JsonSyntaxError(message, self._base + i)


def _prefix_ok(head: str) -> bool:
    """Whether a number or literal can begin with ``head``."""
    return _NUMBER_PREFIX.fullmatch(head) is not None or any(
        literal.startswith(head) for literal in _LITERALS
    )
