"""vLLM's own failures reach the caller through the one error boundary: typed, with
vLLM's exception as ``__cause__``, and the shared engine still serves the next call."""

from __future__ import annotations

import asyncio

import pytest

from citeformer import Citeformer, Policy, Source
from citeformer.backends.vllm import VLLMBackend
from citeformer.errors import BackendError, UnexpectedBackendError

QUESTION = "Where is the Eiffel Tower?"


def test_a_prompt_over_max_model_len_is_a_typed_error_with_vllms_cause(
    backend: VLLMBackend,
) -> None:
    huge = [Source("The tower is tall. " * 600)]  # far over max_model_len=1024
    cite = Citeformer(backend)
    with pytest.raises(UnexpectedBackendError) as caught:
        cite.generate(QUESTION, huge, max_new_tokens=8)
    assert caught.value.provider == "vllm"
    cause = caught.value.__cause__
    assert cause is not None and not isinstance(cause, BackendError)
    assert "VLLMBackend raised" in str(caught.value)

    async def drain() -> None:
        async for _ in cite.astream(QUESTION, huge, max_new_tokens=8):
            pass

    with pytest.raises(UnexpectedBackendError):
        asyncio.run(drain())
    with pytest.raises(UnexpectedBackendError):
        backend.generate(QUESTION, huge, Policy.AUTO, max_new_tokens=8)
    ok = cite.generate(QUESTION, [Source("The Eiffel Tower is in Paris.")], max_new_tokens=8)
    assert ok.text
