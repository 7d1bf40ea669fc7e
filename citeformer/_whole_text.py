"""The whole-reply pass of the marker parser: one regex scan, no per-character work.

A whole reply (``generate``) whose every opening character starts a plain ASCII
candidate closed right where its body ends (what answers hold) is parsed here in one
pass, into a compact form the orchestrator turns into citations without building an
event per piece; :meth:`MarkerParser.whole` rebuilds the same events from it. Any
other text takes the incremental scan. A differential property test compares the two.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from citeformer.core import InvalidMarker, MarkerStyle

HSPACE = " \t"

Mark = tuple[tuple[int, ...], str, int, int, int, int]
"""A valid marker: (ids, text, start, end, raw_start, index of its text in ``parts``)."""


class WholeParse(NamedTuple):
    """A whole reply, parsed.

    Attributes:
        parts: The validated answer in pieces (``"".join(parts)``), marker texts and
            the spaces that keep markers apart included.
        marks: The valid markers in order, each with the index of its piece.
        invalid: The removed candidates in order, each with the index of the piece
            it came before.
        length: The validated answer's length.
        marker_last: Whether the answer ends with a marker.
    """

    parts: list[str]
    marks: list[Mark]
    invalid: list[tuple[InvalidMarker, int]]
    length: int
    marker_last: bool


def whole_parse(
    text: str,
    style: MarkerStyle,
    candidates: re.Pattern[str],
    verdicts: dict[str, Any],
    judge: Callable[[str], Any],
) -> WholeParse | None:
    """Parse ``text`` if every candidate in it is simple, else return None.

    Args:
        text: The whole raw reply.
        style: The marker style.
        candidates: The style's simple-candidate regex.
        verdicts: The parser's cache of ``raw candidate -> verdict``.
        judge: The verdict on a candidate not in the cache: its (ids, marker text)
            pieces, or why it is invalid.
    """
    opener, wide = style.open, style.wide_open
    if style is MarkerStyle.CARET or wide in text:
        return None
    parts: list[str] = []
    marks: list[Mark] = []
    invalid: list[tuple[InvalidMarker, int]] = []
    add = parts.append
    done = out = seen = 0
    marker_last = False
    for found in candidates.finditer(text):
        j, end = found.span()
        seen += 1
        raw = text[j:end]
        verdict = verdicts.get(raw)
        if verdict is None:
            verdict = verdicts[raw] = judge(raw)
        if verdict.__class__ is str:
            space = done + len(text[done:j].rstrip(HSPACE))
            if space > done:
                add(text[done:space])
                out += space - done
                marker_last = False
            invalid.append((InvalidMarker(raw, j, end, verdict), len(parts)))
            done = end
            continue
        if j > done:
            add(text[done:j])
            out += j - done
        elif marker_last:  # "[1][2]": markers side by side are kept apart
            add(" ")
            out += 1
        first = True
        for ids, marker in verdict:
            if not first:
                add(" ")
                out += 1
            first = False
            marks.append((ids, marker, out, out + len(marker), j, len(parts)))
            add(marker)
            out += len(marker)
        marker_last = True
        done = end
    if seen != text.count(opener):  # an opening character used some other way
        return None
    if done < len(text):
        add(text[done:])
        out += len(text) - done
        marker_last = False
    return WholeParse(parts, marks, invalid, out, marker_last)
