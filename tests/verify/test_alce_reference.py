"""verify() against a direct transcription of ALCE's eval.py, on random answers.

The judge is monotone over sets of sources (a claim is entailed when the premise
holds all the ids of one of its support sets), as an entailment judge is, so ALCE's
rules can be computed on id sets and compared with what verify() reports.
"""

from __future__ import annotations

import asyncio
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from citeformer import Citeformer, Source
from citeformer.backends.mock import MockBackend
from citeformer.verify import averify, verify

N = 4
SOURCES = [Source(f"Passage {i}.", {"title": f"Doc{i}"}) for i in range(1, N + 1)]
_IDS = st.sets(st.integers(1, N), max_size=3)


def alce_reference(
    sentences: list[tuple[list[int], list[set[int]]]],
) -> tuple[float | None, float | None]:
    """ALCE's compute_autoais on id sets (at most 3 citations, each id once)."""

    def entails(ids: set[int], needs: list[set[int]]) -> bool:
        return any(need <= ids for need in needs)

    entail = entail_prec = total = 0
    for cited, needs in sentences:
        ref = list(dict.fromkeys(cited))[:3]
        joint = bool(ref) and entails(set(ref), needs)
        total += len(ref)
        entail += joint
        if joint and len(ref) > 1:
            for c in ref:
                if entails({c}, needs) or not entails(set(ref) - {c}, needs):
                    entail_prec += 1
        else:
            entail_prec += joint
    recall = entail / len(sentences) if sentences else None
    precision = entail_prec / total if total else None
    return recall, precision


@given(st.lists(st.tuples(st.lists(st.integers(1, N), max_size=4), st.lists(_IDS, max_size=2)),
                max_size=6))  # fmt: skip
@settings(max_examples=300, deadline=None)
def test_verify_computes_alces_scores(
    plan: list[tuple[list[int], list[set[int]]]],
) -> None:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    text = " ".join(
        f"Claim {words[i]} holds here{''.join(f' [{c}]' for c in cited)}."
        for i, (cited, _) in enumerate(plan)
    )
    needs_of = {words[i]: needs for i, (_, needs) in enumerate(plan)}

    def judge(premise: str, claim: str) -> float:
        present = {int(i) for i in re.findall(r"Title: Doc(\d)", premise)}
        key = claim.split()[1]
        return 1.0 if any(need <= present for need in needs_of[key]) else 0.0

    result = Citeformer(MockBackend(text)).generate("Q?", SOURCES)
    report = verify(result, judge, coverage=False)
    expected = alce_reference([(cited, needs) for cited, needs in plan])
    assert (report.citation_recall, report.citation_precision) == expected
    if plan and len(plan) <= 2:  # the async path is the same plan: spot-check it
        assert asyncio.run(averify(result, judge, coverage=False)) == report
