"""VLLMBackend's constrained choice: the options' grammar as a structured output.

The options become a grammar (XGrammar EBNF ``root ::= "yes" | "no"``, or Lark
``start: "yes" | "no"`` for the ``guidance`` backend) sent with the request, as
citation grammars are; greedy decoding then writes exactly one option. The request
asks for the first token's top-20 log-probabilities. vLLM reports them from the
model's distribution before the grammar's mask (its default ``raw_logprobs``
mode), so only the tokens that begin an option count; their mass, normalised over
the options, is P(option).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from citeformer.backends.choice import (
    DEFAULT_MAX_TOKENS,
    Choice,
    ChoiceCall,
    options_ebnf,
    parse_choice,
    probabilities_from,
)
from citeformer.errors import InvalidOptionError

if TYPE_CHECKING:
    from citeformer.backends.vllm import VLLMBackend

TOP_LOGPROBS = 20


def options_lark(options: tuple[str, ...]) -> str:
    """Lark (llguidance) admitting exactly the options."""
    from citeformer.grammar.notation import _lark_literal

    return "start: " + " | ".join(_lark_literal(o) for o in options) + "\n"


def choose(backend: VLLMBackend, call: ChoiceCall) -> Choice:
    """Answer ``call`` with one of its options, with P(option) from the first token.

    Raises:
        UnparsableChoiceError: vLLM wrote none of the options (it cannot, under the
            grammar, unless the token budget ran out).
    """
    sp: Any = backend._sampling
    options = call.options
    guidance = backend._so_backend == "guidance"
    grammar = options_lark(options) if guidance else options_ebnf(options)
    try:
        params = sp.SamplingParams(
            max_tokens=int(call.call_options.get("max_tokens") or DEFAULT_MAX_TOKENS),
            temperature=0.0,
            logprobs=TOP_LOGPROBS,
            output_kind=sp.RequestOutputKind.FINAL_ONLY,
            structured_outputs=sp.StructuredOutputsParams(grammar=grammar),
        )
    except (TypeError, ValueError) as exc:
        raise InvalidOptionError(f"invalid vLLM sampling option: {exc}") from exc
    [rid] = backend._driver.submit([backend._prompt(call.request)], [params])
    try:
        out = backend._driver.next(rid)
    finally:
        backend._driver.abort([rid])  # a finished request is ignored
    completion = out.outputs[0]
    text = parse_choice(completion.text, options, provider=backend.name)
    steps = completion.logprobs or []
    first = steps[0] if steps else {}
    masses = [
        (str(getattr(lp, "decoded_token", "") or ""), math.exp(float(lp.logprob)))
        for lp in first.values()
        if lp.logprob is not None and math.isfinite(float(lp.logprob))
    ]
    return Choice(text, probabilities_from(masses, options) if masses else None)
