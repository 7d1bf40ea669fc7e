"""REQUIRED's optional content bound: at most k characters of a sentence before its marker.

:func:`bound_content` turns the REQUIRED automaton (after its opening-character states
are added) into one that also counts. A regular language with a bounded count is a
finite unrolling: every state that still owes the sentence its marker
(:data:`~citeformer.grammar.automaton.OWES_SENTENCE`) is copied once per count,
``<name>c<count>``, and each character it consumes moves to the copy one count up; a
move past ``k`` is not there, so the text is refused at that character. Everything
else is unchanged, so every reading of the automaton (the recogniser, the policy
machinery, the EBNF and GBNF renderings) gets the bound with no code of its own, and
they agree by construction. The Lark rendering only groups the counted states into
rules that close at the sentence's marker (:func:`region_exits`; see
:func:`citeformer.grammar.notation.to_lark` for why).

The count. A sentence's content starts at the first character that enters an owing
state (the first character of the sentence that is not whitespace, nor a stray wide
sentence end between sentences) and ends just before the opening character of the
sentence's first marker. Every character in between counts as one (one code point):
letters, spaces, digits, punctuation, a sentence-end character that does not end the
sentence (``e.g.``, ``3.5``), an opening character used as prose, and, where the marker
follows the sentence end (``big. [1]``), that sentence end and the spaces after it.
An opening character is counted once the next character shows it is prose (until then
it is *pending*: ``<name>openc<count>`` holds the count without it). The count starts
again with each new sentence; after the first marker a sentence is unbounded.

The unrolled automaton has nine states per count (the three unmarked-sentence states
and their six opening-character states), so ``k = 240`` gives 2,170 states in all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from citeformer.grammar.automaton import OWES_SENTENCE, Edge, State
from citeformer.grammar.charset import CharSet

__all__ = ["bound_content", "counted_name", "region_exits"]

_NOTHING = CharSet(())


def counted_name(name: str, count: int) -> str:
    """The copy of owing state ``name`` that has seen ``count`` content characters."""
    return f"{name}c{count}"


def bound_content(
    states: tuple[State, ...], start: str, limit: int, pending: Iterable[str]
) -> tuple[State, ...]:
    """The states of ``states`` with at most ``limit`` content characters before a marker.

    Args:
        states: The automaton (REQUIRED, with its opening-character states).
        start: The start state's name; it comes first in the result.
        limit: Most content characters a sentence may hold before its first marker.
        pending: The opening-character states (``<name>open``, ``<name>wide``): the
            character that led there is counted only when prose follows it.

    Returns:
        The reachable states of the counting automaton, start first, with every state
        from which no accepting state can be reached (and every move into one) removed.
    """
    by_name = {s.name: s for s in states}
    held = frozenset(pending)

    def owing(name: str) -> bool:
        return by_name[name].owes == OWES_SENTENCE

    def move(count: int | None, source: str, target: str) -> tuple[str, int | None] | None:
        """Where one character from ``source`` (at ``count``) into ``target`` leads."""
        if not owing(target):
            return target, None
        seen = 0 if count is None else count
        if count is not None and source in held:
            seen += 1  # the pending opening character was prose after all
        if target not in held:
            seen += 1
        return (target, seen) if seen <= limit else None

    queued: set[str] = set()
    todo: deque[tuple[str, int | None]] = deque()

    def visit(to: tuple[str, int | None] | None) -> str | None:
        if to is None:
            return None
        base, count = to
        name = base if count is None else counted_name(base, count)
        if name not in queued:
            queued.add(name)
            todo.append(to)
        return name

    visit((start, 0) if owing(start) else (start, None))
    out: dict[str, State] = {}
    while todo:
        base, count = todo.popleft()
        state = by_name[base]
        edges: list[Edge] = []
        loop = state.loop
        if count is not None and loop:
            # Every character counts, so the loop becomes a move one count up.
            target = visit(move(count, base, base))
            if target is not None:
                edges.append(Edge(loop, target))
            loop = _NOTHING
        for edge in state.edges:
            target = visit(move(count, base, edge.target))
            if target is not None:
                edges.append(Edge(edge.chars, target))
        group = None
        if state.group_target is not None:
            # A marker pays the sentence: REQUIRED's groups lead to m or mt.
            assert not owing(state.group_target), state.group_target
            group = visit((state.group_target, None))
        name = base if count is None else counted_name(base, count)
        out[name] = State(name, loop=loop, edges=tuple(edges), group_target=group,
                          accepting=state.accepting, owes=state.owes)  # fmt: skip
    return _prune(out)


def _prune(states: dict[str, State]) -> tuple[State, ...]:
    """Drop the states from which no accepting state can be reached, and moves into them.

    Without this a dead copy (``s1widec240``: every prose move would pass the bound)
    would read as a viable prefix to the recogniser, and render as an empty rule that
    ends the text.
    """
    live = {name for name, s in states.items() if s.accepting}
    changed = True
    while changed:
        changed = False
        for name, state in states.items():
            if name in live:
                continue
            if state.group_target in live or any(e.target in live for e in state.edges):
                live.add(name)
                changed = True
    out = []
    for name, state in states.items():
        if name not in live:
            continue
        out.append(
            State(
                name,
                loop=state.loop,
                edges=tuple(e for e in state.edges if e.target in live),
                group_target=state.group_target if state.group_target in live else None,
                accepting=state.accepting,
                owes=state.owes,
            )
        )
    return tuple(out)


def region_exits(states: tuple[State, ...]) -> dict[str, tuple[str, ...]]:
    """For each counted state, the states outside the count its marker can lead to.

    A bounded sentence's states (those that owe it a marker) are left only through a
    marker group, to ``m`` or ``mt``; the Lark rendering gives each counted state one
    rule per exit, so that a sentence is a sub-derivation that closes at its marker
    (see :func:`citeformer.grammar.notation.to_lark`). Sorted, so renderings are stable.
    """
    counted = {s.name: s for s in states if s.owes == OWES_SENTENCE}
    exits: dict[str, set[str]] = {name: set() for name in counted}
    for name, state in counted.items():
        assert not state.loop, name
        assert not state.accepting, name
        if state.group_target is not None:
            exits[name].add(state.group_target)
        exits[name].update(e.target for e in state.edges if e.target not in counted)
    changed = True
    while changed:
        changed = False
        for name, state in counted.items():
            for edge in state.edges:
                more = exits.get(edge.target, set()) - exits[name]
                if more:
                    exits[name] |= more
                    changed = True
    return {name: tuple(sorted(found)) for name, found in exits.items()}
