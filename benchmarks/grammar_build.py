"""Citation-language build and rendering time: first build vs cached lookup."""

from __future__ import annotations

import time

from citeformer.core import MarkerStyle, Policy
from citeformer.grammar import language as language_module
from citeformer.grammar import numbers, render
from citeformer.grammar.language import citation_language
from citeformer.grammar.notation import to_ebnf, to_lark

from ._timing import per_call_us, table


def _clear() -> None:
    language_module._build.cache_clear()
    numbers.range_patterns.cache_clear()
    render.to_ebnf.cache_clear()
    render.to_lark.cache_clear()


def _first_ms(n: int, policy: Policy) -> tuple[float, float]:
    samples_build, samples_all = [], []
    for _ in range(5):
        _clear()
        start = time.perf_counter_ns()
        lang = citation_language(n, policy, MarkerStyle.BRACKET)
        built = time.perf_counter_ns()
        to_ebnf(lang)
        to_lark(lang)
        done = time.perf_counter_ns()
        samples_build.append((built - start) / 1e6)
        samples_all.append((done - start) / 1e6)
    return sorted(samples_build)[2], sorted(samples_all)[2]


def run() -> str:
    rows = []
    for n in (10, 1000, 10_000):
        for policy in (Policy.AUTO, Policy.REQUIRED):
            build_ms, all_ms = _first_ms(n, policy)
            cached = per_call_us(
                lambda n=n, policy=policy: to_ebnf(
                    citation_language(n, policy, MarkerStyle.BRACKET)
                ),
                calls=20_000,
            )
            rows.append(
                [f"{n:,}", policy.value, f"{build_ms:.2f}", f"{all_ms:.2f}", f"{cached:.2f}"]
            )
    return table(
        "Citation grammar: first build vs cached lookup",
        ["N", "policy", "first build ms", "build + EBNF + Lark ms", "cached lookup µs"],
        rows,
    )
