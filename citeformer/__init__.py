"""citeformer: LLM answers whose citation markers can only point at supplied sources.

The curated public API; everything else is importable from its module. Names are
imported on first use (PEP 562), so ``import citeformer`` and the ``citeformer``
command's ``--help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from citeformer.backends.base import Backend, BackendText, CallInfo, CitationRequest
    from citeformer.backends.mock import MockBackend
    from citeformer.core import (
        Citation,
        Enforcement,
        GenerationResult,
        InvalidMarker,
        MarkerStyle,
        Policy,
        Reference,
        Source,
        TokenUsage,
    )
    from citeformer.errors import (
        BackendError,
        CiteformerError,
        GenerationError,
        InvalidCitationError,
        InvalidOptionError,
        InvalidSourceError,
        StreamInterruptedError,
        UsageError,
    )
    from citeformer.events import CitationEvent, Completed, MarkerRemoved, StreamEvent, TextDelta
    from citeformer.grammar.language import CitationLanguage, citation_language
    from citeformer.orchestrator import Citeformer
    from citeformer.prompts import PromptBudget
    from citeformer.splitting import split_source, split_spans
    from citeformer.streaming import AsyncStreamingResult, StreamingResult

__version__ = "0.4.0"

_HOMES: dict[str, tuple[str, ...]] = {
    "citeformer.backends.base": ("Backend", "BackendText", "CallInfo", "CitationRequest"),
    "citeformer.backends.mock": ("MockBackend",),
    "citeformer.core": (
        "Citation", "Enforcement", "GenerationResult", "InvalidMarker", "MarkerStyle", "Policy",
        "Reference", "Source", "TokenUsage",
    ),
    "citeformer.errors": (
        "BackendError", "CiteformerError", "GenerationError", "InvalidCitationError",
        "InvalidOptionError", "InvalidSourceError", "StreamInterruptedError", "UsageError",
    ),
    "citeformer.events": (
        "CitationEvent", "Completed", "MarkerRemoved", "StreamEvent", "TextDelta",
    ),
    "citeformer.grammar.language": ("CitationLanguage", "citation_language"),
    "citeformer.orchestrator": ("Citeformer",),
    "citeformer.prompts": ("PromptBudget",),
    "citeformer.splitting": ("split_source", "split_spans"),
    "citeformer.streaming": ("AsyncStreamingResult", "StreamingResult"),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
# The 0.3 line's top-level names (not in __all__: see citeformer.compat, MIGRATING.md).
_LEGACY: dict[str, tuple[str, ...]] = {
    "citeformer.compat": (
        "available_formatters", "build_rag_prompt", "bundled_style_names", "CitationSupport",
        "extract_pdf", "extract_url", "fetch_arxiv", "fetch_crossref", "load_bibtex",
        "load_zotero_csl", "validate_csl_json", "ValidationReport",
    ),
    "citeformer.dedupe": ("deduplicate_adjacent_cites",),
    "citeformer.verify.report": ("VerificationReport",),
}  # fmt: skip
_MODULE_OF.update({name: module for module, names in _LEGACY.items() for name in names})

__all__ = [
    "AsyncStreamingResult",
    "Backend",
    "BackendError",
    "BackendText",
    "CallInfo",
    "Citation",
    "CitationEvent",
    "CitationLanguage",
    "CitationRequest",
    "Citeformer",
    "CiteformerError",
    "Completed",
    "Enforcement",
    "GenerationError",
    "GenerationResult",
    "InvalidCitationError",
    "InvalidMarker",
    "InvalidOptionError",
    "InvalidSourceError",
    "MarkerRemoved",
    "MarkerStyle",
    "MockBackend",
    "Policy",
    "PromptBudget",
    "Reference",
    "Source",
    "StreamEvent",
    "StreamInterruptedError",
    "StreamingResult",
    "TextDelta",
    "TokenUsage",
    "UsageError",
    "__version__",
    "citation_language",
    "split_source",
    "split_spans",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'citeformer' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
