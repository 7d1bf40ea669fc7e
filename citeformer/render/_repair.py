"""Repairs of citeproc-py's text output, on the sentinel-marked string.

Quirks repaired here (citeproc-py 0.11.1); every pattern lets formatting sentinels sit
between the characters it looks at, so italics never hide a doubled period:

- punctuation-in-quote is ignored (``“Title”, Journal``); moved inside for en-US;
- a title substituted for a missing author is printed twice (``Title. (n.d.). Title.``);
- doubled punctuation after a title ending in ``?``/``!`` (``What is it?.``);
- straight apostrophes stay straight (``O'Brien``; citeproc-js and pandoc print ’);
- page ranges whose last page is longer (``1-10`` printed ``1–0``): protected upstream
  by :data:`~citeformer.render._text.PAGE_RANGE_MARK` and turned into an en dash here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from citeformer.render._marked import SENTINEL_CLASS
from citeformer.render._text import PAGE_RANGE_MARK, plain

_S: Final = f"{SENTINEL_CLASS}*"
_PLACEHOLDER: Final = "\x00{}\x00"
_PROTECTED_VARIABLES: Final = ("URL", "DOI")

_TERMINAL_IN_QUOTE: Final = re.compile(rf"([.?!\u2026]{_S}”{_S})[.,]")
_OUTSIDE_QUOTE: Final = re.compile(rf"”({_S})([.,])")
_APOSTROPHE: Final = re.compile(r"(?<=[^\W_])'")
_DOUBLED: Final = (
    (re.compile(rf"([?!\u2026]{_S})\.(?!\.)"), r"\1"),
    (re.compile(rf"(?<!\.)(\.{_S})\.(?!\.)"), r"\1"),
    (re.compile(rf",\s*({_S})([.,])"), r"\1\2"),
    (re.compile(rf"\((?:\s|{SENTINEL_CLASS})*\)|\[(?:\s|{SENTINEL_CLASS})*\]|“\s*”"), ""),
    (re.compile(rf"\s+({_S}[,;.])(?=\s|$|{SENTINEL_CLASS})"), r"\1"),
    (re.compile(r"[ \t]{2,}"), " "),
)


def tidy(text: str, item: Mapping[str, object], punctuation_in_quote: bool) -> str:
    """Repair one rendered entry or citation of ``item``."""
    text = text.replace(PAGE_RANGE_MARK, "\u2013")
    protected: list[str] = []
    for variable in _PROTECTED_VARIABLES:  # URLs and DOIs keep their exact characters
        value = item.get(variable)
        if isinstance(value, str) and value in text:
            text = text.replace(value, _PLACEHOLDER.format(len(protected)))
            protected.append(value)
    for phrase in _repeated_phrases(item):
        text = _drop_repeat(text, phrase)
    if punctuation_in_quote:
        text = _TERMINAL_IN_QUOTE.sub(r"\1", text)
        text = _OUTSIDE_QUOTE.sub(r"\2”\1", text)
    for pattern, replacement in _DOUBLED:
        text = pattern.sub(replacement, text)
    text = _APOSTROPHE.sub("\u2019", text)
    for index, value in enumerate(protected):
        text = text.replace(_PLACEHOLDER.format(index), value)
    return text.strip()


def _repeated_phrases(item: Mapping[str, object]) -> list[str]:
    phrases: list[str] = []
    if "author" not in item and "editor" not in item:
        phrases.append(plain(str(item.get("title", ""))))
    if isinstance(issued := item.get("issued"), Mapping) and "literal" in issued:
        phrases.append(str(issued["literal"]))
    return phrases


def _drop_repeat(text: str, phrase: str) -> str:
    """Remove the second copy of ``phrase`` and the delimiter before it.

    citeproc-py does not suppress a variable once it has been substituted for a missing
    author, so ``Title. (n.d.). Title.`` and ``(Spring 2020, Spring 2020)`` come out.
    """
    if not phrase:
        return text
    pattern = re.compile(
        rf"\s*[,.;:]?\s*{_S}[“\"]?(?<!\w){re.escape(phrase)}(?!\w)[”\"]?{_S}", re.IGNORECASE
    )
    matches = list(pattern.finditer(text))
    if len(matches) < 2:
        return text
    second = matches[1]
    kept = "".join(re.findall(SENTINEL_CLASS, second.group()))  # keep tags balanced
    return text[: second.start()] + kept + text[second.end() :]


def editor_repeated(text: str, item: Mapping[str, object]) -> bool:
    """The editor stood in for a missing author and was printed twice."""
    editors = item.get("editor")
    if "author" in item or not isinstance(editors, list) or not editors:
        return False
    first = editors[0]
    if not isinstance(first, Mapping):
        return False
    name = str(first.get("family") or first.get("literal") or "")
    return bool(name) and len(re.findall(rf"(?<!\w){re.escape(name)}(?!\w)", text)) > 1


def plain_entry(item: Mapping[str, object]) -> str:
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


def split_label(text: str, number: int) -> tuple[str, str] | None:
    """``(label template, body)`` when ``text`` opens with its citation number.

    The template has ``{}`` where the number was (``"[{}]"``, ``"{}."``), so any other
    number can be put in its place.
    """
    match = re.match(
        rf"\s*({_S}[\[(<{{]?{_S}){number}(?!\d)({_S}[\])>}}]?[.:]?{_S})\s*",
        text,
    )
    if match is None:
        return None
    template = match.group(1).replace("{", "{{").replace("}", "}}") + "{}"
    template += match.group(2).replace("{", "{{").replace("}", "}}")
    return template, text[match.end() :]
