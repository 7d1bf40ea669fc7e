"""LexicalScorer: coverage with number, date and negation checks (property tests)."""

from __future__ import annotations

import asyncio
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from citeformer.verify import LexicalScorer, ScorerKind
from citeformer.verify.lexical import MISMATCH_CAP, lexical_score

WORDS = st.lists(
    st.sampled_from(
        ["tower", "bridge", "river", "opened", "stands", "metres", "tall", "city", "built", "old"]
    ),
    min_size=6,
    max_size=15,
)


@given(WORDS, WORDS, WORDS)
def test_a_verbatim_quote_of_six_words_scores_one(before: list[str], quote: list[str],
                                                  after: list[str]) -> None:  # fmt: skip
    premise = " ".join([*before, *quote, *after]) + "."
    assert lexical_score(premise, " ".join(quote).capitalize() + ".") == 1.0


@given(WORDS, st.integers(1, 5000), st.integers(1, 5000))
def test_a_number_the_window_lacks_caps_the_score(words: list[str], have: int, want: int) -> None:
    premise = f"The {' '.join(words)} is {have} metres."
    claim = f"The {' '.join(words[:3])} is {want} metres."
    score = lexical_score(premise, claim)
    if have != want:
        assert score <= MISMATCH_CAP < LexicalScorer().threshold
    else:
        assert score >= LexicalScorer().threshold


def test_numbers_read_as_numbers() -> None:
    assert lexical_score("It held 50,000 people.", "It held 50000 people.") == 1.0
    assert lexical_score("It is 3.50 m long.", "It is 3.5 m long.") == 1.0
    assert lexical_score("It opened in 1889.", "It opened in 1899.") <= MISMATCH_CAP


@given(WORDS)
def test_a_negation_flip_lowers_the_score(words: list[str]) -> None:
    premise = f"The {' '.join(words)} opened."
    plain = lexical_score(premise, f"The {words[0]} {words[1]} opened.")
    assert plain == 1.0 or plain >= 0.5
    assert lexical_score(premise, f"The {words[0]} {words[1]} did not open.") <= MISMATCH_CAP
    assert lexical_score(premise, f"The {words[0]} {words[1]} didn't open.") <= MISMATCH_CAP
    negated = f"The {' '.join(words)} never opened."
    assert lexical_score(negated, f"The {words[0]} {words[1]} opened.") <= MISMATCH_CAP


@given(WORDS, st.lists(st.sampled_from(["[1]", "[2, 3]", "(4)", "{5}", "^6"]), max_size=4))
@settings(max_examples=100, deadline=None)
def test_the_score_ignores_marker_text(words: list[str], markers: list[str]) -> None:
    # verify() scores claims with markers stripped; the scorer never sees them.
    from citeformer.verify.sentences import strip_markers

    claim = " ".join(words[:4]) + "."
    marked = " ".join(words[:4]) + " " + " ".join(markers) + "."
    premise = " ".join(words) + "."
    assert lexical_score(premise, strip_markers(marked)) == lexical_score(premise, claim)


def test_unrelated_claims_score_low_and_the_kind_is_lexical() -> None:
    scorer = LexicalScorer()
    assert scorer.score("The tower is tall.", "Bananas are yellow fruit.") == 0.0
    assert scorer.kind is ScorerKind.LEXICAL and scorer.model is None
    assert scorer.score("", "") == 0.0


def test_ascore_batch_runs_off_the_event_loop() -> None:
    seen: list[str] = []

    class Spy(LexicalScorer):
        def score_batch(self, pairs: object) -> list[float]:  # type: ignore[override]
            seen.append(threading.current_thread().name)
            return super().score_batch(pairs)  # type: ignore[arg-type]

    assert asyncio.run(Spy().ascore_batch([("a b c", "a b c")])) == [1.0]
    assert seen and seen[0] != threading.main_thread().name


def test_a_name_the_source_never_mentions_caps_the_score() -> None:
    source = "Gustave Eiffel was a French civil engineer, best known for the tower in Paris."
    assert lexical_score(source, "Gustave Eiffel was a civil engineer.") >= 0.5
    claim = "Gustave Eiffel was also the architect of the Chrysler Building."
    assert lexical_score(source, claim) <= MISMATCH_CAP
    assert lexical_score(source, "The tower stands in Berlin, built by an engineer.") <= 0.2
    # The first word of a sentence is capitalised anyway: not read as a name.
    assert lexical_score(source, "Engineer Gustave Eiffel built the tower in Paris.") >= 0.5
