"""A small pure-Python recogniser for a :class:`CitationLanguage`.

It runs the same automaton the renderings are generated from, and reads marker
groups directly (maximal digit runs checked against 1..N), so it serves as an
independent check of the grammar notations: the tests require it to agree with
XGrammar's and llguidance's matchers on thousands of strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from citeformer.grammar.automaton import Automaton, GroupRule


@dataclass(frozen=True, slots=True)
class Recognition:
    """Outcome of running the recogniser.

    Attributes:
        accepted: The whole text is a complete legal answer.
        viable: The text is a prefix of some legal answer (true when accepted).
        failed_at: Offset of the first character no legal answer can have there.
    """

    accepted: bool
    viable: bool
    failed_at: int | None = None


_INCOMPLETE = -1


def recognize(language: Automaton, text: str) -> Recognition:
    """Run ``text`` through ``language``'s automaton."""
    state = language.state(language.start)
    close = language.marker_style.close
    i = 0
    length = len(text)
    while i < length:
        ch = text[i]
        if ch in state.loop:
            i += 1
            continue
        for edge in state.edges:
            if ch in edge.chars:
                state = language.state(edge.target)
                i += 1
                break
        else:
            if state.group_target is None or not ch.isascii() or not ch.isdigit():
                return Recognition(False, False, i)
            end = read_group(language.group, close, text, i)
            if end == _INCOMPLETE:
                return Recognition(False, True)
            if end < 0:
                return Recognition(False, False, -end - 2)
            state = language.state(state.group_target)
            i = end
    return Recognition(state.accepting, True)


def read_group(group: GroupRule, close: str, text: str, i: int) -> int:
    """Read one marker group starting at digit ``text[i]``.

    Returns the offset after the group (and its closing character),
    ``_INCOMPLETE`` when the text ends inside a still-viable group, or
    ``-(offset + 2)`` for a failure at ``offset``.
    """
    length = len(text)
    previous = 0
    count = 0
    while True:
        start = i
        while i < length and "0" <= text[i] <= "9":
            i += 1
        digits = text[start:i]
        if not digits:
            return -(i + 2) if i < length else _INCOMPLETE
        if digits[0] == "0":
            return -(start + 2)
        if len(digits) > len(str(group.n)):  # no id is that long; int() of 4,300+ digits fails
            return -(start + 2)
        value = int(digits)
        if i == length:
            if not close and previous < value <= group.n:
                return i
            return _INCOMPLETE if _can_complete(value, previous, group.n) else -(start + 2)
        if value > group.n or value <= previous:
            return -(start + 2)
        count += 1
        previous = value
        if text[i] == "," and count < group.max_size and previous < group.n:
            i += 1
            if i < length and text[i] == " ":
                i += 1
            if i == length:
                return _INCOMPLETE
            continue
        if not close:
            return i
        if text[i] == close:
            return i + 1
        return -(i + 2)


def _can_complete(value: int, previous: int, n: int) -> bool:
    """Whether a digit prefix can still become an id in ``(previous, n]``."""
    lo, span = value, 1
    while lo <= n:
        if lo + span - 1 > previous:
            return True
        lo *= 10
        span *= 10
    return False
