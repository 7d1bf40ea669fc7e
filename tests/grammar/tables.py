"""Tables of answers with their expected verdicts, per (policy, style, N).

Expectations follow the language's rules (``citeformer/grammar/language.py``):
a bad marker kills the text where it stands (REJECT); an answer cut short that
could still become legal is a PREFIX. The opening character followed by a
non-digit is prose, so ``[]``, ``[ 1]``, ``(see above)`` are never markers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from citeformer.core import MarkerStyle, Policy
from tests.grammar.harness import Verdict

NS = (1, 9, 10, 11, 20, 21, 99, 100, 101, 1000)
"""The brief's N values plus the group boundary (groups up to N=20)."""


class Key(NamedTuple):
    """One language: policy, marker style, number of sources."""

    policy: Policy
    style: MarkerStyle
    n: int

    def __str__(self) -> str:
        return f"{self.policy.value}-{self.style.value}-{self.n}"


KEYS = tuple(Key(p, s, n) for p in Policy for s in MarkerStyle for n in NS)


@dataclass(frozen=True)
class Row:
    """One answer and the verdict every backend must give."""

    text: str
    expect: Verdict
    why: str


def marker(style: MarkerStyle, *ids: int, compact: bool = False) -> str:
    """A marker in ``style`` (``[1, 3]``; ``[1,3]`` when ``compact``)."""
    if style is MarkerStyle.CARET:
        return "".join(f"^{i}" for i in ids)
    sep = "," if compact else ", "
    return f"{style.open}{sep.join(str(i) for i in ids)}{style.close}"


def groups_allowed(style: MarkerStyle, n: int) -> bool:
    """Whether one marker may hold several ids."""
    return style is not MarkerStyle.CARET and 2 <= n <= 20


PROSE_OPEN = {
    MarkerStyle.BRACKET: "A [sic] remark [citation needed]",
    MarkerStyle.PAREN: "Results (see above) differ (a lot)",
    MarkerStyle.CURLY: "The set {x} is {empty}",
    MarkerStyle.CARET: "x^y and a ^ b",
}
"""The opening character used as ordinary prose."""


def lookalikes(style: MarkerStyle) -> list[str]:
    """Opening character + non-digit: prose that must never count as a marker."""
    if style is MarkerStyle.CARET:
        return ["^ 1", "^-1", "^x1", "^+1"]
    o, c = style.open, style.close
    return [o + c, f"{o} 1{c}", f"{o}-1{c}", f"{o}x1{c}", f"{o}+1{c}"]


def bad_markers(style: MarkerStyle, n: int) -> list[str]:
    """Marker-like strings that must kill any answer they appear in."""
    wo, wc = style.wide_open, style.wide_close
    if style is MarkerStyle.CARET:
        return [f"^{n + 1}", f"^{n + 10}", f"^{10 * n}", f"^{n}0", "^0", "^00", "^01",
                "^" + "1" * 25, "^1^1", "^٩", "^१", "^1٣", "^１", f"{wo}1", f"{wo}١"]  # fmt: skip
    o, c = style.open, style.close
    out = [o + body + c for body in (
        str(n + 1), str(n + 10), str(10 * n), "0", "00", "01", "1-3", "1a", "1,", "1, ",
        "1 ,2", "1,,2", "1;2", "1.5", "1 ", "1" * 25, "1, 1", "1, 02", "1,  2", f"1, {n + 1}",
        "٩", "९", "１", "1٣", "50%", "1990s", "3 km",
    )]  # fmt: skip
    # Unicode digits after a comma, full-width brackets around any digits.
    out += [o + "1, ٢" + c, wo + "1" + wc, wo + "１" + wc, wo + "1" + c, o + "1" + wc]
    out += [o + "1" + c + o + "1" + c]  # adjacent markers
    if n >= 2:
        out += [o + "2, 1" + c, marker(style, 1) + marker(style, 2)]
        if n >= 3:
            out.append(o + "1, 2, …, 3" + c)
        if not groups_allowed(style, n):
            out += [marker(style, 1, 2), marker(style, 1, 2, compact=True)]
    if 4 <= n <= 20:
        out.append(marker(style, 1, 2, 3, 4))
    return out


def context(policy: Policy) -> str:
    """Text after which a marker is legal under ``policy``."""
    return 'He said "yes"' if policy is Policy.QUOTES_ONLY else "Paris is big"


def valid_rows(key: Key) -> list[Row]:
    """Answers every backend must accept."""
    policy, style, n = key
    m1, mn = marker(style, 1), marker(style, n)
    if policy is Policy.AUTO:
        texts = [
            f"Paris is the capital of France{m1}.",
            f"Paris is big {mn} and old.",
            f"Pi is about 3.14{m1}, e.g. the value at example.com/a.b is fine.",
            f"東京は日本の首都です{m1}。大阪も大きい。",
            "No citations at all.",
            "",
            f"First{m1}, then{mn}.",
            f"Paris{mn}",
            f"Line one{m1}\nLine two.",
            f'He said "yes"{m1}.',
            f"Café naïve{m1} été \U0001f600.",
            PROSE_OPEN[style] + ".",
            f"Paris{m1}{style.open}sic{style.close or ' '} and {style.wide_open}x.",
            f"Full-width {style.wide_open}a{style.wide_close} is prose{m1}.",
        ]
    elif policy is Policy.REQUIRED:
        texts = [
            f"Paris is the capital of France{m1}.",
            f"Paris is big{m1}. London is bigger{mn}!",
            f"Pi is about 3.14{m1}.",
            f"See e.g. the survey{m1}.",
            f"Visit example.com/a.b for details{m1}.",
            f"東京は日本の首都です{m1}。大阪も大きい{mn}。",
            f"東京{m1}は大きい。",
            f"Line one{m1}\nLine two{mn}",
            f"Is it true{m1}? Yes{m1}!",
            f"{m1} Paris is big.",
            f"Paris is big.{m1}",
            f"Paris{m1}, London{mn} and Rome.",
            f"Paris is big{m1}. and then more.",
            "",
            "  \n ",
            f"{PROSE_OPEN[style]}{m1}.",
            f"Café{m1} été \U0001f600.",
            f"Paris{m1}{style.open}sic{style.close or ' '} is big.",
        ]
    else:
        texts = [
            f'He said "the results are clear"{m1} yesterday.',
            f"She wrote “we agree” {mn}.",
            "No quotes here, e.g. 3.14 and example.com/a.b. Fine!",
            f'Both "a"{m1} and “b”{mn}.',
            f"東京は首都です。“東京”{m1}。",
            f'"end"{m1}',
            f'"spaced" \t{m1}',
            f'"a"{m1}"b"{mn}',
            PROSE_OPEN[style] + ".",
            "",
            f'"Café \U0001f600"{m1} été.',
            f'"a"{m1}{style.open}sic{style.close or " "} ok.',
        ]
    if groups_allowed(style, n):
        ctx = context(policy)
        groups = [marker(style, 1, 2), marker(style, 1, 2, compact=True), marker(style, 1, n)]
        if n >= 3:
            groups += [marker(style, 1, 2, 3), marker(style, 1, 3, compact=True),
                       marker(style, n - 2, n - 1, n)]  # fmt: skip
        texts += [f"{ctx}{g}." for g in groups]
    if n >= 2:  # more ids than one group holds: markers separated by spaces
        ctx = context(policy)
        texts += [f"{ctx}{marker(style, 1)} {marker(style, 2)}.",
                  f"{ctx}{marker(style, 1)} \t{marker(style, n)} and more."]  # fmt: skip
    return [Row(t, Verdict.ACCEPT, "valid answer") for t in texts]


def invalid_rows(key: Key) -> list[Row]:
    """Answers every backend must refuse, with the exact refusal."""
    policy, style, n = key
    ctx = context(policy)
    rows = [Row(f"{ctx}{bad}.", Verdict.REJECT, "bad marker") for bad in bad_markers(style, n)]
    # A bare opening character at the end is prose: the text may end there exactly
    # where it may end after other prose (so never in an uncited REQUIRED sentence,
    # never right after a QUOTES_ONLY quotation that still needs its marker).
    o, m1 = style.open, marker(style, 1)
    if policy is Policy.AUTO:
        rows.append(Row(f"{ctx}{o}", Verdict.ACCEPT, "bare opener at the end is prose"))
    elif policy is Policy.REQUIRED:
        rows += [
            Row(f"{ctx}{o}", Verdict.PREFIX, "bare opener in an uncited sentence"),
            Row(f"{ctx}{m1} and {o}", Verdict.ACCEPT, "bare opener in a cited sentence"),
        ]
    else:
        rows += [
            Row(f"{ctx}{o}", Verdict.PREFIX, "quotation still needs its marker"),
            Row(f"Plain text {o}", Verdict.ACCEPT, "bare opener at the end is prose"),
        ]
    if style is not MarkerStyle.CARET:
        rows += [
            Row(f"{ctx}{o}1", Verdict.PREFIX, "unclosed marker at the end"),
            Row(f"{ctx}{o}{n}", Verdict.PREFIX, "unclosed marker at the end"),
            Row(f"{ctx}{o}1 is big.", Verdict.REJECT, "unclosed marker mid-text"),
        ]
        if groups_allowed(style, n):
            rows.append(Row(f"{ctx}{o}1, ", Verdict.PREFIX, "unfinished group at the end"))
    if policy is Policy.REQUIRED:
        rows += [
            Row("Paris is big.", Verdict.PREFIX, "sentence without a marker"),
            Row("Paris is big", Verdict.PREFIX, "sentence without a marker"),
            Row(f"Paris is big{m1}. London is bigger.", Verdict.PREFIX, "second sentence uncited"),
            Row(f"Paris is big{m1}! Why?", Verdict.PREFIX, "second sentence uncited"),
            Row(f"東京{m1}。大阪。", Verdict.REJECT, "CJK sentence uncited"),
            Row(f"Line one{m1}\nLine two\nLine three{m1}", Verdict.REJECT, "line uncited"),
            Row(f"See e.g. The survey{m1}.", Verdict.REJECT, "'e.g.' + capital ends it"),
            Row(f"It is 8,849. 8,849 is tall{m1}.", Verdict.REJECT, "'. ' + digit ends it"),
            # A marker after a sentence end closes that sentence; the next needs its own.
            Row(f"Paris is big. {m1} London is bigger.", Verdict.PREFIX, "next sentence uncited"),
            Row(f"Is it big? {m1} london is.", Verdict.PREFIX, "next sentence uncited"),
            Row(f"Paris is big. {m1} London is bigger{m1}.", Verdict.ACCEPT, "marker after end"),
            Row(f"Paris{m1} is big. {m1} Rome.", Verdict.PREFIX, "next sentence uncited"),
            # A prose opening character is content: it starts a sentence.
            Row(f"{style.open} ", Verdict.PREFIX, "opening character is content"),
            Row(f"Paris{m1}.\n{style.open} ", Verdict.PREFIX, "opening character is content"),
        ]
    elif policy is Policy.QUOTES_ONLY:
        rows += [
            Row(f"Paris is big{m1}.", Verdict.REJECT, "marker outside a quotation"),
            Row('He said "yes".', Verdict.REJECT, "quotation without a marker"),
            Row('He said "yes"', Verdict.PREFIX, "quotation without a marker"),
            Row(f'He said "yes{m1}"', Verdict.REJECT, "marker inside the quotation"),
            Row(f'"yes" ok{m1}', Verdict.REJECT, "marker not right after the quotation"),
            Row(f'"yes" "no"{m1}', Verdict.REJECT, "first quotation uncited"),
            Row("“yes” and more.", Verdict.REJECT, "curly quotation uncited"),
            Row(f'"yes" {m1} and "no".', Verdict.REJECT, "second quotation uncited"),
        ]
    if policy is Policy.AUTO:
        doubled = f"{style.open}{style.open}"
        rows.append(Row(f"x {doubled}y and {doubled}{m1[1:]} z", Verdict.ACCEPT, "doubled opener"))
    for prose in lookalikes(style):
        if policy is Policy.AUTO:
            rows.append(Row(f"Paris is big {prose} today.", Verdict.ACCEPT, "prose lookalike"))
        elif policy is Policy.REQUIRED:
            rows.append(
                Row(f"Paris is big {prose} today.", Verdict.PREFIX, "lookalike is no marker")
            )
        else:
            rows += [
                Row(f"Paris is big {prose} today.", Verdict.ACCEPT, "prose lookalike"),
                Row(f'He said "yes" {prose} today.', Verdict.REJECT, "lookalike is no marker"),
            ]
    return rows


def all_rows(key: Key) -> list[Row]:
    """Valid and invalid rows together."""
    return valid_rows(key) + invalid_rows(key)
