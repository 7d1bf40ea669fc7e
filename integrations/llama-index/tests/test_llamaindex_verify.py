"""``verify=`` inside real LlamaIndex query engines: the report in ``Response.metadata``."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.base.response.schema import (
    AsyncStreamingResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.response_synthesizers.citeformer import (
    CitationVerificationEvent,
    CiteformerSynthesizer,
    citation_query_engine,
    citations,
    generation_result,
    stream_events,
    verification_report,
)

from citeformer import Completed, InvalidOptionError
from citeformer.verify import LexicalScorer, Scorer, ScorerKind, VerificationReport

QUESTION = "Who built the Eiffel Tower, and where does the Rhine flow?"


def judge(premise: str, claim: str) -> float:
    """A scripted scorer: the Eiffel claim holds where the premise names its builder;
    the Rhine claim never holds; nothing else does."""
    if claim.startswith("The Eiffel Tower"):
        return 1.0 if "Gustave Eiffel" in premise else 0.0
    return 0.0


def engine(index: VectorStoreIndex, backend: Any, **kwargs: Any) -> RetrieverQueryEngine:
    """A RetrieverQueryEngine over the index with the synthesizer."""
    synthesizer = CiteformerSynthesizer(backend, **kwargs)
    return RetrieverQueryEngine(index.as_retriever(similarity_top_k=4), synthesizer)


def _check_report(response: Any) -> VerificationReport:
    """The scripted verdicts: the Eiffel sentence holds, the Rhine one does not, and the
    last sentence lost its invalid marker (uncited: it counts against recall)."""
    report = verification_report(response)
    assert isinstance(report, VerificationReport)
    assert response.metadata["verification"] is report
    assert report.citation_recall == pytest.approx(1 / 3)
    assert report.citation_precision == 0.5
    assert report.supported_rate == 0.5
    assert [s.status for s in report.sentences] == ["supported", "not supported", "uncited"]
    by_node = {c.node_id: c.source_id for c in citations(response)}
    verdicts = {c.source_id: (c.supported, c.score) for c in report.citations}
    assert verdicts == {by_node["eiffel"]: (True, 1.0), by_node["rhine"]: (False, 0.0)}
    assert report.scorer.kind is ScorerKind.CUSTOM
    assert report.scorer.name == "judge"
    return report


@pytest.fixture(autouse=True)
def _lexical_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """``verify=True`` resolves to LexicalScorer: no NLI model configured."""
    monkeypatch.delenv("CITEFORMER_NLI_MODEL", raising=False)


def test_query_puts_the_report_in_the_metadata(index: VectorStoreIndex, make_backend: Any) -> None:
    """Query puts the report in the metadata."""
    response = engine(index, make_backend(), verify=judge).query(QUESTION)
    assert type(response) is Response
    report = _check_report(response)
    # The rest of the metadata is what an unverified query gives.
    plain = engine(index, make_backend()).query(QUESTION)
    assert {k: v for k, v in response.metadata.items() if k != "verification"} == plain.metadata
    assert response.response == plain.response
    # The report is the one verify() gives for the stored result.
    result = generation_result(response)
    assert result is not None
    assert result.verify(judge) == report
    assert VerificationReport.from_dict(report.to_dict()) == report


async def test_aquery_awaits_averify_on_the_event_loop(
    index: VectorStoreIndex, make_backend: Any
) -> None:
    """Aquery awaits averify on the event loop."""

    class AsyncOnly(Scorer):
        """Scores only on the async path; the sync path would fail the test."""

        def __init__(self) -> None:
            self.threads: set[int] = set()

        def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
            raise AssertionError("aquery must use averify")

        async def ascore_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
            self.threads.add(threading.get_ident())
            return [judge(premise, claim) for premise, claim in pairs]

        @property
        def name(self) -> str:
            return "judge"

    scorer = AsyncOnly()
    response = await engine(index, make_backend(), verify=scorer).aquery(QUESTION)
    assert type(response) is Response
    _check_report(response)
    assert scorer.threads == {threading.get_ident()}


def test_verify_true_uses_the_default_scorer(index: VectorStoreIndex, make_backend: Any) -> None:
    """Verify true uses the default scorer."""
    response = citation_query_engine(index, make_backend(), verify=True, similarity_top_k=4).query(
        QUESTION
    )
    report = verification_report(response)
    assert report is not None
    assert report.scorer.kind is ScorerKind.LEXICAL
    # Both cited sentences quote their node's first sentence.
    assert [s.status for s in report.sentences] == ["supported", "supported", "uncited"]
    result = generation_result(response)
    assert result is not None and result.verify(LexicalScorer()) == report


@pytest.mark.parametrize("chunk_size", [1, 5])
def test_sync_stream_verifies_when_it_ends(
    index: VectorStoreIndex, make_backend: Any, chunk_size: int
) -> None:
    """Sync stream verifies when it ends."""
    whole = engine(index, make_backend(), verify=judge).query(QUESTION)
    response = engine(
        index, make_backend(chunk_size=chunk_size), streaming=True, verify=judge
    ).query(QUESTION)
    assert type(response) is StreamingResponse
    assert response.metadata["verification"] is None  # filled when the stream ends
    assert verification_report(response) is None
    assert "".join(response.response_gen) == whole.response
    assert _check_report(response) == verification_report(whole)


async def test_async_stream_verifies_when_it_ends(
    index: VectorStoreIndex, make_backend: Any
) -> None:
    """Async stream verifies when it ends, with averify."""
    whole = await engine(index, make_backend(), verify=judge).aquery(QUESTION)
    response = await engine(index, make_backend(), streaming=True, verify=judge).aquery(QUESTION)
    assert type(response) is AsyncStreamingResponse
    assert response.metadata["verification"] is None
    tokens = [t async for t in response.async_response_gen()]
    assert "".join(tokens) == whole.response
    assert _check_report(response) == verification_report(whole)


def test_stream_events_see_the_report_at_completed(
    index: VectorStoreIndex, make_backend: Any
) -> None:
    """By the time ``Completed`` arrives, the report is in the metadata."""
    response = engine(index, make_backend(), streaming=True, verify=judge).query(QUESTION)
    for event in stream_events(response):
        if isinstance(event, Completed):
            _check_report(response)
            break
    else:
        raise AssertionError("no Completed event")


@pytest.mark.parametrize("streaming", [False, True])
async def test_verification_is_an_instrumentation_event(
    index: VectorStoreIndex, make_backend: Any, events: Any, streaming: bool
) -> None:
    """One CitationVerificationEvent per verified answer, after the validation event."""
    response = await engine(index, make_backend(), streaming=streaming, verify=judge).aquery(
        QUESTION
    )
    if streaming:
        async for _ in response.async_response_gen():
            pass
    report = _check_report(response)
    (event,) = events.of("CitationVerificationEvent")
    assert isinstance(event, CitationVerificationEvent)
    assert event.citation_recall == report.citation_recall
    assert event.citation_precision == 0.5
    assert event.supported_rate == 0.5
    assert (event.scorer, event.scorer_kind) == ("judge", "custom")
    assert event.unsupported_sentences == [1]
    assert VerificationReport.from_dict(event.report) == report
    names = [e.class_name() for e in events.events]
    assert names.index("CitationValidationEvent") < names.index("CitationVerificationEvent")


@pytest.mark.parametrize("off", [False, None])
async def test_verify_off_leaves_responses_as_before(
    index: VectorStoreIndex, make_backend: Any, events: Any, off: bool | None
) -> None:
    """verify=False/None: the same metadata keys and values, and no verification event."""
    plain = engine(index, make_backend())
    unverified = engine(index, make_backend(), verify=off)
    for query in (plain.query, unverified.query):
        response = query(QUESTION)
        assert "verification" not in response.metadata
        assert verification_report(response) is None
    assert unverified.query(QUESTION).metadata == plain.query(QUESTION).metadata
    assert (await unverified.aquery(QUESTION)).metadata == (await plain.aquery(QUESTION)).metadata
    streamed = engine(index, make_backend(), streaming=True, verify=off).query(QUESTION)
    "".join(streamed.response_gen)
    assert "verification" not in streamed.metadata
    assert events.of("CitationVerificationEvent") == []


def test_per_call_verify_overrides_the_synthesizer(
    nodes: list[TextNode], make_backend: Any
) -> None:
    """``synthesize(..., verify=...)`` per call, like ``policy=``."""
    scored = [NodeWithScore(node=n, score=1.0) for n in nodes]
    plain = CiteformerSynthesizer(make_backend())
    assert verification_report(plain.synthesize(QUESTION, scored)) is None
    response = plain.synthesize(QUESTION, scored, verify=judge)
    _check_report(response)
    verifying = CiteformerSynthesizer(make_backend(), verify=judge)
    off = verifying.synthesize(QUESTION, scored, verify=False)
    assert "verification" not in off.metadata
    no_coverage = verifying.synthesize(QUESTION, scored, verify_options={"coverage": False})
    report = verification_report(no_coverage)
    assert report is not None and report.uncited == ()


def test_verify_options_and_bad_settings(index: VectorStoreIndex, make_backend: Any) -> None:
    """verify_options reach verify(); bad settings are refused with a clear message."""
    strict = engine(index, make_backend(), verify=judge, verify_options={"threshold": 2.0})
    report = verification_report(strict.query(QUESTION))
    assert report is not None and report.scorer.threshold == 2.0
    assert report.citation_recall == 0.0
    with pytest.raises(InvalidOptionError, match="verify must be True"):
        CiteformerSynthesizer(make_backend(), verify="yes")
    with pytest.raises(InvalidOptionError, match="verify_options takes"):
        CiteformerSynthesizer(make_backend(), verify=True, verify_options={"scorer": judge})
    with pytest.raises(InvalidOptionError, match="ready CiteformerSynthesizer"):
        citation_query_engine(index, CiteformerSynthesizer(make_backend()), verify=True)
