"""The citation language: one backend-agnostic representation per call shape.

A :class:`CitationLanguage` is a small automaton over character classes plus one
special edge, the *marker group* (the ids of one marker, then the closing
character). Every runtime rendering (XGrammar EBNF, GBNF, Lark, the pure
recogniser) is generated from it, so they cannot disagree by construction; the
tests check that they agree in fact. The validator (``citeformer.markers``) and
every piece of code that writes markers produce exactly this language.

Soundness rests on these rules, built in here for every policy and style:

1. The opening character followed by an ASCII digit can only be entered through
   the group edge, whose ids are the bounded range 1..N (see ``numbers.py``).
   The opening character followed by any other decimal digit (``[٩]``), and its
   full-width form (``［``) followed by any digit, cannot be written at all. The
   opening character followed by anything else is ordinary prose.
2. Right after a marker no other marker may start (groups are the only way to cite
   several ids at one place; a prose opening character is fine) and, for the caret
   style, no decimal digit may follow (``^1`` then ``0`` would read as ``^10``).
   Markers separated by spaces (``[1, 2, 3] [4]``) are allowed everywhere a marker
   is, which is how more ids than one group holds are written.
3. Groups hold at most ``max_group_size`` ids, strictly increasing (so no id
   repeats). Increasing groups need a rule per pair of ids, so they are offered
   only while N <= ``group_enum_limit``; above it each marker holds one id.
4. The text may end wherever it is not inside a marker and the policy is met.

REQUIRED takes one optional bound, ``max_content_chars`` (see
:mod:`citeformer.grammar.bound` and :func:`citation_language`): at most that many
characters of a sentence before its first marker.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from citeformer.core import MarkerStyle, Policy
from citeformer.errors import InvalidOptionError
from citeformer.grammar.automaton import (
    OWES_QUOTATION,
    OWES_SENTENCE,
    Edge,
    GroupRule,
    State,
)
from citeformer.grammar.bound import bound_content
from citeformer.grammar.charset import H_SPACE, NEWLINE, WHITESPACE, CharSet, decimal_digits
from citeformer.grammar.recognizer import recognize

__all__ = [
    "GROUP_ENUM_LIMIT",
    "MAX_CONTENT_CHARS",
    "MAX_GROUP_SIZE",
    "MAX_SOURCES",
    "OWES_QUOTATION",
    "OWES_SENTENCE",
    "CitationLanguage",
    "Edge",
    "GroupRule",
    "State",
    "citation_language",
    "group_size",
]

ASCII_SENTENCE_END = CharSet.of(".!?")
"""End a sentence when followed by whitespace (``3.5``, ``e.g`` and URLs do not)."""
WIDE_SENTENCE_END = CharSet.of("。！？｡")
"""Always end a sentence (CJK text puts no space after them)."""
CONTINUATION = CharSet.span("a", "z") | CharSet.span("ß", "ö") | CharSet.span("ø", "ÿ")
"""After ``. `` these continue the sentence (``e.g. the``, ``et al. found``). A digit
starts a new sentence (``is 8,849. 8,849 is the height``: two sentences)."""
STRAIGHT_QUOTE = CharSet.of('"')
CURLY_OPEN_QUOTE = CharSet.of("“")
CURLY_CLOSE_QUOTE = CharSet.of("”")
EMPTY = CharSet(())
TEXT = CharSet.any()

MAX_GROUP_SIZE = 3
GROUP_ENUM_LIMIT = 20
MAX_SOURCES = 100_000
MAX_CONTENT_CHARS = 500
"""Largest ``max_content_chars``. The grammars grow by nine rules per character (18 in
Lark); llguidance refuses a grammar of over 65,535 symbols (past about k = 650), and
XGrammar's compile time grows with k (k = 240: about 2,200 rules)."""


@dataclass(frozen=True, slots=True, eq=False)
class CitationLanguage:
    """The legal answers for one (N, policy, marker style, options).

    Build it with :func:`citation_language` (cached). Equality and hashing use
    ``key`` only, so caches keyed by a language are cheap.

    Attributes:
        max_content_chars: REQUIRED only: most characters of a sentence before its
            first marker (:func:`citation_language` defines the count), or None for
            no bound.
    """

    n: int
    policy: Policy
    marker_style: MarkerStyle
    max_group_size: int
    group_enum_limit: int
    states: tuple[State, ...]
    start: str
    group: GroupRule
    _by_name: dict[str, State] = field(repr=False, compare=False)
    max_content_chars: int | None = None

    @property
    def key(self) -> tuple[int | Policy | MarkerStyle, ...]:
        """The parameters that define the language.

        Five of them without a content bound (as before the bound existed, so caches
        keyed by it are unchanged); the bound is a sixth when set.
        """
        base = (self.n, self.policy, self.marker_style, self.max_group_size, self.group_enum_limit)
        return base if self.max_content_chars is None else (*base, self.max_content_chars)

    def unbounded(self) -> CitationLanguage:
        """This language without its content bound (itself when it has none)."""
        if self.max_content_chars is None:
            return self
        return _build(self.n, self.policy, self.marker_style, self.max_group_size,
                      self.group_enum_limit, None)  # fmt: skip

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CitationLanguage) and other.key == self.key

    def state(self, name: str) -> State:
        """The state called ``name``."""
        return self._by_name[name]

    def accepts(self, text: str) -> bool:
        """Whether ``text`` is a complete legal answer (pure-Python recogniser)."""
        return recognize(self, text).accepted

    def is_prefix(self, text: str) -> bool:
        """Whether ``text`` can still be extended into a legal answer."""
        return recognize(self, text).viable


def citation_language(
    n: int,
    policy: Policy | str = Policy.AUTO,
    marker_style: MarkerStyle | str = MarkerStyle.BRACKET,
    *,
    max_group_size: int = MAX_GROUP_SIZE,
    group_enum_limit: int = GROUP_ENUM_LIMIT,
    max_content_chars: int | None = None,
) -> CitationLanguage:
    """The citation language for ``n`` sources (cached per parameters).

    Args:
        n: Number of sources; markers cite ids 1..n.
        policy: Where markers are required.
        marker_style: How markers look.
        max_group_size: Most ids in one marker.
        group_enum_limit: Largest ``n`` for which a marker may hold several ids.
        max_content_chars: Policy.REQUIRED only: at most this many characters of a
            sentence before its first marker (None: no bound). The count starts at the
            sentence's first character that is not whitespace (nor a stray wide
            sentence end between sentences) and stops just before the opening
            character of the sentence's first marker; every character in between
            counts as one code point: spaces, digits, punctuation, an opening character
            used as prose, and, for a marker after the sentence end (``big. [1]``),
            that end and the spaces after it. So with ``k``, ``"x" * k + "[1]."`` is
            legal and ``"x" * (k + 1) + "[1]."`` is not. Each sentence starts its own
            count (sentences end where REQUIRED ends them: at a newline, ``。！？｡``, or
            ``.!?`` and whitespace not followed by a lowercase letter, so ``e.g. the``
            goes on counting); after its first marker a sentence is unbounded. The bound is
            enforced where the grammar is (constrained local decoding); the policy
            check (``citeformer.grammar.policy``) ignores it. The grammars grow by nine
            rules per character, hence the limit :data:`MAX_CONTENT_CHARS`.

    Raises:
        InvalidOptionError: A parameter is of the wrong type or out of range, or
            ``max_content_chars`` is given for a policy other than REQUIRED.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise InvalidOptionError(f"number of sources must be an int, got {type(n).__name__}")
    if not 1 <= n <= MAX_SOURCES:
        raise InvalidOptionError(
            f"number of sources must be between 1 and {MAX_SOURCES}, got {n}; "
            "pass at least one source (and split huge corpora by retrieval first)"
        )
    for name, value in (("max_group_size", max_group_size), ("group_enum_limit", group_enum_limit)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidOptionError(f"{name} must be a positive int, got {value!r}")
    policy = Policy.coerce(policy, what="policy")
    if max_content_chars is not None:
        if (
            isinstance(max_content_chars, bool)
            or not isinstance(max_content_chars, int)
            or not 1 <= max_content_chars <= MAX_CONTENT_CHARS
        ):
            raise InvalidOptionError(
                f"max_content_chars must be None or an int between 1 and {MAX_CONTENT_CHARS}, "
                f"got {max_content_chars!r}"
            )
        if policy is not Policy.REQUIRED:
            raise InvalidOptionError(
                "max_content_chars applies to Policy.REQUIRED only (it bounds the text "
                f"before each sentence's marker), got policy={policy.value!r}; drop it or "
                "use Policy.REQUIRED"
            )
    return _build(
        n,
        policy,
        MarkerStyle.coerce(marker_style, what="marker style"),
        max_group_size,
        group_enum_limit,
        max_content_chars,
    )


def group_size(
    n: int,
    style: MarkerStyle,
    max_group_size: int = MAX_GROUP_SIZE,
    group_enum_limit: int = GROUP_ENUM_LIMIT,
) -> int:
    """Most ids one marker may hold for ``n`` sources in ``style``."""
    if style is MarkerStyle.CARET or n > group_enum_limit:
        return 1
    return min(max_group_size, n)


@functools.lru_cache(maxsize=512)
def _build(
    n: int,
    policy: Policy,
    style: MarkerStyle,
    max_group_size: int,
    group_enum_limit: int,
    max_content_chars: int | None = None,
) -> CitationLanguage:
    openers = Openers(CharSet.of(style.open), CharSet.of(style.wide_open))
    # After a caret marker no decimal digit (``^1`` then ``0`` would read as ``^10``).
    after_marker = TEXT - decimal_digits() if style is MarkerStyle.CARET else TEXT
    builders = {
        Policy.AUTO: _auto_states,
        Policy.REQUIRED: _required_states,
        Policy.QUOTES_ONLY: _quotes_states,
    }
    base, like = builders[policy](openers.both, after_marker)
    states = _add_open_states(base, like, openers)
    if max_content_chars is not None:
        pending = {s.name for s in states} - {s.name for s in base}
        states = bound_content(states, states[0].name, max_content_chars, pending)
    size = group_size(n, style, max_group_size, group_enum_limit)
    return CitationLanguage(
        n=n,
        policy=policy,
        marker_style=style,
        max_group_size=max_group_size,
        group_enum_limit=group_enum_limit,
        states=states,
        start=states[0].name,
        group=GroupRule(n=n, max_size=size),
        _by_name={s.name: s for s in states},
        max_content_chars=max_content_chars,
    )


@dataclass(frozen=True, slots=True)
class Openers:
    """The opening character of the style and its full-width lookalike."""

    ascii: CharSet
    wide: CharSet

    @property
    def both(self) -> CharSet:
        """Both opening characters."""
        return self.ascii | self.wide


def _auto_states(openers: CharSet, after: CharSet) -> tuple[list[State], dict[str, str]]:
    prose = TEXT - openers
    return [
        State("a", loop=prose, group_target="am", accepting=True),
        State("am", loop=EMPTY, edges=(Edge(after - openers, "a"),), accepting=True),
    ], {"a": "a", "am": "a"}


def _required_states(openers: CharSet, after: CharSet) -> tuple[list[State], dict[str, str]]:
    ends = ASCII_SENTENCE_END | WIDE_SENTENCE_END
    word = TEXT - WHITESPACE - ends - openers  # content that is not a boundary
    line = word | H_SPACE
    dot = ASCII_SENTENCE_END
    sentence_done = WIDE_SENTENCE_END | NEWLINE
    # s0: sentence start; s1*: sentence without a marker yet; m: right after a
    # marker; s2*: sentence with a marker. "t" states follow a sentence-end
    # character, "w" states follow it plus spaces. A marker after a sentence end
    # ("big. [1]") closes that sentence: "mt" then starts a new one.
    states = [
        # A stray wide sentence end between sentences ("大きい[1]。。") ends nothing.
        State("s0", loop=WHITESPACE | WIDE_SENTENCE_END, edges=(Edge(word, "s1"), Edge(dot, "s1t")),
              group_target="m", accepting=True),
        State("s1", loop=line, edges=(Edge(dot, "s1t"),), group_target="m", owes=OWES_SENTENCE),
        State("s1t", loop=dot, edges=(Edge(word, "s1"), Edge(H_SPACE, "s1w")), group_target="mt",
              owes=OWES_SENTENCE),
        State("s1w", loop=H_SPACE, edges=(Edge(CONTINUATION, "s1"),), group_target="mt",
              owes=OWES_SENTENCE),
        State("m", loop=EMPTY, edges=(
            Edge((word & after) | H_SPACE, "s2"), Edge(dot, "s2t"), Edge(sentence_done, "s0"),
        ), accepting=True),
        State("mt", loop=EMPTY, edges=(
            Edge(WHITESPACE | ends, "s0"), Edge(word & after, "s1"),
        ), accepting=True),
        State("s2", loop=line, edges=(Edge(dot, "s2t"), Edge(sentence_done, "s0")),
              group_target="m", accepting=True),
        State("s2t", loop=dot, edges=(
            Edge(word, "s2"), Edge(H_SPACE, "s2w"), Edge(sentence_done, "s0"),
        ), group_target="mt", accepting=True),
        # A stray wide sentence end after a cited sentence ("A [1]. 。") ends nothing,
        # as in s0 (without this edge the grammar refused what the policy allows).
        State("s2w", loop=H_SPACE, edges=(
            Edge(CONTINUATION, "s2"), Edge(word - CONTINUATION, "s1"), Edge(dot, "s1t"),
            Edge(NEWLINE | WIDE_SENTENCE_END, "s0"),
        ), group_target="mt", accepting=True),
    ]  # fmt: skip
    # A prose opening character is sentence content: where the state has no
    # content yet (s0, s2w), it starts an unmarked sentence, as s1 would continue;
    # right after a marker it continues the sentence that marker belongs to.
    like = {"s0": "s1", "s1": "s1", "s1t": "s1t", "s1w": "s1w", "s2": "s2", "s2t": "s2t",
            "s2w": "s1", "m": "s2", "mt": "s1"}  # fmt: skip
    return states, like


def _quotes_states(openers: CharSet, after: CharSet) -> tuple[list[State], dict[str, str]]:
    quote_starts = STRAIGHT_QUOTE | CURLY_OPEN_QUOTE
    rest = after - openers - quote_starts
    # qm: right after a quotation's marker; qmw: then spaces, where one more marker
    # may follow (``"..." [1, 2, 3] [4]``: more ids than one group holds).
    return [
        State("o", loop=TEXT - openers - quote_starts,
              edges=(Edge(STRAIGHT_QUOTE, "qs"), Edge(CURLY_OPEN_QUOTE, "qc")), accepting=True),
        State("qs", loop=TEXT - openers - STRAIGHT_QUOTE,
              edges=(Edge(STRAIGHT_QUOTE, "need"),), owes=OWES_QUOTATION),
        State("qc", loop=TEXT - openers - CURLY_CLOSE_QUOTE,
              edges=(Edge(CURLY_CLOSE_QUOTE, "need"),), owes=OWES_QUOTATION),
        State("need", loop=H_SPACE, group_target="qm", owes=OWES_QUOTATION),
        State("qm", loop=EMPTY, edges=(
            Edge(H_SPACE, "qmw"), Edge(rest - H_SPACE, "o"),
            Edge(STRAIGHT_QUOTE, "qs"), Edge(CURLY_OPEN_QUOTE, "qc"),
        ), accepting=True),
        State("qmw", loop=H_SPACE, edges=(
            Edge(TEXT - openers - quote_starts - H_SPACE, "o"),
            Edge(STRAIGHT_QUOTE, "qs"), Edge(CURLY_OPEN_QUOTE, "qc"),
        ), group_target="qm", accepting=True),
    ], {"o": "o", "qs": "qs", "qc": "qc", "qm": "o", "qmw": "o"}  # fmt: skip


def _add_open_states(
    base: list[State], like: dict[str, str], openers: Openers
) -> tuple[State, ...]:
    """Route the opening characters through explicit ``<name>open``/``<name>wide`` states.

    From ``Xopen`` (after the ASCII opening character) a digit can only start the
    marker group, if X allows a marker; from ``Xwide`` (after the full-width one) no
    decimal digit may follow at all. Where X allows an opening character as prose
    (``like`` maps X to the state whose moves prose continues with), any other
    character continues as prose, further opening characters open again from that
    state (``[[1]``, ``f((x))``), and the text may end there exactly when it may end
    in that prose state (a trailing ``[`` is prose, as the validator reads it).
    """
    by_name = {s.name: s for s in base}
    no_digit = decimal_digits() | openers.both
    out: list[State] = []
    extra: list[State] = []

    def open_name(name: str, wide: bool) -> str:
        if wide or by_name[name].group_target is None:
            return f"{name}wide"
        return f"{name}open"

    for state in base:
        if state.group_target is None and state.name not in like:
            out.append(state)
            continue
        assert not state.first_chars() & openers.both, state.name
        prose_edges: list[Edge] = []
        accepting = False
        owes = state.owes
        if state.name in like:
            prose = by_name[like[state.name]]
            owes = prose.owes
            for chars, target in (
                (prose.loop, prose.name),
                *((e.chars, e.target) for e in prose.edges),
            ):
                allowed = chars - no_digit
                if allowed:
                    prose_edges.append(Edge(allowed, target))
            prose_edges += [
                Edge(openers.ascii, open_name(prose.name, wide=False)),
                Edge(openers.wide, open_name(prose.name, wide=True)),
            ]
            accepting = prose.accepting
        edges = [*state.edges, Edge(openers.ascii, open_name(state.name, wide=False))]
        if state.group_target is not None:
            extra.append(State(f"{state.name}open", loop=EMPTY, edges=tuple(prose_edges),
                               group_target=state.group_target, accepting=accepting,
                               owes=owes))  # fmt: skip
        if state.name in like:
            edges.append(Edge(openers.wide, f"{state.name}wide"))
            extra.append(State(f"{state.name}wide", loop=EMPTY, edges=tuple(prose_edges),
                               accepting=accepting, owes=owes))  # fmt: skip
        out.append(
            State(
                state.name,
                loop=state.loop,
                edges=tuple(edges),
                group_target=None,
                accepting=state.accepting,
                owes=state.owes,
            )
        )
    return tuple(out + extra)
