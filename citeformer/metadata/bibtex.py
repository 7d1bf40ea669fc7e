r"""BibTeX to CSL: bibtexparser 2 for the syntax, a pass of ours for what it leaves out.

bibtexparser splits the file (a malformed entry becomes a ``ParsingFailedBlock`` and
the rest still parse) and decodes LaTeX (``M{\"u}ller`` → Müller, ``--`` → en dash).
Ours, in this order: ``@string`` macros and ``#`` concatenation evaluated (its own
resolver only replaces a whole value that is one macro name), ``crossref`` inheritance
(a paper's proceedings fill in its missing fields), then the CSL mapping in
:mod:`citeformer.metadata._bibtex_csl`. Every entry that cannot be read is reported in
:attr:`ParseResult.problems <citeformer.metadata.files.ParseResult>`, never dropped
silently.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Final

from bibtexparser.entrypoint import parse_string
from bibtexparser.library import Library
from bibtexparser.middlewares import (
    LatexDecodingMiddleware,
    MonthIntMiddleware,
    SeparateCoAuthors,
    SplitNameParts,
)
from bibtexparser.middlewares.middleware import BlockMiddleware
from bibtexparser.middlewares.names import NameParts
from bibtexparser.model import (
    DuplicateBlockKeyBlock,
    DuplicateFieldKeyBlock,
    Entry,
    Field,
    MiddlewareErrorBlock,
    ParsingFailedBlock,
)
from pylatexenc import latex2text, latexwalker
from pylatexenc.latex2text import MacroTextSpec

from citeformer.metadata._bibtex_csl import VERBATIM_FIELDS, to_csl
from citeformer.metadata.files import ParseProblem, ParseResult, require_entries
from citeformer.metadata.record import Fetched

__all__ = ["BibtexResult", "parse_bibtex"]

# bibtexparser logs each malformed block as a warning; we report them in the result, and
# without a handler of the application's, logging would print them to stderr as well.
logging.getLogger("bibtexparser").addHandler(logging.NullHandler())

BibtexResult = ParseResult
"""What :func:`parse_bibtex` returns: the entries (a list) and ``problems``."""

# BibTeX's predefined month macros (plain.bst and every standard style define them).
_MONTH_MACROS: Final = {
    m[:3].lower(): m
    for m in [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ]
}
# Fields bibtex never copies from a crossref'd parent (they identify the parent).
_NOT_INHERITED: Final = frozenset({"crossref", "xref", "ids", "key", "label", "shorthand"})
# Types whose parent's title is the book or proceedings they appear in.
_PART_TYPES: Final = frozenset(
    {"inproceedings", "conference", "incollection", "inbook", "inreference", "suppbook"}
)
# An unescaped % starts a LaTeX comment: the decoder would drop the rest of the line,
# but in a .bib value ("improves by 50% over") it is text.
_BARE_PERCENT: Final = re.compile(r"(?<!\\)%")
# pylatexenc drops the braces of a one-character group ({B}ayesian), which protect a
# capital from a style's case changes: such groups travel through the decoder marked
# with private-use characters instead. Accent arguments (\"{U}, \c{C}) are left alone.
_SINGLE_GROUP: Final = re.compile(r"(?<![\\A-Za-z\"'`^~=.])\{([A-Z0-9])\}")
_OPEN, _CLOSE = "\ue000", "\ue001"
# What the LaTeX decoder changes: without any of these a value decodes to itself.
_LATEX: Final = re.compile(r"[\\{}~$%&#^_\-'`\"]")
_LOGOS: Final = {"TeX": "TeX", "LaTeX": "LaTeX", "LaTeXe": "LaTeX2e", "BibTeX": "BibTeX"}
_DUPLICATE: Final = "duplicate key: an earlier entry has it; this one is left out (rename one)"


@dataclass(slots=True)
class _Raw:
    """One entry after macro evaluation: plain string values, keys lower-cased."""

    kind: str
    key: str
    line: int | None
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return _where(self.key, self.line)


def parse_bibtex(text: str, origin: str = "") -> ParseResult:
    """CSL records from BibTeX (or biblatex) text.

    Args:
        text: The file's content (read a path with
            :func:`~citeformer.metadata.files.read_text_or_path`).
        origin: Where it came from, recorded in each :class:`Fetched`.

    Returns:
        One :class:`Fetched` per entry, ids ``bibtex:<key>``, content the abstract
        (or ""), in file order; ``problems`` names each entry left out (malformed,
        duplicate key, no title) and each field that could not be read.

    Raises:
        MetadataParseError: No entry at all could be read.
    """
    library = parse_string(text.removeprefix("\ufeff"), parse_stack=[])
    problems: list[ParseProblem] = []
    entries = list(library.entries)
    for block in library.failed_blocks:
        recovered = _failed(block, problems)
        if recovered is not None:
            entries.append(recovered)
    entries.sort(key=lambda e: e.start_line or 0)
    strings = _strings(library, problems)
    raws: dict[str, _Raw] = {}
    folded: set[str] = set()
    for entry in entries:
        raw = _Raw(entry.entry_type.lower(), entry.key.strip(), entry.start_line)
        if raw.key.lower() in folded:
            # bibtex compares keys ignoring case; bibtexparser only catches exact repeats.
            problems.append(ParseProblem(raw.where, _DUPLICATE))
            continue
        for item in entry.fields:
            name = item.key.strip().lower()
            if name not in raw.fields:  # the first of a repeated field wins, as in bibtex
                where = f"{raw.where}, field {name!r}"
                raw.fields[name] = _evaluate(str(item.value), strings, problems, where)
        raws[raw.key] = raw
        folded.add(raw.key.lower())
    out: list[Fetched] = []
    for raw in raws.values():
        fields = _inherit(raw, raws, problems)
        fetched = to_csl(raw.kind, raw.key, raw.line, _decode(fields, raw, problems), origin)
        if isinstance(fetched, str):
            problems.append(ParseProblem(raw.where, fetched))
        else:
            out.append(fetched)
    return require_entries(ParseResult(out, problems), "BibTeX", origin)


def _where(key: str | None, line: int | None) -> str:
    at = f" (line {line + 1})" if line is not None else ""
    return f"entry {key!r}{at}" if key else f"the block at line {(line or 0) + 1}"


def _failed(block: ParsingFailedBlock, problems: list[ParseProblem]) -> Entry | None:
    """Report a block bibtexparser could not take; the entry to keep anyway, if any."""
    if isinstance(block, DuplicateBlockKeyBlock):
        problems.append(
            ParseProblem(
                _where(block.key, block.start_line),
                _DUPLICATE,
            )
        )
        return None
    if isinstance(block, DuplicateFieldKeyBlock) and isinstance(block.ignore_error_block, Entry):
        entry = block.ignore_error_block
        fields = ", ".join(sorted(block.duplicate_keys))
        problems.append(
            ParseProblem(
                _where(entry.key, entry.start_line),
                f"field(s) {fields} given twice; the first value is used",
                dropped=False,
            )
        )
        return entry
    error = block.error
    reason = getattr(error, "abort_reason", None) or str(error) or type(error).__name__
    head = (block.raw or "").strip().splitlines()[:1]
    found = re.match(r"@\s*\w+\s*[{(]\s*([^,\s]+)", head[0]) if head else None
    problems.append(
        ParseProblem(
            _where(found.group(1) if found else None, block.start_line),
            f"malformed, left out: {reason.strip()}",
        )
    )
    return None


def _strings(library: Library, problems: list[ParseProblem]) -> dict[str, str]:
    """``@string`` macros, each evaluated with the ones defined before it."""
    values: dict[str, str] = {}
    for string in library.strings:
        where = f"@string {string.key!r}"
        values[string.key.strip().lower()] = _evaluate(str(string.value), values, problems, where)
    return values


def _evaluate(value: str, strings: dict[str, str], problems: list[ParseProblem], where: str) -> str:
    """A field's value with ``#`` concatenation and macros evaluated, enclosing removed."""
    parts: list[str] = []
    for token in _split_concatenation(value):
        if (len(token) >= 2 and token[0] == "{" and token[-1] == "}") or (
            len(token) >= 2 and token[0] == '"' and token[-1] == '"'
        ):
            parts.append(token[1:-1])
        elif token.isdigit():
            parts.append(token)
        elif token.lower() in strings:
            parts.append(strings[token.lower()])
        elif token.lower() in _MONTH_MACROS:
            parts.append(_MONTH_MACROS[token.lower()])
        elif token:
            problems.append(
                ParseProblem(
                    where,
                    f"undefined @string macro {token!r}; kept as text (define it with "
                    f"@string{{{token} = {{...}}}} or put the value in braces)",
                    dropped=False,
                )
            )
            parts.append(token)
    return "".join(parts)


def _split_concatenation(value: str) -> list[str]:
    """The operands of ``a # {b} # "c"``: ``#`` counts only outside braces and quotes."""
    tokens: list[str] = []
    depth, quoted, start = 0, False, 0
    for index, char in enumerate(value):
        if char == "\\":
            continue
        if index and value[index - 1] == "\\":
            continue  # an escaped brace or quote is text
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(depth - 1, 0)
        elif char == '"' and depth == 0:
            quoted = not quoted
        elif char == "#" and depth == 0 and not quoted:
            tokens.append(value[start:index].strip())
            start = index + 1
    tokens.append(value[start:].strip())
    return tokens


def _inherit(raw: _Raw, raws: dict[str, _Raw], problems: list[ParseProblem]) -> dict[str, str]:
    """The entry's fields with those of its ``crossref`` parent (and its parent...) added."""
    fields = dict(raw.fields)
    seen = {raw.key.lower()}
    parent_key = fields.pop("crossref", "").strip()
    while parent_key:
        parent = raws.get(parent_key) or next(
            (r for k, r in raws.items() if k.lower() == parent_key.lower()), None
        )
        if parent is None or parent.key.lower() in seen:
            why = "is not in the file" if parent is None else "makes a cycle"
            problems.append(
                ParseProblem(
                    raw.where,
                    f"crossref {parent_key!r} {why}; the entry is kept without its fields",
                    dropped=False,
                )
            )
            break
        seen.add(parent.key.lower())
        for name, value in parent.fields.items():
            if name in _NOT_INHERITED:
                continue
            if name == "title" and raw.kind in _PART_TYPES:
                # The parent's title is the book or proceedings this part is in.
                fields.setdefault("booktitle", value)
            elif name == "title" and raw.kind == "article":
                fields.setdefault("journaltitle", value)
            else:
                fields.setdefault(name, value)
        parent_key = parent.fields.get("crossref", "").strip()
    return fields


def _decode(fields: dict[str, str], raw: _Raw, problems: list[ParseProblem]) -> dict[str, object]:
    """LaTeX decoded, names split, month as a number: bibtexparser's middlewares, per entry.

    URLs and DOIs skip the decoder (it reads ``~`` as a space and ``%`` as a comment).
    """
    verbatim = {k: v for k, v in fields.items() if k in VERBATIM_FIELDS}
    entry = Entry(
        raw.kind,
        raw.key,
        [
            Field(k, _SINGLE_GROUP.sub(_OPEN + r"\1" + _CLOSE, _BARE_PERCENT.sub(r"\\%", v)))
            for k, v in fields.items()
            if k not in VERBATIM_FIELDS
        ],
        start_line=raw.line,
    )
    library = Library([entry])
    for middleware in _middlewares():
        block = middleware.transform_block(entry, library)
        if isinstance(block, MiddlewareErrorBlock) and isinstance(block.ignore_error_block, Entry):
            # Keep what the step managed: the CSL pass copes with undecoded text and
            # unsplit names.
            problems.append(
                ParseProblem(raw.where, f"partly unreadable: {block.error}", dropped=False)
            )
            entry = block.ignore_error_block
        elif isinstance(block, Entry):
            entry = block
    decoded: dict[str, object] = {f.key: _unmark(f.value) for f in entry.fields}
    decoded.update(verbatim)
    return decoded


def _unmark(value: object) -> object:
    if isinstance(value, str):
        return value.replace(_OPEN, "{").replace(_CLOSE, "}")
    if isinstance(value, list):
        for parts in value:
            if isinstance(parts, NameParts):
                for attr in ("first", "von", "last", "jr"):
                    setattr(parts, attr, [_unmark(p) for p in getattr(parts, attr)])
    return value


class _Decoder(latex2text.LatexNodes2Text):  # type: ignore[misc]
    """pylatexenc's decoder, skipping text with nothing to decode (most values).

    It also reuses one parsing context: pylatexenc builds a new one per call
    otherwise, a third of its time.
    """

    _walker_context: Final = latexwalker.get_default_latex_context_db()

    def latex_to_text(self, latex: str, **parse_flags: Any) -> str:
        if not _LATEX.search(latex):
            return latex
        parse_flags.setdefault("latex_context", self._walker_context)
        return str(super().latex_to_text(latex, **parse_flags))


@functools.cache
def _middlewares() -> tuple[BlockMiddleware, ...]:
    # Decoding first, with braced groups kept: the name splitter needs {World Health
    # Organization} whole, and titles map {DNA} to a nocase span. The decoder is
    # bibtexparser's own (\url{x} as x, math verbatim) plus the logos pylatexenc
    # drops ("The {\TeX}book" would read "The book").
    context = latex2text.get_default_latex_context_db()
    logos = [MacroTextSpec(name, simplify_repl=text) for name, text in _LOGOS.items()]
    context.add_context_category(
        "citeformer-bibtex",
        prepend=True,
        # pylatexenc reads \textasciicircum as the modifier letter U+02C6; it is "^".
        macros=[
            MacroTextSpec("url", simplify_repl="%s"),
            MacroTextSpec("textasciicircum", simplify_repl="^"),
            *logos,
        ],
    )
    decoder = _Decoder(latex_context=context, keep_braced_groups=True, math_mode="verbatim")
    return (
        LatexDecodingMiddleware(decoder=decoder),
        SeparateCoAuthors(),
        SplitNameParts(),
        MonthIntMiddleware(),
    )
