"""Verifying several drafted tokens in one forward pass, bit for bit one-token steps.

Speculative decoding feeds ``[last, d1 .. dk]`` at once and keeps the drafts that
greedy decoding would have picked anyway. Its output equals plain decoding's only if
each position's logits are the bits a one-token step gives, and a many-row forward
pass does not give them: matrix-matrix kernels sum in another order than the
one-row kernels, and attention over a masked block is not attention over a shorter
row. So inside :func:`hf_matmul.rows_exact` the verification runs each row through
the one-row kernels: :class:`~.hf_matmul.SplitLinear` multiplies row by row (the
weights are read from memory once and then from cache), and the attention below
gives row ``i`` exactly the keys a one-token step would see (``past + i + 1``), with
the same SDPA call. Everything else a decoder layer does is elementwise or per-row.

That equality is checked, not assumed: :func:`rows_match_steps` compares one
verification against one-token steps on the real model before a backend drafts.
Imported only with torch present.
"""

from __future__ import annotations

from typing import Any

import torch

from citeformer.backends.hf_matmul import exact_rows, in_rows_exact, rows_exact

ATTENTION = "citeformer_exact_rows"
_registered = False


def _attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """SDPA as transformers runs it; row by row over causal prefixes in rows_exact."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    rows = query.shape[2]
    if rows == 1 or not in_rows_exact():
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    past = key.shape[2] - rows
    outputs = [
        sdpa_attention_forward(
            module,
            query[:, :, row : row + 1],
            key[:, :, : past + row + 1],
            value[:, :, : past + row + 1],
            None,  # what a one-token step gets: no mask, every earlier key
            **kwargs,
        )[0]
        for row in range(rows)
    ]
    return torch.cat(outputs, dim=1), None


def enable(model: Any) -> bool:
    """Switch ``model`` to the row-exact attention and products, where it can be.

    Only for batch-one decoders on transformers' SDPA attention with no sliding
    window (a window's mask is not the plain prefix this attention assumes).

    Returns:
        Whether ``model`` can now verify drafts (see :func:`rows_match_steps`).
    """
    global _registered
    config = model.config
    windowed = getattr(config, "sliding_window", None) is not None or any(
        kind != "full_attention" for kind in getattr(config, "layer_types", None) or ()
    )
    if windowed or config._attn_implementation not in ("sdpa", ATTENTION):
        return False
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if not _registered:
        AttentionInterface.register(ATTENTION, _attention)
        AttentionMaskInterface.register(ATTENTION, sdpa_mask)
        _registered = True
    model.set_attn_implementation(ATTENTION)
    if model.config._attn_implementation != ATTENTION:
        return False
    exact_rows(model)
    return True


def rows_match_steps(model: Any, new_cache: Any, cache_arg: str, drafts: int = 4) -> bool:
    """Whether one verification pass gives the logits of ``drafts + 1`` one-token steps.

    Runs a short prompt, then compares bitwise: a pass over ``drafts + 1`` tokens in
    :func:`rows_exact` against the same tokens fed one at a time.
    """
    vocab = int(model.config.vocab_size)
    generator = torch.Generator().manual_seed(drafts)
    prompt = torch.randint(0, vocab, (1, 9), generator=generator)
    fed = torch.randint(0, vocab, (1, drafts + 1), generator=generator)
    with torch.inference_mode():
        steps_cache, rows_cache = new_cache(), new_cache()
        model(input_ids=prompt, use_cache=True, **{cache_arg: steps_cache})
        model(input_ids=prompt, use_cache=True, **{cache_arg: rows_cache})
        step = {cache_arg: steps_cache, "use_cache": True, "logits_to_keep": 1}
        steps = [model(input_ids=fed[:, [i]], **step).logits[0, -1] for i in range(drafts + 1)]
        verify = {cache_arg: rows_cache, "use_cache": True, "logits_to_keep": drafts + 1}
        with rows_exact():
            rows = model(input_ids=fed, **verify).logits[0]
    return all(torch.equal(step, row) for step, row in zip(steps, rows, strict=True))
