"""LlamaCppBackend's constrained choice on the real llama.cpp runtime with SmolLM2.

The options' GBNF is checked with llama.cpp's own grammar sampler, token by token
over the model's real vocabulary; then the model answers, and the first-token
probabilities under the grammar are read. Mechanics, not the judge's quality.
"""

from __future__ import annotations

from typing import Any

import pytest

from citeformer import Policy, Source
from citeformer.backends.choice import options_gbnf
from citeformer.backends.llamacpp import LlamaCppBackend
from citeformer.backends.llamacpp_sampler import GrammarSampling

YES_NO = ("yes", "no")


@pytest.fixture
def backend(smollm2_llama: Any) -> LlamaCppBackend:
    return LlamaCppBackend(smollm2_llama)


def _grammar_accepts(llama: Any, text: str) -> bool:
    """Whether llama.cpp's grammar sampler lets ``text``'s tokens through, then ends."""
    import numpy as np

    sampling = GrammarSampling(llama, options_gbnf(YES_NO), greedy=False, top_k=0, bias={})
    try:
        tokens = llama.tokenize(text.encode(), add_bos=False, special=False) if text else []
        for token in tokens:
            if not sampling._legal(np.array([token], dtype=np.intc))[0]:
                return False
            sampling._lib.llama_sampler_accept(sampling._grammar, token)
        end = np.array([llama.token_eos()], dtype=np.intc)
        return bool(sampling._legal(end)[0])  # end of text is legal only after an option
    finally:
        sampling.close()


@pytest.mark.parametrize(
    ("text", "accepted"),
    [("yes", True), ("no", True), ("maybe", False), ("yes sir", False), ("[1]", False),
     ("Yes", False), (" no", False), ("", False)],
)  # fmt: skip
def test_the_gbnf_admits_only_the_options(smollm2_llama: Any, text: str, accepted: bool) -> None:
    assert _grammar_accepts(smollm2_llama, text) is accepted


@pytest.mark.parametrize(
    ("premise", "claim"),
    [
        ("The Eiffel Tower is 330 metres tall.", "The Eiffel Tower is 330 metres tall."),
        ("The Louvre museum is in Paris, France.", "The Louvre is located in Berlin."),
    ],
)
def test_smollm2_answers_yes_or_no_with_probabilities(
    backend: LlamaCppBackend, premise: str, claim: str
) -> None:
    choice = backend.choose(f"Claim: {claim}", [premise], YES_NO)
    assert choice.text in YES_NO
    assert choice.probabilities is not None
    assert set(choice.probabilities) == set(YES_NO)
    assert all(0.0 <= p <= 1.0 for p in choice.probabilities.values())
    assert sum(choice.probabilities.values()) == pytest.approx(1.0)
    # Deterministic: the same call gives the same numbers (the KV cache is rewound).
    assert backend.choose(f"Claim: {claim}", [premise], YES_NO) == choice


def test_the_instance_still_generates_after_a_choice(backend: LlamaCppBackend) -> None:
    backend.choose("Claim: x", ["y"], YES_NO)
    source = Source(content="It is 330 m tall.")
    text = backend.generate("How tall is it?", [source], Policy.AUTO, max_new_tokens=4)
    assert isinstance(text, str)
