"""Suite-wide settings.

Property tests run derandomised by default so CI is reproducible; set
``HYPOTHESIS_PROFILE=explore`` to search with fresh random seeds and more examples.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

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
