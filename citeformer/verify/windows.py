"""Premise windows: each source cut into overlapping, sentence-packed pieces of bounded size.

A scorer reads a bounded input (an NLI model 512 tokens, MiniLM 256 word pieces), so
a long source is split rather than cut: sentences are packed into windows of about
``words`` words, each window starting with the last sentence of the one before (so
a claim that spans a boundary is still seen whole). A single sentence longer than a
window is split by words, with overlap. Offsets are kept, so the best window is the
evidence: ``source.content[start:end] == text``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

from citeformer.core import Source

_WORD: Final = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class Window:
    """A piece of one source's content.

    Attributes:
        source_id: The 1-based id of the source.
        start: Offset of the piece in the source's content.
        end: Offset just past it.
        text: ``content[start:end]``.
    """

    source_id: int
    start: int
    end: int
    text: str

    @property
    def words(self) -> int:
        """How many words the window holds."""
        return len(_WORD.findall(self.text))


def source_windows(source_id: int, source: Source, *, words: int = 300) -> tuple[Window, ...]:
    """The windows of one source (one empty window when it has only a title).

    Args:
        source_id: The source's id.
        source: The source.
        words: Target window size in words (at least 8).
    """
    spans = _spans(source.content, max(8, words))
    if not spans:  # a title without content: the premise is the title alone
        return (Window(source_id, 0, 0, ""),)
    return tuple(Window(source_id, s, e, source.content[s:e]) for s, e in spans)


def cited_text_window(source_id: int, source: Source, cited_text: str,
                      start: int | None, end: int | None) -> Window | None:  # fmt: skip
    """The window a backend's ``cited_text`` names, located in the source, if it is there."""
    content = source.content
    if start is not None and end is not None and content[start:end] == cited_text:
        return Window(source_id, start, end, cited_text)
    found = content.find(cited_text.strip()) if cited_text.strip() else -1
    if found < 0:
        return None
    text = cited_text.strip()
    return Window(source_id, found, found + len(text), text)


def premise(windows: tuple[Window, ...], sources: tuple[Source, ...]) -> str:
    """The scorer's premise for ``windows``, written the way ALCE writes passages.

    Each window is ``Title: {title}``, a line break and its text; several are joined
    by line breaks. A source without a title gives its text alone.
    """
    parts = []
    for window in windows:
        title = sources[window.source_id - 1].title
        parts.append(f"Title: {title}\n{window.text}" if title else window.text)
    return "\n".join(parts)


@functools.lru_cache(maxsize=1024)
def _spans(content: str, words: int) -> tuple[tuple[int, int], ...]:
    """Window spans of ``content``: sentences packed to ``words``, one sentence of overlap."""
    from citeformer.verify.sentences import text_sentences

    units: list[tuple[int, int, int]] = []  # start, end, word count
    for start, end in text_sentences(content):
        found = list(_WORD.finditer(content, start, end))
        if len(found) <= words:
            units.append((start, end, len(found)))
            continue
        step = max(1, words - words // 8)  # long sentence: word windows, 1/8 overlap
        for i in range(0, len(found), step):
            chunk = found[i : i + words]
            units.append((chunk[0].start(), chunk[-1].end(), len(chunk)))
            if i + words >= len(found):
                break
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (j == i or total + units[j][2] <= words):
            total += units[j][2]
            j += 1
        spans.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        i = j - 1 if j - 1 > i else j  # the last sentence opens the next window
    return tuple(spans)
