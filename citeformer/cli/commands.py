"""The commands of ``citeformer``: each docstring is its help text.

Plain functions with no dependency beyond the standard library, so the top-level
``citeformer --help`` reads their summaries without loading cyclopts;
:mod:`citeformer.cli.app` registers them. Each body imports its implementation
when it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Policy = Literal["auto", "required", "quotes_only"]
Marker = Literal["bracket", "paren", "curly", "caret"]
Output = Literal["text", "markdown", "html", "json"]
Numbering = Literal["source", "style"]
ServerKind = Literal["vllm", "llama.cpp", "sglang"]
StyleFormat = Literal["numeric", "author-date", "note", "label", "author"]

SUMMARY = "LLM answers whose citation markers can only point at the sources you supplied."
CACHE_SUMMARY = "The on-disk metadata cache: info, clear."


async def generate(
    question: str | None = None,
    *,
    sources: list[str] | None = None,
    batch: Path | None = None,
    concurrency: int = 16,
    backend: str = "embedded",
    server_kind: ServerKind | None = None,
    model: str | None = None,
    policy: Policy = "auto",
    marker: Marker = "bracket",
    style: str = "ieee",
    locale: str | None = None,
    inline: bool = False,
    format: Output = "text",
    stream: bool = False,
    verify: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    strict: bool = False,
    offline: bool = False,
) -> int:
    """Answer QUESTION from the sources; every marker points at one of them.

    Args:
        question: The question to answer (or --batch).
        sources: Files (.bib .ris .json .jsonl .txt .md .pdf), folders of them, DOIs,
            arXiv ids, URLs, or - for stdin.
        batch: A JSONL file of requests, one {"question": ..., "sources": [...]} per line
            ("sources" as --sources takes them; without it, --sources; "policy",
            "max_tokens", "temperature" per line). Prints one JSON result per line, in
            input order ({"index", "error"} for a failed one; exit 1 if any failed).
        concurrency: With --batch, how many requests are in flight at once.
        backend: provider:model - embedded (SmolLM2, offline), hf:PATH, llamacpp:PATH,
            vllm:MODEL, server:URL, openai:MODEL, anthropic:MODEL, gemini:MODEL,
            mistral:MODEL, openrouter:MODEL, together:MODEL, fireworks:MODEL. Keys and
            base URLs come from each SDK's environment variables (OPENAI_API_KEY,
            OPENAI_BASE_URL...).
        server_kind: For server:URL, where the server reads the grammar.
        model: For server:URL, the model the server serves.
        policy: auto (cite where it helps), required (every sentence cites) or
            quotes_only (cited spans are verbatim quotes).
        marker: Marker look: [1], (1), {1} or ^1.
        style: Any CSL style id, alias (apa-7, mla-9, chicago) or .csl path.
        locale: A CSL locale for the references (de-DE); default: the style's.
        inline: Markers in the style's in-text form ((Smith, 2020), superscripts).
        format: text, markdown, html, or json (the whole result; with --stream, one JSON
            event per line).
        stream: Print the answer as it arrives (text or json).
        verify: Check each cited sentence against its sources: --verify for the default
            scorer, --verify=SCORER for lexical, embedding, nli:MODEL or judge:BACKEND.
        max_tokens: The answer's token budget.
        temperature: Sampling temperature (0: greedy).
        strict: Exit 1 instead of repairing a marker the backend got wrong, or an answer
            that breaks its policy.
        offline: Read identifiers only from the metadata cache.
    """
    given = dict(locals())  # the options, before the imports below join them
    from citeformer.cli.generate import GenerateArgs, run_generate

    return await run_generate(GenerateArgs(**given))


async def verify(
    result: Path,
    *,
    scorer: str = "default",
    threshold: float | None = None,
    fail_under: float | None = None,
    format: Literal["text", "markdown", "json"] = "text",
) -> int:
    """Check whether each cited source supports its sentence in a saved result.

    Args:
        result: A result saved with generate --format json (- for stdin).
        scorer: default, lexical, embedding, nli:MODEL or judge:BACKEND.
        threshold: Score at or above which a source supports a sentence (default: the
            scorer's own).
        fail_under: Exit 1 when citation recall or precision is below this (0..1).
        format: text, markdown or json (the full report).
    """
    from citeformer.cli.documents import run_verify

    return await run_verify(result, scorer, threshold, fail_under, format)


async def render(
    sources: list[str],
    *,
    style: str | None = None,
    cite: str | None = None,
    numbering: Numbering = "source",
    format: Output = "text",
    locale: str | None = None,
    inline: bool = False,
    offline: bool = False,
) -> int:
    """A bibliography of SOURCES in any CSL style, or a saved result rendered as an answer.

    Args:
        sources: Files, folders, identifiers or - (stdin), as for generate; or one
            result saved with generate --format json.
        style: Any CSL style id, alias or .csl path (citeformer styles lists them);
            default ieee, or a result's own style.
        cite: Source numbers in citation order, e.g. 3,1,2 (default: all, in order).
        numbering: source (entry k is [k]) or style (the style's own numbers).
        format: text, markdown, html or json.
        locale: A CSL locale (de-DE); default: the style's.
        inline: For a result: markers in the style's in-text form.
        offline: Read identifiers only from the metadata cache.
    """
    given = dict(locals())  # the options, before the imports below join them
    from citeformer.cli.documents import RenderArgs, run_render

    return await run_render(RenderArgs(**given))


async def fetch(
    ids: list[str],
    *,
    content: bool = False,
    refresh: bool = False,
    offline: bool = False,
    format: Literal["json", "bibtex", "ris"] = "json",
) -> int:
    """Metadata for identifiers, fetched concurrently through the cache.

    Args:
        ids: DOIs, arXiv ids, URLs, or .bib .ris .json .pdf files.
        content: Include each source's text (abstract, page or PDF text); without it
            only the metadata is printed.
        refresh: Fetch again even when cached.
        offline: Only the cache; a miss exits 4.
        format: json (an array of {metadata, content}), bibtex or ris.
    """
    from citeformer.cli.documents import run_fetch

    if refresh and offline:
        from citeformer.cli.exits import usage

        raise usage("--refresh and --offline contradict each other; pass one")
    return await run_fetch(ids, content=content, refresh=refresh, offline=offline, format=format)


def styles(
    *,
    search: str | None = None,
    format: StyleFormat | None = None,
    json: bool = False,
) -> int:
    """List the installed CSL styles: id, citation format and title, tab-separated.

    Args:
        search: Only styles whose id or title contains this text.
        format: Only styles of this citation format.
        json: A JSON array of {id, format, title, parent} instead.
    """
    from citeformer.cli.admin import run_styles

    return run_styles(search, format, as_json=json)


def cache_info() -> int:
    """Where the metadata cache is, and how many records it holds."""
    from citeformer.cli.admin import run_cache_info

    return run_cache_info()


def cache_clear() -> int:
    """Remove every cached metadata record."""
    from citeformer.cli.admin import run_cache_clear

    return run_cache_clear()
