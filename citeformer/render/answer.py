"""The answer itself, rendered per style: markers as the style cites, as text, Markdown or HTML.

The model's markers stay what the grammar allowed (source ids); this is the
deterministic layer that presents them. Adjacent markers merge into one citation
(``[1][2]`` -> ``[1, 2]``, ``[1–3]`` when the style collapses), and every rendered
marker keeps the citations behind it and its offsets in the output, so a UI can
highlight the sentence a reference supports.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from citeformer.core import Citation, MarkerStyle
from citeformer.errors import InvalidOptionError
from citeformer.render import _marked
from citeformer.render.bibliography import (
    NUMBERINGS,
    OUTPUT_FORMATS,
    RENDERERS,
    Bibliography,
    BibliographyEntry,
    Numbering,
    OutputFormat,
    Renderer,
    check_choice,
    cite_template,
    render_bibliography,
)

if TYPE_CHECKING:
    from citeformer.core import GenerationResult

_ANCHOR_RE: Final = re.compile(r"[A-Za-z][\w-]*\Z")
_SUPERSCRIPT: Final = str.maketrans("0123456789()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾")
_GAP_RE: Final = re.compile(r"[ \t]*\Z")
_HEADINGS: Final = {"references": "References", "notes": "Notes"}


@dataclass(frozen=True, slots=True)
class RenderedMarker:
    """One citation as rendered, and where it sits in the output.

    Attributes:
        start: Offset of its first character in :attr:`RenderedAnswer.text`.
        end: Offset just past it.
        text: The rendered citation (``[1, 2]``, ``(Smith, 2020a)``, a footnote mark),
            in the output format.
        source_ids: The sources it cites, in the order shown.
        citations: The result's citations behind it (one per id per original marker).
        note: Its footnote number (note styles with ``inline=True``), else ``None``.
    """

    start: int
    end: int
    text: str
    source_ids: tuple[int, ...]
    citations: tuple[Citation, ...]
    note: int | None = None


@dataclass(frozen=True, slots=True)
class RenderedAnswer:
    """An answer with its citations and bibliography, rendered.

    Attributes:
        text: The whole output (answer, notes, bibliography) in ``format``.
        format: ``text``, ``markdown`` or ``html``.
        markers: Every rendered citation, in text order.
        bibliography: The bibliography (entries, numbering, style, locale).
        notes: Footnote texts in ``format`` (note styles with ``inline=True``).
    """

    text: str
    format: OutputFormat
    markers: tuple[RenderedMarker, ...]
    bibliography: Bibliography
    notes: tuple[str, ...] = field(default=())

    @property
    def entries(self) -> tuple[BibliographyEntry, ...]:
        """The bibliography entries in display order."""
        return self.bibliography.entries

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class _Cluster:
    start: int
    end: int
    ids: tuple[int, ...]
    citations: tuple[Citation, ...]


@dataclass(frozen=True, slots=True)
class _Form:
    """A citation's presentation: affixes and items, all sentinel-marked."""

    prefix: str
    items: tuple[tuple[str, int], ...]
    delimiter: str
    suffix: str
    superscript: bool = False
    joiners: tuple[str, ...] = ()
    """What goes before each item after the first (default: ``delimiter``)."""

    def joiner(self, index: int) -> str:
        """The text between item ``index - 1`` and item ``index``."""
        return self.joiners[index - 1] if self.joiners else self.delimiter


def render_answer(
    result: GenerationResult,
    format: OutputFormat = "text",
    *,
    style: str | os.PathLike[str] | None = None,
    locale: str | None = None,
    numbering: Numbering = "source",
    inline: bool = False,
    renderer: Renderer = "citeproc",
    anchor_prefix: str = "ref-",
) -> RenderedAnswer:
    """Render ``result`` with its markers and bibliography (``result.rendered()``).

    Args:
        result: A generation result.
        format: ``text``, ``markdown`` (links from each marker to its entry) or ``html``
            (escaped, with anchors, ready to drop into a page).
        style: Any style :func:`~citeformer.render.resolve_style` accepts; default: the
            style the result's references were rendered in, else ``ieee``.
        locale: A CSL locale; default: the references' locale, else the style's.
        numbering: ``source`` (markers keep the source ids) or ``style`` (the style's
            numbers; markers and list rewritten through the same mapping).
        inline: Markers in the style's in-text form: author-date ``(Smith, 2020a)``,
            numeric ``[1]`` or superscript, note styles as footnotes.
        renderer: ``citeproc`` or ``pandoc``.
        anchor_prefix: Prefix of the HTML/Markdown anchor ids (``ref-3``), so two
            answers on one page can be kept apart.

    Raises:
        InvalidOptionError: A bad option, style or locale.
    """
    check_choice(format, OUTPUT_FORMATS, "format")
    check_choice(numbering, NUMBERINGS, "numbering")
    check_choice(renderer, RENDERERS, "renderer")
    if not isinstance(inline, bool):
        raise InvalidOptionError(f"inline must be a bool, got {inline!r}")
    if not isinstance(anchor_prefix, str) or not _ANCHOR_RE.match(anchor_prefix):
        raise InvalidOptionError(
            f"anchor_prefix must start with a letter and hold only letters, digits, '-' "
            f"or '_', got {anchor_prefix!r}"
        )
    first = result.references[0] if result.references else None
    chosen_style = style if style is not None else (first.style if first else "ieee")
    chosen_locale = locale if locale is not None else (first.locale if first else None)
    bibliography = render_bibliography(
        result.sources,
        result.cited_ids,
        chosen_style,
        locale=chosen_locale,
        numbering=numbering,
        renderer=renderer,
    )
    writer = _Writer(result, bibliography, format, inline, anchor_prefix)
    return writer.build()


def _clusters(citations: Sequence[Citation], text: str) -> list[_Cluster]:
    spans: dict[tuple[int, int], list[Citation]] = {}
    for citation in citations:
        spans.setdefault((citation.start, citation.end), []).append(citation)
    merged: list[_Cluster] = []
    for (start, end), cites in sorted(spans.items()):
        ids = tuple(dict.fromkeys(c.source_id for c in cites))
        if merged and _GAP_RE.match(text, merged[-1].end, start):
            last = merged.pop()
            start = last.start
            ids = tuple(dict.fromkeys((*last.ids, *ids)))
            cites = [*last.citations, *cites]
        merged.append(_Cluster(start, end, ids, tuple(cites)))
    return merged


def _marker_style(citations: Sequence[Citation]) -> MarkerStyle:
    opening = citations[0].marker[:1] if citations else "["
    for style in MarkerStyle:
        if style.open == opening:
            return style
    return MarkerStyle.BRACKET


def _joined(form: _Form) -> str:
    body = "".join((form.joiner(k) if k else "") + text for k, (text, _) in enumerate(form.items))
    return form.prefix + body + form.suffix


def _collapsed(numbers: list[int]) -> list[tuple[str, int]]:
    """Runs of three or more consecutive numbers as ``a–b`` (CSL's citation-number collapse)."""
    out: list[tuple[str, int]] = []
    index = 0
    while index < len(numbers):
        run = index
        while run + 1 < len(numbers) and numbers[run + 1] == numbers[run] + 1:
            run += 1
        if run - index >= 2:
            out.append((f"{numbers[index]}\u2013{numbers[run]}", numbers[index]))
            index = run + 1
        else:
            out.append((str(numbers[index]), numbers[index]))
            index += 1
    return out


class _Writer:
    """Builds one rendered answer; lives for one call."""

    def __init__(
        self,
        result: GenerationResult,
        bibliography: Bibliography,
        output: OutputFormat,
        inline: bool,
        anchor_prefix: str,
    ) -> None:
        self.result = result
        self.bibliography = bibliography
        self.output = output
        self.inline = inline
        self.anchor = anchor_prefix
        self.facts = bibliography._facts
        self.marker_style = _marker_style(result.citations)
        # Parts of one document link to (and are cited through) its entry.
        self.owner = {sid: e.source_id for e in bibliography.entries for sid in e.source_ids}
        self.by_number = {n: self.owner[sid] for sid, n in bibliography.numbers.items()}
        self.notes: list[str] = []
        self.parts: list[str] = []
        self.length = 0

    def _append(self, piece: str) -> None:
        self.parts.append(piece)
        self.length += len(piece)

    def build(self) -> RenderedAnswer:
        text = self.result.text
        if self.output == "html":
            self._append('<div class="cf-answer"><p>')
        markers: list[RenderedMarker] = []
        cursor = 0
        for cluster in _clusters(self.result.citations, text):
            note = len(self.notes) + 1 if self._footnotes() else None
            form = self._form(cluster)
            segment = text[cursor : cluster.start]
            if form.superscript:  # a superscript sits right after the word it follows
                segment = segment.rstrip(" \t")
            self._append(self._prose(segment))
            rendered = self._citation(form, note)
            markers.append(
                RenderedMarker(
                    self.length,
                    self.length + len(rendered),
                    rendered,
                    cluster.ids,
                    cluster.citations,
                    note,
                )
            )
            self._append(rendered)
            cursor = cluster.end
        self._append(self._prose(text[cursor:]))
        if self.output == "html":
            self._append("</p></div>")
        self._append(self._notes_section())
        self._append(self._bibliography_section())
        return RenderedAnswer(
            "".join(self.parts),
            self.output,
            tuple(markers),
            self.bibliography,
            tuple(self.notes),
        )

    # -- citations -------------------------------------------------------------------

    def _footnotes(self) -> bool:
        return self.inline and self.bibliography.style.citation_format == "note"

    def _numbered(self) -> bool:
        return self.bibliography.style.citation_format == "numeric"

    def _form(self, cluster: _Cluster) -> _Form:
        # dict.fromkeys: parts of one document share a number under numbering="style".
        numbers = list(dict.fromkeys(self.bibliography.numbers[sid] for sid in cluster.ids))
        if not self.inline:
            style = self.marker_style
            if style is MarkerStyle.CARET:
                return _Form("", tuple((f"^{n}", self.by_number[n]) for n in numbers), " ", "")
            items = self._number_items(numbers, sort=False)
            return _Form(style.open, items, ", ", style.close)
        if self._footnotes():
            note_form = self._peeled(cluster.ids)
            self.notes.append(self._format(note_form))
            number = len(self.notes)
            return _Form("", ((str(number), 0),), "", "", superscript=True)
        if self._numbered():
            entry = self.bibliography.entry(cluster.ids[0])
            template = cite_template(entry._cite, entry.number)
            if template is not None:
                prefix, _, suffix = template.partition("{}")
                prefix, suffix = prefix.replace("{{", "{"), suffix.replace("}}", "}")
                sup = self.facts is not None and self.facts.superscript_cites
                delimiter = self.facts.cite_delimiter if self.facts else ", "
                return _Form(prefix, self._number_items(numbers, sort=True), delimiter, suffix, sup)
        return self._peeled(cluster.ids)

    def _number_items(self, numbers: list[int], *, sort: bool) -> tuple[tuple[str, int], ...]:
        if sort:
            numbers = sorted(numbers)
        collapse = self.facts is not None and self.facts.collapse == "citation-number"
        if collapse and numbers == sorted(numbers):
            pairs = _collapsed(numbers)
        else:
            pairs = [(str(n), n) for n in numbers]
        return tuple((label, self.by_number[n]) for label, n in pairs)

    def _peeled(self, ids: Sequence[int]) -> _Form:
        """Each entry's own in-text citation with the layout affixes taken off, joined."""
        facts = self.facts
        prefix = facts.cite_prefix if facts else ""
        suffix = facts.cite_suffix if facts else ""
        delimiter = (facts.cite_delimiter if facts else "") or "; "
        ordered = list(dict.fromkeys(self.owner[sid] for sid in ids))
        if facts is not None and facts.sorts_citations:
            position = {e.source_id: i for i, e in enumerate(self.bibliography.entries)}
            ordered.sort(key=lambda sid: position[sid])
        lead = trail = ""
        items: list[tuple[str, int]] = []
        for sid in ordered:
            cite = self.bibliography.entry(sid)._cite
            if not _marked.strip(cite).strip():  # the style printed nothing: its number
                cite = f"{prefix}{self.bibliography.numbers[sid]}{suffix}"
            head = re.match(f"{_marked.SENTINEL_CLASS}*", cite)
            tail = re.search(f"{_marked.SENTINEL_CLASS}*\\Z", cite)
            opening = head.group() if head else ""
            closing = tail.group() if tail else ""
            body = cite[len(opening) : len(cite) - len(closing)]
            if not (body.startswith(prefix) and body.endswith(suffix)):
                # The affixes are not where the layout says: show each citation whole.
                whole = tuple((self.bibliography.entry(s)._cite, s) for s in ordered)
                return _Form("", whole, "; ", "")
            body = body[len(prefix) : len(body) - len(suffix)]
            lead, trail = opening, closing
            items.append((body or f"[{self.bibliography.numbers[sid]}]", sid))
        superscript = facts is not None and facts.superscript_cites
        joiners = self._collapse_years(ordered, items, delimiter)
        return _Form(lead + prefix, tuple(items), delimiter, suffix + trail, superscript, joiners)

    def _collapse_years(
        self, ordered: list[int], items: list[tuple[str, int]], delimiter: str
    ) -> tuple[str, ...]:
        """``collapse="year"``: one author's cites in a row keep the names once.

        "(Smith, 2020a; Smith, 2020b)" becomes "(Smith, 2020a, 2020b)"; the items are
        shortened in place and the joiners between them returned.
        """
        facts = self.facts
        if facts is None or not (facts.collapse or "").startswith("year") or len(items) < 2:
            return ()
        joiners: list[str] = []
        previous = self.bibliography.entry(ordered[0])._cite_names
        for index in range(1, len(items)):
            names = self.bibliography.entry(ordered[index])._cite_names
            text, sid = items[index]
            if names and names == previous and text.startswith(names):
                items[index] = (text[len(names) :].lstrip(" ,"), sid)
                joiners.append(facts.cite_group_delimiter)
            else:
                joiners.append(delimiter)
            previous = names
        return tuple(joiners)

    def _format(self, form: _Form) -> str:
        return self._convert(_joined(form))

    def _citation(self, form: _Form, note: int | None) -> str:
        if self.output == "text":
            text = _marked.strip(_joined(form))
            return text.translate(_SUPERSCRIPT) if form.superscript else text
        pieces = []
        for label, sid in form.items:
            target = f"{self.anchor}note-{note}" if note is not None else f"{self.anchor}{sid}"
            inner = self._convert(label)
            if self.output == "html":
                pieces.append(f'<a class="cf-cite" href="#{target}">{inner}</a>')
            else:
                pieces.append(f"[{inner}](#{target})")
        body = self._convert(form.prefix) + "".join(
            (self._convert(form.joiner(k)) if k else "") + piece for k, piece in enumerate(pieces)
        )
        body += self._convert(form.suffix)
        if form.superscript and _marked.SUP_OPEN not in form.prefix:
            body = f"<sup>{body}</sup>"
        return body

    # -- prose and sections -------------------------------------------------------------

    def _convert(self, marked: str) -> str:
        return _marked.convert(marked, self.output)

    def _prose(self, segment: str) -> str:
        if self.output == "text":
            return segment
        escaped = html.escape(segment, quote=self.output == "html")
        if self.output == "markdown":
            return escaped
        escaped = re.sub(r"\n\s*\n", "</p>\n<p>", escaped)
        return escaped.replace("\n", "<br>\n")

    def _notes_section(self) -> str:
        if not self.notes:
            return ""
        if self.output == "text":
            lines = "\n".join(f"{k}. {note}" for k, note in enumerate(self.notes, start=1))
            return f"\n\n{_HEADINGS['notes']}\n{lines}"
        if self.output == "markdown":
            lines = "\n\n".join(
                f'<a id="{self.anchor}note-{k}"></a>{k}\\. {note}'
                for k, note in enumerate(self.notes, start=1)
            )
            return f"\n\n**{_HEADINGS['notes']}**\n\n{lines}"
        items = "\n".join(
            f'  <li id="{self.anchor}note-{k}">{note}</li>'
            for k, note in enumerate(self.notes, start=1)
        )
        return f'\n<ol class="cf-notes">\n{items}\n</ol>'

    def _entry_label(self, entry: BibliographyEntry) -> str:
        if entry.label:
            return entry.label
        if self.inline:
            return ""
        numbers = dict.fromkeys(self.bibliography.numbers[sid] for sid in entry.source_ids)
        return self.marker_style.marker(list(numbers)).replace("^", "")  # markers are numbers

    def _bibliography_section(self) -> str:
        if not self.bibliography.entries:
            return ""
        body = format_entries(
            self.bibliography.entries, self.output, label=self._entry_label, anchor=self.anchor
        )
        if self.output == "text":
            return f"\n\n{_HEADINGS['references']}\n{body}"
        if self.output == "markdown":
            return f"\n\n**{_HEADINGS['references']}**\n\n{body}"
        return f"\n{body}"


def format_entries(
    entries: Sequence[BibliographyEntry],
    output: OutputFormat,
    *,
    label: Callable[[BibliographyEntry], str] = lambda entry: entry.label,
    anchor: str = "ref-",
) -> str:
    """Bibliography entries as one block: text lines, Markdown paragraphs or HTML.

    Args:
        entries: The entries, in display order.
        output: ``text``, ``markdown`` (each entry anchored) or ``html`` (a
            ``csl-bib-body`` div).
        label: The label shown before an entry (default: the style's own).
        anchor: Prefix of the anchor ids (``ref-3``).
    """
    if output == "text":
        lines = []
        for entry in entries:
            shown = label(entry)
            lines.append(f"{shown} {entry.body}" if shown else entry.body)
        return "\n".join(lines)
    if output == "markdown":
        blocks = []
        for entry in entries:
            shown = label(entry)
            prefix = f"{_marked.to_markdown(shown)} " if shown else ""
            blocks.append(
                f'<a id="{anchor}{entry.source_id}"></a>{prefix}{entry.formatted("markdown")}'
            )
        return "\n\n".join(blocks)
    rows = []
    for entry in entries:
        shown = label(entry)
        margin = (
            f'<span class="csl-left-margin">{html.escape(shown, quote=False)}</span> '
            if shown
            else ""
        )
        rows.append(
            f'  <div class="csl-entry" id="{anchor}{entry.source_id}">'
            f"{margin}{entry.formatted('html')}</div>"
        )
    return '<div class="csl-bib-body">\n' + "\n".join(rows) + "\n</div>"
