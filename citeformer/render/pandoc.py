"""The optional ``renderer="pandoc"``: pandoc's citeproc (jgm/citeproc) as a subprocess.

pandoc passes far more of the CSL suite than citeproc-py and disambiguates itself (year
suffixes, given names): the high-fidelity choice, and an oracle for the in-process
renderer. It is GPL, a 160 MB binary in the ``pypandoc-binary`` wheel (extra
``csl-pandoc``), so it only ever runs as a separate program and is never a core dependency.

One call renders one bibliography: a Markdown document that cites every item once, in
first-citation order, one citation per paragraph, converted to HTML. Entries map back
to items through pandoc's ``id="ref-<id>"``; in-text citations through the
``data-cites`` of each citation span (note styles: the footnote that span points at).
The HTML is turned into the sentinel-marked text the rest of the renderer works on.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Final

from citeformer.errors import InvalidOptionError, MissingDependencyError
from citeformer.render._engine import RenderedItem
from citeformer.render._marked import _CLOSE, _OPEN
from citeformer.render._patched import LoadedStyle
from citeformer.render._repair import plain_entry, tidy
from citeformer.render._text import PAGE_RANGE_MARK
from citeformer.render.catalog import StyleInfo

TIMEOUT_S: Final = 30.0
"""Seconds one pandoc call may take (a bibliography takes about 0.15 s)."""

_TAG_KINDS: Final = dict(em="i", i="i", strong="b", b="b", sup="sup", sub="sub", u="u")
_STYLE_KINDS: Final = (
    ("font-variant:small-caps", "sc"),
    ("font-style:normal", "n"),
    ("text-decoration:underline", "u"),
    ("font-weight:lighter", "l"),
)
_CLASS_KINDS: Final = {"smallcaps": "sc", "underline": "u"}
_VOID_TAGS: Final = frozenset({"br", "hr", "img", "wbr", "input", "meta", "link", "col"})
_SPACE_RE: Final = re.compile(r"[ \t\r\n\f]+")  # not U+00A0: a style's no-break spaces stay


def render_items(
    info: StyleInfo,
    facts: LoadedStyle,
    items: Sequence[Mapping[str, object]],
    clusters: Sequence[Sequence[str]],
) -> list[RenderedItem]:
    """Render ``items`` as one bibliography with pandoc, in the style's order.

    Args:
        info: The resolved style; pandoc reads its independent ``.csl`` file.
        facts: The loaded style; its locale is passed to pandoc.
        items: CSL-JSON items with distinct lowercase ``id`` values.
        clusters: Citations in document order, each a list of item ids; the first
            citation of each item fixes its place in a citation-order bibliography.

    Returns:
        One item per input item, in pandoc's bibliography order, numbered from 1.
        Entries keep pandoc's label (``[1]``); ``year_suffix`` is always ``""``
        because pandoc has already put any suffix into the text.

    Raises:
        MissingDependencyError: ``pypandoc`` (extra ``csl-pandoc``) is not installed
            or finds no pandoc binary.
        InvalidOptionError: pandoc failed on this style, locale or items (its message
            is included) or ran past :data:`TIMEOUT_S`.
    """
    by_key = {str(item["id"]): item for item in items}
    # Every item is cited exactly once, alone, so each paragraph's citation is that
    # item's in-text form; items no cluster names are cited last (CSL's nocite order).
    order = list(dict.fromkeys(key for cluster in clusters for key in cluster if key in by_key))
    order += [key for key in by_key if key not in order]
    html = _run_pandoc(info, facts.locale, [_for_pandoc(by_key[key]) for key in order], order)
    parsed = _PandocHtml()
    parsed.feed(html)
    parsed.close()
    cites = {key: parsed.cite(key) for key in order}
    entries = {key: entry for key, entry in parsed.entries().items() if key in by_key}
    # A style without <bibliography> prints none: its note forms stand in, in citation
    # order, as the in-process renderer does.
    entry_order = [*entries, *(key for key in order if key not in entries)]
    rendered: list[RenderedItem] = []
    for number, key in enumerate(entry_order, start=1):
        item = by_key[key]
        entry = entries.get(key) or ("" if facts.has_bibliography else cites[key])
        if not entry:  # as in-process: an entry that renders empty is still listed
            entry = tidy(plain_entry(item), item, False)
        rendered.append(RenderedItem(key, number, entry, cites[key], ""))
    return rendered


def _for_pandoc(item: Mapping[str, object]) -> dict[str, object]:
    """The item as pandoc should read it: page ranges with their plain hyphen back.

    :func:`~citeformer.render._csl.normalize` joins some page ranges with a mark that
    works around citeproc-py; pandoc formats ranges correctly and would print the mark.
    """
    return {
        name: value.replace(PAGE_RANGE_MARK, "-") if isinstance(value, str) else value
        for name, value in item.items()
    }


def _pandoc_path() -> str:
    try:
        import pypandoc

        return str(pypandoc.get_pandoc_path())
    except (ImportError, OSError):  # OSError: plain pypandoc, and no pandoc installed
        raise MissingDependencyError(
            "renderer='pandoc'", "csl-pandoc", package="pypandoc-binary"
        ) from None


def _run_pandoc(
    info: StyleInfo, locale: str, items: list[dict[str, object]], order: list[str]
) -> str:
    """The HTML pandoc makes of a document citing ``order``, one paragraph per citation."""
    pandoc = _pandoc_path()
    # "@{key}" keeps any character of an id out of Markdown's citation-key syntax.
    document = "\n\n".join(f"[@{{{key}}}]" for key in order) + "\n"
    with tempfile.TemporaryDirectory(prefix="citeformer-pandoc-") as folder:
        # A CSL-JSON file, not YAML metadata: pandoc would parse metadata strings as
        # Markdown, while CSL-JSON strings are read with CSL's own rich-text rules.
        path = Path(folder) / "items.json"
        path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
        command = [pandoc, "--citeproc", "--csl", str(info.path), "--bibliography", str(path)]
        # pandoc's citeproc takes its locale from the "lang" metadata field.
        command += ["-M", f"lang={locale}", "-f", "markdown", "-t", "html", "--wrap=none"]
        try:
            done = subprocess.run(
                command,
                input=document,
                capture_output=True,
                text=True,
                encoding="utf-8",
                timeout=TIMEOUT_S,
                check=True,
            )
        except subprocess.TimeoutExpired:
            raise InvalidOptionError(
                f"renderer='pandoc' took over {TIMEOUT_S:g} s on style {info.id!r}; "
                "renderer='citeproc' renders it in process"
            ) from None
        except subprocess.CalledProcessError as error:
            raise InvalidOptionError(
                f"renderer='pandoc' failed on style {info.id!r} ({info.path}): "
                f"{_first_error(error.stderr)}; renderer='citeproc' may render it"
            ) from None
    return done.stdout


def _first_error(stderr: str | None) -> str:
    """The first line of pandoc's message that is not a warning."""
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith("[WARNING]")]
    return (errors or lines or ["no message"])[0]


class _PandocHtml(HTMLParser):
    """Collects entries, citations and footnotes from pandoc's HTML as marked text.

    Each open element is a frame ``(tag, closing sentinel, capture or None, skipped)``;
    text goes to the innermost capture unless an enclosing element is skipped.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities arrive unescaped
        self._frames: list[tuple[str, str, list[str] | None, bool]] = []
        self._entries: dict[str, list[str]] = {}
        self._cites: dict[str, list[str]] = {}
        self._notes: dict[str, list[str]] = {}
        self._note_of: dict[str, str] = {}

    def entries(self) -> dict[str, str]:
        """Bibliography entries by item id, in pandoc's order."""
        return {key: _finished(parts) for key, parts in self._entries.items()}

    def cite(self, key: str) -> str:
        """The in-text citation of ``key``: its footnote for note styles."""
        note = self._note_of.get(key)
        if note is not None and note in self._notes:
            return _finished(self._notes[note])
        return _finished(self._cites.get(key, []))

    def _sink(self) -> list[str] | None:
        if any(skipped for *_, skipped in self._frames):
            return None
        return next((c for _, _, c, _ in reversed(self._frames) if c is not None), None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open a frame: a capture, a formatting sentinel, or plain text."""
        found = {name: value or "" for name, value in attrs}
        classes = found.get("class", "").split()
        sink = self._sink()
        if tag in _VOID_TAGS:
            if sink is not None and tag == "br":
                sink.append(" ")
            return
        capture: list[str] | None = None
        skipped = False
        element_id = found.get("id", "")
        if tag == "div" and "csl-entry" in classes and element_id.startswith("ref-"):
            capture = self._entries.setdefault(element_id[4:], [])
        elif tag == "span" and "citation" in classes and sink is None:
            capture = self._cites.setdefault(found.get("data-cites", "").split(" ")[0], [])
        elif tag == "li" and element_id.startswith("fn"):
            capture = self._notes.setdefault(element_id, [])
        elif tag == "a" and "footnote-ref" in classes:
            # The note's number is not the citation: the note's text is (see cite()).
            cited = next((k for k, c in self._cites.items() if c is sink), None)
            if cited is not None:
                self._note_of[cited] = found.get("href", "").lstrip("#")
            skipped = True
        elif tag == "a" and "footnote-back" in classes:
            skipped = True  # the "↩︎" back link is navigation, not citation text
        if sink is not None and tag == "div":
            sink.append(" ")  # left-margin label and right-inline body: one space apart
        kind = _kind(tag, classes, found.get("style", ""))
        if kind is not None and sink is not None and not skipped:
            sink.append(_OPEN[kind])
        self._frames.append((tag, _CLOSE[kind] if kind else "", capture, skipped))

    def handle_endtag(self, tag: str) -> None:
        """Close frames up to the matching one (pandoc's HTML is well formed)."""
        if not any(frame[0] == tag for frame in self._frames):
            return
        while self._frames:
            sink = self._sink()
            name, closing, _capture, _skipped = self._frames.pop()
            if sink is not None and (closing or name == "div"):
                sink.append(closing or " ")
            if name == tag:
                return

    def handle_data(self, data: str) -> None:
        """Text goes to the innermost capture."""
        sink = self._sink()
        if sink is not None:
            sink.append(data)


def _kind(tag: str, classes: list[str], style: str) -> str | None:
    """The sentinel kind an element stands for, if any (everything else is plain text)."""
    kind = _TAG_KINDS.get(tag)
    if kind is not None:
        return kind
    if tag != "span":
        return None
    compact = style.replace(" ", "").lower()
    for declaration, styled in _STYLE_KINDS:
        if declaration in compact:
            return styled
    return next((_CLASS_KINDS[c] for c in classes if c in _CLASS_KINDS), None)


def _finished(parts: list[str]) -> str:
    return _SPACE_RE.sub(" ", "".join(parts)).strip()
