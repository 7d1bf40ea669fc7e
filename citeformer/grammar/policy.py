"""Post-generation policy check: where an answer does not meet REQUIRED or QUOTES_ONLY.

It runs the same automaton the grammars are rendered from (so it agrees with them by
construction: a text the grammar accepts has no violation), but recovers where the
grammar would stop, and reports each place instead:

* ``uncited_sentence`` (REQUIRED): a sentence that ended, or a text that ended, while
  the automaton still owed a marker for it (:data:`~citeformer.grammar.language.OWES_SENTENCE`);
* ``uncited_quotation`` (QUOTES_ONLY): a quotation followed by something other than its
  marker, or left open at the end;
* ``marker_outside_quotation`` (QUOTES_ONLY): a marker where the policy allows none.

Input is validated text (:func:`citeformer.markers.validate` output), whose markers
are already in the citation language; the check is about where they are.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from citeformer.core import Policy, PolicyViolation
from citeformer.grammar.automaton import OWES_QUOTATION, OWES_SENTENCE, State
from citeformer.grammar.charset import CharSet
from citeformer.grammar.language import CitationLanguage
from citeformer.grammar.recognizer import read_group

_MISSING: Final = {
    OWES_SENTENCE: ("uncited_sentence", "a citation marker before the sentence ends"),
    OWES_QUOTATION: ("uncited_quotation", "a citation marker right after the quotation"),
}
_OPEN_STATE_SUFFIXES: Final = ("open", "wide")
_SENTENCE_ENDS: Final = frozenset(".!?。！？｡")


def check_policy(text: str, language: CitationLanguage) -> tuple[PolicyViolation, ...]:
    """Every place where ``text`` breaks ``language``'s policy (empty for AUTO)."""
    if language.policy is Policy.AUTO or not text:
        return ()
    # The policy is about where markers are; REQUIRED's optional content bound is a
    # decoding constraint (a cited sentence too long before its marker is not uncited).
    language = language.unbounded()
    machine = _machine(language)
    close = language.marker_style.close
    out: list[PolicyViolation] = []
    state = before = machine.start  # before: the state before the last opening character
    owed_since = 0
    i, length = 0, len(text)
    while i < length:
        if not state.name.endswith(_OPEN_STATE_SUFFIXES):
            before = state
        loop = machine.loops[state.name]
        if loop is not None:
            i = loop.match(text, i).end()  # type: ignore[union-attr]
            if i >= length:
                break
        ch = text[i]
        target = _edge(state, ch)
        if target is not None:
            nxt = language.state(target)
            if nxt.owes and not state.owes:
                owed_since = i
            state, i = nxt, i + 1
            continue
        if ch.isascii() and ch.isdigit() and i and text[i - 1] == language.marker_style.open:
            end = read_group(language.group, close, text, i)
            if end > i and state.group_target is not None:
                state, i = language.state(state.group_target), end
                continue
            # A marker where the policy allows none (QUOTES_ONLY: not right after a
            # quotation); the text goes on as if it were not there.
            end = end if end > i else i + 1
            out.append(
                PolicyViolation(
                    "marker_outside_quotation", i - 1, end, text[i - 1 : end],
                    "a quotation right before the marker",
                )
            )  # fmt: skip
            state, i = before, end
            continue
        if state.owes:
            stop = i + 1 if state.owes == OWES_SENTENCE and ch in _SENTENCE_ENDS else i
            out.append(_violation(text, state.owes, owed_since, stop))
            state, i = machine.recover, stop
            continue
        i += 1  # nothing is owed and nothing allowed here (not in validated text): skip it
    if not state.accepting and state.owes:
        out.append(_violation(text, state.owes, owed_since, length))
    return tuple(v for v in out if v.text.strip())


def _violation(text: str, owes: str, start: int, end: int) -> PolicyViolation:
    kind, missing = _MISSING[owes]
    span = text[start:end]
    stripped = span.rstrip()
    end = start + len(stripped)
    lead = len(stripped) - len(stripped.lstrip())
    return PolicyViolation(kind, start + lead, end, stripped[lead:], missing)


def _edge(state: State, ch: str) -> str | None:
    for edge in state.edges:
        if ch in edge.chars:
            return edge.target
    return None


class _Machine:
    """The language's automaton with each state's loop compiled to a regex."""

    __slots__ = ("loops", "recover", "start")

    def __init__(self, language: CitationLanguage) -> None:
        self.start = language.state(language.start)
        # Where to continue after a violation: the start of a new sentence (REQUIRED)
        # or plain prose (QUOTES_ONLY); both are the start state.
        self.recover = self.start
        self.loops: dict[str, re.Pattern[str] | None] = {
            s.name: _loop_regex(s.loop) if s.loop else None for s in language.states
        }


@functools.lru_cache(maxsize=256)
def _machine(language: CitationLanguage) -> _Machine:
    return _Machine(language)


def _loop_regex(chars: CharSet) -> re.Pattern[str]:
    parts = []
    for lo, hi in chars.ranges:
        parts.append(_escape(lo) if lo == hi else f"{_escape(lo)}-{_escape(hi)}")
    return re.compile(f"[{''.join(parts)}]*")


def _escape(cp: int) -> str:
    return f"\\U{cp:08x}"
