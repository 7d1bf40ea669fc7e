"""The llama.cpp grammar mask as a logits processor, best candidates first.

llama-cpp-python's ``grammar=`` checks every vocabulary entry against the grammar at
each step; :class:`GrammarSampling` runs the same llama.cpp grammar sampler on the
best candidates first (the greedy token alone, or the ``top_k`` best), widening the
search only when too few are legal, as llama.cpp's own ``common_sampler`` does. See
:mod:`citeformer.backends.llamacpp` for why and what it costs.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from citeformer.core import TokenUsage
from citeformer.errors import BackendError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from llama_cpp import Llama


class GrammarSampling:
    """One call's logits processor: logit bias, the grammar mask, token counts.

    llama.cpp calls it once per sampled token, from inside its sampler chain, with the
    token ids evaluated so far (the prompt, then this call's tokens). It must never
    raise there (ctypes would drop the error and sample unmasked): an error is kept in
    ``error`` and the processor forces end of text instead.
    """

    def __init__(
        self,
        llama: Llama,
        gbnf: str | None,
        *,
        greedy: bool,
        top_k: int,
        bias: Mapping[int, float],
    ) -> None:
        import llama_cpp
        import numpy

        self._lib: Any = llama_cpp
        self._np: Any = numpy
        self._dtype = numpy.dtype(
            [("id", numpy.intc), ("logit", numpy.single), ("p", numpy.single)], align=True
        )
        self._n_vocab = llama.n_vocab()
        self._eos = llama.token_eos()
        self._keep = 1 if greedy else (top_k if 0 < top_k < self._n_vocab else self._n_vocab)
        self._bias = dict(bias)
        self._grammar: Any = None
        if gbnf is not None:
            vocab = llama_cpp.llama_model_get_vocab(llama.model)
            self._grammar = llama_cpp.llama_sampler_init_grammar(
                vocab, gbnf.encode("utf-8"), b"root"
            )
            if not self._grammar:
                raise BackendError("llama.cpp rejected the citation grammar", provider="llamacpp")
        self.prompt_tokens = 0
        self.steps = 0
        self.error: Exception | None = None
        self._accepted = 0
        self._closed = False

    def __call__(
        self, input_ids: npt.NDArray[np.intc], scores: npt.NDArray[np.single]
    ) -> npt.NDArray[np.single]:
        """Mask ``scores`` for the next token (llama.cpp calls this once per token)."""
        if self._closed:  # a stale sampler chain reused after the call: not ours to mask
            return scores
        try:
            if self.steps == 0:
                self.prompt_tokens = len(input_ids)
            self.steps += 1
            if self.error is None:
                for token, bias in self._bias.items():
                    scores[token] += bias
                if self._grammar is None:
                    return scores
                self._advance(input_ids[self.prompt_tokens :])
                if self._mask(scores):
                    return scores
        except Exception as err:  # raising inside llama.cpp's callback would be lost
            self.error = err
        scores.fill(-self._np.inf)  # end the text: nothing legal is left, or we failed
        scores[self._eos] = 0.0
        return scores

    def _legal(self, ids: npt.NDArray[np.intc]) -> npt.NDArray[np.bool_]:
        """Which of ``ids`` the grammar allows next."""
        lib = self._lib
        array = (lib.llama_token_data * len(ids))()
        view = self._np.frombuffer(array, dtype=self._dtype)
        view["id"] = ids
        view["logit"] = 0.0
        data = lib.llama_token_data_array(data=array, size=len(ids), selected=-1, sorted=False)
        lib.llama_sampler_apply(self._grammar, ctypes.byref(data))
        legal: npt.NDArray[np.bool_] = self._np.isfinite(view["logit"])
        return legal

    def _advance(self, generated: npt.NDArray[np.intc]) -> None:
        """Feed the grammar the tokens sampled since the last step."""
        for token in generated[self._accepted :].tolist():
            # Accepting an illegal token aborts llama.cpp, so check it first.
            if not self._legal(self._np.array([token], dtype=self._np.intc))[0]:
                raise BackendError(
                    f"token {token} was sampled outside the citation grammar", provider="llamacpp"
                )
            self._lib.llama_sampler_accept(self._grammar, token)
            self._accepted += 1

    def _mask(self, scores: npt.NDArray[np.single]) -> bool:
        """Leave finite only the ``keep`` best legal tokens, searching best first.

        Returns False when no legal token has a finite score (the caller ends the text).
        """
        np = self._np
        n, keep, width = self._n_vocab, self._keep, self._keep
        while True:
            if width >= n:
                best = np.arange(n, dtype=np.intc)
            elif width == 1:
                best = np.array([int(np.argmax(scores))], dtype=np.intc)
            else:
                top = np.argpartition(scores, n - width)[n - width :]
                best = top[np.argsort(-scores[top], kind="stable")].astype(np.intc)
            legal = best[self._legal(best) & np.isfinite(scores[best])]
            if len(legal) >= keep or width >= n:
                break
            width = min(n, width * 16)
        if width >= n:  # the whole vocabulary was checked, in id order
            legal = legal[np.argsort(-scores[legal], kind="stable")]
        legal = legal[:keep]
        kept = scores[legal]
        scores.fill(-np.inf)
        scores[legal] = kept
        return len(legal) > 0

    def close(self) -> None:
        """Free the grammar (llama-cpp-python keeps the last sampler chain around)."""
        self._closed = True
        if self._grammar is not None:
            self._lib.llama_sampler_free(self._grammar)
            self._grammar = None

    def usage(self, finish_reason: str) -> TokenUsage:
        """Token usage for a stream (llama-cpp-python reports none there).

        A sampled end-of-generation token is not part of the answer; like it, the
        token that completes a ``stop`` string is not counted (``generate`` counts it).
        """
        ended = 1 if finish_reason == "stop" and self.steps else 0
        return TokenUsage(self.prompt_tokens, self.steps - ended)
