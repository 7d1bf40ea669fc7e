"""Validator and stream parser throughput on a 1 MB answer with 50,000 markers.

The text mixes valid markers, groups, out-of-range ids, malformed candidates and
prose lookalikes (``(50%)``-style brackets, ``[x]``), the work every backend path
does after the model. Both paths run on the same text in the same run: ``validate``
(one pass over the whole text) and ``MarkerParser`` fed 64-character chunks, as a
stream would be.
"""

from __future__ import annotations

import random
import time

from citeformer.core import MarkerStyle
from citeformer.markers import MarkerParser, validate

from ._timing import table

N_SOURCES = 100
MARKERS = 50_000
TARGET_CHARS = 1_000_000


def _text(seed: int = 0) -> str:
    rng = random.Random(seed)
    pieces = ["[1]", "[2, 3]", "[100]", "[101]", "[0]", "[3, 1]", "[1a]", "[x]", "[1, 2, 4]"]
    words = ["alpha", "beta", "gamma", "delta.", "epsilon,", "(see below)", "3.5"]
    parts: list[str] = []
    size = 0
    for _ in range(MARKERS):
        filler = " ".join(rng.choice(words) for _ in range(2))
        part = f"{filler} {rng.choice(pieces)}"
        parts.append(part)
        size += len(part) + 1
    text = " ".join(parts)
    pad = max(0, TARGET_CHARS - len(text))
    return text + " " + "x" * pad


def _best(fn: object, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best


def run() -> str:
    text = _text()
    style = MarkerStyle.BRACKET

    def whole() -> None:
        validate(text, N_SOURCES, style)

    def streamed() -> None:
        parser = MarkerParser(N_SOURCES, style)
        for k in range(0, len(text), 64):
            parser.feed(text[k : k + 64])
        parser.flush()

    rows = []
    mb = len(text) / 1e6
    for name, fn in (("validate (whole text)", whole), ("MarkerParser, 64-char chunks", streamed)):
        seconds = _best(fn)
        ms, rate = f"{seconds * 1000:.0f}", f"{mb / seconds:.1f}"
        rows.append([name, f"{mb:.2f}", f"{MARKERS:,}", ms, rate])
    return table(
        f"Validator and stream parser, {mb:.1f} MB answer with {MARKERS:,} marker candidates "
        f"(N={N_SOURCES}, best of 3)",
        ["path", "MB", "candidates", "ms", "MB/s"],
        rows,
    )
