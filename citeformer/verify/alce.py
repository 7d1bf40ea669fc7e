"""ALCE's citation recall and precision, computed over windows, with coverage.

The computation is a plan that asks for scores in a few large batches and never
does I/O itself: :func:`verification_plan` is a generator that yields requests
(:class:`ScoreRequest`, :class:`RankRequest`) and receives their answers, so the
sync and async entry points share every rule and differ only in how they run a
batch. The rules (Gao et al. 2023, ``princeton-nlp/ALCE`` ``eval.py``):

* A sentence is **supported** (recall) when it cites at least one source and its
  cited sources *together* support it. Uncited sentences count as unsupported.
* Each citation of a supported sentence is **precise** unless it is
  **irrelevant**: it does not support the sentence alone, and the sentence's
  other citations without it still do. Citations of unsupported sentences count
  as imprecise. At most ``max_citations`` (ALCE: 3) per sentence are judged.

Our sources are whole documents, not ALCE's short passages, so each is scored in
windows (max over windows), and a set of sources is judged on the concatenation of
their best windows. A set that contains a supporting source is taken to support
(entailment is monotone in its premises): this keeps a scorer that dilutes with
length, such as cosine similarity, from undercounting.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

from citeformer.core import GenerationResult, Source
from citeformer.verify.lexical import overlap
from citeformer.verify.report import (
    CitationVerdict,
    Evidence,
    SentenceVerdict,
    Skipped,
    UncitedSupport,
    VerificationReport,
)
from citeformer.verify.scorer import ENTAILMENT_KINDS, Pair, ScorerInfo, ScorerKind
from citeformer.verify.sentences import AnswerSentence, answer_sentences
from citeformer.verify.windows import Window, _spans, cited_text_window, premise, source_windows

MIN_COVERAGE_WORDS = 4


@dataclass(frozen=True, slots=True)
class ScoreRequest:
    """Score these (premise, hypothesis) pairs."""

    pairs: list[Pair]


@dataclass(frozen=True, slots=True)
class RankRequest:
    """For each claim, the indices of the ``k`` documents most related to it."""

    claims: list[str]
    documents: list[str]
    k: int


Request = ScoreRequest | RankRequest
Plan = Generator[Request, list[float] | list[list[int]], VerificationReport]


@dataclass(slots=True)
class _Judged:
    """Scores of one sentence's citations."""

    sentence: AnswerSentence
    ids: tuple[int, ...]
    alone: dict[int, tuple[float, Window]] = field(default_factory=dict)
    joint: float | None = None
    without: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Settings:
    """How a verification runs (see :func:`citeformer.verify.verify`)."""

    threshold: float
    window_words: int
    coverage: bool = True
    top_k: int = 3
    max_citations: int | None = 3
    language: str = "en"
    rank_with_scorer: bool = False


def verification_plan(result: GenerationResult, info: ScorerInfo, settings: Settings) -> Plan:
    """The whole verification of ``result``, as a generator of score requests."""
    sources = result.sources
    threshold = settings.threshold
    sentences = answer_sentences(result, language=settings.language)
    windows = _WindowCache(sources, settings.window_words)
    skipped: list[Skipped] = []
    judged: list[_Judged] = []
    for sentence in sentences:
        ids = sentence.cited_ids
        limit = settings.max_citations
        if limit is not None and len(ids) > limit:
            skipped.append(Skipped(sentence.index, "beyond_max_citations",
                                   f"cites {list(ids)}; judged {list(ids[:limit])}"))  # fmt: skip
            ids = ids[:limit]
        if ids:
            judged.append(_Judged(sentence, ids))

    # 1. Each citation alone: max over its windows (a backend's cited_text first).
    tasks: list[tuple[_Judged, int, Window]] = []
    for item in judged:
        for source_id in item.ids:
            for window in windows.for_citation(item.sentence, source_id):
                tasks.append((item, source_id, window))
    scores = yield ScoreRequest([(premise((w,), sources), j.sentence.claim) for j, _, w in tasks])
    for (item, source_id, window), score in zip(tasks, _floats(scores), strict=True):
        best = item.alone.get(source_id)
        if best is None or score > best[0]:
            item.alone[source_id] = (score, window)

    # 2. Several citations: together, and each one's others without it (irrelevance).
    joint_tasks: list[tuple[_Judged, int | None, str]] = []
    for item in judged:
        if len(item.ids) < 2:
            continue
        best_windows = [item.alone[i][1] for i in item.ids]
        claim = item.sentence.claim
        fitted = _fit(best_windows, settings.window_words * 2, claim)
        joint_tasks.append((item, None, premise(fitted, sources)))
        if len(item.ids) >= 3:
            for left_out in item.ids:
                rest = [w for i, w in zip(item.ids, best_windows, strict=True) if i != left_out]
                rest_premise = premise(_fit(rest, settings.window_words * 2, claim), sources)
                joint_tasks.append((item, left_out, rest_premise))
    scores = yield ScoreRequest([(p, j.sentence.claim) for j, _, p in joint_tasks])
    for (item, omitted, _), score in zip(joint_tasks, _floats(scores), strict=True):
        if omitted is None:
            item.joint = score
        else:
            item.without[omitted] = score

    sentence_verdicts, citation_verdicts = _verdicts(sentences, judged, threshold)

    # 3. Coverage: uncited sentences against the few sources a cheap pass picks.
    uncited: list[UncitedSupport] = []
    if settings.coverage and sources:
        candidates = []
        for sentence in sentences:
            if sentence.cited_ids:
                continue
            reason = _coverage_skip(sentence)
            if reason:
                skipped.append(Skipped(sentence.index, reason, "not checked for coverage"))
            else:
                candidates.append(sentence)
        if candidates:
            ranked = yield from _rank(candidates, sources, settings)
            tasks = [
                (_Judged(s, ()), source_id, w)
                for s, top in zip(candidates, ranked, strict=True)
                for source_id in top
                for w in windows.of(source_id)
            ]
            scores = yield ScoreRequest(
                [(premise((w,), sources), j.sentence.claim) for j, _, w in tasks]
            )
            best_of: dict[int, tuple[float, int, Window]] = {}
            for (item, source_id, window), score in zip(tasks, _floats(scores), strict=True):
                index = item.sentence.index
                if index not in best_of or score > best_of[index][0]:
                    best_of[index] = (score, source_id, window)
            for sentence in candidates:
                found = best_of.get(sentence.index)
                if found is not None and found[0] >= threshold:
                    score, source_id, window = found
                    uncited.append(UncitedSupport(sentence.index, sentence.text, source_id,
                                                  score, _evidence(window)))  # fmt: skip

    return _report(sentence_verdicts, citation_verdicts, uncited, info, skipped)


def _verdicts(
    sentences: Sequence[AnswerSentence], judged: Sequence[_Judged], threshold: float
) -> tuple[list[SentenceVerdict], list[CitationVerdict]]:
    by_index = {item.sentence.index: item for item in judged}
    sentence_verdicts: list[SentenceVerdict] = []
    citation_verdicts: list[CitationVerdict] = []
    for sentence in sentences:
        item = by_index.get(sentence.index)
        if item is None:
            sentence_verdicts.append(SentenceVerdict(
                sentence.index, sentence.start, sentence.end, sentence.text, sentence.claim,
                (), supported=False, score=None,
            ))  # fmt: skip
            continue
        alone = {i: item.alone[i][0] for i in item.ids}
        best_alone = max(alone.values())
        joint = best_alone if item.joint is None else max(item.joint, best_alone)
        supported = joint >= threshold
        for source_id in item.ids:
            alone_ok = alone[source_id] >= threshold
            irrelevant = False
            if supported and len(item.ids) > 1 and not alone_ok:
                others = [i for i in item.ids if i != source_id]
                rest = item.without.get(source_id, float("-inf"))
                irrelevant = max(rest, *(alone[i] for i in others)) >= threshold
            citation_verdicts.append(CitationVerdict(
                sentence.index, source_id, alone_ok, alone[source_id],
                precise=supported and not irrelevant, irrelevant=irrelevant,
                evidence=_evidence(item.alone[source_id][1]),
            ))  # fmt: skip
        sentence_verdicts.append(SentenceVerdict(
            sentence.index, sentence.start, sentence.end, sentence.text, sentence.claim,
            item.ids, supported=supported, score=joint,
            evidence=tuple(_evidence(item.alone[i][1]) for i in item.ids),
        ))  # fmt: skip
    return sentence_verdicts, citation_verdicts


def _report(
    sentences: list[SentenceVerdict],
    citations: list[CitationVerdict],
    uncited: list[UncitedSupport],
    info: ScorerInfo,
    skipped: list[Skipped],
) -> VerificationReport:
    cited = [s for s in sentences if s.cited_ids]
    recall = sum(s.supported for s in sentences) / len(sentences) if sentences else None
    precision = sum(c.precise for c in citations) / len(citations) if citations else None
    rate = sum(s.supported for s in cited) / len(cited) if cited else None
    return VerificationReport(
        citation_recall=recall,
        citation_precision=precision,
        supported_rate=rate,
        sentences=tuple(sentences),
        citations=tuple(citations),
        uncited=tuple(uncited),
        scorer=info,
        skipped=tuple(sorted(skipped, key=lambda s: s.sentence)),
        notes=_notes(info),
    )


_MEASURES = {
    ScorerKind.LEXICAL: "word overlap between the claim and the source, with number, date, name"
    " and negation checks",
    ScorerKind.EMBEDDING: "how related the claim and the source are (cosine similarity of"
    " sentence embeddings); a contradiction that reuses the source's words can score high",
    ScorerKind.CUSTOM: "whatever the supplied function computes",
}


def _notes(info: ScorerInfo) -> tuple[str, ...]:
    if info.kind in ENTAILMENT_KINDS:
        return (f"Support was judged by an entailment model ({info.kind}: {info.model}).",)
    return (
        f"No entailment model was used: the {info.kind} scores measure {_MEASURES[info.kind]}."
        " 'Supported' means the source matches the claim that way, not that it entails it.",
    )


def _coverage_skip(sentence: AnswerSentence) -> str | None:
    if sentence.is_question:
        return "question"
    if sentence.is_heading:
        return "heading"
    if sentence.is_meta:
        return "meta"
    if sentence.words < MIN_COVERAGE_WORDS:
        return "too_short"
    if sentence.is_fragment:
        return "fragment"
    return None


def _rank(
    candidates: Sequence[AnswerSentence], sources: Sequence[Source], settings: Settings
) -> Generator[Request, list[float] | list[list[int]], list[list[int]]]:
    """Top-k source ids per candidate sentence (lexical, or the scorer's own ranking)."""
    k = min(settings.top_k, len(sources))
    documents = [_document(s) for s in sources]
    if settings.rank_with_scorer:
        answer = yield RankRequest([s.claim for s in candidates], documents, k)
        return [[i + 1 for i in top] for top in _lists(answer)]
    ranked = []
    for sentence in candidates:
        order = sorted(range(len(documents)), key=lambda i: -overlap(documents[i], sentence.claim))
        ranked.append([i + 1 for i in order[:k] if overlap(documents[i], sentence.claim) > 0])
    return ranked


def _document(source: Source) -> str:
    return f"{source.title}\n{source.content}" if source.title else source.content


class _WindowCache:
    def __init__(self, sources: Sequence[Source], words: int) -> None:
        self._sources = sources
        self._words = words
        self._cache: dict[int, tuple[Window, ...]] = {}

    def of(self, source_id: int) -> tuple[Window, ...]:
        if source_id not in self._cache:
            source = self._sources[source_id - 1]
            self._cache[source_id] = source_windows(source_id, source, words=self._words)
        return self._cache[source_id]

    def for_citation(self, sentence: AnswerSentence, source_id: int) -> list[Window]:
        """A backend's cited_text windows first, then the source's own windows."""
        source = self._sources[source_id - 1]
        out: list[Window] = []
        for citation in sentence.citations:
            if citation.source_id == source_id and citation.cited_text:
                window = cited_text_window(source_id, source, citation.cited_text,
                                           citation.source_start, citation.source_end)  # fmt: skip
                if window is not None and window not in out:
                    out.append(window)
        return out + [w for w in self.of(source_id) if w not in out]


def _fit(windows: Sequence[Window], budget: int, claim: str) -> tuple[Window, ...]:
    """Windows whose words fit ``budget``: each cut to its part most like the claim."""
    if sum(w.words for w in windows) <= budget:
        return tuple(windows)
    share = max(8, budget // len(windows))
    fitted = []
    for window in windows:
        spans = _spans(window.text, share) or ((0, len(window.text)),)
        start, end = max(spans, key=lambda s: overlap(window.text[s[0] : s[1]], claim))
        fitted.append(Window(window.source_id, window.start + start, window.start + end,
                             window.text[start:end]))  # fmt: skip
    return tuple(fitted)


def _evidence(window: Window) -> Evidence:
    return Evidence(window.source_id, window.start, window.end, window.text)


def _floats(answer: object) -> list[float]:
    assert isinstance(answer, list)
    return answer


def _lists(answer: object) -> list[list[int]]:
    assert isinstance(answer, list)
    return answer
