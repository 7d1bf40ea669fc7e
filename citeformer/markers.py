"""Incremental marker parsing and validation, shared by every generation path.

The rules, in one place; :mod:`citeformer.grammar.language` is the same language, and
every piece of code that writes markers writes it:

* A *candidate* starts at the style's opening character, or at its full-width form
  (``［`` ``（`` ``｛`` ``＾``), immediately followed by a decimal digit of any script
  (``[٩]`` and ``［１］`` are candidates). An opening character followed by anything
  else is prose.
* Caret style: the candidate is the caret and its whole run of decimal digits.
* Bracketed styles: the candidate reads its *body* (decimal digits, commas, spaces,
  hyphens, dashes, semicolons) and ends at the closing character (ASCII or
  full-width). If some other character comes first, the candidate runs to the first
  closing character on the same line within :data:`LOOKAHEAD` characters of its
  start, so ``(50%)``, ``(3 km)`` and ``[1, 2, …, 13]`` go whole, never leaving
  pieces behind; with no such closing character it is the opening character and
  its body (``(5 of them`` loses ``(5``). At the end of the text an unfinished
  candidate is ``unclosed``.
* A candidate is *valid* when it is written in ASCII (no full-width brackets, no
  other digits) and its body is ids separated by commas, each in ``1..n`` without a
  leading zero. A valid candidate is kept exactly as written when the language
  accepts it as written; otherwise (``[3, 1]``, ``[1, 1]``, ``[1 ,2]``, more ids than
  one group holds) its ids are rewritten into the canonical form: distinct,
  increasing, in groups of the language's size separated by a space
  (``[1, 2, 3] [4]``). Markers written side by side (``[1][2]``, ``^1^2``) are kept
  apart by a space (``[1] [2]``). No valid id is ever dropped.
* Anything else is removed together with the horizontal whitespace right before
  it, and reported as an :class:`~citeformer.core.InvalidMarker`. Removing it never
  joins its neighbours into a new marker (``[[9]3]`` becomes ``[ 3]``).

So in paren style a parenthesised number is always a marker (``(2019)`` with fewer
than 2019 sources is removed: write "in 2019"), in bracket style so is ``x[0]``, and
in caret style ``E = mc^2`` cites source 2: choose the marker style that the answers'
subject matter does not use.

:class:`MarkerParser` applies this to a stream: ``feed(chunk)`` returns events for
everything that is settled and holds back the rest (trailing spaces, and a
candidate from its opening character until it is decided), ``flush()`` settles the
end. Each raw
character is examined a bounded number of times, so any chunking costs linear time,
and any chunking of a text gives the same events as the whole text at once.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from typing import Final, NamedTuple

from citeformer._whole_text import WholeParse, whole_parse
from citeformer.core import InvalidMarker, MarkerStyle
from citeformer.grammar.language import group_size

LOOKAHEAD: Final = 80
"""How far (from its opening character) a malformed candidate looks for its closing one."""

_BODY_RUN: Final = re.compile(r"[\d, \-–—;]*")
_DIGIT_RUN: Final = re.compile(r"\d*")
_HSPACE: Final = " \t"
_AS_WRITTEN: Final = re.compile(r"[0-9]+(?:, ?[0-9]+)*")


class TextEvent(NamedTuple):
    """Settled answer text (never contains a partial or invalid marker)."""

    text: str


class MarkerEvent(NamedTuple):
    """A valid marker, in the language's form.

    Attributes:
        ids: The cited source ids, in the order written.
        text: The marker as it appears in the answer.
        start: Offset of the marker in the validated answer.
        end: Offset just past it.
        raw_start: Offset of the candidate it was read from in the raw backend text.
    """

    ids: tuple[int, ...]
    text: str
    start: int
    end: int
    raw_start: int


class InvalidMarkerEvent(NamedTuple):
    """A marker that was removed from the answer."""

    marker: InvalidMarker


ParseEvent = TextEvent | MarkerEvent | InvalidMarkerEvent


@functools.lru_cache(maxsize=4096)
def parse_body(body: str, n: int) -> tuple[tuple[int, ...], str | None]:
    """Parse a marker body (``"1, 3"``) into ids, or give the rejection reason.

    Ids come in the order written; repeats are kept (the parser merges them).
    """
    if not body.isascii() and any(c.isdecimal() and not c.isascii() for c in body):
        return (), "non_ascii_digit"
    ids: list[int] = []
    width = len(str(n))
    for part in body.split(","):
        part = part.strip(" ")
        if not part:
            return (), "malformed"
        if not (part.isascii() and part.isdigit()):
            return (), "range" if any(c in part for c in "-–—") else "malformed"
        if part[0] == "0":
            return (), "zero" if part.strip("0") == "" else "leading_zero"
        # Length first: int() of thousands of digits is slow, or refused outright.
        if len(part) > width or int(part) > n:
            return (), "out_of_range"
        ids.append(int(part))
    return tuple(ids), None


class _Candidate:
    """Where the scan of an undecided candidate stands (offsets into the pending text)."""

    __slots__ = ("at", "body_end", "look", "space")

    def __init__(self, at: int, space: int) -> None:
        self.at = at  # the opening character
        self.space = space  # start of the horizontal space right before it
        self.body_end = -1  # end of the body run, once known
        self.look = -1  # how far the closing-character lookahead has searched


class MarkerParser:
    """Stateful parser: feed raw backend text, get settled events.

    Args:
        n: Number of sources; valid ids are ``1..n`` (``n = 0`` rejects every marker,
            which is how marker-like text in free-text fields is neutralised).
        style: The marker style to recognise.
        group: Most ids one marker may hold (default: the citation language's).
    """

    __slots__ = (
        "_buf",
        "_cand",
        "_closers",
        "_group",
        "_last",
        "_look",
        "_marker_last",
        "_n",
        "_open",
        "_out_len",
        "_raw_base",
        "_scan",
        "_space",
        "_style",
        "_verdicts",
        "_wide",
    )

    def __init__(self, n: int, style: MarkerStyle, *, group: int | None = None) -> None:
        self._n = n
        self._style = style
        self._group = group if group is not None else group_size(max(n, 1), style)
        self._open, self._wide, self._closers, self._look = _style_scan(style)
        self._buf = ""
        self._raw_base = 0  # raw offset of self._buf[0]
        self._scan = 0  # self._buf[:scan] holds no opening character still to look at
        self._space = 0  # self._buf[space:scan] is horizontal space (held back)
        self._cand: _Candidate | None = None
        self._out_len = 0
        self._last = ""  # last character emitted
        self._marker_last = False  # the output so far ends with a marker
        self._verdicts = _verdict_cache(n, self._group, style)

    @property
    def pending(self) -> str:
        """Raw text held back, not yet settled."""
        return self._buf

    def feed(self, chunk: str) -> list[ParseEvent]:
        """Add raw text; return the events it settles."""
        if not chunk:
            return []
        if self._cand is None and self._open not in chunk and self._wide not in chunk:
            # Plain prose (the common chunk): all of it but its trailing spaces settles.
            kept = len(chunk.rstrip(_HSPACE))
            if kept:
                text = self._buf + chunk[:kept]
                self._raw_base += len(text)
                self._buf = chunk[kept:]
                self._scan, self._space = len(self._buf), 0
                self._out_len += len(text)
                self._last = text[-1]
                self._marker_last = False
                return [TextEvent(text)]
        # A local with one reference: CPython appends in place (amortised linear even
        # while a long candidate or run of spaces is held back).
        buf, self._buf = self._buf, ""
        buf += chunk
        self._buf = buf
        del buf
        return self._process(final=False)

    def flush(self) -> list[ParseEvent]:
        """Settle everything held back (the raw text has ended)."""
        return self._process(final=True)

    def whole(self, text: str) -> list[ParseEvent]:
        """``feed(text) + flush()`` for a fresh parser given the whole raw text.

        The same events, found by one regex pass when every opening character in
        ``text`` starts an ASCII candidate closed right where its body ends (what
        answers hold); any other text takes the incremental scan.
        """
        parse = self.whole_parse(text)
        if parse is None:
            return [*self.feed(text), *self.flush()]
        events: list[ParseEvent] = []
        removed = iter(parse.invalid)
        marks = {mark[5]: mark for mark in parse.marks}
        gone = next(removed, None)
        for index, part in enumerate([*parse.parts, None]):
            while gone is not None and gone[1] == index:  # removed before this piece
                events.append(InvalidMarkerEvent(gone[0]))
                gone = next(removed, None)
            mark = marks.get(index)
            if mark is not None:
                events.append(MarkerEvent(*mark[:5]))
            elif part is not None:
                events.append(TextEvent(part))
        return events

    def whole_parse(self, text: str) -> WholeParse | None:
        """The compact parse of a whole raw text, if the one-pass scan applies.

        For a fresh parser only (returns None otherwise, and for texts the scan does
        not take); on success the parser's state is that of ``feed(text) + flush()``.
        """
        if self._buf or self._raw_base or self._out_len:
            return None
        n, group, style = self._n, self._group, self._style
        if len(self._verdicts) > 4096:
            self._verdicts.clear()
        parse = whole_parse(
            text, style, _simple_candidates(style), self._verdicts,
            lambda raw: _closed(raw, n, group, style),
        )  # fmt: skip
        if parse is not None:
            self._out_len, self._raw_base = parse.length, len(text)
            self._marker_last = parse.marker_last
            self._last = parse.parts[-1][-1] if parse.parts else ""
        return parse

    # -- the scan ---------------------------------------------------------------------

    def _process(self, *, final: bool) -> list[ParseEvent]:
        events: list[ParseEvent] = []
        buf = self._buf
        length = len(buf)
        find, opener, wide = buf.find, self._open, self._wide
        scan, space = self._scan, self._space  # written back before anything reads them
        next_wide = find(wide, scan)  # rare: looked up again only once passed
        body_run = _BODY_RUN.match
        closer = self._style.close
        n, group, style = self._n, self._group, self._style
        verdicts = self._verdicts
        if len(verdicts) > 4096:
            verdicts.clear()
        done = 0  # buf[:done] is settled
        while True:
            cand = self._cand
            if cand is None:
                j = find(opener, scan)
                if 0 <= next_wide < scan:
                    next_wide = find(wide, scan)
                if next_wide >= 0 and (j < 0 or next_wide < j):
                    j = next_wide
                upto = length if j < 0 else j
                k = upto
                while k > scan and buf[k - 1] in _HSPACE:
                    k -= 1
                if k > scan:  # something other than space since the last scan
                    space = k
                scan = upto
                if j < 0:
                    if final:
                        self._text(events, buf[done:])
                        done = space = length
                    else:
                        self._text(events, buf[done:space])
                        done = space
                    break
                # Fast path: an ASCII marker closed right where its body ends.
                if j + 1 < length and "0" <= buf[j + 1] <= "9" and closer and j != next_wide:
                    k = body_run(buf, j + 1).end()  # type: ignore[union-attr]
                    if k < length and buf[k] == closer:
                        end = k + 1
                        raw = buf[j:end]
                        verdict = verdicts.get(raw)
                        if verdict is None:
                            verdict = verdicts[raw] = _closed(raw, n, group, style)
                        self._settle(events, buf, done, j, space, end, verdict, final)
                        done = scan = space = end
                        continue
                cand = self._cand = _Candidate(j, space)
            end, reason = self._decide(buf, cand, final)
            if end == _NEED:
                self._text(events, buf[done : cand.space])
                done = cand.space
                break
            self._cand = None
            if end == _PROSE:
                scan = space = cand.at + 1
                continue
            self._settle(events, buf, done, cand.at, cand.space, end, reason, final)
            done = scan = space = end
        self._scan, self._space = scan, space
        self._rebase(done)
        return events

    def _settle(
        self,
        events: list[ParseEvent],
        buf: str,
        done: int,
        j: int,
        space: int,
        end: int,
        verdict: _Verdict | None,
        final: bool,
    ) -> None:
        """Emit the text before the candidate at ``j`` and the candidate itself."""
        if not isinstance(verdict, str):
            assert verdict is not None
            raw_start = self._raw_base + j
            out = self._out_len
            if j > done:
                events.append(TextEvent(buf[done:j]))
                out += j - done
            elif self._marker_last:  # "[1][2]": markers side by side are kept apart
                events.append(TextEvent(" "))
                out += 1
            first = True
            for ids, text in verdict:
                if not first:
                    events.append(TextEvent(" "))
                    out += 1
                first = False
                events.append(MarkerEvent(ids, text, out, out + len(text), raw_start))
                out += len(text)
            self._out_len = out
            self._last = text[-1]
            self._marker_last = True
            return
        self._text(events, buf[done:space])
        if (
            not self._marker_last
            and self._last in (self._open, self._wide)
            and (end < len(buf) or not final)
        ):
            self._text(events, " ")  # "[" + "[9]" + "3]" must not become "[3]"
        base = self._raw_base
        events.append(InvalidMarkerEvent(InvalidMarker(buf[j:end], base + j, base + end, verdict)))

    def _rebase(self, done: int) -> None:
        if done:
            self._buf = self._buf[done:]
            self._raw_base += done
            self._scan -= done
            self._space -= done
            if self._cand is not None:
                cand = self._cand
                cand.at -= done
                cand.space -= done
                if cand.body_end >= 0:
                    cand.body_end -= done
                if cand.look >= 0:
                    cand.look -= done

    def _decide(self, buf: str, cand: _Candidate, final: bool) -> tuple[int, _Verdict | None]:
        """Classify the candidate at ``cand.at``: ``(_NEED|_PROSE, None)`` or its end and verdict.

        The verdict is the rejection reason, or for a valid marker the pieces to emit.
        """
        j = cand.at
        length = len(buf)
        if j + 1 == length:
            return (_PROSE, None) if final else (_NEED, None)
        if not buf[j + 1].isdecimal():
            return _PROSE, None
        wide = buf[j] == self._wide
        if not self._closers:  # caret: the caret and its digits
            k = _DIGIT_RUN.match(buf, max(j + 1, cand.body_end)).end()  # type: ignore[union-attr]
            if k == length and not final:
                cand.body_end = k
                return _NEED, None
            return k, self._caret_reason(buf[j:k], wide)
        if cand.body_end < 0 or cand.look < 0:
            k = _BODY_RUN.match(buf, max(j + 1, cand.body_end)).end()  # type: ignore[union-attr]
            cand.body_end = k
            if k == length:
                if not final:
                    return _NEED, None
                return _rstrip_end(buf, j, k), "unclosed"
            if buf[k] in self._closers:
                if wide or buf[k] != self._style.close:
                    return k + 1, "full_width"
                return k + 1, _closed(buf[j : k + 1], self._n, self._group, self._style)
            cand.look = k
        # Not closed where the body ended: look for the closing character on this line.
        limit = min(length, j + LOOKAHEAD)
        found = self._look.search(buf, cand.look, limit)
        if found is not None and buf[found.start()] in self._closers:
            return found.end(), "malformed"
        if found is None and limit < j + LOOKAHEAD and not final:
            cand.look = limit
            return _NEED, None
        return _rstrip_end(buf, j, cand.body_end), "malformed"

    def _caret_reason(self, raw: str, wide: bool) -> _Verdict:
        if wide:
            return "full_width"
        return _closed(raw, self._n, self._group, self._style)

    # -- output -----------------------------------------------------------------------

    def _text(self, events: list[ParseEvent], text: str) -> None:
        if text:
            self._out_len += len(text)
            self._last = text[-1]
            self._marker_last = False
            events.append(TextEvent(text))

    def _valid(self, events: list[ParseEvent], pieces: _Pieces, raw_start: int) -> None:
        """Emit a valid candidate (as written, or rewritten into the canonical form)."""
        if self._marker_last:
            self._text(events, " ")  # "[1][2]": markers side by side are kept apart
        for k, (ids, text) in enumerate(pieces):
            if k:
                self._text(events, " ")
            self._marker(events, ids, text, raw_start)

    def _marker(
        self, events: list[ParseEvent], ids: tuple[int, ...], text: str, raw_start: int
    ) -> None:
        start = self._out_len
        self._out_len += len(text)
        self._last = text[-1]
        self._marker_last = True
        events.append(MarkerEvent(ids, text, start, self._out_len, raw_start))


_NEED: Final = -1
_PROSE: Final = -2

_Pieces = tuple[tuple[tuple[int, ...], str], ...]
"""A valid candidate's output: one (ids, marker text) per marker it becomes."""
_Verdict = _Pieces | str
"""The pieces of a valid candidate, or why it is invalid."""


_VERDICTS: Final[dict[tuple[int, int, MarkerStyle], dict[str, _Verdict]]] = {}


def _verdict_cache(n: int, group: int, style: MarkerStyle) -> dict[str, _Verdict]:
    """The shared ``raw candidate -> verdict`` cache of one citation language.

    Verdicts are pure functions of the candidate and the language, and answers repeat
    their markers call after call: one dict lookup per marker instead of a judgement
    (each cache is cleared by its parsers past 4,096 entries; this map past 256).
    """
    key = (n, group, style)
    cache = _VERDICTS.get(key)
    if cache is None:
        if len(_VERDICTS) > 256:
            _VERDICTS.clear()
        cache = _VERDICTS[key] = {}
    return cache


@functools.cache
def _style_scan(style: MarkerStyle) -> tuple[str, str, str, re.Pattern[str]]:
    """The style's opening characters, closing ones, and what ends a lookahead.

    A malformed candidate's lookahead ends at a closing character (found), or at a
    line break or another opening character (given up). Cached: parsers are made per
    call, and per segment of a JSON answer.
    """
    closers = style.close + style.wide_close
    look = re.compile(f"[\n\r{re.escape(style.open + style.wide_open + closers)}]")
    return style.open, style.wide_open, closers, look


@functools.cache
def _simple_candidates(style: MarkerStyle) -> re.Pattern[str]:
    """A candidate as the incremental scan's fast path settles it.

    An ASCII digit after the opening character, a body run, and the ASCII closing
    character right after the run.
    """
    return re.compile(f"{re.escape(style.open)}[0-9]{_BODY_RUN.pattern}{re.escape(style.close)}")


@functools.lru_cache(maxsize=8192)
def _closed(raw: str, n: int, group: int, style: MarkerStyle) -> _Verdict:
    """The verdict on a whole candidate (opening character to closing one), cached."""
    body = raw[1:-1] if style.close else raw[1:]
    ids, reason = parse_body(body, n)
    if reason is not None:
        return reason
    if (
        len(ids) <= group
        and all(a < b for a, b in itertools.pairwise(ids))
        and _AS_WRITTEN.fullmatch(body) is not None
    ):
        return ((ids, raw),)
    ordered = sorted(set(ids))
    return tuple(
        (chunk, style.marker(chunk))
        for chunk in (tuple(ordered[k : k + group]) for k in range(0, len(ordered), group))
    )


def _rstrip_end(buf: str, j: int, k: int) -> int:
    """End of ``buf[j:k]`` without its trailing spaces."""
    while k > j + 1 and buf[k - 1] == " ":
        k -= 1
    return k


def canonical_markers(ids: list[int] | tuple[int, ...], style: MarkerStyle, group: int) -> str:
    """Markers for ``ids`` in the language's canonical form (``[1, 2, 3] [4]``, ``^1 ^2``).

    Distinct ids, increasing, in groups of at most ``group``, separated by a space:
    what every writer of markers (schema segments, the Anthropic citation assembler)
    emits, so the validator and the grammar accept it unchanged.
    """
    ordered = sorted(set(ids))
    return " ".join(style.marker(ordered[k : k + group]) for k in range(0, len(ordered), group))


@dataclass(frozen=True, slots=True)
class Validation:
    """The outcome of validating a whole text.

    Attributes:
        text: The text with invalid markers removed.
        markers: The valid markers, in order.
        invalid: The removed markers.
    """

    text: str
    markers: tuple[MarkerEvent, ...]
    invalid: tuple[InvalidMarker, ...]


def validate(text: str, n: int, style: MarkerStyle, *, group: int | None = None) -> Validation:
    """Validate a complete text in one pass (same rules as the stream parser)."""
    if style.open not in text and style.wide_open not in text:
        return Validation(text, (), ())
    parser = MarkerParser(n, style, group=group)
    events = parser.feed(text) + parser.flush()
    parts: list[str] = []
    markers: list[MarkerEvent] = []
    invalid: list[InvalidMarker] = []
    for event in events:
        if isinstance(event, TextEvent):
            parts.append(event.text)
        elif isinstance(event, MarkerEvent):
            parts.append(event.text)
            markers.append(event)
        else:
            invalid.append(event.marker)
    return Validation("".join(parts), tuple(markers), tuple(invalid))


def neutralize(text: str, style: MarkerStyle) -> str:
    """Remove every marker-like candidate from free text (nothing is trusted)."""
    return validate(text, 0, style).text
