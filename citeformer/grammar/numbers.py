"""The bounded number rule: decimal strings of exactly the integers 1..N.

A range is written as a few digit patterns instead of N literals, so the rule
stays small for any N: 1..12 is ``[1-9] | 1[0-2]``, 1..10000 has five patterns.
"""

from __future__ import annotations

import functools

DigitPattern = tuple[tuple[int, int], ...]
"""One alternative: per position, an inclusive range of digits."""


@functools.lru_cache(maxsize=256)
def range_patterns(lo: int, hi: int) -> tuple[DigitPattern, ...]:
    """Digit patterns matching exactly the decimal forms of ``lo..hi``.

    No pattern allows a leading zero (except the number 0 itself when lo is 0).
    """
    if lo > hi:
        return ()
    out: list[DigitPattern] = []
    start = lo
    # Split at powers of ten so each piece has one length.
    while start <= hi:
        length = len(str(start))
        end = min(hi, 10**length - 1)
        out.extend(_same_length(str(start), str(end)))
        start = end + 1
    return tuple(out)


def _same_length(lo: str, hi: str) -> list[DigitPattern]:
    if len(lo) == 1:
        return [((int(lo), int(hi)),)]
    if lo[0] == hi[0]:
        head = (int(lo[0]), int(lo[0]))
        return [(head, *rest) for rest in _same_length(lo[1:], hi[1:])]
    out: list[DigitPattern] = []
    width = len(lo) - 1
    lo_first, hi_first = int(lo[0]), int(hi[0])
    lo_rest_is_min = lo[1:] == "0" * width
    hi_rest_is_max = hi[1:] == "9" * width
    first_full = lo_first if lo_rest_is_min else lo_first + 1
    last_full = hi_first if hi_rest_is_max else hi_first - 1
    if not lo_rest_is_min:
        out.extend(((lo_first, lo_first), *r) for r in _same_length(lo[1:], "9" * width))
    if first_full <= last_full:
        out.append(((first_full, last_full), *([(0, 9)] * width)))
    if not hi_rest_is_max:
        out.extend(((hi_first, hi_first), *r) for r in _same_length("0" * width, hi[1:]))
    return out


def id_patterns(n: int) -> tuple[DigitPattern, ...]:
    """Patterns for the citation ids 1..n."""
    return range_patterns(1, n)


def pattern_regex(patterns: tuple[DigitPattern, ...]) -> str:
    """A regular expression (no anchors) for the patterns."""
    alts = ["".join(_digit_class(lo, hi) for lo, hi in p) for p in patterns]
    return "(?:" + "|".join(alts) + ")"


def _digit_class(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"[{lo}-{hi}]"
