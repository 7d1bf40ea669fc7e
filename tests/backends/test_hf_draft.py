"""Prompt-lookup drafts: the index against a brute-force search, and the adaptive length."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from citeformer.backends.hf_draft import PromptLookup


def _brute_force(tokens: list[int], count: int, ngram: tuple[int, int]) -> list[int]:
    """What followed the latest earlier occurrence of the longest suffix that recurs."""
    longest, shortest = ngram
    for n in range(longest, shortest - 1, -1):
        if len(tokens) < n:
            continue
        suffix = tokens[len(tokens) - n :]
        for start in range(len(tokens) - n - 1, -1, -1):
            if tokens[start : start + n] == suffix:
                return tokens[start + n : start + n + count]
    return []


@settings(max_examples=300, deadline=None)
@given(
    prompt=st.lists(st.integers(0, 5), max_size=40),
    answer=st.lists(st.integers(0, 5), max_size=30),
    ngram=st.sampled_from([(3, 2), (3, 1), (2, 2), (4, 1)]),
    limit=st.integers(0, 6),
)
def test_the_draft_is_what_followed_the_latest_earlier_occurrence(
    prompt: list[int], answer: list[int], ngram: tuple[int, int], limit: int
) -> None:
    lookup = PromptLookup(prompt, max_tokens=8, ngram=ngram)
    lookup.taken(1, 1)  # grow the adaptive length past every limit drawn here
    for _ in range(8):
        lookup.taken(1, 1)
    tokens = list(prompt)
    for token in answer:
        lookup.append(token)
        tokens.append(token)
        assert lookup.propose(limit) == _brute_force(tokens, limit, ngram)


def test_the_draft_length_grows_on_full_takes_and_shrinks_to_what_was_taken() -> None:
    source = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    lookup = PromptLookup([*source, 1, 2], max_tokens=5)
    assert lookup.propose(10) == [3, 4]  # starts at two tokens
    lookup.taken(2, 2)
    assert lookup.propose(10) == [3, 4, 5]
    for _ in range(5):
        lookup.taken(3, 3)
    assert lookup.propose(10) == [3, 4, 5, 6, 7]  # capped at max_tokens
    assert lookup.propose(1) == [3]  # and at what the caller still allows
    lookup.taken(5, 1)
    assert lookup.propose(10) == [3]
    lookup.taken(1, 0)
    assert lookup.propose(10) == [3]  # never below one token
    lookup.taken(0, 0)  # no draft, no change
    assert lookup.propose(10) == [3]


def test_no_draft_without_a_repeated_suffix_or_with_drafts_off() -> None:
    assert PromptLookup([1, 2, 3, 4]).propose(4) == []
    assert PromptLookup([]).propose(4) == []
    assert PromptLookup([7, 8, 9, 7, 8], max_tokens=0).propose(4) == []
    # A one-token suffix is not enough by default (too weak a signal).
    assert PromptLookup([7, 8, 9, 7]).propose(4) == []
    assert PromptLookup([7, 8, 9, 7], ngram=(3, 1)).propose(4) == [8, 9]
