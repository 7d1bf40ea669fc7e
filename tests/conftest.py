"""Suite-wide settings.

Property tests run derandomised by default so CI is reproducible; set
``HYPOTHESIS_PROFILE=explore`` to search with fresh random seeds and more examples.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

from tests.loopback.server import LoopbackServer

settings.register_profile("default", derandomize=True, deadline=None)
settings.register_profile("explore", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def _loopback_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer().start()
    yield server
    server.stop()


@pytest.fixture
def loopback(_loopback_server: LoopbackServer) -> Iterator[LoopbackServer]:
    """The loopback provider server, reset for this test (script it with ``reset``/``queue``)."""
    _loopback_server.reset()
    yield _loopback_server
    _loopback_server.reset()


@pytest.fixture(scope="session")
def smollm2_hf() -> Any:
    """The embedded SmolLM2-135M-Instruct as an ``HFBackend``, loaded once per session."""
    from citeformer.backends.hf import HFBackend

    return HFBackend.default()


@pytest.fixture(scope="session")
def smollm2_llama() -> Iterator[Any]:
    """The embedded SmolLM2 GGUF as a ``llama_cpp.Llama``, loaded once per session.

    Wrap it in a ``LlamaCppBackend(llama)`` per test (the backend never closes it).
    """
    from citeformer.backends.embedded import INSTALL_HINT
    from citeformer.backends.llamacpp import LlamaCppBackend
    from citeformer.errors import ConfigurationError

    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pytest.fail(
            "llama-cpp-python is not installed, so the LlamaCppBackend tests cannot run "
            "(they never skip): pip install 'citeformer[llamacpp]'"
        )
    try:
        backend = LlamaCppBackend.default(n_ctx=2048, n_threads=1)
    except ConfigurationError as err:
        pytest.fail(f"the embedded SmolLM2 GGUF is missing ({err}); run: {INSTALL_HINT}")
    yield backend.llama
    backend.close()
