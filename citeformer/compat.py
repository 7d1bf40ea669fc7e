"""The 0.3 line's public names, as thin adapters over the current API.

Code written against citeformer 0.3 imports these from ``citeformer`` (or from here)
unchanged. Names that are only spellings of a current function emit a
:class:`DeprecationWarning` naming it; names that are good on their own
(:func:`build_rag_prompt`, :func:`validate_csl_json`) do not. None brings back the
0.3 line's unsafe behaviour: see ``MIGRATING.md``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from citeformer.core import MarkerStyle, Policy, Source
from citeformer.errors import InvalidOptionError

__all__ = [
    "DEFAULT_CITE_HINT",
    "ValidationReport",
    "author_tag",
    "available_formatters",
    "build_rag_prompt",
    "bundled_style_names",
    "extract_pdf",
    "extract_url",
    "fetch_arxiv",
    "fetch_crossref",
    "load_bibtex",
    "load_zotero_csl",
    "validate_csl_json",
]

DEFAULT_CITE_HINT: Final = (
    "Cite the sources that support each sentence with their markers; never cite a "
    "number that is not listed."
)
"""The line :func:`build_rag_prompt` adds after the instructions by default."""


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} is the 0.3 name; use {new}", DeprecationWarning, stacklevel=3)


# -- prompts -------------------------------------------------------------------------


def author_tag(metadata: Mapping[str, Any]) -> str:
    """The short author tag of a source's label: ``Poe``, ``Lee & Park``, ``Lee et al.``.

    From the CSL ``author`` list (family names, else literal names); ``""`` when there
    is none.
    """
    authors = metadata.get("author")
    if not isinstance(authors, Sequence) or isinstance(authors, str):
        return ""
    names = []
    for author in authors:
        if isinstance(author, Mapping):
            name = author.get("family") or author.get("literal")
            if isinstance(name, str) and name.strip():
                names.append(name.strip())
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    if len(names) == 2:
        return f"{names[0]} & {names[1]}"
    return f"{names[0]} et al."


def build_rag_prompt(
    *,
    query: str,
    sources: Sequence[Source | str],
    system: str | None = None,
    cite_hint: str = DEFAULT_CITE_HINT,
    example: str | None = None,
    answer_prefix: str = "Answer:",
    policy: Policy | str = Policy.REQUIRED,
    marker_style: MarkerStyle | str = MarkerStyle.BRACKET,
) -> str:
    """One completion-style prompt: instructions, the numbered sources, the question.

    The 0.3 prompt builder's parameters, on the current prompt assembly, with two
    fixes: each source's **content** is in the prompt (0.3 listed only author and
    title, so a local model never saw the evidence), and each label carries the
    source's author tag (``[1] Poe: The Raven``).

    Args:
        query: The question.
        sources: The sources, in id order (strings are wrapped as ``Source``).
        system: Instructions replacing citeformer's (which name the markers that
            exist and the policy's rule).
        cite_hint: A line after the instructions ("" for none).
        example: An example answer, shown after the instructions.
        answer_prefix: Where the model's answer starts.
        policy: The citation policy the instructions describe.
        marker_style: The markers the instructions and labels use.

    Raises:
        InvalidSourceError: ``sources`` is empty or holds something else.
        InvalidOptionError: An unknown policy or marker style.
    """
    from citeformer._coerce import coerce_sources
    from citeformer.grammar.language import citation_language
    from citeformer.prompts import build_messages

    if not isinstance(query, str) or not query.strip():
        raise InvalidOptionError(f"query must be a non-empty question, got {query!r:.60}")
    checked = coerce_sources(sources)
    language = citation_language(len(checked), policy, marker_style)
    instructions = build_messages(query, checked[:1], language)[0]["content"]
    parts = [system if system is not None else instructions]
    if cite_hint:
        parts.append(cite_hint)
    if example:
        parts.append(f"Example answer:\n{example}")
    style = language.marker_style
    blocks = []
    for number, source in enumerate(checked, start=1):
        tag = author_tag(source.metadata)
        title = source.title or ""
        label = ": ".join(part for part in (tag, title) if part)
        head = f"{style.marker([number])} {label}".rstrip()
        blocks.append(f"{head}\n{source.content}" if source.content.strip() else head)
    parts.append("Sources:\n\n" + "\n\n".join(blocks))
    parts.append(f"Question: {query}")
    return "\n\n".join(parts) + f"\n\n{answer_prefix}"


# -- rendering -----------------------------------------------------------------------


def bundled_style_names() -> list[str]:
    """Every style name ``style=`` accepts: installed style ids and the aliases.

    Deprecated: use :func:`citeformer.render.available_styles` (ids) and
    :data:`citeformer.render.ALIASES`.
    """
    from citeformer.render import ALIASES, available_styles

    _deprecated("bundled_style_names()", "citeformer.render.available_styles()")
    return sorted({*available_styles(), *ALIASES})


def available_formatters() -> tuple[str, ...]:
    """The output formats ``result.render()`` produces: ``text``, ``markdown``, ``html``.

    Deprecated: use :data:`citeformer.render.bibliography.OUTPUT_FORMATS`.
    """
    from citeformer.render.bibliography import OUTPUT_FORMATS

    _deprecated("available_formatters()", "citeformer.render.bibliography.OUTPUT_FORMATS")
    return tuple(OUTPUT_FORMATS)


# -- metadata --------------------------------------------------------------------------


def fetch_crossref(doi: str, **options: Any) -> Source:
    """A source from a DOI (deprecated: ``Source.from_doi``)."""
    _deprecated("fetch_crossref()", "Source.from_doi()")
    return Source.from_doi(doi, **options)


def fetch_arxiv(arxiv_id: str, **options: Any) -> Source:
    """A source from an arXiv id (deprecated: ``Source.from_arxiv``)."""
    _deprecated("fetch_arxiv()", "Source.from_arxiv()")
    return Source.from_arxiv(arxiv_id, **options)


def extract_pdf(path: str | Path, **options: Any) -> Source:
    """A source from a PDF file (deprecated: ``Source.from_pdf``)."""
    _deprecated("extract_pdf()", "Source.from_pdf()")
    return Source.from_pdf(path, **options)


def extract_url(url: str, **options: Any) -> Source:
    """A source from a web page (deprecated: ``Source.from_url``)."""
    _deprecated("extract_url()", "Source.from_url()")
    return Source.from_url(url, **options)


def load_bibtex(text_or_path: str | Path, **options: Any) -> list[Source]:
    """Sources from BibTeX text or a ``.bib`` file (deprecated: ``Source.from_bibtex``)."""
    _deprecated("load_bibtex()", "Source.from_bibtex()")
    return Source.from_bibtex(text_or_path, **options)


def load_zotero_csl(path_or_obj: Any, **options: Any) -> list[Source]:
    """Sources from a Zotero CSL-JSON export (deprecated: ``Source.from_csl_json``)."""
    _deprecated("load_zotero_csl()", "Source.from_csl_json()")
    return Source.from_csl_json(path_or_obj, **options)


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """What :func:`validate_csl_json` found.

    Attributes:
        valid: Every item is usable CSL-JSON (nothing left out or dropped).
        items: How many items are usable.
        problems: One line per item left out or field dropped, or the reason the
            input could not be read at all.
    """

    valid: bool
    items: int
    problems: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return self.valid


def validate_csl_json(obj_or_text: Any) -> ValidationReport:
    """Check CSL-JSON (text, a path, or parsed JSON) without building sources.

    The same reader as :meth:`Source.from_csl_json`: an item it would leave out, or a
    field it would drop, is a problem.
    """
    from citeformer.metadata.csl_json import parse_csl_json
    from citeformer.metadata.errors import MetadataParseError

    try:
        parsed = parse_csl_json(obj_or_text)
    except MetadataParseError as error:
        return ValidationReport(False, 0, (str(error),))
    problems = tuple(f"{p.where}: {p.message}" for p in parsed.problems)
    return ValidationReport(not problems, len(parsed), problems)


def __getattr__(name: str) -> Any:
    if name == "CitationSupport":  # the 0.3 name of the per-citation verdict
        from citeformer.verify.report import CitationVerdict

        _deprecated("CitationSupport", "citeformer.verify.CitationVerdict")
        return CitationVerdict
    raise AttributeError(f"module 'citeformer.compat' has no attribute {name!r}")
