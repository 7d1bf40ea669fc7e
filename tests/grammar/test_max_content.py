"""REQUIRED's optional content bound, ``max_content_chars``, checked with the real matchers.

With ``k``, a sentence may hold at most ``k`` characters before its first marker,
counted from its first character that is not whitespace up to the marker's opening
character (``citation_language`` has the full definition). Every backend of the
harness (the recogniser; XGrammar on the EBNF and GBNF renderings; llguidance on the
Lark rendering) and, where installed, llama.cpp's own sampler on the GBNF must give
one verdict: on boundary tables, on a long answer, on random strings, and in their
token masks. Without the bound nothing changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citeformer import Citeformer
from citeformer.backends.base import BackendCall, CallBackend
from citeformer.backends.call import Reply
from citeformer.core import MarkerStyle, Policy
from citeformer.errors import InvalidOptionError
from citeformer.grammar.language import MAX_CONTENT_CHARS, CitationLanguage, citation_language
from citeformer.grammar.notation import to_ebnf, to_gbnf, to_lark
from citeformer.grammar.policy import check_policy
from citeformer.grammar.recognizer import recognize
from tests.grammar.harness import (
    LlamaGbnf,
    Matchers,
    Verdict,
    expected_allowed,
    recognizer_verdict,
)
from tests.grammar.tables import marker

ACCEPT, PREFIX, REJECT = Verdict.ACCEPT, Verdict.PREFIX, Verdict.REJECT
N = 3
KS = (1, 7, 40)


def bounded(style: MarkerStyle, k: int | None, n: int = N) -> CitationLanguage:
    """The REQUIRED language for ``n`` sources with content bound ``k``."""
    return citation_language(n, Policy.REQUIRED, style, max_content_chars=k)


@pytest.fixture(scope="module")
def llama() -> Iterator[LlamaGbnf | None]:
    """llama.cpp's grammar sampler, or None where llama-cpp-python or SmolLM2 is missing."""
    engine = LlamaGbnf.load()
    yield engine
    if engine is not None:
        engine.close()


def verdicts(
    matchers: Matchers, llama: LlamaGbnf | None, lang: CitationLanguage, text: str
) -> dict[str, Verdict]:
    """Every engine's verdict, llama.cpp's included where it is installed."""
    out = matchers.verdicts(lang, text)
    if llama is not None:
        out["llama.cpp-gbnf"] = llama.verdict(lang, text)
    return out


# --- the option ----------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, MAX_CONTENT_CHARS + 1, True, 2.5, "10"])
def test_bad_bounds_are_refused(bad: object) -> None:
    with pytest.raises(InvalidOptionError, match="max_content_chars must be None or an int"):
        citation_language(3, Policy.REQUIRED, max_content_chars=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("policy", [Policy.AUTO, Policy.QUOTES_ONLY, "auto"])
def test_the_bound_is_for_required_only(policy: Policy | str) -> None:
    with pytest.raises(InvalidOptionError, match=r"applies to Policy\.REQUIRED only"):
        citation_language(3, policy, max_content_chars=40)
    assert citation_language(3, policy, max_content_chars=None).max_content_chars is None


def test_without_a_bound_nothing_changes() -> None:
    for policy in Policy:
        lang = citation_language(3, policy)
        assert lang is citation_language(3, policy, max_content_chars=None)
        assert lang.key == (3, policy, MarkerStyle.BRACKET, 3, 20)
        assert lang.unbounded() is lang and lang.max_content_chars is None
        assert not [s.name for s in lang.states if re.search(r"c[0-9]+$", s.name)]
        for text in (to_ebnf(lang), to_lark(lang)):
            assert "max_content_chars" not in text


def test_the_bound_is_part_of_the_key() -> None:
    a, b = bounded(MarkerStyle.BRACKET, 40), bounded(MarkerStyle.BRACKET, 41)
    unbounded = bounded(MarkerStyle.BRACKET, None)
    assert a.key == (*unbounded.key, 40) and a == bounded(MarkerStyle.BRACKET, 40)
    assert len({a, b, unbounded}) == 3 and a.unbounded() is unbounded
    assert to_ebnf(a) != to_ebnf(b) and to_lark(a) != to_lark(b) != to_lark(unbounded)
    assert "max_content_chars=40" in to_gbnf(a).splitlines()[0]


def test_the_automaton_grows_linearly() -> None:
    sizes = {k: len(bounded(MarkerStyle.BRACKET, k).states) for k in (10, 20, 240)}
    assert sizes[20] - sizes[10] == 90 and sizes[240] < 10 * 241


# --- tables --------------------------------------------------------------------


def rows(style: MarkerStyle, k: int) -> Iterator[tuple[str, Verdict]]:
    """Texts around the bound with the verdict every engine must give."""
    m = marker(style, 1)
    o = style.open
    prose_open = o + "a" + (style.close or "")  # the opening character as prose: counted
    x = "x" * k
    yield x + m + ".", ACCEPT
    yield x + m, ACCEPT
    yield x, PREFIX
    yield x + o, PREFIX  # the marker may still come: its opening character is not content
    yield x + "x" + m + ".", REJECT
    yield x + "x", REJECT
    yield x + o + "a", REJECT  # the opening character was prose after all
    yield x + style.wide_open, REJECT  # the full-width one is prose whatever follows
    # Each sentence counts on its own; leading whitespace is not content.
    yield f"{x}{m}. {'Y' * k}{m}. {'Z' * k}{m}.", ACCEPT
    yield f"{x}{m}.\n{'y' * k}{m}\n\n {'z' * k}{m}", ACCEPT
    yield f"  \n{x}{m}.", ACCEPT
    yield f"{x}{m}. {'Y' * (k + 1)}{m}.", REJECT
    yield f"{'東' * k}{m}。{'京' * k}{m}。", ACCEPT
    yield f"{'東' * k}{m}。{'京' * (k + 1)}{m}。", REJECT
    # After its first marker a sentence is unbounded.
    yield f"{x}{m} {'y' * (3 * k + 5)}.", ACCEPT
    yield f"{m} {'y' * (3 * k + 5)}.", ACCEPT
    if k >= 2:
        # A marker after the sentence end: the end and the space are content.
        yield f"{'x' * (k - 2)}. {m}", ACCEPT
        yield f"{'x' * (k - 1)}. {m}", REJECT
        yield f"{'x' * (k - 2)}{style.wide_open}a{m}", ACCEPT
        yield f"{'x' * (k - 1)}{style.wide_open}a{m}", REJECT
    if k >= 3:
        # A lowercase word after ". " continues the sentence, and its count.
        yield f"{'x' * (k - 3)}. y{m}", ACCEPT
        yield f"{'x' * (k - 2)}. y{m}", REJECT
    if k > len(prose_open):
        yield prose_open + "x" * (k - len(prose_open)) + m, ACCEPT
        yield prose_open + "x" * (k - len(prose_open) + 1) + m, REJECT


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("style", MarkerStyle)
def test_table_rows(
    matchers: Matchers, llama: LlamaGbnf | None, style: MarkerStyle, k: int
) -> None:
    """Exactly ``k`` characters then a marker is legal, ``k + 1`` is not, per sentence."""
    lang = bounded(style, k)
    unbounded = bounded(style, None)
    wrong = []
    for text, expect in rows(style, k):
        got = verdicts(matchers, llama, lang, text)
        bad = {name: v for name, v in got.items() if v is not expect}
        if bad:
            wrong.append(f"{text!r}: expected {expect}, got {bad}")
        if expect is REJECT and "x" * (k + 1) in text and text.endswith("."):
            # The same text without the bound is fine: it is the bound that refuses it.
            assert recognize(unbounded, text).accepted, text
    assert not wrong, f"{style}, k={k}:\n" + "\n".join(wrong)


def test_the_03_default_of_240(matchers: Matchers, llama: LlamaGbnf | None) -> None:
    """k = 240 (0.3's default) on XGrammar (EBNF), llguidance and llama.cpp."""
    lang = bounded(MarkerStyle.BRACKET, 240)
    start = "A city of about 2.1 million, e.g. the capital [of France]"
    sentence = (start + " and more" * 30)[:240]
    other = "Z" + sentence[1:]
    cases = [
        (sentence + "[1].", ACCEPT),
        (sentence + "x[1].", REJECT),
        (f"{sentence}[1]. {other}[2, 3].", ACCEPT),
        (f"{sentence}[1]. {other}x[2, 3].", REJECT),
    ]
    for text, expect in cases:
        got = {
            "recognizer": recognizer_verdict(lang, text),
            "xgrammar-ebnf": matchers.xgr_verdict(lang, text),
            "llguidance-lark": matchers.ll_verdict(lang, text),
        }
        if llama is not None:
            got["llama.cpp-gbnf"] = llama.verdict(lang, text)
        assert set(got.values()) == {expect}, (text, got)


def test_a_long_answer_is_accepted_by_every_engine(
    matchers: Matchers, llama: LlamaGbnf | None
) -> None:
    """Far more counted characters than llguidance's Earley rows could hold as recursion.

    Each counted state is a Lark rule that closes at its sentence's marker; rendered as
    one more level of right recursion per character, llguidance gave up after about
    2,000 characters ("Current row has 2094 items; max is 2000").
    """
    lang = bounded(MarkerStyle.BRACKET, 60)
    sentence = "The tower, e.g. its top [deck], is tall and also rather old"
    assert len(sentence) == 59
    text = "".join(f"{sentence}{m}. " for m in ("[1]", "[2]", "[1, 3]") * 20)
    assert len(text) > 3600
    assert set(verdicts(matchers, llama, lang, text).values()) == {ACCEPT}
    assert set(verdicts(matchers, llama, lang, text + "Too" * 21).values()) == {REJECT}


# --- random strings -----------------------------------------------------------

FUZZ = settings(
    max_examples=250,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
FUZZ_KS = (1, 3, 8, 20)


@st.composite
def near_the_bound(draw: st.DrawFn) -> tuple[MarkerStyle, int, str]:
    """A style, a bound and a string of prose runs around it, markers and boundaries."""
    style = draw(st.sampled_from(list(MarkerStyle)))
    k = draw(st.sampled_from(FUZZ_KS))
    o, c = style.open, style.close or " "
    runs = tuple("x" * j for j in {1, max(k - 2, 1), max(k - 1, 1), k, k + 1})
    pieces = (
        *runs, *runs, marker(style, 1), marker(style, 2, 3), marker(style, N), marker(style, 2),
        f"{o}{N + 1}{c}", f"{o}0{c}", o, c, style.wide_open, f"{o}a{c}", ". ", ".", ", ", " ",
        "\n", "。", "A", "The", "e.g. the", "3.5", "1", "9", "é", "東京", '"', "“", "”", "!",
    )  # fmt: skip
    parts = draw(st.lists(st.sampled_from(pieces), max_size=12))
    return style, k, "".join(parts)


@st.composite
def sentences(draw: st.DrawFn) -> tuple[MarkerStyle, int, str]:
    """Cited sentences whose content is ``k - 1``, ``k`` or ``k + 1`` characters long."""
    style = draw(st.sampled_from(list(MarkerStyle)))
    k = draw(st.sampled_from(FUZZ_KS))
    out = []
    for _ in range(draw(st.integers(1, 5))):
        length = draw(st.sampled_from((k - 1, k, k, k + 1)))
        body = "".join(draw(st.sampled_from(("x", " ", "a", "é", "東"))) for _ in range(length))
        ids = draw(st.sampled_from(((1,), (2,), (1, 3))))
        end = draw(st.sampled_from((". ", "\n", "。", " ", "! ")))
        out.append("Z"[: int(bool(body))] + body[1:] + marker(style, *ids) + end)
    return style, k, "".join(out)


@FUZZ
@given(case=st.one_of(near_the_bound(), sentences()))
def test_random_strings_get_one_verdict(
    matchers: Matchers, llama: LlamaGbnf | None, case: tuple[MarkerStyle, int, str]
) -> None:
    style, k, text = case
    got = verdicts(matchers, llama, bounded(style, k), text)
    assert len(set(got.values())) == 1, (style, k, text, got)


@settings(FUZZ, max_examples=150)
@given(case=st.one_of(near_the_bound(), sentences()))
def test_xgrammar_prefix_viability(matchers: Matchers, case: tuple[MarkerStyle, int, str]) -> None:
    """Character by character, XGrammar accepts a prefix iff the recogniser calls it viable."""
    style, k, text = case
    lang = bounded(style, k)
    xm = matchers.xgr_matcher(lang)
    for i, ch in enumerate(text):
        ok = xm.accept_string(ch)
        assert ok == recognize(lang, text[: i + 1]).viable, (style, k, text[: i + 1])
        if not ok:
            break


# --- token masks --------------------------------------------------------------

MASK_PREFIXES = ("xxxxxx", "xxxxxxx", "xxxxxxx[", "Paris[1]. Abcde", "Ab. cd", "[a]xxx", "ab. ")


@pytest.mark.parametrize("prefix", MASK_PREFIXES)
def test_token_masks_match_the_recogniser(matchers: Matchers, prefix: str) -> None:
    """After ``prefix`` (bound 7) a token is allowed iff the recogniser keeps it viable."""
    lang = bounded(MarkerStyle.BRACKET, 7)
    expected = expected_allowed(matchers, lang, prefix)
    for name, allowed in (("xgrammar", matchers.xgr_allowed(lang, prefix)),
                          ("llguidance", matchers.ll_allowed(lang, prefix))):  # fmt: skip
        wrong = {
            matchers.lltok.dbg_tokens([i]): want
            for i, want in expected.items()
            if (i in allowed) != want
        }
        assert not wrong, f"{name} after {prefix!r}, expected allowed?: {wrong}"


# --- the policy check and the call ---------------------------------------------


def test_the_policy_check_ignores_the_bound() -> None:
    """A cited sentence is cited however long; an uncited one is reported as before."""
    lang = bounded(MarkerStyle.BRACKET, 7)
    long_cited = "This sentence is far too long [1]. Short [2]."
    assert not lang.accepts(long_cited)
    assert check_policy(long_cited, lang) == ()
    uncited = "Cited [1]. Not cited at all."
    assert check_policy(uncited, lang) == check_policy(uncited, lang.unbounded())
    assert [v.kind for v in check_policy(uncited, lang)] == ["uncited_sentence"]


class _Spy(CallBackend):
    """Answers every call and keeps the prepared calls."""

    name = "spy"

    def __init__(self) -> None:
        self.calls: list[BackendCall] = []

    def _complete(self, call: BackendCall) -> Reply:
        self.calls.append(call)
        return Reply("Paris is big [1].")


def test_generate_passes_the_bound_to_the_citation_language() -> None:
    spy = _Spy()
    cf = Citeformer(spy, citation_policy=Policy.REQUIRED)
    result = cf.generate("Is Paris big?", ["Paris is big."], max_content_chars=12)
    assert result.cited_ids == [1]
    call = spy.calls[-1]
    assert call.request.language == bounded(MarkerStyle.BRACKET, 12, n=1)
    assert "max_content_chars" not in call.options  # part of the language, not an option
    assert call.public_options()["max_content_chars"] == 12
    cf.generate("Is Paris big?", ["Paris is big."])
    assert spy.calls[-1].request.language.max_content_chars is None
    assert "max_content_chars" not in spy.calls[-1].public_options()
    with pytest.raises(InvalidOptionError, match=r"Policy\.REQUIRED only"):
        cf.generate("Is Paris big?", ["Paris is big."], policy="auto", max_content_chars=12)
    direct = spy.build_call("Is Paris?", ["Paris is big."], "required", {"max_content_chars": 5})
    assert direct.request.language.max_content_chars == 5
