"""Rich text out of citeproc-py once, then as plain text, HTML or Markdown.

citeproc-py renders through a "formatter" module; the one here wraps italics, bold,
superscript and the rest in private-use sentinel characters instead of tags. Every
repair then works on one string, and the three output formats are produced from it
at the end (HTML escaped correctly, Markdown with its own emphasis).
"""

from __future__ import annotations

import html
import re
from typing import Final

# Each kind has an opening and a closing sentinel, U+E000..U+E00F.
_KINDS: Final = ("i", "b", "sup", "sub", "sc", "u", "n", "l")
_OPEN: Final = {kind: chr(0xE000 + 2 * k) for k, kind in enumerate(_KINDS)}
_CLOSE: Final = {kind: chr(0xE001 + 2 * k) for k, kind in enumerate(_KINDS)}
SUP_OPEN: Final = _OPEN["sup"]
SENTINELS: Final = "".join(_OPEN.values()) + "".join(_CLOSE.values())
SENTINEL_CLASS: Final = "[\ue000-\ue00f]"
_SENTINEL_RE: Final = re.compile(SENTINEL_CLASS)

_HTML_TAGS: Final = {
    "i": ("<i>", "</i>"),
    "b": ("<b>", "</b>"),
    "sup": ("<sup>", "</sup>"),
    "sub": ("<sub>", "</sub>"),
    "sc": ('<span style="font-variant:small-caps;">', "</span>"),
    "u": ('<span style="text-decoration:underline;">', "</span>"),
    "n": ('<span style="font-style:normal;">', "</span>"),
    "l": ('<span style="font-weight:lighter;">', "</span>"),
}
_MARKDOWN_TAGS: Final = {
    "i": ("*", "*"),
    "b": ("**", "**"),
    "sup": ("<sup>", "</sup>"),
    "sub": ("<sub>", "</sub>"),
}
_MARKDOWN_SPECIAL_RE: Final = re.compile(r"([\\`*_\[\]<>#|~])")


def _wrapper(kind: str) -> type[str]:
    opening, closing = _OPEN[kind], _CLOSE[kind]

    class Wrapped(str):
        def __new__(cls, text: object) -> Wrapped:
            return super().__new__(cls, f"{opening}{text}{closing}")

    Wrapped.__name__ = f"Marked_{kind}"
    return Wrapped


class MarkedFormatter:
    """A citeproc-py formatter (used as a module would be) emitting sentinels."""

    Italic = _wrapper("i")
    Oblique = _wrapper("i")
    Bold = _wrapper("b")
    Light = _wrapper("l")
    Underline = _wrapper("u")
    Superscript = _wrapper("sup")
    Subscript = _wrapper("sub")
    SmallCaps = _wrapper("sc")

    @staticmethod
    def preformat(text: object) -> str:
        """Input text as it is: items were cleaned (stray sentinels removed) beforehand."""
        return str(text)


def strip(text: str) -> str:
    """Plain text: sentinels dropped."""
    return _SENTINEL_RE.sub("", text)


def convert(text: str, output: str) -> str:
    """``text`` as ``output``: ``text`` (plain), ``html`` or ``markdown``."""
    if output == "html":
        return to_html(text)
    if output == "markdown":
        return to_markdown(text)
    return strip(text)


def mark(kind: str, text: str) -> str:
    """``text`` marked as ``kind`` (``i``, ``b``, ``sup``, ``sub``, ``sc``)."""
    return f"{_OPEN[kind]}{text}{_CLOSE[kind]}"


def superscript(text: str) -> str:
    """``text`` marked as superscript."""
    return f"{_OPEN['sup']}{text}{_CLOSE['sup']}"


def to_html(text: str) -> str:
    """HTML: text escaped, sentinels turned into balanced tags."""
    out = html.escape(text, quote=False)
    return _replace_sentinels(out, _HTML_TAGS)


def to_markdown(text: str) -> str:
    """Markdown: special characters escaped, italics and bold as ``*``/``**``."""
    out = _MARKDOWN_SPECIAL_RE.sub(r"\\\1", text)
    # Emphasis next to a space does not render in CommonMark: move the space outside.
    for kind in ("i", "b"):
        out = re.sub(f"{_OPEN[kind]}(\\s+)", rf"\1{_OPEN[kind]}", out)
        out = re.sub(f"(\\s+){_CLOSE[kind]}", rf"{_CLOSE[kind]}\1", out)
        out = out.replace(_OPEN[kind] + _CLOSE[kind], "")
    return _replace_sentinels(out, _MARKDOWN_TAGS)


def _replace_sentinels(text: str, tags: dict[str, tuple[str, str]]) -> str:
    for kind in _KINDS:
        opening, closing = tags.get(kind, ("", ""))
        text = text.replace(_OPEN[kind], opening).replace(_CLOSE[kind], closing)
    return text
