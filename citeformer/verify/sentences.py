"""Answer sentences, marker-aware: each sentence with its span and the ids it cites.

Splitting uses ``sentencex`` (abbreviations, decimals and CJK endings do not split,
and its segments concatenate back to the input, so spans are exact), then also at
line breaks, so a heading or a list item is its own sentence. Citations are
assigned from the result's own citation spans, never re-read with a pattern; a
marker that starts a segment belongs to the sentence before it ("tall. [1] It
opened" cites [1] for "tall").
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from citeformer.core import Citation, GenerationResult, MarkerStyle
from citeformer.markers import neutralize

_LINE_BREAKS: Final = re.compile(r"\n+")
_SPACE_BEFORE_PUNCT: Final = re.compile(r"\s+([.,;:!?。、，；：！？)\]}])")
_SPACES: Final = re.compile(r"\s+")
_WORD: Final = re.compile(r"\w+")
_HEADING: Final = re.compile(r"^\s*(#{1,6}\s|[*_]{2}.*[*_]{2}\s*$)")
_TERMINAL: Final = frozenset(".!?。！？…\"'”’)")


@dataclass(frozen=True, slots=True)
class AnswerSentence:
    """One sentence of an answer.

    Attributes:
        index: Position among the answer's sentences.
        start: Offset of its first non-space character in the answer.
        end: Offset just past its last character (its trailing markers included).
        text: The answer text in ``start..end``, markers included.
        claim: The text with every marker removed: what the sources must support.
        citations: The result's citations whose markers lie in this sentence.
    """

    index: int
    start: int
    end: int
    text: str
    claim: str
    citations: tuple[Citation, ...]

    @property
    def cited_ids(self) -> tuple[int, ...]:
        """Distinct cited source ids, in order of first citation."""
        return tuple(dict.fromkeys(c.source_id for c in self.citations))

    @property
    def words(self) -> int:
        """How many words the claim has."""
        return len(_WORD.findall(self.claim))

    @property
    def is_question(self) -> bool:
        """Whether it asks rather than claims."""
        return self.claim.rstrip().endswith(("?", "？"))

    @property
    def is_heading(self) -> bool:
        """A Markdown heading, or a bold line standing alone."""
        return bool(_HEADING.match(self.text))

    @property
    def is_meta(self) -> bool:
        """A lead-in such as "In summary:" or "The sources say:", not a claim."""
        return self.claim.rstrip().endswith((":", "："))

    @property
    def is_fragment(self) -> bool:
        """No sentence-final punctuation and a short line (a list label, a title)."""
        claim = self.claim.rstrip()
        return bool(claim) and claim[-1] not in _TERMINAL and self.words < 6


def answer_sentences(result: GenerationResult, *, language: str = "en") -> list[AnswerSentence]:
    """Split ``result.text`` into sentences carrying their citations.

    Args:
        result: The answer.
        language: The language code ``sentencex`` splits by (its fallbacks apply).

    Returns:
        The sentences with a non-empty claim, in order (a segment holding only
        markers or punctuation is merged into the sentence before it).
    """
    text = result.text
    bounds = _segments(text, language)
    bounds = _markers_to_previous(text, bounds, result.citations)
    sentences: list[AnswerSentence] = []
    citations = sorted(result.citations, key=lambda c: c.start)
    position = 0
    for start, end in bounds:
        inside: list[Citation] = []
        while position < len(citations) and citations[position].start < end:
            if citations[position].start >= start:
                inside.append(citations[position])
            position += 1
        span = text[start:end]
        claim = strip_markers(span, [(c.start - start, c.end - start) for c in inside])
        if not claim.strip(" \t\n.,;:!?。、"):
            if sentences and inside:  # markers alone: they cite the sentence before
                last = sentences[-1]
                sentences[-1] = AnswerSentence(
                    last.index, last.start, end, text[last.start : end], last.claim,
                    last.citations + tuple(inside),
                )  # fmt: skip
            continue
        sentences.append(AnswerSentence(len(sentences), start, end, span, claim, tuple(inside)))
    return sentences


def strip_markers(text: str, spans: Sequence[tuple[int, int]] = ()) -> str:
    """``text`` without its markers, in one line, spaces before punctuation removed.

    Args:
        text: A sentence.
        spans: Marker spans in ``text`` (the result's own citations) to cut first;
            then any marker-like text of every marker style is removed too.
    """
    out: list[str] = []
    last = 0
    for start, end in sorted(spans):
        out.append(text[last:start])
        last = max(last, end)
    out.append(text[last:])
    claim = "".join(out)
    for style in MarkerStyle:
        if style.open in claim or (style.wide_open and style.wide_open in claim):
            claim = neutralize(claim, style)
    claim = _SPACES.sub(" ", claim).strip()
    return _SPACE_BEFORE_PUNCT.sub(r"\1", claim)


def text_sentences(text: str, language: str = "en") -> list[tuple[int, int]]:
    """Sentence spans of any text (a source's content), split also at line breaks."""
    return _segments(text, language)


def _segments(text: str, language: str) -> list[tuple[int, int]]:
    """Sentence spans (leading whitespace excluded), split also at line breaks."""
    bounds: list[tuple[int, int]] = []
    offset = 0
    for segment in _split(language, text):
        for start, end in _lines(segment):
            bounds.append((offset + start, offset + end))
        offset += len(segment)
    return bounds


def _lines(segment: str) -> Iterator[tuple[int, int]]:
    last = 0
    for brk in [*_LINE_BREAKS.finditer(segment), None]:
        stop = brk.start() if brk else len(segment)
        piece = segment[last:stop]
        lead = len(piece) - len(piece.lstrip())
        body = piece.strip()
        if body:
            yield last + lead, last + lead + len(body)
        if brk:
            last = brk.end()


def _markers_to_previous(
    text: str, bounds: list[tuple[int, int]], citations: Sequence[Citation]
) -> list[tuple[int, int]]:
    """Move markers that open a segment (after spaces only) to the end of the one before.

    Any splitter may hand a trailing marker to the next sentence (pysbd does); this
    keeps the rule whatever the splitter: a marker after a full stop belongs before.
    """
    spans = sorted({(c.start, c.end) for c in citations})
    if not spans or not bounds:
        return bounds
    out = [bounds[0]]
    for start, end in bounds[1:]:
        moved = start
        for m_start, m_end in spans:
            if m_start >= moved and not text[moved:m_start].strip():
                moved = m_end
            elif m_start > moved:
                break
        if moved > start:
            prev_start, _ = out[-1]
            out[-1] = (prev_start, min(moved, end))
            rest = text[moved:end]
            lead = len(rest) - len(rest.lstrip())
            if moved + lead < end:
                out.append((moved + lead, end))
        else:
            out.append((start, end))
    return out


def _split(language: str, text: str) -> list[str]:
    from sentencex import segment  # a core dependency, imported on first use

    return list(segment(language, text))
