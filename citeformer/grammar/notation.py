"""A :class:`CitationLanguage` written in each runtime's grammar notation.

EBNF for XGrammar, GBNF for llama.cpp, Lark for llguidance (and vLLM).

Each state becomes one rule: ``loop* (edge next | ... | group close next)``, with
the alternatives optional when the state is accepting. Recursion happens only
when the state changes, never per character, which keeps the parsers' stacks
shallow. All notations are cached per language key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from citeformer.grammar.automaton import GroupRule, State
from citeformer.grammar.bound import region_exits
from citeformer.grammar.charset import MAX_CODEPOINT, CharSet
from citeformer.grammar.language import CitationLanguage
from citeformer.grammar.numbers import DigitPattern

_CLASS_SPECIAL = set("\\]^-[")


def _ebnf_char(cp: int) -> str:
    # Class metacharacters are written as \u escapes: a backslash-escaped caret
    # first in a class reads as negation in one of XGrammar's front ends.
    ch = chr(cp)
    if 0x20 < cp < 0x7F and ch not in _CLASS_SPECIAL:
        return ch
    if cp <= 0xFFFF:
        return f"\\u{cp:04X}"
    return f"\\U{cp:08X}"


def _ebnf_class(chars: CharSet) -> str:
    if len(chars.ranges) == 1 and chars.ranges[0][0] == chars.ranges[0][1]:
        # One character as a literal: XGrammar prints a one-character class of "^"
        # back as "[^]" (everything) when it normalises a grammar.
        return _ebnf_literal(chr(chars.ranges[0][0]))
    negate = chars.is_negated_shorter()
    ranges = chars.complement().ranges if negate else chars.ranges
    body = "".join(
        _ebnf_char(lo) if lo == hi else f"{_ebnf_char(lo)}-{_ebnf_char(hi)}" for lo, hi in ranges
    )
    if negate and not body:
        body = "\\u0000-\\U0010FFFF"
        negate = False
    return f"[{'^' if negate else ''}{body}]"


def _ebnf_literal(text: str) -> str:
    out = []
    for ch in text:
        cp = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= cp < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\u{cp:04X}" if cp <= 0xFFFF else f"\\U{cp:08X}")
    return '"' + "".join(out) + '"'


def _digits_ebnf(pattern: DigitPattern) -> str:
    parts = [_ebnf_literal(str(lo)) if lo == hi else f"[{lo}-{hi}]" for lo, hi in pattern]
    return " ".join(parts)


def _enum_group_rules(group: GroupRule, define: str, sep: str) -> list[str]:
    """Rules for groups of up to ``max_size`` strictly increasing ids.

    ``t<i>x<r>`` is what may follow id ``i`` when ``r`` more ids are allowed.
    """
    n, more = group.n, group.max_size - 1
    rules = [f"group{define} " + " | ".join(_enum_alt(i, more, n) for i in range(1, n + 1))]
    for remaining in range(1, more + 1):
        for i in range(1, n):
            choices = " | ".join(_enum_alt(j, remaining - 1, n) for j in range(i + 1, n + 1))
            rules.append(f"t{i}x{remaining}{define} {sep} ( {choices} )")
    return rules


def _group_rules_ebnf(group: GroupRule) -> list[str]:
    """Rules ``group`` and ``id`` (and tails for increasing groups)."""
    rules = ["id ::= " + " | ".join(_digits_ebnf(p) for p in group.id_patterns)]
    if group.max_size == 1:
        return [*rules, "group ::= id"]
    return [*rules, 'sep ::= "," " "?', *_enum_group_rules(group, " ::=", "sep")]


def _enum_alt(value: int, remaining: int, n: int) -> str:
    if remaining == 0 or value == n:
        return f'"{value}"'
    return f'"{value}" t{value}x{remaining}?'


def _state_rule_ebnf(state: State, close: str) -> str:
    alts = [f"{_ebnf_class(e.chars)} {e.target}" for e in state.edges]
    if state.group_target is not None:
        closing = f" {_ebnf_literal(close)}" if close else ""
        alts.append(f"group{closing} {state.group_target}")
    loop = f"{_ebnf_class(state.loop)}* " if state.loop else ""
    if not alts:
        return f"{state.name} ::= {loop}".rstrip() if loop else f'{state.name} ::= ""'
    body = "( " + " | ".join(alts) + " )"
    return f"{state.name} ::= {loop}{body}{'?' if state.accepting else ''}"


def _bound_note(language: CitationLanguage) -> str:
    bound = language.max_content_chars
    return "" if bound is None else f" max_content_chars={bound}"


@functools.lru_cache(maxsize=256)
def to_ebnf(language: CitationLanguage) -> str:
    """XGrammar EBNF (GBNF-compatible syntax); the root rule is ``root``."""
    close = language.marker_style.close
    lines = [
        f"# citeformer citation grammar: N={language.n} policy={language.policy.value} "
        f"style={language.marker_style.value}{_bound_note(language)}",
        f"root ::= {language.start}",
    ]
    lines += [_state_rule_ebnf(s, close) for s in language.states]
    lines += _group_rules_ebnf(language.group)
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=256)
def to_gbnf(language: CitationLanguage) -> str:
    r"""GBNF for llama.cpp; the root rule is ``root``.

    The subset used (character classes with ``\u``/``\U`` escapes, ``*``, ``?``,
    groups, literals) means the same in llama.cpp's GBNF and XGrammar's EBNF, so
    both come from one writer; this name exists so callers say what they mean.
    """
    return to_ebnf(language)


# --- Lark (llguidance) -------------------------------------------------------


def _lark_class(chars: CharSet) -> str:
    negate = chars.is_negated_shorter()
    ranges = chars.complement().ranges if negate else chars.ranges
    body = "".join(
        f"\\x{{{lo:X}}}" if lo == hi else f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in ranges
    )
    if negate and not body:
        return f"[\\x{{0}}-\\x{{{MAX_CODEPOINT:X}}}]"
    return f"[{'^' if negate else ''}{body}]"


def _lark_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@functools.lru_cache(maxsize=256)
def to_lark(language: CitationLanguage) -> str:
    """Lark for llguidance; the start rule is ``start``.

    Loops are parser-level repetitions of one-character lexemes, not one greedy
    ``/[...]+/`` lexeme: llguidance lexes UTF-8 bytes greedily, and a greedy run can
    swallow the first bytes of a multi-byte edge character (``。``, ``”``) that shares
    them with characters the run allows, with no way back.

    With a content bound (``max_content_chars``) each counted state ``q`` becomes one
    rule per marker it can lead to, ``qx<exit>``, that ends with that marker: a
    sentence is then a sub-derivation that closes at its marker, instead of one more
    level of right recursion per counted character, which llguidance's Earley parser
    (at most 2,000 items per row) could not hold past about 2,000 characters.
    """
    close = language.marker_style.close
    closing = f" {_lark_literal(close)}" if close else ""
    exits = region_exits(language.states) if language.max_content_chars is not None else {}
    terminals: dict[str, str] = {}

    def terminal(regex: str) -> str:
        name = terminals.get(regex)
        if name is None:
            name = f"T{len(terminals)}"
            terminals[regex] = name
        return name

    def goto(target: str) -> list[str]:
        """The continuations that move to ``target`` (through its sentence, if counted)."""
        if target not in exits:
            return [target]
        return [f"{target}x{out} {out}" for out in exits[target]]

    lines = [f"start: {language.start}"]
    for state in language.states:
        if state.name in exits:
            lines += _lark_counted_rules(state, exits, terminal, closing)
            continue
        alts = [
            f"{terminal(_lark_class(e.chars))} {tail}"
            for e in state.edges
            for tail in goto(e.target)
        ]
        if state.group_target is not None:
            alts += [f"group{closing} {tail}" for tail in goto(state.group_target)]
        loop = f"{terminal(_lark_class(state.loop))}* " if state.loop else ""
        optional = "?" if state.accepting else ""
        body = "(" + " | ".join(alts) + ")" + optional if alts else ""
        rule = f"{state.name}: {loop}{body}".rstrip()
        lines.append(rule if rule != f"{state.name}:" else f'{state.name}: ""')
    group = language.group
    id_regex = "|".join(
        "".join(str(lo) if lo == hi else f"[{lo}-{hi}]" for lo, hi in p) for p in group.id_patterns
    )
    lines.append(f"ID: /(?:{id_regex})/")
    if group.max_size == 1:
        lines.append("group: ID")
    else:
        lines += ["SEP: /, ?/", *_enum_group_rules(group, ":", "SEP")]
    lines += [f"{name}: /{regex}/" for regex, name in terminals.items()]
    return "\n".join(lines) + "\n"


def _lark_counted_rules(
    state: State,
    exits: dict[str, tuple[str, ...]],
    terminal: Callable[[str], str],
    closing: str,
) -> list[str]:
    """``<state>x<exit>``: from counted ``state`` through its sentence's marker to ``exit``."""
    rules = []
    for out in exits[state.name]:
        alts = []
        for edge in state.edges:
            chars = terminal(_lark_class(edge.chars))
            if edge.target == out:
                alts.append(chars)
            elif out in exits.get(edge.target, ()):
                alts.append(f"{chars} {edge.target}x{out}")
        if state.group_target == out:
            alts.append(f"group{closing}")
        rules.append(f"{state.name}x{out}: " + " | ".join(alts))
    return rules
