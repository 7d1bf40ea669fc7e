"""Run every benchmark in the main venv and print its tables (``make bench``).

``benchmarks/vllm_bench.py`` runs separately in ``.venv-vllm`` (``make bench`` runs
both). Pass section names to run only some: ``python benchmarks/run.py hf_speed``.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import (
    api_fanout,
    batch_jobs,
    cli_startup,
    core_overhead,
    csl_conformance,
    fabrication,
    grammar_build,
    hf_speed,
    langchain_overhead,
    llamacpp_speed,
    llamaindex_overhead,
    metadata_fetch,
    render_speed,
    stream_linearity,
    validator_speed,
    verify_scorers,
)

SECTIONS = {
    "core_overhead": core_overhead,
    "grammar_build": grammar_build,
    "hf_speed": hf_speed,
    "llamacpp_speed": llamacpp_speed,
    "fabrication": fabrication,
    "api_fanout": api_fanout,
    "batch_jobs": batch_jobs,
    "langchain_overhead": langchain_overhead,
    "llamaindex_overhead": llamaindex_overhead,
    "metadata_fetch": metadata_fetch,
    "cli_startup": cli_startup,
    "render_speed": render_speed,
    "csl_conformance": csl_conformance,
    "stream_linearity": stream_linearity,
    "validator_speed": validator_speed,
    "verify_scorers": verify_scorers,
}


def main() -> None:
    chosen = sys.argv[1:] or list(SECTIONS)
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        raise SystemExit(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    print(f"citeformer benchmarks — Python {platform.python_version()}, {platform.machine()}\n")
    for name in chosen:
        print(SECTIONS[name].run(), flush=True)


if __name__ == "__main__":
    main()
