"""Collapse runs of adjacent citation markers (``[2][1][2]`` becomes ``[1, 2]``).

A *run* is one or more valid markers separated only by spaces or tabs (``[1] [1]``,
``(1)(2)``, ``^1 ^1 ^2``). Each run is rewritten into the citation language's
canonical form for its distinct ids: increasing, in groups of at most
:func:`~citeformer.grammar.language.group_size` ids, groups separated by one space
(what :func:`~citeformer.markers.canonical_markers` writes and what
:func:`~citeformer.markers.validate` keeps unchanged). So ``[2][1][2]`` becomes
``[1, 2]``, but four ids where a marker holds three become ``[1, 2, 3] [4]``, and the
caret style, one id per marker, gives ``^1 ^2``.

Markers are found by :func:`~citeformer.markers.validate` (the parser every
generation path uses). Anything it does not accept as a valid marker (``[a]``,
``[0]``, ``［1］``, an id above ``n``) is left exactly as written, and so is all the
text around the runs.
"""

from __future__ import annotations

import bisect
import dataclasses
from typing import Final, NamedTuple

from citeformer.core import Citation, GenerationResult, MarkerStyle, PolicyViolation
from citeformer.errors import InvalidOptionError
from citeformer.grammar.language import group_size
from citeformer.markers import validate

__all__ = ["deduplicate_adjacent_cites", "deduplicated"]

_PROBE_N: Final = 10**18 - 1
"""The ``n`` used to find markers when none is given: any id of up to 18 digits counts."""


class _Run(NamedTuple):
    """A run of adjacent markers at ``text[start:end]`` and what replaces it."""

    start: int
    end: int
    ids: tuple[int, ...]  # distinct, increasing
    pieces: tuple[tuple[tuple[int, ...], str], ...]  # (ids, marker) per new marker
    old: tuple[tuple[int, int, tuple[int, ...]], ...]  # (start, end, ids) per old marker

    @property
    def new_text(self) -> str:
        return " ".join(marker for _, marker in self.pieces)


def deduplicate_adjacent_cites(
    text: str, marker_style: MarkerStyle | str | None = None, *, n: int | None = None
) -> str:
    """Collapse every run of adjacent markers into one marker of its distinct ids.

    ``"Paris [2][1][2]."`` becomes ``"Paris [1, 2]."``, ``"[1, 1]"`` becomes ``"[1]"``
    and ``"^1 ^1 ^2"`` becomes ``"^1 ^2"`` (a caret marker holds one id). A run with
    more distinct ids than one marker may hold (3, or 1 above 20 sources; see
    :func:`~citeformer.grammar.language.group_size`) becomes consecutive full groups
    (``[1, 2, 3] [4]``), the canonical form :func:`~citeformer.markers.validate` keeps.

    Args:
        text: The answer text.
        marker_style: The style of the markers; None: the style of the first valid
            marker in ``text`` (bracket if there is none).
        n: Number of sources (valid ids are ``1..n``); None: any id counts, and the
            group size is that of the largest id seen.

    Returns:
        The text with each run rewritten; everything else, invalid markers included,
        exactly as it was.

    Raises:
        InvalidOptionError: ``marker_style`` names no style, or ``n`` is not an int >= 0.
    """
    return _apply(text, _find_runs(text, marker_style, n))


def deduplicated(result: GenerationResult) -> GenerationResult:
    """``result`` with its runs of adjacent markers collapsed, spans kept right.

    The text is rewritten as :func:`deduplicate_adjacent_cites` does for the result's
    marker style (that of its citations) and ``n = len(result.sources)``. Each run
    gets one :class:`~citeformer.core.Citation` per distinct id it cites, at the new
    marker naming that id, carrying the ``cited_text`` and source span of the run's
    first citation of that id; later citations are shifted. So are the
    ``policy_violations``: one of markers within a run goes to the new markers holding
    their ids, one reaching into a run from outside now starts or ends where the new
    markers do, and violations made identical by a collapse are kept once (they are
    not checked again: under REQUIRED, collapsing ``"A. [1] [1] b"`` leaves ``b``
    uncited without a new violation). A run whose citations do not fit it (only
    possible in a hand-built result) is left as written.

    Args:
        result: A generation result.

    Returns:
        The rewritten result (``result`` itself when there is nothing to collapse).
    """
    if not result.citations:
        return result
    opener = result.citations[0].marker[:1]
    style = next((s for s in MarkerStyle if s.open == opener), None)
    found = _find_runs(result.text, style, len(result.sources))
    found = [run for run in found if result.text[run.start : run.end] != run.new_text]
    runs, inside = _fit_citations(found, result.citations)
    if not runs:
        return result
    edits = _Edits(runs)
    taken = {id(c) for cited in inside for c in cited}
    moved = [edits.move(c) for c in result.citations if id(c) not in taken]
    for k, cited in enumerate(inside):
        first: dict[int, Citation] = {}
        for citation in sorted(cited, key=lambda c: c.start):
            first.setdefault(citation.source_id, citation)
        for ids, marker, at in edits.placed(k):
            moved += (
                dataclasses.replace(first[i], start=at, end=at + len(marker), marker=marker)
                for i in ids
                if i in first
            )
    moved.sort(key=lambda c: c.start)  # stable: the ids of one marker stay in order
    text = _apply(result.text, runs)
    violations = _shift_violations(result.policy_violations, result.text, text, edits)
    return result.replace(text=text, citations=tuple(moved), policy_violations=violations)


def _find_runs(text: str, marker_style: MarkerStyle | str | None, n: int | None) -> list[_Run]:
    """Every run of adjacent markers in ``text``, in order."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise InvalidOptionError(f"n must be an int >= 0 (the number of sources), got {n!r}")
    probe = _PROBE_N if n is None else n
    if marker_style is None:  # the style of the first valid marker
        parsed = {style: validate(text, probe, style).markers for style in MarkerStyle}
        seen = [style for style in MarkerStyle if parsed[style]]
        style = min(seen, key=lambda s: parsed[s][0].raw_start, default=MarkerStyle.BRACKET)
        events = parsed[style]
    else:
        style = MarkerStyle.coerce(marker_style, what="marker style")
        events = validate(text, probe, style).markers
    # (raw start, raw end, ids) per valid candidate, which may give several events.
    markers: list[tuple[int, int, tuple[int, ...]]] = []
    for event in events:
        if markers and markers[-1][0] == event.raw_start:
            markers[-1] = (*markers[-1][:2], markers[-1][2] + event.ids)
        else:
            markers.append((event.raw_start, _raw_end(text, event.raw_start, style), event.ids))
    top = max((max(ids) for _, _, ids in markers), default=1) if n is None else n
    group = group_size(max(top, 1), style)
    grouped: list[list[tuple[int, int, tuple[int, ...]]]] = []
    for marker in markers:
        if grouped and text[grouped[-1][-1][1] : marker[0]].strip(" \t") == "":
            grouped[-1].append(marker)
        else:
            grouped.append([marker])
    runs: list[_Run] = []
    for old in grouped:
        ordered = tuple(sorted({i for _, _, ids in old for i in ids}))
        chunks = (ordered[i : i + group] for i in range(0, len(ordered), group))
        pieces = tuple((c, style.marker(c)) for c in chunks)
        runs.append(_Run(old[0][0], old[-1][1], ordered, pieces, tuple(old)))
    return runs


def _raw_end(text: str, start: int, style: MarkerStyle) -> int:
    """End of the valid marker whose opening character is at ``text[start]``."""
    if style.close:  # a valid body holds no closing character: the first one ends it
        return text.index(style.close, start) + 1
    k = start + 1
    while k < len(text) and text[k].isdecimal():  # the parser's digit run
        k += 1
    return k


def _apply(text: str, runs: list[_Run]) -> str:
    parts: list[str] = []
    done = 0
    for run in runs:
        parts += (text[done : run.start], run.new_text)
        done = run.end
    parts.append(text[done:])
    return "".join(parts)


def _fit_citations(
    runs: list[_Run], citations: tuple[Citation, ...]
) -> tuple[list[_Run], list[list[Citation]]]:
    """The runs whose citations all lie inside them and name their ids, with those."""
    starts, ends = [run.start for run in runs], [run.end for run in runs]
    inside: list[list[Citation]] = [[] for _ in runs]
    broken: set[int] = set()
    for c in citations:  # runs[lo:hi] overlap the citation
        lo, hi = bisect.bisect_right(ends, c.start), bisect.bisect_left(starts, c.end)
        if hi - lo == 1 and runs[lo].start <= c.start and c.end <= runs[lo].end:
            inside[lo].append(c)
            if c.source_id not in runs[lo].ids:
                broken.add(lo)
        else:
            broken.update(range(lo, hi))
    kept = [k for k in range(len(runs)) if k not in broken]
    return [runs[k] for k in kept], [inside[k] for k in kept]


class _Edits:
    """Maps offsets in the old text to the new one, for runs rewritten in order."""

    __slots__ = ("before", "runs", "starts")

    def __init__(self, runs: list[_Run]) -> None:
        self.runs = runs
        self.starts = [run.start for run in runs]
        self.before = [0]  # before[k]: how much runs[:k] moved the text
        for run in runs:
            self.before.append(self.before[-1] + len(run.new_text) - (run.end - run.start))

    def shift(self, offset: int, *, to_end: bool) -> int:
        """Where ``offset`` lands; inside a run: the new run's start (its end: ``to_end``)."""
        k = bisect.bisect_right(self.starts, offset) - 1
        if k < 0:
            return offset
        run = self.runs[k]
        if offset >= run.end:
            return offset + self.before[k + 1]
        new_start = run.start + self.before[k]
        return new_start + len(run.new_text) if to_end and offset > run.start else new_start

    def move(self, citation: Citation) -> Citation:
        """A citation outside every run, at its new span."""
        start, end = self.shift(citation.start, to_end=False), self.shift(citation.end, to_end=True)
        return dataclasses.replace(citation, start=start, end=end)

    def placed(self, k: int) -> list[tuple[tuple[int, ...], str, int]]:
        """(ids, marker, new start) of each marker replacing run ``k``."""
        at, out = self.runs[k].start + self.before[k], []
        for ids, marker in self.runs[k].pieces:
            out.append((ids, marker, at))
            at += len(marker) + 1
        return out


def _shift_violations(
    violations: tuple[PolicyViolation, ...], old: str, new: str, edits: _Edits
) -> tuple[PolicyViolation, ...]:
    """The violations at their new spans; one within a run goes to the markers taking its ids."""
    out: list[tuple[int, int, PolicyViolation]] = []  # sorted on (anchor, start)
    anchors: dict[int, int] = {}  # the violations within one run stay together, in order
    for index, v in enumerate(violations):
        start = edits.shift(v.start, to_end=False)
        spans = [(start, max(start, edits.shift(v.end, to_end=True)))]
        k = bisect.bisect_right(edits.starts, v.start) - 1
        anchor = index
        if k >= 0 and v.end <= edits.runs[k].end:  # within one run
            ids = {i for s, e, got in edits.runs[k].old if s < v.end and v.start < e for i in got}
            placed = [(at, at + len(m)) for got, m, at in edits.placed(k) if ids.intersection(got)]
            spans, anchor = placed or spans, anchors.setdefault(k, index)
        for start, end in spans:
            text = new[start:end] if v.text == old[v.start : v.end] else v.text
            out.append((anchor, start, dataclasses.replace(v, start=start, end=end, text=text)))
    return tuple(dict.fromkeys(v for _, _, v in sorted(out, key=lambda e: e[:2])))
