"""HFBackend on the embedded SmolLM2: grammar cost per token, compile and load times."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from citeformer import Policy, Source
from citeformer.backends.base import Backend
from citeformer.grammar.language import citation_language

from ._timing import table

PROMPT = "Describe the Eiffel Tower and how it compares with other tall buildings."
SOURCES = [Source(f"Passage {i} about tall buildings and their history.") for i in range(1, 4)]
TOKENS = 64


def _decode_ms_per_token(backend: Backend, constrain: bool, repeats: int = 3) -> float:
    """(time for TOKENS new tokens - time for 1) / (TOKENS - 1): prefill cancels out."""

    def timed(n: int) -> float:
        start = time.perf_counter()
        backend.generate(PROMPT, SOURCES, Policy.AUTO, max_new_tokens=n, min_new_tokens=n,
                         temperature=0, constrain=constrain)  # fmt: skip
        return time.perf_counter() - start

    best_full = min(timed(TOKENS) for _ in range(repeats))
    best_one = min(timed(1) for _ in range(repeats))
    return (best_full - best_one) / (TOKENS - 1) * 1000


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


def run() -> str:
    from citeformer.backends.hf import HFBackend

    backend = HFBackend.default()
    _decode_ms_per_token(backend, True, repeats=1)  # warm up caches and kernels
    free = _decode_ms_per_token(backend, False)
    constrained = _decode_ms_per_token(backend, True)
    mask = _mask_us(backend)
    cold, first, again = _load_seconds()
    out = table(
        "HFBackend on SmolLM2-135M (CPU): decoding cost per token, same prompt and length",
        ["unconstrained ms/token", "grammar ms/token", "ratio", "mask fill + apply µs/token"],
        [[f"{free:.1f}", f"{constrained:.1f}", f"{constrained / free:.3f}x", f"{mask:.0f}"]],
    )
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
