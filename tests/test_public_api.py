"""The curated public API and import hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest

import citeformer

EXPECTED = {
    "AsyncStreamingResult", "Backend", "BackendError", "BackendText", "CallInfo", "Citation",
    "CitationEvent", "CitationLanguage", "CitationRequest", "Citeformer", "CiteformerError",
    "Completed", "Enforcement", "GenerationError", "GenerationResult", "InvalidCitationError",
    "InvalidMarker", "InvalidOptionError", "InvalidSourceError", "MarkerRemoved", "MarkerStyle",
    "MockBackend", "Policy", "PromptBudget", "Reference", "Source", "StreamEvent",
    "StreamInterruptedError", "StreamingResult", "TextDelta", "TokenUsage", "UsageError",
    "__version__", "citation_language", "split_source", "split_spans",
}  # fmt: skip

HEAVY = [
    "torch", "transformers", "xgrammar", "llguidance", "llama_cpp", "vllm", "openai",
    "anthropic", "google.genai", "mistralai", "langchain_core", "llama_index", "citeproc",
    "lxml", "pydantic", "tokenizers", "numpy",
]  # fmt: skip


def test_all_is_pinned() -> None:
    assert set(citeformer.__all__) == EXPECTED
    for name in citeformer.__all__:
        assert hasattr(citeformer, name)


def test_import_pulls_in_no_extra() -> None:
    code = (
        "import sys, json, citeformer; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_lazy_names_are_the_public_ones_and_resolve_to_their_homes() -> None:
    lazy = citeformer._MODULE_OF  # the PEP 562 table: every public name, nothing else
    legacy = {name for names in citeformer._LEGACY.values() for name in names}
    assert set(lazy) == EXPECTED - {"__version__"} | legacy
    assert not legacy & set(citeformer.__all__)  # the 0.3 names: importable, not curated
    assert set(citeformer.__all__) <= set(dir(citeformer))
    for name, module in lazy.items():
        home = sys.modules.get(module) or __import__(module, fromlist=[name])
        with warnings.catch_warnings():  # CitationSupport warns: a deprecated 0.3 name
            warnings.simplefilter("ignore", DeprecationWarning)
            assert getattr(citeformer, name) is getattr(home, name)
    from citeformer.core import Source

    assert citeformer.Source is Source  # the same object, not a copy


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        citeformer.NoSuchThing  # noqa: B018
