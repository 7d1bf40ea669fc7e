"""ALCE's citation recall and precision, exactly, with scripted judges."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import pytest

from citeformer import Citeformer, GenerationResult, Source
from citeformer.backends.mock import MockBackend
from citeformer.core import Citation
from citeformer.errors import InvalidOptionError, SchemaVersionError
from citeformer.verify import (
    FunctionScorer,
    LexicalScorer,
    ScorerKind,
    VerificationReport,
    averify,
    verify,
)

SOURCES = [Source(f"Passage number {i} of the corpus.", {"title": f"Doc{i}"}) for i in (1, 2, 3)]


def answer(text: str, sources: list[Source] = SOURCES) -> GenerationResult:
    """A real result: the text through the orchestrator's validator."""
    return Citeformer(MockBackend(text)).generate("Question?", sources)


def scripted(rules: dict[str, list[set[int]]]) -> Callable[[str, str], float]:
    """A judge: ``claim`` is entailed when the premise holds one of its id sets."""

    def judge(premise: str, claim: str) -> float:
        present = {int(i) for i in re.findall(r"Title: Doc(\d)", premise)}
        for key, needs in rules.items():
            if claim.startswith(key):
                return 1.0 if any(need <= present for need in needs) else 0.0
        return 0.0

    return judge


WORKED = scripted(
    {
        "Alpha": [{1, 2}],  # S1: together, neither alone
        "Beta": [{1}],  # S2: [1] alone suffices
        "Gamma": [{3}],  # S3: uncited, but source 3 supports it
        "Delta": [],  # S4: never
    }
)
WORKED_TEXT = (
    "Alpha holds for both sources [1][2]. Beta holds for the first one [1][3]. "
    "Gamma concerns a passage of the corpus. Delta is cited but wrong [2]."
)


def test_the_worked_case_of_verify_md() -> None:
    report = verify(answer(WORKED_TEXT), WORKED)
    assert report.citation_recall == 0.5
    assert report.citation_precision == 0.6
    assert report.supported_rate == pytest.approx(2 / 3)
    assert [s.supported for s in report.sentences] == [True, True, False, False]
    assert [s.cited_ids for s in report.sentences] == [(1, 2), (1, 3), (), (2,)]
    got = [(c.sentence, c.source_id, c.precise, c.irrelevant) for c in report.citations]
    assert got == [
        (0, 1, True, False),
        (0, 2, True, False),
        (1, 1, True, False),
        (1, 3, False, True),
        (3, 2, False, False),
    ]
    (found,) = report.uncited
    assert (found.sentence, found.source_id) == (2, 3)
    assert found.evidence.text == SOURCES[2].content


def test_the_irrelevance_rule_with_three_citations() -> None:
    judge = scripted({"Alpha": [{1, 2}]})
    report = verify(answer("Alpha needs one and two together [1][2][3]."), judge)
    assert report.citation_recall == 1.0
    by_id = {c.source_id: c for c in report.citations}
    assert not by_id[1].irrelevant and not by_id[2].irrelevant  # the rest fails without them
    assert by_id[3].irrelevant and not by_id[3].precise  # fails alone; {1, 2} still entail
    assert report.citation_precision == pytest.approx(2 / 3)


def test_a_citation_that_supports_alone_is_precise_even_when_others_do_too() -> None:
    judge = scripted({"Alpha": [{1}, {2}]})
    report = verify(answer("Alpha is in either source [1][2]."), judge)
    assert [c.precise for c in report.citations] == [True, True]
    assert report.citation_precision == 1.0


def test_uncited_sentences_count_against_recall_and_precision_has_nothing_to_count() -> None:
    report = verify(answer("Alpha is asserted without a citation."), WORKED)
    assert report.citation_recall == 0.0
    assert report.citation_precision is None and report.supported_rate is None


def test_an_empty_answer_measures_nothing() -> None:
    report = verify(GenerationResult("", sources=tuple(SOURCES)), WORKED)
    assert report.citation_recall is None
    assert report.citation_precision is None
    assert report.sentences == () and report.citations == ()


def test_a_set_of_sources_supports_when_one_of_them_does() -> None:
    # A scorer that dilutes with length (cosine of a concatenation) must not undercount.
    def diluting(premise: str, claim: str) -> float:
        return 1.0 if premise.count("Title:") == 1 and "Doc1" in premise else 0.0

    report = verify(answer("Alpha is in source one [1][2]."), diluting)
    assert report.sentences[0].supported
    assert [c.precise for c in report.citations] == [True, False]
    assert report.citations[1].irrelevant


def test_at_most_three_citations_are_judged_and_the_rest_is_reported() -> None:
    sources = [*SOURCES, Source("Fourth passage.", {"title": "Doc4"})]
    report = verify(answer("Alpha needs one and two [1][2][3][4].", sources), WORKED)
    assert report.sentences[0].cited_ids == (1, 2, 3)
    assert len(report.citations) == 3
    (skip,) = [s for s in report.skipped if s.reason == "beyond_max_citations"]
    assert skip.sentence == 0
    everything = verify(answer("Alpha [1][2][3][4].", sources), WORKED, max_citations=None)
    assert len(everything.citations) == 4


def test_threshold_decides_support() -> None:
    result = answer("Alpha is here [1].")
    half = FunctionScorer(lambda p, c: 0.5)
    assert verify(result, half).citation_recall == 1.0  # score >= threshold
    assert verify(result, half, threshold=0.51).citation_recall == 0.0
    assert verify(result, half, threshold=0.51).scorer.threshold == 0.51


def test_evidence_is_the_best_window_with_offsets_in_the_source() -> None:
    filler = " ".join(f"Filler sentence {i} says nothing at all." for i in range(200))
    fact = "The tower is 330 metres tall."
    content = f"{filler} {fact} {filler}"
    source = Source(content, {"title": "Tower"})
    result = answer("The tower is 330 metres tall [1].", [source])
    report = verify(result, LexicalScorer())
    (verdict,) = report.citations
    assert verdict.supported
    evidence = verdict.evidence
    assert evidence is not None and fact in evidence.text
    assert content[evidence.start : evidence.end] == evidence.text
    assert len(evidence.text.split()) <= LexicalScorer().window_words  # windowed, not cut


def test_a_backends_cited_text_is_evidence_first() -> None:
    source = Source("Intro. The tower is 330 metres tall. Outro.", {"title": "Tower"})
    text = "It is 330 metres tall [1]."
    start = source.content.index("The tower")
    citation = Citation(
        1, text.index("[1]"), text.index("[1]") + 3, "[1]",
        cited_text="The tower is 330 metres tall.", source_start=start, source_end=start + 29,
    )  # fmt: skip
    result = GenerationResult(text, (citation,), sources=(source,))
    (verdict,) = verify(result, LexicalScorer()).citations
    assert verdict.evidence is not None
    assert (verdict.evidence.start, verdict.evidence.end) == (start, start + 29)


def test_coverage_skips_questions_headings_and_short_lines() -> None:
    text = "# Landmarks\nWhat is tall?\nIn summary:\nOk.\nPassage number 2 of the corpus."
    report = verify(answer(text), LexicalScorer())
    reasons = {s.sentence: s.reason for s in report.skipped}
    assert reasons == {0: "heading", 1: "question", 2: "meta", 3: "too_short"}
    (found,) = report.uncited
    assert found.sentence == 4 and found.source_id == 2
    assert verify(answer(text), LexicalScorer(), coverage=False).uncited == ()


def test_the_report_round_trips_through_json() -> None:
    report = verify(answer(WORKED_TEXT), WORKED)
    again = VerificationReport.from_json(report.to_json())
    assert again == report
    assert report.to_dict()["schema_version"] == VerificationReport.SCHEMA_VERSION
    with pytest.raises(SchemaVersionError):
        VerificationReport.from_dict({**report.to_dict(), "schema_version": 99})


def test_a_result_loaded_from_json_verifies_on_its_own() -> None:
    result = GenerationResult.from_json(answer(WORKED_TEXT).to_json())
    assert result.verify(WORKED).citation_precision == 0.6


def test_averify_gives_the_same_report() -> None:
    result = answer(WORKED_TEXT)
    assert asyncio.run(averify(result, WORKED)) == verify(result, WORKED)
    assert asyncio.run(result.averify(WORKED)) == result.verify(WORKED)


def test_the_report_names_the_scorer_and_says_when_no_entailment_model_was_used() -> None:
    report = verify(answer("Alpha [1]."))
    assert report.scorer.kind is ScorerKind.LEXICAL and report.scorer.name == "LexicalScorer"
    assert "No entailment model was used" in report.notes[0]
    custom = verify(answer("Alpha [1]."), WORKED)
    assert custom.scorer.kind is ScorerKind.CUSTOM and custom.scorer.name.endswith("judge")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scorer": 3}, "scorer must be"),
        ({"threshold": float("nan")}, "threshold"),
        ({"top_k": 0}, "top_k"),
        ({"max_citations": 0}, "max_citations"),
        ({"scorer": lambda p, c: "high"}, "returned 'high'"),
        ({"scorer": lambda p, c: float("inf")}, "finite"),
    ],
)
def test_bad_arguments_are_typed_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidOptionError, match=match):
        verify(answer("Alpha [1]."), **kwargs)  # type: ignore[arg-type]


def test_verify_takes_a_result() -> None:
    with pytest.raises(InvalidOptionError, match="GenerationResult"):
        verify("Alpha [1].")  # type: ignore[arg-type]


def test_format_prints_each_sentence_with_its_status() -> None:
    text = verify(answer(WORKED_TEXT), WORKED).format()
    assert "citation recall 0.50, citation precision 0.60" in text
    assert "[supported 1.00] Alpha" in text and "[not supported 0.00] Delta" in text
    assert "uncited, but source 3 supports it" in text
