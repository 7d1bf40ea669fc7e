"""LlamaCppBackend's constrained choice: the options' GBNF grammar at the first token.

The options become the GBNF grammar ``root ::= "yes" | "no"``, run by llama.cpp's
own grammar sampler inside the same logits processor as citations
(:class:`~citeformer.backends.llamacpp_sampler.GrammarSampling`), here with the
whole vocabulary checked so that every token beginning an option stays finite. One
token is decoded; the masked logits of that step are kept, their softmax is the
distribution llama.cpp samples from, and P(option) is the mass of the allowed
tokens that begin it, normalised over the options. The answer is the most probable
option (greedy decoding's choice when the options share no first token).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from citeformer.backends.choice import Choice, ChoiceCall, best, options_gbnf, probabilities_from
from citeformer.backends.llamacpp_sampler import GrammarSampling
from citeformer.errors import BackendError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from citeformer.backends.llamacpp import LlamaCppBackend


class _FirstStep:
    """Masks with ``sampling`` and keeps a copy of the first step's masked logits."""

    def __init__(self, sampling: GrammarSampling) -> None:
        self.sampling = sampling
        self.scores: npt.NDArray[np.single] | None = None

    def __call__(
        self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
    ) -> npt.NDArray[np.single]:
        masked = self.sampling(input_ids, scores)
        if self.scores is None:
            self.scores = masked.copy()
        return masked


def choose(backend: LlamaCppBackend, call: ChoiceCall) -> Choice:
    """Answer ``call`` with one of its options, with the options' probabilities.

    Raises:
        BackendError: The grammar sampler failed, or left no legal token.
    """
    import numpy

    llama: Any = backend.llama
    options = call.options
    # top_k=0 keeps every legal token: all of them carry probability mass.
    sampling = GrammarSampling(llama, options_gbnf(options), greedy=False, top_k=0, bias={})
    step = _FirstStep(sampling)
    kwargs: dict[str, Any] = {
        "messages": [dict(m) for m in call.messages],
        "max_tokens": 1,
        "temperature": 0.0,
        "logits_processor": backend._lib.LogitsProcessorList([step]),
    }
    with backend._decoding(sampling):
        llama.create_chat_completion(**kwargs)
    if step.scores is None:
        raise BackendError("llama.cpp sampled no token", provider=backend.name)
    scores = step.scores.astype(numpy.float64)
    legal = numpy.flatnonzero(numpy.isfinite(scores))
    if len(legal) == 0 or legal.tolist() == [llama.token_eos()]:
        raise BackendError("the options' grammar left no legal token", provider=backend.name)
    weights = numpy.exp(scores[legal] - scores[legal].max())
    weights /= weights.sum()
    masses = ((llama.detokenize([int(t)]), float(w)) for t, w in zip(legal, weights, strict=True))
    probabilities = probabilities_from(masses, options)
    if probabilities is None:
        raise BackendError("no legal token begins an option", provider=backend.name)
    return Choice(best(probabilities, options), probabilities)
