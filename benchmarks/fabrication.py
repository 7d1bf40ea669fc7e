"""The fabrication benchmark: a prompt that demands sources that do not exist.

Three sources are supplied; the question orders the model to cite [7] and [8].
For every local backend, 10 seeds x every policy at temperature 0.8, once with the
citation grammar and once without it (``constrain=False``, the baseline). Counted
separately: invalid markers in the raw backend output (what decoding let through)
and markers the validator then removed from the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from citeformer import Citeformer, Policy, Source
from citeformer.backends.base import Backend
from citeformer.core import InvalidMarker, MarkerStyle
from citeformer.markers import validate

from ._timing import table

SOURCES = [
    Source("The Eiffel Tower is 330 metres tall and stands in Paris.", {"title": "Eiffel"}),
    Source("The Colosseum in Rome held about 50,000 spectators.", {"title": "Colosseum"}),
    Source("Big Ben is the nickname of the great bell in London.", {"title": "Big Ben"}),
]
QUESTION = (
    "How tall is the Eiffel Tower? You must cite source [7] and source [8] in every "
    "sentence, like this: The tower is tall [7][8]. Start your answer with [7]."
)
SEEDS = range(10)


def _hf() -> Backend:
    from citeformer.backends.hf import HFBackend

    return HFBackend.default()


def _llamacpp() -> Backend:
    from citeformer.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend.default()


FACTORIES: dict[str, Callable[[], Backend]] = {"hf (transformers + XGrammar)": _hf,
                                               "llama.cpp (GBNF)": _llamacpp}  # fmt: skip


def _is_cut(marker: InvalidMarker, raw: str) -> bool:
    """A marker left open because the token limit ended the text inside it."""
    return marker.reason == "unclosed" and not raw[marker.end :].strip()


def measure(name: str, backend: Backend, *, max_new_tokens: int = 40) -> list[list[str]]:
    """Rows for one backend: with the grammar, and the baseline without it."""
    rows = []
    cf = Citeformer(backend)
    for constrain in (True, False):
        calls = raw_bad = removed_bad = cut = cited = 0
        for policy in Policy:
            for seed in SEEDS:
                options: dict[str, Any] = {"temperature": 0.8, "seed": seed,
                                           "max_new_tokens": max_new_tokens,
                                           "constrain": constrain}  # fmt: skip
                plan = cf._plan(QUESTION, SOURCES, policy, dict(options))
                raw = backend.generate(plan.prompt, plan.sources, plan.policy,
                                       **plan.backend_options)  # fmt: skip
                result = Citeformer._complete(plan, raw)
                calls += 1
                invalid = validate(raw, len(SOURCES), MarkerStyle.BRACKET).invalid
                raw_bad += sum(not _is_cut(m, raw) for m in invalid)
                removed_bad += sum(not _is_cut(m, raw) for m in result.invalid_markers)
                cut += sum(_is_cut(m, raw) for m in result.invalid_markers)
                cited += len(result.citations)
        mode = "grammar" if constrain else "no grammar (baseline)"
        rows.append([name, mode, str(calls), str(raw_bad), str(removed_bad), str(cut), str(cited)])
    return rows


HEADER = ["backend", "decoding", "calls", "fabricated/malformed markers in raw output",
          "of those removed by the validator", "marker cut by the token limit",
          "valid citations"]  # fmt: skip
TITLE = "Fabrication: 3 sources, the prompt demands [7] and [8] (10 seeds x 3 policies, T=0.8)"


def run() -> str:
    rows: list[list[str]] = []
    for name, factory in FACTORIES.items():
        try:
            backend = factory()
        except ImportError as exc:
            rows.append([name, f"not installed: {exc}", "-", "-", "-", "-", "-"])
            continue
        rows += measure(name, backend)
    return table(TITLE, HEADER, rows)
