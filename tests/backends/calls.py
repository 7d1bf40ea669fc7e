"""Call a backend with a request of one's own (custom messages), as the orchestrator does."""

from __future__ import annotations

from typing import Any

from citeformer.backends.base import Backend, BackendCall, BackendText, CitationRequest
from citeformer.options import normalize_options


def call_with(backend: Backend, request: CitationRequest, **options: Any) -> BackendText:
    """``backend.complete`` on ``request`` (its messages, its language) with ``options``."""
    checked = normalize_options(options, backend.option_checks)
    return backend.complete(BackendCall(request, checked)).as_text()
