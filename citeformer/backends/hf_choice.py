"""HFBackend's constrained choice: one forward pass under the options' XGrammar grammar.

The options become the grammar ``root ::= "yes" | "no"`` (compiled once per option
tuple, cached beside the citation grammars). A fresh matcher fills the bitmask of
the first step, which leaves finite only the tokens that begin an option; the
softmax of the masked logits is the distribution greedy decoding samples from, and
P(option) is the mass of its allowed first tokens, normalised over the options
(:func:`~citeformer.backends.choice.probabilities_from`). The answer is the most
probable option: for options that share no first token, the option greedy decoding
commits to at its first step, without decoding the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from citeformer.backends.choice import Choice, ChoiceCall, best, options_ebnf, probabilities_from
from citeformer.errors import BackendError

if TYPE_CHECKING:
    from citeformer.backends.hf import HFBackend


def choose(backend: HFBackend, call: ChoiceCall) -> Choice:
    """Answer ``call`` with one of its options, with the options' probabilities.

    Raises:
        BackendError: The grammar left no token with any probability (a model whose
            logits are all ``-inf`` or NaN there).
    """
    import torch
    import xgrammar as xgr

    options = call.options
    compiled = backend.compiled_ebnf(("choice", *options), lambda: options_ebnf(options))
    input_ids = backend._encode(call.messages)
    matcher = xgr.GrammarMatcher(compiled)
    bitmask = xgr.allocate_token_bitmask(1, backend._info.vocab_size)
    with torch.inference_mode():
        out = backend.model(input_ids=input_ids, use_cache=False, **backend._last_only)
        logits = out.logits[:, -1, :].float()
    matcher.fill_next_token_bitmask(bitmask)
    xgr.apply_token_bitmask_inplace(logits, bitmask)
    probs = torch.softmax(logits[0], dim=-1)
    allowed = torch.nonzero(probs > 0).flatten().tolist()
    vocab = backend._info.decoded_vocab
    probabilities = probabilities_from(
        ((vocab[token], float(probs[token])) for token in allowed), options
    )
    if probabilities is None:
        raise BackendError(
            "no token that begins an option has any probability under the model",
            provider=backend.name,
        )
    return Choice(best(probabilities, options), probabilities)
