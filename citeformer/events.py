"""Typed stream events, for UIs that render citations while text arrives."""

from __future__ import annotations

from dataclasses import dataclass

from citeformer.core import Citation, GenerationResult, InvalidMarker


@dataclass(frozen=True, slots=True)
class TextDelta:
    """New answer text; joining every delta's ``text`` gives the answer.

    A valid marker arrives whole, in its own delta, followed by its citations.
    """

    text: str


@dataclass(frozen=True, slots=True)
class CitationEvent:
    """One resolved citation (a marker with two ids gives two events)."""

    citation: Citation


@dataclass(frozen=True, slots=True)
class MarkerRemoved:
    """An invalid marker was dropped from the answer."""

    marker: InvalidMarker


@dataclass(frozen=True, slots=True)
class Completed:
    """The stream ended; ``result`` is what ``finalize()`` returns."""

    result: GenerationResult


StreamEvent = TextDelta | CitationEvent | MarkerRemoved | Completed
