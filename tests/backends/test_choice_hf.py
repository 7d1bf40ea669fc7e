"""HFBackend's constrained choice with the real runtime: XGrammar and the embedded SmolLM2.

This tests mechanics (the grammar admits only the options; the first-token
probabilities are read and normalised), not the judge's quality.
"""

from __future__ import annotations

from typing import Any

import pytest

from citeformer.backends.choice import options_ebnf
from citeformer.backends.hf import HFBackend

YES_NO = ("yes", "no")
PAIRS = [
    ("The Eiffel Tower is 330 metres tall.", "The Eiffel Tower is 330 metres tall."),
    ("The Louvre museum is in Paris, France.", "The Louvre is located in Berlin."),
]


@pytest.fixture
def smol(smollm2_hf: Any) -> HFBackend:
    backend: HFBackend = smollm2_hf
    return backend


@pytest.mark.parametrize(
    ("text", "accepted"),
    [("yes", True), ("no", True), ("maybe", False), ("yes sir", False), ("[1]", False),
     ("Yes", False), (" yes", False), ("yesno", False), ("", False)],
)  # fmt: skip
def test_the_grammar_admits_only_the_options(smol: HFBackend, text: str, accepted: bool) -> None:
    import xgrammar as xgr

    compiled = smol.compiled_ebnf(("choice", *YES_NO), lambda: options_ebnf(YES_NO))
    matcher = xgr.GrammarMatcher(compiled)
    complete = matcher.accept_string(text) and matcher.is_completed() if text else False
    assert complete is accepted


@pytest.mark.parametrize(("premise", "claim"), PAIRS)
def test_smollm2_answers_yes_or_no_with_probabilities(
    smol: HFBackend, premise: str, claim: str
) -> None:
    choice = smol.choose(f"Claim: {claim}", [premise], YES_NO)
    assert choice.text in YES_NO
    assert choice.probabilities is not None
    assert set(choice.probabilities) == set(YES_NO)
    assert all(0.0 <= p <= 1.0 for p in choice.probabilities.values())
    assert sum(choice.probabilities.values()) == pytest.approx(1.0)
    assert choice.text == max(YES_NO, key=choice.probabilities.__getitem__)


async def test_smollm2_achoose_matches_choose(smol: HFBackend) -> None:
    premise, claim = PAIRS[0]
    whole = smol.choose(f"Claim: {claim}", [premise], YES_NO)
    assert await smol.achoose(f"Claim: {claim}", [premise], YES_NO) == whole
