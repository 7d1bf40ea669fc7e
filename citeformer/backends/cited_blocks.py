"""Cited text blocks to answer text with inline markers (pure, provider-neutral).

Some providers answer with text blocks and attach citations to them instead of
writing markers (Anthropic's Citations API). :class:`CitedBlockAssembler` turns
such blocks into answer text in the citation language:

* marker-like text the model wrote in prose is neutralised (it is never trusted);
* at the end of each cited block one marker is written for its sources, before
  the block's trailing punctuation and spaces: ``the grass is green.`` becomes
  ``the grass is green [1].``;
* each marker's ids come with a :class:`~citeformer.backends.call.ProviderCitation`
  (cited text and the character span in the source) at the marker's offset;
* an id outside the supplied sources never becomes a marker; it is reported as an
  invalid marker.

The assembler is incremental and its output is the same however the blocks were
split, so a provider's whole and streamed answers, fed through it, cannot drift.
A provider's codec maps its wire citations onto :meth:`CitedBlockAssembler.cite_source`
and :meth:`CitedBlockAssembler.reject`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from citeformer.backends.call import ProviderCitation
from citeformer.core import InvalidMarker, MarkerStyle
from citeformer.grammar.language import group_size
from citeformer.markers import MarkerParser, TextEvent

_TRAILING = frozenset(".,;:!?… \t\r\n")
_SPACE_OR_NONE = frozenset({" ", "\t", "\r", "\n", ""})


class CitedBlockAssembler:
    """Builds answer text from text blocks and their citations (pure, incremental).

    Call :meth:`start_block`, then :meth:`text` and :meth:`cite_source` in any
    order and any pieces, then :meth:`end_block`; :meth:`finish` at the end. Each
    returns the text settled by it. The output is the same however the blocks
    were split.

    Args:
        n: Number of sources.
        style: The marker style.
    """

    __slots__ = (
        "_block_cites",
        "_group",
        "_in_block",
        "_invalid",
        "_last",
        "_length",
        "_marker_last",
        "_n",
        "_pending",
        "_prose",
        "_style",
        "_tail",
    )

    def __init__(self, n: int, style: MarkerStyle) -> None:
        self._n = n
        self._style = style
        self._group = group_size(n, style)
        self._prose = MarkerParser(0, style)
        self._tail = ""  # trailing punctuation and spaces of the current block
        self._block_cites: dict[int, ProviderCitation] = {}
        self._in_block = False
        self._marker_last = False  # the output ends with a marker
        self._length = 0
        self._last = ""
        self._pending: list[ProviderCitation] = []
        self._invalid: list[InvalidMarker] = []

    def take_facts(self) -> tuple[tuple[ProviderCitation, ...], tuple[InvalidMarker, ...]]:
        """Citations and dropped ids reported since the last call."""
        facts = tuple(self._pending), tuple(self._invalid)
        self._pending.clear()
        self._invalid.clear()
        return facts

    def start_block(self) -> str:
        """A text block begins: the previous block's held tail is released."""
        out = self._release_tail() if self._in_block else ""
        self._in_block = True
        self._block_cites = {}
        return out

    def text(self, chunk: str) -> str:
        """Answer text of the current block (prose: marker-like text is removed)."""
        if not chunk:
            return ""
        return self._settle(self._neutralise(self._prose.feed(chunk)))

    def cite_source(
        self,
        source_id: int,
        *,
        cited_text: str | None = None,
        source_start: int | None = None,
        source_end: int | None = None,
    ) -> None:
        """The current block cites ``source_id`` (1-based), with the supporting passage.

        An id outside ``1..n`` is reported as ``out_of_range``, never cited. The
        first passage per source and block is kept.
        """
        if not 1 <= source_id <= self._n:
            self.reject(self._style.marker([source_id]), "out_of_range")
            return
        if source_id in self._block_cites:
            return
        self._block_cites[source_id] = ProviderCitation(
            raw_offset=-1,
            source_id=source_id,
            cited_text=cited_text,
            source_start=source_start,
            source_end=source_end,
        )

    def reject(self, text: str, reason: str) -> None:
        """Report a citation that cannot become a marker, at the current offset."""
        self._invalid.append(InvalidMarker(text, self._length, self._length, reason))

    def end_block(self) -> str:
        """The block ended; a cited block gets its marker before its trailing punctuation."""
        if not self._in_block or not self._block_cites:
            return ""  # an uncited block: what is held may be settled with the next one
        out = self._settle(self._neutralise(self._prose.flush()))
        if self._marker_last:
            gap = " "  # markers side by side are not in the citation language
        elif self._style is MarkerStyle.CARET or self._last in _SPACE_OR_NONE:
            gap = ""
        else:
            gap = " "
        out += self._emit(gap)
        ids = sorted(self._block_cites)
        # More ids than one marker holds: canonical groups separated by a space.
        groups = [ids[k : k + self._group] for k in range(0, len(ids), self._group)]
        for number, group in enumerate(groups):
            if number:
                out += self._emit(" ")
            for source_id in group:
                detail = self._block_cites[source_id]
                self._pending.append(
                    ProviderCitation(
                        raw_offset=self._length,
                        source_id=source_id,
                        cited_text=detail.cited_text,
                        source_start=detail.source_start,
                        source_end=detail.source_end,
                    )
                )
            out += self._emit(self._style.marker(group))
            self._marker_last = True
        self._block_cites = {}
        return out

    def finish(self) -> str:
        """Settle everything still held (the answer has ended)."""
        out = self._settle(self._neutralise(self._prose.flush()))
        out += self._release_tail()
        self._in_block = False
        return out

    # -- internals ---------------------------------------------------------------------

    @staticmethod
    def _neutralise(events: Iterable[Any]) -> str:
        """Prose text from the parser (it keeps a removed marker's neighbours apart)."""
        return "".join(event.text for event in events if isinstance(event, TextEvent))

    def _settle(self, text: str) -> str:
        """Emit ``text``, keeping the block's trailing punctuation and spaces in the tail."""
        if not text:
            return ""
        text = self._tail + text
        self._tail = ""
        if self._marker_last and self._style is MarkerStyle.CARET and text[0].isdecimal():
            text = " " + text  # ``^1`` followed by ``5`` would read as ``^15``
        cut = len(text)
        while cut and text[cut - 1] in _TRAILING:
            cut -= 1
        self._tail = text[cut:]
        return self._emit(text[:cut])

    def _release_tail(self) -> str:
        tail, self._tail = self._tail, ""
        return self._emit(tail)

    def _emit(self, text: str) -> str:
        if text:
            self._length += len(text)
            self._last = text[-1]
            self._marker_last = False
        return text
