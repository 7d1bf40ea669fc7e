"""VLLMBackend's constrained choice on the real engine with the embedded SmolLM2.

Mechanics, not quality: the options' grammar holds and first-token log-probs are read.
"""

from __future__ import annotations

import pytest

from citeformer.backends.vllm import VLLMBackend

YES_NO = ("yes", "no")


@pytest.mark.parametrize(
    ("premise", "claim"),
    [
        ("The Eiffel Tower is 330 metres tall.", "The Eiffel Tower is 330 metres tall."),
        ("The Louvre museum is in Paris, France.", "The Louvre is located in Berlin."),
    ],
)
def test_smollm2_answers_yes_or_no_with_probabilities(
    backend: VLLMBackend, premise: str, claim: str
) -> None:
    choice = backend.choose(f"Claim: {claim}", [premise], YES_NO)
    assert choice.text in YES_NO
    assert choice.probabilities is not None
    assert set(choice.probabilities) == set(YES_NO)
    assert all(0.0 <= p <= 1.0 for p in choice.probabilities.values())
    assert sum(choice.probabilities.values()) == pytest.approx(1.0)


def test_options_with_no_shared_case_stay_exact(backend: VLLMBackend) -> None:
    choice = backend.choose("Pick a colour.", ["The sky is blue."], ("blue", "green", "red"))
    assert choice.text in ("blue", "green", "red")
