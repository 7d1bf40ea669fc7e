"""HFBackend: transformers models with the citation grammar enforced by XGrammar.

Decoding is a small token loop of our own rather than ``model.generate`` with a
logits processor: it streams token by token, stops the moment a stream is closed,
and applies XGrammar's bitmask to one logits row per step (measured in
``benchmarks/hf_speed.py``). Each call gets a fresh ``GrammarMatcher``; compiled
grammars are cached per citation-language key on the backend (they are immutable
and safe to share between concurrent calls). Greedy calls decode speculatively:
tokens drafted from the prompt (:mod:`.hf_draft`) are verified in one forward pass
whose every row is bitwise a one-token step (:mod:`.hf_rows`), so the answer is
plain greedy decoding's.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from citeformer.backends.base import BackendCall, CallBackend, CallInfo, Piece, Reply, collect
from citeformer.backends.choice import Choice, ChoiceCall
from citeformer.backends.hf_draft import DEFAULT_DRAFT_TOKENS, PromptLookup
from citeformer.core import Enforcement, TokenUsage
from citeformer.errors import (
    BackendError,
    ConfigurationError,
    InvalidOptionError,
    MissingDependencyError,
)
from citeformer.grammar.language import CitationLanguage
from citeformer.grammar.notation import to_ebnf
from citeformer.options import Check, boolean, non_negative_int

if TYPE_CHECKING:
    import torch
    import xgrammar

DEFAULT_MAX_NEW_TOKENS = 512
_COMPILED_CACHE_SIZE = 64
_CHECKS: Mapping[str, Check] = {
    "min_new_tokens": (non_negative_int, "an int >= 0"),
    "draft_tokens": (non_negative_int, "an int >= 0 (0: no drafts)"),
    "constrain": (boolean, "a bool"),
}


def _require_runtime() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
        import xgrammar  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            "HFBackend", "hf", package=f"transformers + xgrammar + torch ({exc.name} missing)"
        ) from exc


class HFBackend(CallBackend):
    """A local transformers model whose every marker is grammar-constrained.

    Args:
        model: A model name or local folder, or an already-loaded causal LM.
        tokenizer: The tokenizer (required with a loaded model; loaded from ``model``
            otherwise).
        chat_template: A Jinja chat template for tokenizers that have none.
        model_kwargs: Passed to ``AutoModelForCausalLM.from_pretrained`` (e.g.
            ``{"dtype": torch.float16}``: about twice as fast on CPU and half the
            memory, but different logits, so a different greedy answer at times).
        split_matmuls: Run each one-token decoding step's matrix products as row
            blocks on all CPU threads, bitwise equal to the plain products (checked
            per layer shape; see :mod:`.hf_matmul`). Default: on for a model this
            backend loads, off for a model you pass (its layers' class changes).
        speculative: Greedy calls draft tokens from the prompt (:mod:`.hf_draft`) and
            verify them in one forward pass whose every row is bitwise a one-token
            step (:mod:`.hf_rows`; checked once on the model, off if the check
            fails), so the answer is the one plain decoding gives. Default: on for a
            model this backend loads, off for a model you pass (its attention
            implementation and layers' class change). Per call, ``draft_tokens=0``
            turns drafts off and ``draft_tokens=k`` caps a draft's length.

    Calls on one instance may run concurrently (each has its own matcher and
    cache); they share the model's compute.
    """

    name = "hf"
    enforcement = Enforcement.GRAMMAR
    option_checks: ClassVar[Mapping[str, Check]] = _CHECKS

    def __init__(
        self,
        model: str | Path | Any,
        tokenizer: Any | None = None,
        *,
        chat_template: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        split_matmuls: bool | None = None,
        speculative: bool | None = None,
    ) -> None:
        _require_runtime()
        import xgrammar as xgr
        from transformers import AutoModelForCausalLM, AutoTokenizer

        loaded_here = isinstance(model, (str, Path))
        if isinstance(model, (str, Path)):
            path = Path(model).expanduser()
            if not path.exists() and (str(model).startswith((".", "/", "~")) or path.suffix):
                raise ConfigurationError(
                    f"model path {str(model)!r} does not exist; pass a local model folder, "
                    "a loaded model, or use HFBackend.default() for the embedded model"
                )
            source = str(path) if path.exists() else str(model)
            try:
                tokenizer = tokenizer or AutoTokenizer.from_pretrained(source)
                model = AutoModelForCausalLM.from_pretrained(source, **(model_kwargs or {}))
            except OSError as exc:
                raise ConfigurationError(
                    f"could not load a model from {source!r}: {exc}. Offline, pass a local "
                    "folder (models are not downloaded here)"
                ) from exc
        elif tokenizer is None:
            raise InvalidOptionError("a loaded model needs its tokenizer: HFBackend(model, tok)")
        if chat_template is not None:
            tokenizer.chat_template = chat_template
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigurationError(
                "the tokenizer has no chat template; pass chat_template='...' (a Jinja "
                "template) or use an instruct/chat model"
            )
        self.model = model.eval()
        self.tokenizer = tokenizer
        if split_matmuls if split_matmuls is not None else loaded_here:
            from citeformer.backends import hf_matmul

            hf_matmul.split_matmuls(model)
        # Only the last position's logits are needed: skips a (prompt x vocab) matmul.
        forward = inspect.signature(model.forward).parameters
        self._last_only = {"logits_to_keep": 1} if "logits_to_keep" in forward else {}
        # transformers 5.24 renamed forward's ``past_key_values`` to ``cache`` (the old
        # name warns and goes away in 5.40); older releases only know the old name.
        self._cache_arg = "cache" if "cache" in forward else "past_key_values"
        self._eos_ids = _eos_ids(model, tokenizer)
        vocab_size = int(model.get_output_embeddings().weight.shape[0])
        self._info = xgr.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size, stop_token_ids=self._eos_ids
        )
        self._compiler = xgr.GrammarCompiler(self._info, max_threads=2)
        self._compiled: OrderedDict[tuple[Any, ...], xgrammar.CompiledGrammar] = OrderedDict()
        self._compiled_lock = threading.Lock()
        # None: not yet checked (on the first greedy call); see _drafts_exact.
        self._drafting_lock = threading.Lock()
        self._drafting: bool | None = (
            None if (speculative if speculative is not None else loaded_here) else False
        )

    @classmethod
    def default(cls, *, model_kwargs: dict[str, Any] | None = None) -> HFBackend:
        """The embedded SmolLM2-135M-Instruct (converted once, then cached).

        Args:
            model_kwargs: As for the constructor (fp32 unless a ``dtype`` is given).
        """
        from citeformer.backends.embedded import quiet_transformers, smollm2_hf_dir

        folder = smollm2_hf_dir()
        with quiet_transformers():
            return cls(folder, model_kwargs=model_kwargs)

    def __repr__(self) -> str:
        return f"HFBackend({getattr(self.model.config, '_name_or_path', '?')!r})"

    def compiled_grammar(self, language: CitationLanguage) -> xgrammar.CompiledGrammar:
        """The XGrammar grammar for ``language``, compiled once per key."""
        return self.compiled_ebnf(language.key, lambda: to_ebnf(language))

    def compiled_ebnf(
        self, key: tuple[Any, ...], ebnf: Callable[[], str]
    ) -> xgrammar.CompiledGrammar:
        """The grammar ``ebnf()`` writes, compiled once per ``key`` (an LRU cache)."""
        with self._compiled_lock:
            hit = self._compiled.get(key)
            if hit is not None:
                self._compiled.move_to_end(key)
                return hit
        compiled = self._compiler.compile_grammar(ebnf(), root_rule_name="root")
        with self._compiled_lock:
            self._compiled[key] = compiled
            if len(self._compiled) > _COMPILED_CACHE_SIZE:
                self._compiled.popitem(last=False)
        return compiled

    def _complete(self, call: BackendCall) -> Reply:
        """The whole answer (see :meth:`_complete_stream` for the options)."""
        return collect(self._complete_stream(call))

    def _complete_stream(self, call: BackendCall) -> Iterator[Piece]:
        """Yield the answer token by token; closing the iterator stops decoding.

        Options: ``max_tokens`` (alias ``max_new_tokens``), ``min_new_tokens`` (EOS is
        masked until then), ``temperature`` (0 = greedy), ``top_p``, ``seed``,
        ``constrain`` (default True; False decodes without the grammar, for baseline
        measurements only), ``draft_tokens`` (greedy calls: the longest prompt-lookup
        draft, 0 for none; default 4).
        """
        import torch
        import xgrammar as xgr

        request, options = call.request, call.options
        max_new = int(options.get("max_tokens") or DEFAULT_MAX_NEW_TOKENS)
        min_new = int(options.get("min_new_tokens") or 0)
        temperature = float(options.get("temperature") or 0.0)
        top_p = float(options.get("top_p") or 1.0)
        constrain = options.get("constrain", True) is not False
        seed = options.get("seed")
        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        input_ids = self._encode(request.messages)
        matcher = xgr.GrammarMatcher(self.compiled_grammar(request.language)) if constrain else None
        bitmask = xgr.allocate_token_bitmask(1, self._info.vocab_size) if matcher else None
        decoder = _IncrementalDecoder(self.tokenizer)
        finish = "length"
        produced = 0
        draft = self._draft(input_ids, options, temperature)
        cache = self._new_cache()
        # One KV cache per call, filled in place by the model at every step.
        step_kwargs = {self._cache_arg: cache, "use_cache": True}
        feed, proposal, token = input_ids, [], -1
        with torch.inference_mode():
            while produced < max_new:
                if draft is not None and produced:
                    proposal = draft.propose(max_new - produced - 1)
                    feed = torch.tensor([[token, *proposal]], dtype=input_ids.dtype)
                rows = self._logits(feed, step_kwargs, drafted=len(proposal))
                for index in range(rows.shape[0]):
                    logits = rows[index : index + 1]
                    if matcher is not None and bitmask is not None:
                        matcher.fill_next_token_bitmask(bitmask)
                        xgr.apply_token_bitmask_inplace(logits, bitmask)
                    if produced < min_new:
                        logits[:, self._eos_ids] = float("-inf")
                    token = _pick(logits, temperature, top_p, generator)
                    if token in self._eos_ids:
                        finish = "stop"
                        break
                    if matcher is not None and not matcher.accept_token(token):
                        raise BackendError(
                            f"XGrammar rejected token {token}, which its own mask allowed",
                            provider=self.name,
                        )
                    produced += 1
                    if draft is not None:
                        draft.append(token)
                    delta = decoder.push(token)
                    if delta:
                        yield delta
                    if matcher is not None and matcher.is_terminated():
                        finish = "stop"
                        break
                    if index < len(proposal) and token != proposal[index]:
                        break  # the model picked otherwise: the drafts after it are void
                if finish == "stop":
                    break
                if draft is not None and proposal:
                    taken = index  # rows before the first miss (all of them: a bonus token)
                    draft.taken(len(proposal), taken)
                    if taken < len(proposal):
                        cache.crop(taken - len(proposal))
                feed = torch.tensor([[token]], dtype=input_ids.dtype)
        tail = decoder.flush()
        usage = TokenUsage(prompt_tokens=int(input_ids.shape[1]), completion_tokens=produced)
        enforcement = None if constrain else Enforcement.VALIDATED
        if tail:
            yield tail
        yield CallInfo(usage=usage, finish_reason=finish, enforcement=enforcement)

    def _logits(
        self, feed: torch.Tensor, step_kwargs: dict[str, Any], drafted: int
    ) -> torch.Tensor:
        """The next-token logits rows (one, or one per fed token when verifying drafts)."""
        import torch

        # Here, not around the whole loop: a stream may resume on another thread
        # (astream), and inference mode is per thread.
        with torch.inference_mode():
            if not drafted:
                out = self.model(input_ids=feed, **step_kwargs, **self._last_only)
                last: torch.Tensor = out.logits[0, -1:, :].float()
                return last
            from citeformer.backends.hf_matmul import rows_exact

            keep = {"logits_to_keep": drafted + 1} if self._last_only else {}
            with rows_exact():
                out = self.model(input_ids=feed, **step_kwargs, **keep)
            rows: torch.Tensor = out.logits[0, -(drafted + 1) :, :].float()
            return rows

    def _draft(
        self, input_ids: torch.Tensor, options: Any, temperature: float
    ) -> PromptLookup | None:
        """A prompt-lookup drafter for a greedy call, or None where drafts are off."""
        length = options.get("draft_tokens")  # checked: an int >= 0, or absent
        if length is None:
            length = DEFAULT_DRAFT_TOKENS
        if temperature > 0 or length <= 0 or not self._drafts_exact():
            return None
        return PromptLookup(input_ids[0].tolist(), max_tokens=length)

    def _drafts_exact(self) -> bool:
        """Whether verified drafts give plain decoding's bits here (checked once)."""
        if self._drafting is None:
            from citeformer.backends import hf_rows

            with self._drafting_lock:
                if self._drafting is None:
                    self._drafting = hf_rows.enable(self.model) and hf_rows.rows_match_steps(
                        self.model, self._new_cache, self._cache_arg
                    )
        return self._drafting

    def _choose(self, call: ChoiceCall) -> Choice:
        """One forward pass under the options' grammar (see :mod:`.hf_choice`)."""
        from citeformer.backends.hf_choice import choose

        return choose(self, call)

    def _new_cache(self) -> Any:
        from transformers import DynamicCache

        try:  # recent transformers size the cache's layers from the model config
            return DynamicCache(config=self.model.config)
        except TypeError:
            return DynamicCache()

    def _encode(self, messages: Any) -> torch.Tensor:
        encoded: Any = self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        ids: torch.Tensor = encoded["input_ids"]
        return ids


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    ids: list[int] = []
    candidates = [tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)]
    for value in candidates:
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, int) and item not in ids:
                ids.append(item)
    if not ids:
        raise ConfigurationError("the tokenizer defines no EOS token; set tokenizer.eos_token")
    return ids


def _pick(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None
) -> int:
    import torch

    if temperature <= 0:
        return int(torch.argmax(logits, dim=-1).item())
    probs = torch.softmax(logits / temperature, dim=-1)[0]
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=0) - sorted_probs < top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator).item())


class _IncrementalDecoder:
    """Turns token ids into text deltas without splitting multi-byte characters."""

    def __init__(self, tokenizer: Any) -> None:
        self._decode = functools.partial(
            tokenizer.decode, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        self._ids: list[int] = []
        self._emitted = 0

    def push(self, token: int) -> str:
        self._ids.append(token)
        text: str = self._decode(self._ids)
        if text.endswith("\ufffd"):  # a character is still incomplete
            return ""
        delta = text[self._emitted :]
        self._emitted = len(text)
        return delta

    def flush(self) -> str:
        text: str = self._decode(self._ids)
        delta = text[self._emitted :]
        self._emitted = len(text)
        return delta
