"""The automaton types every reading of the citation language shares.

:mod:`citeformer.grammar.language` builds a :class:`CitationLanguage` out of these;
the recogniser, the policy checker and the renderings (EBNF, GBNF, Lark) read any
:class:`Automaton`, so none of them imports the builder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from citeformer.core import MarkerStyle
from citeformer.grammar.charset import CharSet
from citeformer.grammar.numbers import DigitPattern, id_patterns

OWES_SENTENCE = "sentence"
"""REQUIRED: the sentence so far has no marker yet."""
OWES_QUOTATION = "quotation"
"""QUOTES_ONLY: a quotation is open, or closed without its marker yet."""


@dataclass(frozen=True, slots=True)
class Edge:
    """Consume one character of ``chars`` and go to ``target``."""

    chars: CharSet
    target: str


@dataclass(frozen=True, slots=True)
class State:
    """One automaton state.

    Attributes:
        name: Lowercase alphanumeric name (valid as a rule name in every rendering).
        loop: Characters that stay in this state.
        edges: Single-character moves; disjoint from ``loop`` and each other.
        group_target: Where a marker group (ids, then the closing character) leads,
            or None where no marker may start.
        accepting: Whether the text may end here.
        owes: What the policy still requires here (:data:`OWES_SENTENCE`: a marker
            for the sentence so far; :data:`OWES_QUOTATION`: one for the quotation),
            or None. The policy checker reports text that leaves such a state unpaid.
    """

    name: str
    loop: CharSet
    edges: tuple[Edge, ...] = ()
    group_target: str | None = None
    accepting: bool = False
    owes: str | None = None

    def first_chars(self) -> CharSet:
        """Every character this state can consume directly."""
        out = self.loop
        for edge in self.edges:
            out = out | edge.chars
        return out


@dataclass(frozen=True, slots=True)
class GroupRule:
    """The ids inside one marker.

    Attributes:
        n: Number of sources; ids are 1..n.
        max_size: Most ids in one marker.
        separator: Written between ids (``", "``; the space is optional).
    """

    n: int
    max_size: int
    separator: str = ","

    @property
    def id_patterns(self) -> tuple[DigitPattern, ...]:
        """The bounded number rule for 1..n."""
        return id_patterns(self.n)


class Automaton(Protocol):
    """What readers of a citation language need: its states and its marker group."""

    @property
    def start(self) -> str:
        """The start state's name."""

    @property
    def states(self) -> tuple[State, ...]:
        """Every state."""

    @property
    def group(self) -> GroupRule:
        """The ids of one marker."""

    @property
    def marker_style(self) -> MarkerStyle:
        """How markers look."""

    def state(self, name: str) -> State:
        """The state called ``name``."""
