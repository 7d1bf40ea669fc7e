"""Text helpers that run on every render: cleaning of CSL strings.

Pure Python, no citeproc import.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from typing import Final

from citeformer.render._marked import mark, strip

UNTITLED: Final = "Untitled source"
"""The title of a source with neither a title nor content."""

PAGE_RANGE_MARK: Final = "\u2011"
"""Joins page ranges citeproc-py would mangle (``1-10`` -> ``1–0``); shown as an en dash."""

NOCASE_OPEN: Final = '<span class="nocase">'
NOCASE_CLOSE: Final = "</span>"

_FALLBACK_TITLE_CHARS: Final = 60
FALLBACK_SOURCE_CHARS: Final = _FALLBACK_TITLE_CHARS * 4
"""How much of a source's content a fallback title is made from."""
_NOCASE_RE: Final = re.compile(r'<span\s+class\s*=\s*"nocase"\s*>(.*?)</span>', re.I | re.S)
# Only the rich-text markup CSL-JSON and web metadata carry is dropped; anything else
# that looks like a tag ("<script>") is text, kept and escaped on HTML output.
_TAG_RE: Final = re.compile(
    r"</?(?:i|b|em|strong|sup|sub|sc|span|u|a|br|p|div|font|small|cite|q|abbr|mml:[a-z]+)"
    r"(?:\s[^<>]*)?/?>",
    re.IGNORECASE,
)
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f]")
_RICH_KINDS: Final = {"i": "i", "em": "i", "b": "b", "strong": "b", "sup": "sup", "sub": "sub"}
_RICH_RE: Final = re.compile(
    r"<(i|em|b|strong|sup|sub|sc|span)(\s+style\s*=\s*\"font-variant:\s*small-caps;?\")?>"
    r"([^<>]*)</\1>",
    re.IGNORECASE,
)


def has_title(metadata: Mapping[str, object]) -> bool:
    """Whether ``metadata`` carries a title that survives cleaning."""
    title = metadata.get("title")
    if isinstance(title, str):
        return _str_title_survives(title)
    return bool(clean_value(title))


@functools.lru_cache(maxsize=4096)
def _str_title_survives(title: str) -> bool:
    # Asked for every cited source of every call (the bibliography cache key): the
    # regex cleaning runs once per distinct title.
    return bool(clean_text(title))


def fallback_title(content: str) -> str:
    """A title made from the start of ``content`` (about 60 characters), or "Untitled source"."""
    text = plain(clean_text(content[:FALLBACK_SOURCE_CHARS]))
    if not text:
        return UNTITLED
    if len(text) <= _FALLBACK_TITLE_CHARS:
        return text
    cut = text.rfind(" ", 0, _FALLBACK_TITLE_CHARS)
    head = text[: cut if cut >= _FALLBACK_TITLE_CHARS // 2 else _FALLBACK_TITLE_CHARS]
    return head.rstrip(" ,;:.-") + "\u2026"


def clean_text(text: str) -> str:
    """Clean a CSL string: rich text kept, other tags, entities and control characters not.

    CSL-JSON's rich-text markup (``<i>``, ``<b>``, ``<sup>``, ``<sub>``, small caps) becomes
    the renderer's formatting marks when it is balanced; ``nocase`` spans are kept for
    citeproc-py; any other markup is dropped.
    """
    text = _CONTROL_RE.sub(" ", strip(text.replace(PAGE_RANGE_MARK, "-")))
    text = _NOCASE_RE.sub(lambda m: "\x02" + m.group(1) + "\x03", text)
    previous = None
    while previous != text:  # innermost pairs first, so nesting stays balanced
        previous = text
        text = _RICH_RE.sub(_rich, text)
    text = html.unescape(_TAG_RE.sub("", text))
    text = " ".join(_CONTROL_RE.sub(_keep_marks, text).split()).replace("\x02\x03", "")
    return text.replace("\x02", NOCASE_OPEN).replace("\x03", NOCASE_CLOSE)


def _rich(match: re.Match[str]) -> str:
    tag = match.group(1).lower()
    kind = _RICH_KINDS.get(tag, "sc")
    return mark(kind, match.group(3))


def _keep_marks(match: re.Match[str]) -> str:
    return match.group() if match.group() in "\x02\x03" else " "


def clean_value(value: object) -> str:
    """A CSL string or number variable as clean text ('' when unusable)."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, str | int | float):
        return clean_text(str(value))
    if isinstance(value, list | tuple):
        parts = (clean_value(v) for v in value if not isinstance(v, Mapping | list | tuple))
        return ", ".join(p for p in parts if p)
    return ""


def plain(text: str) -> str:
    """``text`` without the nocase markup and formatting marks."""
    return strip(_TAG_RE.sub("", text))
