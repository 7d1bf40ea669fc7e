"""JSON of the wrong shape is a typed error through every schema-tier SDK, whole and streamed.

A server that ignored the structured-output request but still wrote JSON used to
give an empty answer with ``finish_reason="stop"``.
"""

from __future__ import annotations

import gc
from types import ModuleType
from typing import Any

import pytest

from citeformer import Citeformer, StreamInterruptedError
from citeformer.backends.gemini import GeminiBackend
from citeformer.backends.mistral import MistralBackend
from citeformer.backends.openai import OpenAIBackend
from citeformer.backends.retry import RetryPolicy
from citeformer.errors import BackendError
from citeformer.testing import QUESTION, SOURCES
from tests.loopback import gemini_wire, mistral_wire, openai_wire
from tests.loopback.server import LoopbackServer

PROVIDERS: list[tuple[type[Any], str, str, ModuleType]] = [
    (OpenAIBackend, "gpt-test", "/v1", openai_wire),
    (GeminiBackend, "gemini-test", "", gemini_wire),
    (MistralBackend, "mistral-test", "", mistral_wire),
]
SHAPES = ['{"answer": "The tower is 330 metres tall [1]."}', "[]", '{"segments": {"text": "x"}}']


@pytest.mark.parametrize("doc", SHAPES)
@pytest.mark.parametrize(("cls", "model", "path", "wire"), PROVIDERS)
def test_wrong_shapes_are_typed_errors(
    loopback: LoopbackServer, cls: type[Any], model: str, path: str, wire: ModuleType, doc: str
) -> None:
    backend = cls(
        model, api_key="k-0123456789", base_url=loopback.url + path, retry=RetryPolicy.none()
    )
    try:
        cf = Citeformer(backend)
        loopback.reset(wire.answer(doc))
        with pytest.raises(BackendError, match="did not follow the requested JSON schema") as whole:
            cf.generate(QUESTION, SOURCES)
        assert not whole.value.retryable
        with pytest.raises((BackendError, StreamInterruptedError), match="JSON schema"):
            list(cf.stream(QUESTION, SOURCES))
    finally:
        backend.close()
        # The openai SDK leaves an abandoned stream's inner generator to the garbage
        # collector; finalised during a later import of httpx, it fails unraisably.
        gc.collect()
