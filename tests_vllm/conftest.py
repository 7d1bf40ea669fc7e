"""Shared engine for the vLLM tests (started once per session: ~25 s on 2 CPU cores).

These tests run only in the vLLM venv and never skip: a missing vLLM is a failure.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before vLLM is imported: no model hub, a small CPU KV cache.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # citeformer, from this checkout
    sys.path.insert(0, str(ROOT))

from citeformer.backends.vllm import VLLMBackend  # noqa: E402


@pytest.fixture(scope="session")
def backend() -> Iterator[VLLMBackend]:
    """The embedded SmolLM2 on vLLM's CPU engine, shared by every test."""
    engine = VLLMBackend.default(max_model_len=1024)
    yield engine
    engine.close()
