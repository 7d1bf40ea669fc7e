"""``--backend provider:model`` and ``--scorer`` specs, resolved lazily into objects.

Only the chosen provider's module is imported. Keys and base URLs come from each
SDK's own environment variables (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``...).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from citeformer.cli.exits import usage

if TYPE_CHECKING:
    from citeformer.backends.base import Backend
    from citeformer.verify.scorer import Scorer

# provider -> (module, class, what the part after ":" is)
_HOSTED: Final[dict[str, tuple[str, str]]] = {
    "openai": ("citeformer.backends.openai", "OpenAIBackend"),
    "anthropic": ("citeformer.backends.anthropic", "AnthropicBackend"),
    "gemini": ("citeformer.backends.gemini", "GeminiBackend"),
    "mistral": ("citeformer.backends.mistral", "MistralBackend"),
    "openrouter": ("citeformer.backends.openai", "OpenRouterBackend"),
    "together": ("citeformer.backends.openai", "TogetherBackend"),
    "fireworks": ("citeformer.backends.openai", "FireworksBackend"),
}
SERVER_KINDS: Final = ("vllm", "llama.cpp", "sglang")
BACKEND_SPECS: Final = "embedded, hf:PATH, llamacpp:PATH, vllm:MODEL, server:URL, " + ", ".join(
    f"{name}:MODEL" for name in _HOSTED
)
SCORER_SPECS: Final = "default, lexical, embedding, nli:MODEL, judge:BACKEND_SPEC"

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


def backend_from_spec(
    spec: str,
    *,
    server_kind: str | None = None,
    model: str | None = None,
    say: Say = _quiet,
) -> Backend:
    """The backend a ``provider:model`` spec names (imports only that provider).

    Args:
        spec: ``embedded``, ``hf:PATH``, ``llamacpp:PATH``, ``vllm:MODEL``,
            ``server:URL`` or ``<hosted provider>:MODEL``.
        server_kind: For ``server:URL``: ``vllm``, ``llama.cpp`` or ``sglang``.
        model: For ``server:URL``: the model name the server serves.
        say: Where progress lines go (model loading).

    Raises:
        CommandError: An unknown or incomplete spec (exit 2).
    """
    provider, _, rest = spec.strip().partition(":")
    provider = provider.lower()
    rest = rest.strip()
    if provider == "embedded":
        if rest:
            raise usage(f"'embedded' takes no model (got {spec!r}); use hf:PATH or llamacpp:PATH")
        return embedded_backend(say)
    if provider == "server":
        return _server(spec, rest, server_kind, model)
    if server_kind is not None:
        raise usage("--server-kind only applies to --backend server:URL")
    if not rest:
        raise usage(f"--backend {spec!r} names no model; write {provider or 'openai'}:MODEL")
    if provider in _HOSTED:
        module, name = _HOSTED[provider]
        cls = getattr(importlib.import_module(module), name)
        backend: Backend = cls(rest)
        return backend
    if provider == "hf":
        from citeformer.backends.hf import HFBackend

        say(f"citeformer: loading {rest} with transformers ...")
        return HFBackend(rest)
    if provider == "llamacpp":
        from citeformer.backends.llamacpp import LlamaCppBackend

        say(f"citeformer: loading {rest} with llama.cpp ...")
        return LlamaCppBackend(rest)
    if provider == "vllm":
        from citeformer.backends.vllm import VLLMBackend

        say(f"citeformer: starting vLLM's offline engine for {rest} ...")
        return VLLMBackend(rest)
    raise usage(f"unknown backend {spec!r}; use one of: {BACKEND_SPECS}")


def _server(spec: str, url: str, server_kind: str | None, model: str | None) -> Backend:
    if not url:
        raise usage(
            "--backend server:URL needs the server's API root, e.g. server:http://localhost:8000/v1"
        )
    if server_kind not in SERVER_KINDS:
        raise usage(
            f"--backend {spec} needs --server-kind {' | '.join(SERVER_KINDS)} (where the "
            "server reads the grammar)"
        )
    if not model:
        raise usage(f"--backend {spec} needs --model NAME (the model the server serves)")
    from citeformer.backends.openai import OpenAIBackend

    return OpenAIBackend.for_server(url, model, server=server_kind)  # type: ignore[arg-type]


def embedded_backend(say: Say = _quiet) -> Backend:
    """The shipped SmolLM2 on the fastest local runtime installed (llama.cpp, else transformers).

    Raises:
        MissingDependencyError: Neither runtime is installed (the message names the extras).
    """
    from citeformer.backends.embedded import smollm2_gguf

    smollm2_gguf()  # a clear error when the model package is missing
    if importlib.util.find_spec("llama_cpp") is not None:
        from citeformer.backends.llamacpp import LlamaCppBackend

        say("citeformer: loading the embedded SmolLM2-135M-Instruct with llama.cpp ...")
        return LlamaCppBackend.default(n_ctx=4096)
    if importlib.util.find_spec("transformers") is not None:
        from citeformer.backends.hf import HFBackend

        say("citeformer: loading the embedded SmolLM2-135M-Instruct with transformers ...")
        return HFBackend.default()
    from citeformer.errors import MissingDependencyError

    raise MissingDependencyError("the embedded model", "llamacpp", package="llama-cpp-python")


def scorer_from_spec(spec: str | None, *, say: Say = _quiet) -> Scorer:
    """The verification scorer a spec names (``default`` or None: the default scorer).

    Raises:
        CommandError: An unknown spec (exit 2).
    """
    name, _, rest = (spec or "default").strip().partition(":")
    name = name.lower()
    rest = rest.strip()
    if name == "default" and not rest:
        from citeformer.verify import default_scorer

        return default_scorer()
    if name == "lexical" and not rest:
        from citeformer.verify import LexicalScorer

        return LexicalScorer()
    if name == "embedding":
        from citeformer.verify.embedding import EmbeddingScorer

        say("citeformer: loading the embedding model ...")
        return EmbeddingScorer(rest or None)
    if name == "nli" and rest:
        from citeformer.verify.nli import NLIScorer

        say(f"citeformer: loading the NLI model {rest} ...")
        return NLIScorer(rest)
    if name == "judge" and rest:
        from citeformer.verify.judge import JudgeScorer

        return JudgeScorer(backend_from_spec(rest, say=say))
    raise usage(f"unknown scorer {spec!r}; use one of: {SCORER_SPECS}")


def stderr_say(message: str) -> None:
    """Print a progress line on stderr."""
    print(message, file=sys.stderr, flush=True)
