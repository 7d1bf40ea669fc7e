"""Streaming cost against answer size: it should double when the answer doubles.

Two stream decoders, each fed the way a slow model writes: a JSON segment document
(the schema tier) in 4-character deltas through ``SegmentDecoder``, and a run of
spaces one character at a time through ``MarkerParser`` (spaces are held back until
the next word, the parser's longest hold). A ratio near 2 per doubling is linear;
near 4 is quadratic.

The documents are answers of ~70-character sentences, each its own segment; then
one segment holding the whole answer, and (``QUOTES_ONLY``) one segment whose quote
holds it. A long open segment is where a decoder goes quadratic if it re-reads (or
copies) the open string per delta; ``SegmentDecoder`` hands the writer the pieces
that arrived, and joins each string once, when it ends.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from citeformer.backends._api.json_segments import SegmentDecoder
from citeformer.core import MarkerStyle, Policy
from citeformer.grammar.language import citation_language
from citeformer.markers import MarkerParser

from ._timing import table

DOCUMENT_KB = (12, 24, 48, 96, 192)
SPACE_RUNS = (5_000, 10_000, 20_000, 40_000)
DELTA = 4


def _document(size: int) -> str:
    """A segment document of about ``size`` characters: sentences, ids, escapes."""
    segments: list[dict[str, object]] = []
    length = 0
    i = 0
    while length < size:
        text = f'Claim {i} holds \u00e9 in "this" setting, as the passage [{i % 9}] explains.'
        segment = {"text": text, "citations": [i % 3 + 1]}
        segments.append(segment)
        length += len(json.dumps(segment)) + 2
        i += 1
    return json.dumps({"segments": segments}, ensure_ascii=True)


def _one_segment(size: int) -> str:
    """A document whose single segment holds ``size`` characters of prose."""
    words = 'Claim holds \u00e9 in "this" setting, '
    text = words * (size // len(words) + 1)
    return json.dumps({"segments": [{"text": text[:size], "citations": [1]}]})


def _one_quote(size: int) -> str:
    """A ``QUOTES_ONLY`` document whose single segment quotes ``size`` characters."""
    quote = json.loads(_one_segment(size))["segments"][0]["text"]
    return json.dumps({"segments": [{"text": "It says", "quote": quote, "citations": [1]}]})


def _best(fn: Callable[[], object], repeats: int = 5) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return min(samples)


def _decode(document: str, policy: Policy = Policy.AUTO) -> None:
    decoder = SegmentDecoder(citation_language(3, policy), "bench")
    for at in range(0, len(document), DELTA):
        decoder.feed(document[at : at + DELTA])
    decoder.finish()


def _time_decode(document: str, policy: Policy = Policy.AUTO) -> float:
    return _best(lambda: _decode(document, policy))


def _spaces(count: int) -> None:
    parser = MarkerParser(3, MarkerStyle.BRACKET)
    for _ in range(count):
        parser.feed(" ")
    parser.flush()


def _rows(
    sizes: tuple[int, ...], label: Callable[[int], str], time_one: Callable[[int], float]
) -> list[list[str]]:
    rows = []
    previous = 0.0
    for size in sizes:
        seconds = time_one(size)
        ratio = f"{seconds / previous:.2f}" if previous else "—"
        rows.append([label(size), f"{seconds:.4f}", ratio])
        previous = seconds
    return rows


def run() -> str:
    documents = _rows(
        DOCUMENT_KB,
        lambda kb: f"{kb} kB",
        lambda kb: _time_decode(_document(kb * 1000)),
    )
    one = _rows(
        DOCUMENT_KB,
        lambda kb: f"{kb} kB",
        lambda kb: _time_decode(_one_segment(kb * 1000)),
    )
    quote = _rows(
        DOCUMENT_KB,
        lambda kb: f"{kb} kB",
        lambda kb: _time_decode(_one_quote(kb * 1000), Policy.QUOTES_ONLY),
    )
    spaces = _rows(SPACE_RUNS, lambda n: f"{n:,} spaces", lambda n: _best(lambda: _spaces(n)))
    return (
        table(
            f"SegmentDecoder: a JSON segment document in {DELTA}-character deltas",
            ["document", "seconds", "ratio to previous"],
            documents,
        )
        + "\n"
        + table(
            f"SegmentDecoder: one segment of that size, in {DELTA}-character deltas",
            ["document", "seconds", "ratio to previous"],
            one,
        )
        + "\n"
        + table(
            f"SegmentDecoder (QUOTES_ONLY): one quote of that size, in {DELTA}-character deltas",
            ["document", "seconds", "ratio to previous"],
            quote,
        )
        + "\n"
        + table(
            "MarkerParser(3, BRACKET): a run of spaces, one character at a time, then flush()",
            ["input", "seconds", "ratio to previous"],
            spaces,
        )
    )


if __name__ == "__main__":
    print(run())
