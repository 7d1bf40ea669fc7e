"""The bounded number rule and the language build: exact, small, cached, fast."""

from __future__ import annotations

import re
import time

import pytest

from citeformer.core import MarkerStyle, Policy
from citeformer.errors import InvalidOptionError
from citeformer.grammar.language import citation_language
from citeformer.grammar.notation import to_ebnf, to_gbnf, to_lark
from citeformer.grammar.numbers import id_patterns, pattern_regex, range_patterns


@pytest.mark.parametrize("n", [1, 9, 10, 11, 12, 99, 100, 101, 109, 110, 999, 1000, 1001, 4321])
def test_patterns_match_exactly_one_to_n(n: int) -> None:
    regex = re.compile(pattern_regex(id_patterns(n)))
    matched = {i for i in range(0, 10 * n + 20) if regex.fullmatch(str(i))}
    assert matched == set(range(1, n + 1))
    for bad in ["0", "01", "007", f"0{n}"]:
        assert not regex.fullmatch(bad)


def test_twelve_is_the_textbook_rule() -> None:
    assert pattern_regex(id_patterns(12)) == "(?:[1-9]|1[0-2])"


def test_rule_size_grows_with_digits_not_with_n() -> None:
    assert len(id_patterns(10_000)) <= 6
    assert len(id_patterns(99_999)) <= 10
    assert range_patterns(5, 3) == ()


def test_ebnf_has_no_flat_list_of_literals() -> None:
    ebnf = to_ebnf(citation_language(10_000))
    id_rule = next(line for line in ebnf.splitlines() if line.startswith("id ::="))
    assert len(id_rule) < 200


def test_language_and_renderings_are_cached() -> None:
    a = citation_language(500, Policy.REQUIRED, MarkerStyle.PAREN)
    b = citation_language(500, "required", "paren")
    assert a is b
    assert to_ebnf(a) is to_ebnf(b) and to_lark(a) is to_lark(b)
    assert to_gbnf(a) == to_ebnf(a)
    start = time.perf_counter()
    for _ in range(1000):
        to_ebnf(citation_language(500, Policy.REQUIRED, MarkerStyle.PAREN))
    assert (time.perf_counter() - start) / 1000 < 0.001  # cached lookups, generous bound


@pytest.mark.parametrize(
    ("n", "error"),
    [
        (0, "between 1 and"),
        (-3, "between 1 and"),
        (True, "must be an int"),
        ("5", "must be an int"),
    ],
)
def test_bad_sizes(n: object, error: str) -> None:
    with pytest.raises(InvalidOptionError, match=error):
        citation_language(n)  # type: ignore[arg-type]


def test_group_size_follows_n_and_style() -> None:
    assert citation_language(5).group.max_size == 3
    assert citation_language(2).group.max_size == 2
    assert citation_language(1).group.max_size == 1
    assert citation_language(21).group.max_size == 1
    assert citation_language(5, marker_style="caret").group.max_size == 1
    assert citation_language(30, group_enum_limit=40).group.max_size == 3
