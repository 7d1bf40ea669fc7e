"""VLLMBackend: vLLM's offline engine with the citation grammar as a structured output.

Every request carries its own grammar through vLLM's current structured-output API
(``SamplingParams(structured_outputs=StructuredOutputsParams(grammar=...))``):
XGrammar EBNF for the ``auto`` and ``xgrammar`` backends, Lark for ``guidance``.
vLLM compiles and caches the grammars and masks every token that would leave the
citation language, so ``[N+1]`` cannot be sampled.

All calls on one backend share one engine through a small driver: requests are
added to ``LLM.llm_engine`` and whichever caller needs output steps the engine,
handing other requests' outputs to their own queues. Concurrent calls (threads,
``agenerate``/``astream``) are therefore batched together by vLLM's scheduler, and
:meth:`VLLMBackend.stream` streams real token deltas from the same engine.
:meth:`VLLMBackend.generate_batch` submits many requests before stepping once for
all of them, which is where vLLM's throughput comes from::

    backend = VLLMBackend("Qwen/Qwen2.5-7B-Instruct", tensor_parallel_size=2)
    texts = backend.generate_batch(
        [(question, sources, Policy.REQUIRED) for question in questions],
        max_new_tokens=256,
    )
    checked = [citeformer.markers.validate(t, len(sources), MarkerStyle.BRACKET) for t in texts]

``generate_batch`` returns raw backend texts (no ``Citeformer`` batch method exists);
for full ``GenerationResult`` objects run ``Citeformer.agenerate`` calls concurrently
(``asyncio.gather``) on one backend: their worker threads share the engine, so vLLM
batches them as well (up to the default executor's thread count).

Do not call the same ``vllm.LLM`` directly (``llm.generate``) while backend calls
are in flight: ``LLM.generate`` steps the engine until *every* request finishes
and would swallow the backend's outputs.

Why not ``AsyncLLM``: vLLM's async engine binds its output handler to the event
loop it first runs on, while backend calls come from any thread and any loop
(``asyncio.run`` per call, worker threads); it is also a second engine (double
memory, another ~20 s start) that cannot wrap an injected ``LLM``. Stepping the
offline engine gives the same token-by-token deltas, and ``agenerate``/``astream``
keep the thread defaults (the work is compute-bound).
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, TypeAlias

from citeformer.backends.base import (
    BackendCall,
    BackendText,
    CallBackend,
    CallInfo,
    CitationRequest,
    Piece,
    Reply,
    backend_errors,
)
from citeformer.backends.choice import Choice, ChoiceCall
from citeformer.backends.vllm_driver import EngineDriver
from citeformer.core import Enforcement, MarkerStyle, Policy, Source, TokenUsage
from citeformer.errors import (
    BackendError,
    ConfigurationError,
    InvalidOptionError,
    MissingDependencyError,
)
from citeformer.grammar.language import CitationLanguage
from citeformer.grammar.notation import to_ebnf, to_lark
from citeformer.options import Check, boolean, normalize_options

DEFAULT_MAX_NEW_TOKENS = 512
DEFAULT_ENGINE_KWARGS: dict[str, Any] = {
    "dtype": "bfloat16",
    "enforce_eager": True,
    "max_model_len": 2048,
    # Seeded sampling with chunked prefill kills vLLM's CPU engine (see _params).
    "enable_chunked_prefill": False,
}
"""CPU-friendly engine settings used by :meth:`VLLMBackend.default`."""
_GRAMMAR_BACKENDS = ("auto", "xgrammar", "guidance")

BatchItem: TypeAlias = (
    BackendCall
    | CitationRequest
    | tuple[str, Sequence[Source], Policy | str]
    | tuple[str, Sequence[Source], Policy | str, Mapping[str, Any]]
)
"""One :meth:`VLLMBackend.generate_batch` entry: a prepared request, or
``(prompt, sources, policy)`` with optional per-item options."""


def _import_vllm() -> ModuleType:
    try:
        return importlib.import_module("vllm")
    except ImportError as exc:
        raise MissingDependencyError("VLLMBackend", "vllm", package="vllm") from exc


class VLLMBackend(CallBackend):
    """A vLLM model whose every marker is grammar-constrained.

    Args:
        model: A model name or local folder (the backend builds and owns a
            ``vllm.LLM``), or an already-built ``vllm.LLM`` (used as is, never shut
            down by the backend).
        **engine_kwargs: Passed through to ``vllm.LLM(...)`` when building one:
            ``dtype``, ``max_model_len``, ``enforce_eager``, ``gpu_memory_utilization``,
            ``tensor_parallel_size`` / ``pipeline_parallel_size`` (multi-GPU and
            multi-node), ``distributed_executor_backend="ray"``, ``quantization``,
            ``structured_outputs_config={"backend": "guidance"}``...

    Call options: ``max_tokens`` (alias ``max_new_tokens``, default 512),
    ``temperature`` (default 0: greedy), ``top_p``, ``seed``, ``stop`` (a string or a
    list), ``constrain`` (default True; False drops the grammar, a baseline for the
    fabrication benchmark that leaves only the validator). Unknown options are
    ignored.

    Example:
        >>> backend = VLLMBackend.default()  # doctest: +SKIP
        >>> Citeformer(backend).generate("How tall is it?", sources)  # doctest: +SKIP
    """

    name = "vllm"
    enforcement = Enforcement.GRAMMAR
    option_checks: ClassVar[Mapping[str, Check]] = {
        "constrain": (boolean, "a bool"),
    }

    def __init__(self, model: str | os.PathLike[str] | Any, **engine_kwargs: Any) -> None:
        vllm = _import_vllm()
        self._sampling = importlib.import_module("vllm.sampling_params")
        if isinstance(model, (str, os.PathLike)):
            path = Path(model).expanduser()
            name = str(model)
            if not path.exists() and (name.startswith((".", "/", "~")) or os.path.isabs(name)):
                raise ConfigurationError(
                    f"model path {name!r} does not exist; pass a local model folder, a model "
                    "name, a built vllm.LLM, or use VLLMBackend.default() for the embedded model"
                )
            source = str(path) if path.exists() else name
            try:
                self.llm: Any = vllm.LLM(source, **engine_kwargs)
            except (OSError, ValueError, RuntimeError) as exc:
                raise ConfigurationError(f"vLLM could not load {source!r}: {exc}") from exc
            self._owned = True
        elif engine_kwargs:
            raise InvalidOptionError(
                "engine_kwargs apply only when VLLMBackend builds the engine; configure the "
                "vllm.LLM you passed instead"
            )
        else:
            if not hasattr(model, "llm_engine"):
                raise InvalidOptionError(
                    f"model must be a name, a path or a vllm.LLM, got {type(model).__name__}"
                )
            self.llm = model
            self._owned = False
        engine = self.llm.llm_engine
        config = getattr(engine.vllm_config, "structured_outputs_config", None)
        self._so_backend = str(getattr(config, "backend", "auto"))
        if self._so_backend not in _GRAMMAR_BACKENDS:
            raise ConfigurationError(
                f"structured-output backend {self._so_backend!r} takes no grammars; use one "
                f"of {', '.join(_GRAMMAR_BACKENDS)}"
            )
        # vLLM rewinds a seeded request's generator offset after a partial (chunked)
        # prefill; CPU generators have no offset, and the engine process dies.
        device = getattr(getattr(engine.vllm_config, "device_config", None), "device_type", "")
        scheduler = getattr(engine.vllm_config, "scheduler_config", None)
        self._seed_breaks_engine = str(device) == "cpu" and bool(
            getattr(scheduler, "enable_chunked_prefill", False)
        )
        self.tokenizer: Any = self.llm.get_tokenizer()
        self._tokenizer_lock = threading.Lock()
        self._renderer = getattr(engine, "renderer", None)
        self._driver = EngineDriver(engine)

    @classmethod
    def default(cls, **engine_kwargs: Any) -> VLLMBackend:
        """The embedded SmolLM2-135M-Instruct with CPU-friendly engine settings.

        ``engine_kwargs`` override :data:`DEFAULT_ENGINE_KWARGS`. On CPU set
        ``VLLM_CPU_KVCACHE_SPACE`` (GiB of KV cache) before the engine starts.
        """
        from citeformer.backends.embedded import smollm2_hf_dir

        return cls(smollm2_hf_dir(), **{**DEFAULT_ENGINE_KWARGS, **engine_kwargs})

    def __repr__(self) -> str:
        model = getattr(getattr(self.llm, "model_config", None), "model", "?")
        return f"VLLMBackend({model!r})"

    def close(self) -> None:
        """Shut down the engine if this backend built it (an injected one is left alone)."""
        if self._owned:
            core = getattr(self.llm.llm_engine, "engine_core", None)
            if core is not None:
                core.shutdown()

    # -- request building -------------------------------------------------------------

    def grammar(self, language: CitationLanguage) -> str:
        """The grammar text sent to vLLM for ``language`` (EBNF, or Lark for guidance)."""
        return to_lark(language) if self._so_backend == "guidance" else to_ebnf(language)

    def _prompt(self, request: CitationRequest) -> Any:
        """Token ids of the request's messages through the model's chat template."""
        with self._tokenizer_lock:  # HF fast tokenizers are not safe to share across threads
            text = self.tokenizer.apply_chat_template(
                list(request.messages), tokenize=False, add_generation_prompt=True
            )
            # The template already emits BOS and the like, as in LLM.chat.
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            prompt = {"prompt_token_ids": list(ids)}
            # vLLM >= 0.32 wants rendered engine inputs; older versions take the dict.
            render = getattr(self._renderer, "render_cmpl", None)
            return render([prompt])[0] if render is not None else prompt

    def _params(self, language: CitationLanguage, options: Mapping[str, Any], kind: str) -> Any:
        """VLLM sampling parameters from options already checked (:attr:`option_checks`)."""
        sp = self._sampling
        kwargs: dict[str, Any] = {
            "max_tokens": int(options.get("max_tokens") or DEFAULT_MAX_NEW_TOKENS),
            "temperature": options.get("temperature") or 0.0,
            "output_kind": getattr(sp.RequestOutputKind, kind),
        }
        if options.get("seed") is not None and self._seed_breaks_engine:
            raise ConfigurationError(
                "seeded sampling on vLLM's CPU engine needs enable_chunked_prefill=False "
                "(VLLMBackend.default() sets it); otherwise a chunked prompt crashes the engine"
            )
        for key in ("top_p", "seed", "stop"):
            if options.get(key) is not None:
                kwargs[key] = options[key]
        if options.get("constrain", True) is not False:
            grammar = self.grammar(language)
            kwargs["structured_outputs"] = sp.StructuredOutputsParams(grammar=grammar)
        try:
            return sp.SamplingParams(**kwargs)
        except (TypeError, ValueError) as exc:
            raise InvalidOptionError(f"invalid vLLM sampling option: {exc}") from exc

    def _prepare(self, item: BatchItem, options: Mapping[str, Any]) -> tuple[Any, Any, bool]:
        """``(prompt, sampling params, constrained)`` for one batch entry."""
        if isinstance(item, BackendCall):
            request, merged = item.request, {**options, **item.options}
        elif isinstance(item, CitationRequest):
            request, merged = item, dict(options)
        else:
            prompt, sources, policy, *rest = item
            merged = {**options, **(rest[0] if rest else {})}
            style = merged.pop("marker_style", MarkerStyle.BRACKET)
            request = CitationRequest.build(prompt, list(sources), policy, marker_style=style)
        merged = normalize_options(merged, self.option_checks)
        params = self._params(request.language, merged, "FINAL_ONLY")
        return self._prompt(request), params, merged.get("constrain", True) is not False

    # -- calls -------------------------------------------------------------------------

    def _complete(self, call: BackendCall) -> Reply:
        """The answer; its facts carry usage and the finish reason."""
        return self._batch([call], {})[0]

    def _choose(self, call: ChoiceCall) -> Choice:
        """The options' grammar as a structured output (see :mod:`.vllm_choice`)."""
        from citeformer.backends.vllm_choice import choose

        return choose(self, call)

    def generate_batch(self, items: Sequence[BatchItem], **options: Any) -> list[BackendText]:
        """Generate many answers in one vLLM batch, each under its own grammar.

        Args:
            items: :class:`~citeformer.backends.base.BackendCall` or
                :class:`CitationRequest` objects, or ``(prompt, sources, policy)``
                tuples with an optional fourth element of per-item options
                (``{"seed": 3}``) that override ``options``.
            **options: Call options shared by every item (see the class docstring),
                plus ``marker_style`` for tuple items.

        Returns:
            One :class:`BackendText` per item, in order, each with its own usage and
            finish reason. Texts are raw model output: run them through
            ``citeformer.markers.validate`` or ``Citeformer`` to get citations.
        """
        with backend_errors(self):
            return [reply.as_text() for reply in self._batch(items, options)]

    def complete_batch(self, calls: Sequence[BackendCall]) -> list[Reply]:
        """Complete prepared calls in one engine batch (``Citeformer.generate_batch``)."""
        return self._batch(calls, {})

    def _batch(self, items: Sequence[BatchItem], options: Mapping[str, Any]) -> list[Reply]:
        prepared = [self._prepare(item, options) for item in items]
        if not prepared:
            return []
        ids = self._driver.submit([p[0] for p in prepared], [p[1] for p in prepared])
        results: list[Reply] = []
        try:
            for rid, (_, _, constrained) in zip(ids, prepared, strict=True):
                out = self._driver.next(rid)
                results.append(
                    _finish(out, out.outputs[0].text, len(out.outputs[0].token_ids), constrained)
                )
        finally:
            self._driver.abort(ids[len(results) :])
        return results

    def _complete_stream(self, call: BackendCall) -> Iterator[Piece]:
        """Token deltas as vLLM produces them, then the call's facts.

        Closing the iterator early aborts the request in the engine.
        """
        params = self._params(call.request.language, call.options, "DELTA")
        constrained = call.options.get("constrain", True) is not False
        (rid,) = self._driver.submit([self._prompt(call.request)], [params])
        finished = False
        completion = 0
        try:
            while True:
                out = self._driver.next(rid)
                piece = out.outputs[0]
                completion += len(piece.token_ids)
                if out.finished:
                    finished = True
                    if piece.text:
                        yield piece.text
                    yield _finish(out, "", completion, constrained).info
                    return
                if piece.text:
                    yield piece.text
        finally:
            if not finished:
                self._driver.abort([rid])


def _finish(out: Any, text: str, completion_tokens: int, constrained: bool) -> Reply:
    """Wrap ``text`` with the usage and finish reason of a finished ``RequestOutput``."""
    reason = out.outputs[0].finish_reason
    if reason not in ("stop", "length"):
        raise BackendError(f"vLLM request ended with finish reason {reason!r}", provider="vllm")
    usage = TokenUsage(
        prompt_tokens=len(out.prompt_token_ids or ()),
        completion_tokens=completion_tokens,
        cached_tokens=out.num_cached_tokens or 0,
    )
    enforcement = None if constrained else Enforcement.VALIDATED
    return Reply(text, CallInfo(usage=usage, finish_reason=reason, enforcement=enforcement))
