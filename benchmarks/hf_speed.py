"""HFBackend on the embedded SmolLM2: grammar cost per token, compile and load times."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from citeformer import Policy, Source
from citeformer.backends.base import Backend, call_info
from citeformer.grammar.language import citation_language

from ._timing import table

PROMPT = "Describe the Eiffel Tower and how it compares with other tall buildings."
SOURCES = [Source(f"Passage {i} about tall buildings and their history.") for i in range(1, 4)]
TOKENS = 64


RAG_QUESTIONS = [
    "Who built the Eiffel Tower, and when was it completed?",
    "How tall is the Eiffel Tower?",
    "What was the Eiffel Tower built for?",
]
RAG_TOKENS = 200


def _greedy_tokens(backend: Backend, **options: Any) -> str:
    return str(backend.generate(PROMPT, SOURCES, Policy.AUTO, max_new_tokens=TOKENS,
                                temperature=0, **options))  # fmt: skip


def _decode_ms_per_token(
    backend: Backend, constrain: bool, repeats: int = 3, **options: Any
) -> float:
    """(time for TOKENS new tokens - time for 1) / (TOKENS - 1): prefill cancels out."""

    def timed(n: int) -> float:
        start = time.perf_counter()
        backend.generate(PROMPT, SOURCES, Policy.AUTO, max_new_tokens=n, min_new_tokens=n,
                         temperature=0, constrain=constrain, **options)  # fmt: skip
        return time.perf_counter() - start

    best_full = min(timed(TOKENS) for _ in range(repeats))
    best_one = min(timed(1) for _ in range(repeats))
    return (best_full - best_one) / (TOKENS - 1) * 1000


def _rag_sources() -> list[Source]:
    root = Path(__file__).resolve().parent.parent
    data = json.loads((root / "examples" / "sources.json").read_text(encoding="utf-8"))
    return [Source(item["content"], item["metadata"]) for item in data]


def _rag_rows(variants: list[tuple[str, Backend, dict[str, Any]]]) -> list[list[str]]:
    """Whole cited answers to the quickstart's sources: where drafts from the prompt pay.

    Per question and variant: the call's wall time (prefill included) over the tokens
    it produced, best of two, and whether the text is the first variant's.
    """
    sources = _rag_sources()
    rows = []
    for question in RAG_QUESTIONS:
        answers: list[str] = []
        times: list[float] = []
        tokens = 0
        for _label, backend, options in variants:
            best = float("inf")
            for _ in range(2):
                start = time.perf_counter()
                reply = backend.generate(question, sources, Policy.REQUIRED, temperature=0,
                                         max_new_tokens=RAG_TOKENS, **options)  # fmt: skip
                best = min(best, time.perf_counter() - start)
            answers.append(str(reply))
            times.append(best)
            tokens = call_info(reply).usage.completion_tokens
        cells = [f"{t / tokens * 1000:.1f}" for t in times]
        ratios = [f"{times[0] / t:.2f}x" for t in times[1:]]
        same = "yes" if len(set(answers)) == 1 else "no"
        rows.append([question, str(tokens), *cells, *ratios, same])
    return rows


def _mask_us(backend: Backend) -> float:
    """The grammar's own work per token: fill the bitmask and apply it to one logits row."""
    import torch
    import xgrammar as xgr

    from citeformer.backends.hf import HFBackend

    assert isinstance(backend, HFBackend)
    compiled = backend.compiled_grammar(citation_language(3, Policy.REQUIRED))
    matcher = xgr.GrammarMatcher(compiled)
    matcher.accept_string("The tower is tall [1]. It stands in Paris")
    bitmask = xgr.allocate_token_bitmask(1, compiled.tokenizer_info.vocab_size)
    logits = torch.randn(1, compiled.tokenizer_info.vocab_size)
    runs = 200
    start = time.perf_counter()
    for _ in range(runs):
        matcher.fill_next_token_bitmask(bitmask)
        xgr.apply_token_bitmask_inplace(logits, bitmask)
    return (time.perf_counter() - start) / runs * 1e6


def _compile_rows(backend: Backend) -> list[list[str]]:
    import xgrammar as xgr

    from citeformer.backends.hf import HFBackend
    from citeformer.grammar.notation import to_ebnf

    assert isinstance(backend, HFBackend)
    rows = []
    for n in (10, 100, 1000):
        language = citation_language(n, Policy.REQUIRED)
        fresh = xgr.GrammarCompiler(backend._info, max_threads=2, cache_enabled=False)
        start = time.perf_counter()
        fresh.compile_grammar(to_ebnf(language), root_rule_name="root")
        first = (time.perf_counter() - start) * 1000
        backend.compiled_grammar(language)
        start = time.perf_counter()
        for _ in range(1000):
            backend.compiled_grammar(language)
        cached = (time.perf_counter() - start) / 1000 * 1e6
        rows.append([f"{n:,}", f"{first:.1f} ms", f"{cached:.1f} µs"])
    return rows


def _load_seconds() -> tuple[float, float, float]:
    """Load times of ``HFBackend.default()``, each in a fresh process with a fresh cache.

    Returns the first load with no converted folder (converts the GGUF), the first
    load once the folder exists (fresh process: includes transformers' lazy imports of
    the model classes), and a second load in that process (the load work alone).
    """
    code = (
        "import time, torch, transformers, xgrammar; "
        "from citeformer.backends.hf import HFBackend; "
        "t=time.perf_counter(); HFBackend.default(); a=time.perf_counter()-t; "
        "t=time.perf_counter(); HFBackend.default(); b=time.perf_counter()-t; print(a, b)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "CITEFORMER_CACHE": cache}
        root = Path(__file__).resolve().parent.parent
        runs = [
            subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True,
                           text=True, check=True).stdout.strip().splitlines()[-1].split()
            for _ in range(2)
        ]  # fmt: skip
    return float(runs[0][0]), float(runs[1][0]), float(runs[1][1])


def _resident_mb() -> list[list[str]]:
    """Resident memory of a fresh process around ``HFBackend.default()``, per dtype.

    The weights are memory-mapped: they become resident as the first call reads them,
    so the steady figure is taken after one short call.
    """
    code = (
        "import sys, resource, torch; from citeformer import Policy, Source; "
        "from citeformer.backends.hf import HFBackend; "
        "rss = lambda: int(open('/proc/self/statm').read().split()[1]) * 4096 >> 20; "
        "before = rss(); kw = {'dtype': getattr(torch, sys.argv[1])}; "
        "b = HFBackend.default(model_kwargs=kw); loaded = rss(); "
        "b.generate('Hi', [Source('x')], Policy.AUTO, max_tokens=4, temperature=0); "
        "print(before, loaded, rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10)"
    )
    root = Path(__file__).resolve().parent.parent
    rows = []
    for dtype in ("float32", "float16"):
        out = subprocess.run([sys.executable, "-c", code, dtype], cwd=root, capture_output=True,
                             text=True, check=True).stdout.split()  # fmt: skip
        before, loaded, steady, peak = (int(value) for value in out[-4:])
        rows.append([dtype, f"{before:,} MB", f"{loaded:,} MB", f"{steady:,} MB",
                     f"{steady - before:,} MB", f"{peak:,} MB"])  # fmt: skip
    return rows


def run() -> str:
    import torch

    from citeformer.backends.embedded import quiet_transformers, smollm2_hf_dir
    from citeformer.backends.hf import HFBackend

    backend = HFBackend.default()
    with quiet_transformers():
        plain = HFBackend(smollm2_hf_dir(), split_matmuls=False)
        half = HFBackend.default(model_kwargs={"dtype": torch.float16})
    off = {"draft_tokens": 0}
    variants: list[tuple[str, Backend, dict[str, Any]]] = [
        ("fp32, plain F.linear (before)", plain, off),
        ("fp32, split matmuls", backend, off),
        ("fp32, split matmuls + prompt drafts (default)", backend, {}),
        ("fp16, split matmuls + drafts (opt-in dtype)", half, {}),
    ]
    reference = _greedy_tokens(plain, **off)
    rows, speeds = [], []
    for label, candidate, options in variants:
        _decode_ms_per_token(candidate, True, repeats=1, **options)  # warm up caches, kernels
        free = _decode_ms_per_token(candidate, False, **options)
        constrained = _decode_ms_per_token(candidate, True, **options)
        speeds.append(constrained)
        same = "yes" if _greedy_tokens(candidate, **options) == reference else "no"
        rows.append([label, f"{free:.1f}", f"{constrained:.1f}", f"{constrained / free:.3f}x",
                     f"{constrained / speeds[0]:.2f}x", same])  # fmt: skip
    mask = _mask_us(backend)
    cold, first, again = _load_seconds()
    out = table(
        "HFBackend on SmolLM2-135M (CPU): decoding cost per token, same prompt and length",
        ["model", "unconstrained ms/token", "grammar ms/token", "grammar / unconstrained",
         "vs before", "same greedy answer as before"],
        rows,
    )  # fmt: skip
    out += f"\nXGrammar mask fill + apply: {mask:.0f} µs/token.\n"
    out += "\n" + table(
        f"Cited answers on examples/sources.json (REQUIRED, grammar on, up to {RAG_TOKENS} "
        "tokens): wall ms per produced token, prefill included, best of 2",
        ["question", "tokens", "plain", "split", "split + drafts", "split vs plain",
         "drafts vs plain", "same answer"],
        _rag_rows(variants[:3]),
    )  # fmt: skip
    out += "\n" + table(
        "Embedded model memory: RSS of a fresh process (torch, transformers imported first)",
        ["dtype", "before", "after HFBackend.default()", "after the first call",
         "the backend's share", "peak"],
        _resident_mb(),
    )  # fmt: skip
    out += "\n" + table(
        "XGrammar compile on the SmolLM2 tokenizer (REQUIRED policy)",
        ["N", "first compile", "cached lookup"],
        _compile_rows(backend),
    )
    out += "\n" + table(
        "Embedded model load: HFBackend.default() (torch/transformers imported beforehand)",
        ["no cache: convert the GGUF once", "cached folder, fresh process",
         "cached folder, loaded again"],
        [[f"{cold:.1f} s", f"{first:.2f} s", f"{again:.2f} s"]],
    )  # fmt: skip
    return out
