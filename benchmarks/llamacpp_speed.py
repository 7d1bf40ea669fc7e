"""llama.cpp decoding speed with and without the citation grammar (SmolLM2 on CPU).

Decoding cost per token is timed from the first streamed chunk to the end of the
stream, so prompt evaluation is left out; every run is forced to the same length by
a ``-inf`` logit bias on the end-of-generation token. The three variants run
interleaved and each reports its best run. "llama-cpp-python grammar=" is the
runtime's own full-vocabulary grammar mask, shown for reference.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from citeformer.backends.base import CitationRequest, call_info
from citeformer.backends.llamacpp import LlamaCppBackend
from citeformer.core import Policy, Source
from citeformer.grammar import language as language_module
from citeformer.grammar import numbers, render
from citeformer.grammar.language import citation_language
from citeformer.grammar.notation import to_gbnf

from ._timing import per_call_us, table

NEW_TOKENS = 64
REPEATS = 5
QUESTION = "How tall is the Eiffel Tower, and how many people did the Colosseum hold?"
SOURCES = [
    Source("The Eiffel Tower is 330 metres tall and stands in Paris.", {"title": "Eiffel Tower"}),
    Source("The Colosseum in Rome held about 50,000 spectators.", {"title": "Colosseum"}),
    Source("Big Ben is the nickname of the bell in the Elizabeth Tower.", {"title": "Big Ben"}),
]


def fabrication_factory() -> LlamaCppBackend:
    """A ready backend on the embedded SmolLM2 model, for the fabrication benchmark."""
    return LlamaCppBackend.default()


def _timed(chunks: Iterable[Any]) -> tuple[float, Any]:
    """Milliseconds per token after the first one, and the last chunk."""
    first = end = 0.0
    last = None
    for chunk in chunks:
        end = time.perf_counter()
        first = first or end
        last = chunk
    return (end - first) * 1000 / (NEW_TOKENS - 1), last


def _speed_rows(backend: LlamaCppBackend) -> list[list[str]]:
    from llama_cpp import LlamaGrammar

    llama = backend.llama
    no_eos = {llama.token_eos(): float("-inf")}
    rows = []
    for policy in (Policy.AUTO, Policy.REQUIRED):
        request = CitationRequest.build(QUESTION, SOURCES, policy)
        grammar = LlamaGrammar.from_string(to_gbnf(request.language), verbose=False)

        def ours(constrain: bool, policy: Policy = policy) -> float:
            ms, last = _timed(
                backend.stream(
                    QUESTION,
                    SOURCES,
                    policy,
                    constrain=constrain,
                    temperature=0,
                    max_new_tokens=NEW_TOKENS,
                    logit_bias=no_eos,
                )
            )
            usage = call_info(last).usage
            if usage is None or usage.completion_tokens != NEW_TOKENS:
                raise RuntimeError(f"expected {NEW_TOKENS} forced tokens, got {usage}")
            return ms

        def runtime(request: CitationRequest = request, grammar: Any = grammar) -> float:
            ms, _ = _timed(
                llama.create_chat_completion(
                    messages=list(request.messages),
                    grammar=grammar,
                    temperature=0,
                    max_tokens=NEW_TOKENS,
                    logit_bias=no_eos,
                    stream=True,
                )
            )
            return ms

        free, masked, full = [], [], []
        for _ in range(REPEATS):
            free.append(ours(False))
            masked.append(ours(True))
            full.append(runtime())
        base = min(free)
        rows.append(
            [
                policy.value,
                f"{base:.1f}",
                f"{min(masked):.1f}",
                f"{min(masked) / base:.2f}x",
                f"{min(full):.1f}",
                f"{min(full) / base:.2f}x",
            ]
        )
    return rows


def _clear_grammar_caches() -> None:
    language_module._build.cache_clear()
    numbers.range_patterns.cache_clear()
    render.to_ebnf.cache_clear()
    render.to_gbnf.cache_clear()


def _compile_rows(backend: LlamaCppBackend) -> list[list[str]]:
    import llama_cpp
    from llama_cpp import LlamaGrammar

    vocab = llama_cpp.llama_model_get_vocab(backend.llama.model)

    def parse(gbnf: bytes) -> None:
        sampler = llama_cpp.llama_sampler_init_grammar(vocab, gbnf, b"root")
        assert sampler
        llama_cpp.llama_sampler_free(sampler)

    rows = []
    for policy in (Policy.AUTO, Policy.REQUIRED):
        for n in (10, 100, 1000):
            firsts = []
            for _ in range(5):
                _clear_grammar_caches()
                start = time.perf_counter_ns()
                gbnf = to_gbnf(citation_language(n, policy))
                firsts.append((time.perf_counter_ns() - start) / 1e6)
            encoded = gbnf.encode()
            cached = per_call_us(lambda n=n, p=policy: to_gbnf(citation_language(n, p)), calls=2000)
            wrap = per_call_us(
                lambda g=gbnf: LlamaGrammar.from_string(g, verbose=False), calls=2000
            )
            parsed = per_call_us(lambda g=encoded: parse(g), calls=200)
            rows.append(
                [
                    policy.value,
                    f"{n:,}",
                    f"{len(gbnf):,}",
                    f"{sorted(firsts)[2]:.2f}",
                    f"{cached:.2f}",
                    f"{wrap:.2f}",
                    f"{parsed:.1f}",
                ]
            )
    return rows


def run() -> str:
    backend = LlamaCppBackend.default()
    threads = backend.llama.context_params.n_threads
    speed = table(
        f"llama.cpp ms/token, SmolLM2-135M Q4_1, {threads} thread(s), {NEW_TOKENS} forced "
        f"tokens, temperature 0, best of {REPEATS}",
        [
            "policy",
            "unconstrained",
            "citeformer grammar",
            "ratio",
            "llama-cpp-python grammar=",
            "ratio",
        ],
        _speed_rows(backend),
    )
    compile_ = table(
        "GBNF grammar build: render (first, cached), LlamaGrammar, llama.cpp parse per call",
        [
            "policy",
            "N",
            "GBNF chars",
            "render first ms",
            "render cached µs",
            "LlamaGrammar.from_string µs",
            "llama.cpp parse µs (every call)",
        ],
        _compile_rows(backend),
    )
    backend.close()
    return speed + "\n" + compile_


if __name__ == "__main__":
    print(run())
