"""Premise windows: bounded, overlapping, exact offsets, nothing left out."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from citeformer import Source
from citeformer.verify.windows import cited_text_window, premise, source_windows

_SENTENCE = st.builds(
    lambda words, end: " ".join(words) + end,
    st.lists(
        st.sampled_from(["alpha", "beta", "3.5", "Dr.", "gamma", "東京"]), min_size=1, max_size=40
    ),
    st.sampled_from([".", "!", "?", "。", ""]),
)


@given(st.lists(_SENTENCE, min_size=1, max_size=30), st.integers(8, 60))
@settings(max_examples=150, deadline=None)
def test_windows_are_bounded_exact_and_cover_every_word(sentences: list[str], words: int) -> None:
    content = " ".join(sentences)
    source = Source(content)
    windows = source_windows(1, source, words=words)
    covered = [False] * len(content)
    for window in windows:
        assert content[window.start : window.end] == window.text
        assert window.words <= words
        for i in range(window.start, window.end):
            covered[i] = True
    assert all(covered[i] for i, ch in enumerate(content) if not ch.isspace())


def test_consecutive_windows_overlap_by_a_sentence() -> None:
    content = " ".join(f"Sentence {i} has five words." for i in range(20))
    windows = source_windows(1, Source(content), words=12)
    assert len(windows) > 3
    for before, after in itertools.pairwise(windows):
        assert after.start < before.end  # the last sentence opens the next window


def test_a_title_only_source_is_its_title() -> None:
    source = Source("", {"title": "Only a title"})
    (window,) = source_windows(1, source)
    assert premise((window,), (source,)) == "Title: Only a title\n"


def test_premises_are_written_as_alce_writes_passages() -> None:
    a, b = Source("First text.", {"title": "A"}), Source("Second text.")
    wa, wb = source_windows(1, a)[0], source_windows(2, b)[0]
    assert premise((wa, wb), (a, b)) == "Title: A\nFirst text.\nSecond text."


def test_cited_text_is_located_when_offsets_are_missing_or_wrong() -> None:
    source = Source("Intro. The tower is tall. Outro.")
    window = cited_text_window(1, source, "The tower is tall.", None, None)
    assert window is not None and (window.start, window.end) == (7, 25)
    assert cited_text_window(1, source, "The tower is tall.", 0, 5) == window
    assert cited_text_window(1, source, "Not in the source.", None, None) is None
