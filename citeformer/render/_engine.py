"""Render one normalised CSL item with citeproc-py and repair its known output quirks.

Each entry is rendered in a bibliography of its own, so its text depends only on its
own metadata (what makes per-entry caching sound and the output deterministic).
Quirks repaired here (citeproc-py 0.11):

- numeric styles: the plain formatter glues the label to the body (``[1]A. Author``),
  and the number is citeproc's own; the label is stripped and the source id put back;
- punctuation-in-quote is ignored (``“Title”, Journal``); moved inside for en-US;
- a title substituted for a missing author is printed twice (``Title. (n.d.). Title.``);
- doubled punctuation after a title ending in ``?``/``!`` (``What is it?.``);
- page ranges whose last page is longer (``1-10`` printed ``1–0``): protected upstream
  by :data:`~citeformer.render._text.PAGE_RANGE_MARK` and turned into an en dash here.

NLM's run-together dates are fixed on the style itself (see ``_styles``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from citeformer.render._csl import ITEM_ID
from citeformer.render._styles import RENDER_LOCK, LoadedStyle, StyleSpec
from citeformer.render._text import PAGE_RANGE_MARK, plain

_PLACEHOLDER: Final = "\x00{}\x00"
_PROTECTED_VARIABLES: Final = ("URL", "DOI")

_TERMINAL_IN_QUOTE: Final = re.compile(r"([.?!\u2026]”)[.,]")
_OUTSIDE_QUOTE: Final = re.compile(r"”([.,])")
_DOUBLED: Final = (
    (re.compile(r"([?!\u2026])\.(?!\.)"), r"\1"),
    (re.compile(r"(?<!\.)\.\.(?!\.)"), "."),
    (re.compile(r",\s*([.,])"), r"\1"),
    (re.compile(r"\(\s*\)|\[\s*\]|“\s*”"), ""),
    (re.compile(r"\s+([,;.])(?=\s|$)"), r"\1"),
    (re.compile(r"\s{2,}"), " "),
)


def render_entry(spec: StyleSpec, style: LoadedStyle, item: Mapping[str, object]) -> str:
    """The entry body for ``item`` in ``spec`` (numeric labels not included)."""
    try:
        raw = _citeproc(style, item)
        if "author" not in item and _editor_repeated(raw, item.get("editor")):
            # The editor stood in for the author and was printed twice; as author, once.
            as_author = {k: v for k, v in item.items() if k != "editor"}
            raw = _citeproc(style, {**as_author, "author": item["editor"]})
    except Exception:  # a renderer bug must not lose the answer: fall back to plain text
        raw = ""
    if spec.label is not None:
        raw = _strip_label(raw, spec.label.format(1))
    repeated: list[str] = []
    if "author" not in item and "editor" not in item:
        repeated.append(plain(str(item.get("title", ""))))
    if isinstance(issued := item.get("issued"), Mapping) and "literal" in issued:
        repeated.append(str(issued["literal"]))
    text = (raw or _plain_entry(item)).replace(PAGE_RANGE_MARK, "\u2013")
    return _tidy(text, item, style.punctuation_in_quote, repeated)


def _citeproc(style: LoadedStyle, item: Mapping[str, object]) -> str:
    from citeproc import (
        Citation,
        CitationItem,
        CitationStylesBibliography,
        formatter,
    )
    from citeproc.source.json import CiteProcJSON

    with RENDER_LOCK:  # the bibliography writes the formatter onto the shared style
        source = CiteProcJSON([dict(item)])
        bibliography = CitationStylesBibliography(style.engine, source, formatter.plain)
        bibliography.register(Citation([CitationItem(ITEM_ID)]))
        entries = bibliography.bibliography()
    return str(entries[0]) if entries else ""


def _strip_label(text: str, citeproc_label: str) -> str:
    text = text.lstrip()
    if text.startswith(citeproc_label):
        text = text[len(citeproc_label) :]
    return text.lstrip()


def _editor_repeated(text: str, editors: object) -> bool:
    if not isinstance(editors, list) or not editors or not isinstance(editors[0], Mapping):
        return False
    name = str(editors[0].get("family") or editors[0].get("literal") or "")
    return bool(name) and len(re.findall(rf"(?<!\w){re.escape(name)}(?!\w)", text)) > 1


def _drop_repeat(text: str, phrase: str) -> str:
    """Remove the second copy of ``phrase`` and the delimiter before it.

    citeproc-py does not suppress a variable once it has been substituted for a missing
    author, so ``Title. (n.d.). Title.`` and ``(Spring 2020, Spring 2020)`` come out.
    """
    if not phrase:
        return text
    pattern = re.compile(
        r"\s*[,.;:]?\s*[“\"]?(?<!\w)" + re.escape(phrase) + r"(?!\w)[”\"]?", re.IGNORECASE
    )
    matches = list(pattern.finditer(text))
    if len(matches) < 2:
        return text
    return text[: matches[1].start()] + text[matches[1].end() :]


def _tidy(
    text: str, item: Mapping[str, object], punctuation_in_quote: bool, repeated: list[str]
) -> str:
    protected: list[str] = []
    for variable in _PROTECTED_VARIABLES:  # URLs and DOIs keep their exact characters
        value = item.get(variable)
        if isinstance(value, str) and value in text:
            text = text.replace(value, _PLACEHOLDER.format(len(protected)))
            protected.append(value)
    for phrase in repeated:
        text = _drop_repeat(text, phrase)
    if punctuation_in_quote:
        text = _TERMINAL_IN_QUOTE.sub(r"\1", text)
        text = _OUTSIDE_QUOTE.sub(r"\1”", text)
    for pattern, replacement in _DOUBLED:
        text = pattern.sub(replacement, text)
    for index, value in enumerate(protected):
        text = text.replace(_PLACEHOLDER.format(index), value)
    return text.strip()


def _plain_entry(item: Mapping[str, object]) -> str:
    """A minimal entry used only if citeproc produced nothing."""
    parts: list[str] = []
    for variable in ("author", "editor"):
        if isinstance(names := item.get(variable), list):
            parts.append(", ".join(_name_text(n) for n in names if isinstance(n, Mapping)))
            break
    parts.append(plain(str(item.get("title", ""))))
    issued = item.get("issued")
    if isinstance(issued, Mapping) and isinstance(dates := issued.get("date-parts"), list):
        parts.append(str(dates[0][0]))
    for variable in ("container-title", "publisher", "URL"):
        if isinstance(value := item.get(variable), str):
            parts.append(plain(value))
    if isinstance(doi := item.get("DOI"), str):
        parts.append(f"doi: {doi}")
    return ". ".join(p.rstrip(".") for p in parts if p) + "."


def _name_text(name: Mapping[str, object]) -> str:
    if "literal" in name:
        return str(name["literal"])
    return " ".join(str(name[p]) for p in ("given", "family") if p in name)
