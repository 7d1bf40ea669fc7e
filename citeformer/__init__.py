"""citeformer: LLM answers whose citation markers can only point at supplied sources.

The curated public API; everything else is importable from its module.
"""

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
from citeformer.streaming import AsyncStreamingResult, StreamingResult

__version__ = "0.4.0"

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
]
