"""Citable parts of a document: split one source into sources of a bounded size.

Each part is an exact span of the document's text (``text[start:end]``), cut at a
paragraph, sentence or word boundary where one falls in the second half of the
window, so a citation of a part points at a short passage and its offsets map back
into the document through ``Source.document_start``. All parts share the
document's ``Source.document`` key, so the bibliography lists the document once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Final

from citeformer.core import Source
from citeformer.errors import InvalidOptionError

_PARAGRAPH: Final = re.compile(r"\n[^\S\n]*\n")
_SENTENCE: Final = re.compile(r"[.!?\u3002\uff01\uff1f][\"'\u201d\u2019)\]]*(?=\s)")
_SPACE: Final = re.compile(r"\s+")


def split_spans(text: str, chunk_size: int, chunk_overlap: int = 0) -> list[tuple[int, int]]:
    """``(start, end)`` spans of ``text`` covering every non-blank character.

    Args:
        text: The document's text.
        chunk_size: The most characters a span holds (>= 1).
        chunk_overlap: About how many characters neighbouring spans share; the next
            span starts at the first word within that distance of the previous end
            (0 <= overlap < chunk_size).

    Returns:
        Spans in text order with strictly increasing starts; none starts or ends with
        whitespace, none is longer than ``chunk_size``; ``[]`` for a blank text.

    Raises:
        InvalidOptionError: A size or overlap out of range.
    """
    check_chunking(chunk_size, chunk_overlap)
    spans: list[tuple[int, int]] = []
    length = len(text)
    start = _skip_space(text, 0)
    while start < length:
        limit = start + chunk_size
        end = length if limit >= length else _cut(text, start, limit)
        while text[end - 1].isspace():
            end -= 1
        spans.append((start, end))
        if end >= length or not text[end:].strip():
            break
        start = _skip_space(text, _next_start(text, start, end, chunk_overlap))
    return spans


def split_source(
    source: Source,
    chunk_size: int,
    chunk_overlap: int = 0,
    *,
    document: str | None = None,
) -> list[Source]:
    """Split a source into citable parts of one document (see :func:`split_spans`).

    Each part keeps the source's metadata, so the document is listed once in the
    bibliography while each part is its own citable id with offsets into it.

    Args:
        source: The document (or a part of one, whose offsets the parts extend).
        chunk_size: The most characters a part holds.
        chunk_overlap: About how many characters neighbouring parts share.
        document: The parts' ``Source.document`` key; default: the source's own, else
            its CSL ``id``, ``DOI`` or ``URL``, else a digest of the source.

    Returns:
        The parts, in text order (one part when the content fits; a title-only
        source with no content is returned as the one part).

    Raises:
        InvalidOptionError: A size or overlap out of range.
    """
    return [part for _, part in split_parts(source, chunk_size, chunk_overlap, document=document)]


def split_parts(
    source: Source,
    chunk_size: int,
    chunk_overlap: int = 0,
    *,
    document: str | None = None,
) -> list[tuple[int, Source]]:
    """:func:`split_source` with each part's offset in ``source.content``.

    For callers that keep their own record of each part (an adapter's sub-chunk
    documents); the offset holds even where the part's ``document_start`` is unknown.
    """
    key = document or source.document or document_key(source)
    base = source.document_start if source.document is not None else 0
    spans = split_spans(source.content, chunk_size, chunk_overlap) or [(0, len(source.content))]
    return [
        (
            start,
            dataclasses.replace(
                source,
                content=source.content[start:end],
                document=key,
                document_start=None if base is None else base + start,
            ),
        )
        for start, end in spans
    ]


def document_key(source: Source) -> str:
    """The document key :func:`split_source` gives parts of a source that names none.

    The source's own ``document``, else its CSL ``id``, ``DOI`` or ``URL``, else a
    digest of its content and metadata (stable across runs).
    """
    if source.document is not None:
        return source.document
    for name in ("id", "DOI", "URL"):
        value = source.metadata.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value)
    digest = hashlib.sha256(f"{source.content}\0{source.metadata_key}".encode()).hexdigest()
    return f"sha256:{digest[:16]}"


def check_chunking(
    chunk_size: object,
    chunk_overlap: object,
    names: tuple[str, str] = ("chunk_size", "chunk_overlap"),
) -> None:
    """Raise :class:`~citeformer.errors.InvalidOptionError` for a bad size or overlap.

    Args:
        chunk_size: Characters (or the caller's unit) per part.
        chunk_overlap: Shared between neighbouring parts.
        names: The two options as the caller's users spell them, for the message.
    """
    size_name, overlap_name = names
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidOptionError(f"{size_name} must be a positive int, got {chunk_size!r}")
    if (
        isinstance(chunk_overlap, bool)
        or not isinstance(chunk_overlap, int)
        or not 0 <= chunk_overlap < chunk_size
    ):
        raise InvalidOptionError(
            f"{overlap_name} must be an int from 0 to below {size_name} ({chunk_size}), "
            f"got {chunk_overlap!r}"
        )


def _skip_space(text: str, at: int) -> int:
    found = _SPACE.match(text, at)
    return found.end() if found else at


def _cut(text: str, start: int, limit: int) -> int:
    """Where the span from ``start`` ends, at most ``limit`` (< len(text))."""
    half = start + (limit - start) // 2
    paragraph = _last(_PARAGRAPH, text, half, limit + 1)
    if paragraph is not None and paragraph.start() > start:
        return paragraph.start()
    sentence = _last(_SENTENCE, text, half, limit + 1)
    if sentence is not None and sentence.end() <= limit:
        return sentence.end()
    space = _last(_SPACE, text, start + 1, limit + 1)
    if space is not None:
        return space.start()
    return limit  # one word longer than the window: cut inside it


def _last(pattern: re.Pattern[str], text: str, start: int, end: int) -> re.Match[str] | None:
    found = None
    for found in pattern.finditer(text, start, end):  # noqa: B007 - the last one is wanted
        pass
    return found


def _next_start(text: str, start: int, end: int, overlap: int) -> int:
    """The next span's start: the first word at most ``overlap`` before ``end``."""
    if overlap == 0:
        return end
    at = max(end - overlap, start + 1)
    if at > 0 and not text[at - 1].isspace() and not text[at].isspace():
        gap = _SPACE.search(text, at, end)  # inside a word: start at the next one
        at = gap.end() if gap else end
    return at
