"""``verify=`` inside real LCEL pipelines: the report, per-annotation verdicts, streams."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import reduce
from operator import add
from typing import Any

import pytest
from citeformer import MockBackend
from citeformer.verify import FunctionScorer, LexicalScorer, Scorer, ScorerKind, VerificationReport
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.messages import AIMessageChunk
from langchain_core.messages.utils import message_chunk_to_message
from langchain_core.runnables import ConfigurableField, RunnableLambda, RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_citeformer import (
    CITATION_EVENT,
    VERIFICATION_EVENT,
    VERIFICATION_KEY,
    CiteformerRunnable,
    generation_result,
    verification_report,
)

DOCS = [
    Document(f"Passage number {i} of the corpus.", id=f"doc-{i}", metadata={"title": f"Doc{i}"})
    for i in (1, 2, 3)
]
# The worked case of VERIFY.md (tests/verify/test_alce.py): recall 0.5, precision 0.6.
REPLY = (
    "Alpha holds for both sources [1][2]. Beta holds for the first one [1][3]. "
    "Gamma concerns a passage of the corpus. Delta is cited but wrong [2]."
)
RULES: dict[str, list[set[int]]] = {
    "Alpha": [{1, 2}],  # supported by [1] and [2] together, by neither alone
    "Beta": [{1}],  # [1] alone suffices; [3] is irrelevant
    "Gamma": [{3}],  # uncited, but source 3 supports it (coverage)
    "Delta": [],  # never
}
ANSWER = REPLY.replace("][", "] [")  # adjacent markers, as the citation language writes them
# (supported alone, score alone) per citation, in marker order.
EXPECTED_VERDICTS = [(False, 0.0), (False, 0.0), (True, 1.0), (False, 0.0), (False, 0.0)]


def judge(premise: str, claim: str) -> float:
    """A scripted scorer: a claim is entailed when the premise holds one of its id sets."""
    present = {int(i) for i in re.findall(r"Title: Doc(\d)", premise)}
    for key, needs in RULES.items():
        if claim.startswith(key):
            return 1.0 if any(need <= present for need in needs) else 0.0
    return 0.0


def chain(cite: CiteformerRunnable) -> Any:
    """A prompt-less LCEL chain: question -> {question, documents} -> the runnable."""
    return RunnableLambda(lambda q: {"question": q, "documents": DOCS}) | cite


def runnable(**kwargs: Any) -> CiteformerRunnable:
    return CiteformerRunnable(backend=MockBackend(REPLY, chunks=4), **kwargs)


def verdicts(message: Any) -> list[tuple[bool | None, float | None]]:
    annotations = message.content_blocks[0]["annotations"]
    return [(a["extras"]["supported"], a["extras"]["score"]) for a in annotations]


def summed(chunks: Sequence[Any]) -> Any:
    return message_chunk_to_message(reduce(add, chunks))


def assert_worked_report(report: VerificationReport | None) -> None:
    assert report is not None
    assert report.citation_recall == 0.5
    assert report.citation_precision == 0.6
    assert report.supported_rate == pytest.approx(2 / 3)
    assert [s.supported for s in report.sentences] == [True, True, False, False]
    assert [(u.sentence, u.source_id) for u in report.uncited] == [(2, 3)]
    assert report.scorer.kind is ScorerKind.CUSTOM


@pytest.fixture(autouse=True)
def _lexical_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """``verify=True`` resolves to LexicalScorer: no NLI model configured."""
    monkeypatch.delenv("CITEFORMER_NLI_MODEL", raising=False)


def test_scripted_scorer_in_an_lcel_chain_gives_alce_scores_and_verdicts() -> None:
    message = chain(runnable(verify=judge)).invoke("Which claims hold?")
    assert message.text == ANSWER
    report = verification_report(message)
    assert_worked_report(report)
    assert verdicts(message) == EXPECTED_VERDICTS
    # Each verdict is the CitationVerdict of its source in the marker's sentence.
    assert report is not None
    for annotation in message.content_blocks[0]["annotations"]:
        (sentence,) = [s for s in report.sentences if s.start <= annotation["start_index"] < s.end]
        (verdict,) = [
            c
            for c in report.citations
            if c.sentence == sentence.index and c.source_id == annotation["extras"]["source_id"]
        ]
        assert annotation["extras"]["supported"] is verdict.supported
        assert annotation["extras"]["score"] == verdict.score
    # The metadata holds the JSON form, next to the result; it round-trips.
    metadata = message.response_metadata
    assert metadata[VERIFICATION_KEY] == report.to_dict()
    assert generation_result(message).text == ANSWER
    assert verification_report(metadata) == report
    assert generation_result(message).verify(judge) == report


def test_verify_true_uses_the_default_scorer_in_a_retriever_chain(
    vectorstore: InMemoryVectorStore, native_backend_cls: type
) -> None:
    retriever = vectorstore.as_retriever(search_kwargs={"k": 3})
    cite = CiteformerRunnable(backend=native_backend_cls(), verify=True)
    rag = {"documents": retriever, "question": RunnablePassthrough()} | cite
    message = rag.invoke("How tall is the Eiffel Tower?")
    assert message.text == "The Eiffel Tower is 330 metres tall [1]. See also [2]."
    report = verification_report(message)
    assert report is not None
    assert report.scorer.kind is ScorerKind.LEXICAL
    assert report.sentences[0].supported  # quoted from the Eiffel document
    assert report == generation_result(message).verify(LexicalScorer())
    first = message.content_blocks[0]["annotations"][0]
    assert first["extras"]["document_id"] == "eiffel"
    assert first["extras"]["supported"] is True
    assert first["extras"]["score"] == report.citations[0].score
    # The stream verifies too and adds up to the same message.
    assert summed(list(rag.stream("How tall is the Eiffel Tower?"))) == message


async def test_ainvoke_awaits_averify_on_the_event_loop() -> None:
    loop_thread = threading.get_ident()

    class AsyncOnly(Scorer):
        """Scores only on the async path; the sync path would fail the test."""

        def __init__(self) -> None:
            self.threads: set[int] = set()

        def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
            raise AssertionError("ainvoke must use averify")

        async def ascore_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
            self.threads.add(threading.get_ident())
            return [judge(premise, claim) for premise, claim in pairs]

    scorer = AsyncOnly()
    message = await chain(runnable(verify=scorer)).ainvoke("Which claims hold?")
    assert_worked_report(verification_report(message))
    assert verdicts(message) == EXPECTED_VERDICTS
    assert scorer.threads == {loop_thread}
    chunks = [c async for c in chain(runnable(verify=scorer)).astream("Which claims hold?")]
    assert summed(chunks) == message


def test_sync_invoke_uses_verify_not_averify() -> None:
    class SyncOnly(Scorer):
        def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
            return [judge(premise, claim) for premise, claim in pairs]

        async def ascore_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
            raise AssertionError("invoke must use verify")

    message = chain(runnable(verify=SyncOnly())).invoke("Which claims hold?")
    assert_worked_report(verification_report(message))
    assert summed(list(chain(runnable(verify=SyncOnly())).stream("Q?"))) == message


def _check_verified_stream(chunks: list[Any], whole: Any) -> None:
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert summed(chunks) == whole
    # The text streams first; the citations follow with their verdicts, then the report.
    kinds = [
        "text" if c.text else "citation" if c.content else "final" for c in chunks if c.content
    ]
    assert kinds == sorted(kinds, key=["text", "citation"].index)
    assert kinds.count("citation") == 5
    last = chunks[-1]
    assert last.chunk_position == "last"
    assert last.response_metadata[VERIFICATION_KEY] == whole.response_metadata[VERIFICATION_KEY]
    assert all(VERIFICATION_KEY not in c.response_metadata for c in chunks[:-1])
    assert verdicts(summed(chunks)) == EXPECTED_VERDICTS


def test_sync_stream_carries_the_report_on_the_final_chunk() -> None:
    whole = chain(runnable(verify=judge)).invoke("Which claims hold?")
    chunks = list(chain(runnable(verify=judge)).stream("Which claims hold?"))
    _check_verified_stream(chunks, whole)


async def test_async_stream_carries_the_report_on_the_final_chunk() -> None:
    whole = await chain(runnable(verify=judge)).ainvoke("Which claims hold?")
    chunks = [c async for c in chain(runnable(verify=judge)).astream("Which claims hold?")]
    _check_verified_stream(chunks, whole)


async def test_dict_and_str_outputs_with_verify() -> None:
    as_dict = runnable(verify=judge, output="dict")
    out = as_dict.invoke({"question": "Q?", "documents": DOCS})
    assert set(out) == {"answer", "citations", "context", "verification"}
    assert_worked_report(verification_report(out))
    assert [(a["extras"]["supported"], a["extras"]["score"]) for a in out["citations"]] == (
        EXPECTED_VERDICTS
    )
    assert reduce(add, as_dict.stream({"question": "Q?", "documents": DOCS})) == out
    streamed = [c async for c in as_dict.astream({"question": "Q?", "documents": DOCS})]
    assert reduce(add, streamed) == out
    as_str = runnable(verify=judge, output="str")
    assert as_str.invoke({"question": "Q?", "documents": DOCS}) == ANSWER
    assert "".join(as_str.stream({"question": "Q?", "documents": DOCS})) == ANSWER


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.custom: list[tuple[str, Any]] = []

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        self.custom.append((name, data))


@pytest.mark.parametrize("mode", ["invoke", "stream"])
def test_the_report_is_a_custom_event(mode: str) -> None:
    recorder = Recorder()
    cite = chain(runnable(verify=judge, output="str"))
    config = {"callbacks": [recorder]}
    if mode == "invoke":
        cite.invoke("Q?", config)
    else:
        list(cite.stream("Q?", config))
    names = [name for name, _ in recorder.custom]
    assert names == [CITATION_EVENT] * 5 + [VERIFICATION_EVENT]
    report = VerificationReport.from_dict(recorder.custom[-1][1])
    assert_worked_report(report)


async def test_astream_events_show_the_verification_event() -> None:
    cite = chain(runnable(verify=judge))
    events = [e async for e in cite.astream_events("Q?", version="v2")]
    custom = [e for e in events if e["event"] == "on_custom_event"]
    assert [e["name"] for e in custom] == [CITATION_EVENT] * 5 + [VERIFICATION_EVENT]
    assert_worked_report(VerificationReport.from_dict(custom[-1]["data"]))
    (own_end,) = [e for e in events if e["event"] == "on_chain_end" and e["name"] == "Citeformer"]
    report = VerificationReport.from_dict(custom[-1]["data"])
    assert verification_report(own_end["data"]["output"]) == report


@pytest.mark.parametrize("off", [False, None])
async def test_verify_off_leaves_every_output_as_before(off: bool | None) -> None:
    for output in ("message", "dict", "str"):
        plain = runnable(output=output)
        unverified = runnable(output=output, verify=off)
        assert unverified.verify is None
        value = {"question": "Q?", "documents": DOCS}
        before = plain.invoke(value)
        assert unverified.invoke(value) == before
        assert await unverified.ainvoke(value) == before
        assert list(unverified.stream(value)) == list(plain.stream(value))
        assert [c async for c in unverified.astream(value)] == [
            c async for c in plain.astream(value)
        ]
        if output == "message":
            assert VERIFICATION_KEY not in before.response_metadata
            assert verification_report(before) is None
            for annotation in before.content_blocks[0]["annotations"]:
                assert "supported" not in annotation["extras"]
                assert "score" not in annotation["extras"]
        if output == "dict":
            assert "verification" not in before
            assert verification_report(before) is None


def test_configurable_field_switches_verification_per_call() -> None:
    cite = runnable().configurable_fields(verify=ConfigurableField(id="verify"))
    pipeline = chain(cite)
    assert verification_report(pipeline.invoke("Q?")) is None
    message = pipeline.invoke("Q?", {"configurable": {"verify": judge}})
    assert_worked_report(verification_report(message))
    on = pipeline.invoke("Q?", {"configurable": {"verify": True}})
    report = verification_report(on)
    assert report is not None and report.scorer.kind is ScorerKind.LEXICAL


def test_verify_options_reach_verify() -> None:
    message = runnable(
        verify=FunctionScorer(judge), verify_options={"coverage": False, "max_citations": 1}
    ).invoke({"question": "Q?", "documents": DOCS})
    report = verification_report(message)
    assert report is not None
    assert report.uncited == ()  # coverage off
    assert [s.reason for s in report.skipped] == ["beyond_max_citations"] * 2
    # Citations that were not judged carry None verdicts.
    assert verdicts(message) == [
        (False, 0.0),
        (None, None),
        (True, 1.0),
        (None, None),
        (False, 0.0),
    ]
    strict = runnable(verify=judge, verify_options={"threshold": 2.0})
    report = verification_report(strict.invoke({"question": "Q?", "documents": DOCS}))
    assert report is not None and report.scorer.threshold == 2.0
    assert report.citation_recall == 0.0


def test_bad_verify_settings_are_refused() -> None:
    # pydantic wraps the InvalidOptionError in its ValidationError (a ValueError).
    with pytest.raises(ValueError, match="verify must be True"):
        runnable(verify="yes")
    with pytest.raises(ValueError, match="verify_options takes"):
        runnable(verify=True, verify_options={"scorer": judge})


def test_the_scorer_never_serialises() -> None:
    secret = "sk-judge-DO-NOT-LEAK"

    class KeyedJudge(Scorer):
        api_key = secret

        def score_batch(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
            return [1.0 for _ in pairs]

        def __repr__(self) -> str:
            return f"KeyedJudge({self.api_key})"

    cite = runnable(verify=KeyedJudge())
    assert "verify" not in cite.model_dump()
    for text in (repr(cite), str(cite), cite.model_dump_json()):
        assert secret not in text


async def test_a_failing_scorer_raises_after_the_backend_run_is_closed() -> None:
    ended: list[str] = []

    class Ends(BaseCallbackHandler):
        def on_llm_end(self, response: Any, **kwargs: Any) -> None:
            ended.append("end")

        def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
            ended.append("error")

    def broken(premise: str, claim: str) -> float:
        raise RuntimeError("scorer down")

    cite = chain(runnable(verify=broken))
    config = {"callbacks": [Ends()]}
    with pytest.raises(RuntimeError, match="scorer down"):
        cite.invoke("Q?", config)
    with pytest.raises(RuntimeError, match="scorer down"):
        await cite.ainvoke("Q?", config)
    with pytest.raises(RuntimeError, match="scorer down"):
        list(cite.stream("Q?", config))
    with pytest.raises(RuntimeError, match="scorer down"):
        [c async for c in cite.astream("Q?", config)]
    # The backend call succeeded each time: its nested run ended, not errored.
    assert ended == ["end"] * 4
