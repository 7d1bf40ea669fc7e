"""Sets of Unicode code points as sorted, disjoint, inclusive ranges."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

MAX_CODEPOINT = 0x10FFFF


@dataclass(frozen=True, slots=True)
class CharSet:
    """An immutable set of code points, kept as normalised ``(lo, hi)`` ranges."""

    ranges: tuple[tuple[int, int], ...]

    @staticmethod
    def of(chars: Iterable[str] | str) -> CharSet:
        """The set of the given characters."""
        return CharSet.from_ranges((ord(c), ord(c)) for c in chars)

    @staticmethod
    def span(lo: str, hi: str) -> CharSet:
        """All characters from ``lo`` to ``hi`` inclusive."""
        return CharSet.from_ranges([(ord(lo), ord(hi))])

    @staticmethod
    def any() -> CharSet:
        """Every code point."""
        return CharSet(((0, MAX_CODEPOINT),))

    @staticmethod
    def from_ranges(ranges: Iterable[tuple[int, int]]) -> CharSet:
        """Normalise arbitrary (possibly overlapping) ranges."""
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted(ranges):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        return CharSet(tuple(merged))

    def __or__(self, other: CharSet) -> CharSet:
        return CharSet.from_ranges(self.ranges + other.ranges)

    def complement(self) -> CharSet:
        """Every code point not in this set."""
        out: list[tuple[int, int]] = []
        nxt = 0
        for lo, hi in self.ranges:
            if lo > nxt:
                out.append((nxt, lo - 1))
            nxt = hi + 1
        if nxt <= MAX_CODEPOINT:
            out.append((nxt, MAX_CODEPOINT))
        return CharSet(tuple(out))

    def __sub__(self, other: CharSet) -> CharSet:
        return self & other.complement()

    def __and__(self, other: CharSet) -> CharSet:
        out: list[tuple[int, int]] = []
        i = j = 0
        a, b = self.ranges, other.ranges
        while i < len(a) and j < len(b):
            lo = max(a[i][0], b[j][0])
            hi = min(a[i][1], b[j][1])
            if lo <= hi:
                out.append((lo, hi))
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return CharSet(tuple(out))

    def __contains__(self, char: object) -> bool:
        if not isinstance(char, str) or len(char) != 1:
            return False
        cp = ord(char)
        lo_i, hi_i = 0, len(self.ranges)
        while lo_i < hi_i:
            mid = (lo_i + hi_i) // 2
            lo, hi = self.ranges[mid]
            if cp < lo:
                hi_i = mid
            elif cp > hi:
                lo_i = mid + 1
            else:
                return True
        return False

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def size(self) -> int:
        """Number of code points in the set."""
        return sum(hi - lo + 1 for lo, hi in self.ranges)

    def is_negated_shorter(self) -> bool:
        """Whether the complement needs fewer ranges to write down."""
        return len(self.complement().ranges) < len(self.ranges)

    def sample(self) -> list[str]:
        """A few representative members (range ends), for tests and docs."""
        out: list[str] = []
        for lo, hi in self.ranges:
            for cp in {lo, hi, (lo + hi) // 2}:
                if not 0xD800 <= cp <= 0xDFFF:
                    out.append(chr(cp))
        return out


DIGITS = CharSet.span("0", "9")
H_SPACE = CharSet.of(" \t\u00a0")
NEWLINE = CharSet.of("\n\r")
WHITESPACE = H_SPACE | NEWLINE
# Surrogates cannot appear in well-formed text; leaving them out keeps every
# rendering valid UTF-8.
SURROGATES = CharSet.from_ranges([(0xD800, 0xDFFF)])
TEXT = CharSet.any() - SURROGATES


@functools.cache
def decimal_digits() -> CharSet:
    """Every Unicode decimal digit (``str.isdecimal``: ``0``-``9``, ``٣``, ``９``, ...).

    Read from the running Python's Unicode database (planes 0 and 1, where every
    decimal digit lies; a test checks the rest), once per process: ~10 ms.
    """
    return CharSet.from_ranges((cp, cp) for cp in range(0x20000) if chr(cp).isdecimal())
