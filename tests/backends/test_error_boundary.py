"""One error boundary for every backend: whatever a backend raises reaches the caller
as a citeformer error, with the original as ``__cause__``.

Out-of-tree backends (only ``generate``; ``generate`` + ``stream``; native async) go
through all four entry points; the local runtimes fail for real (a torch shape error
inside a real model). Provider SDK errors are covered per provider by the API suite,
llama.cpp's context overflow in test_llamacpp.py and vLLM's in tests_vllm.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from citeformer import Citeformer, Policy, Source
from citeformer.backends.base import Backend
from citeformer.errors import (
    BackendError,
    InvalidOptionError,
    StreamInterruptedError,
    UnexpectedBackendError,
)

SOURCES = [Source("Paris is the capital of France.")]


class Boom(Exception):
    """A backend's own exception type, unknown to citeformer."""


class OnlyGenerate(Backend):
    name = "only-generate"

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        raise self.error


class GenerateAndStream(OnlyGenerate):
    name = "generate-and-stream"

    def stream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> Iterator[str]:
        yield "Paris [1] "
        raise self.error


class NativeAsync(OnlyGenerate):
    name = "native-async"

    async def agenerate(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> str:
        await asyncio.sleep(0)
        raise self.error

    async def astream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> AsyncIterator[str]:
        yield "Paris [1] "
        await asyncio.sleep(0)
        raise self.error


def _run_all(cite: Citeformer, **options: Any) -> list[BaseException]:
    """The error each of the four entry points raises."""
    caught: list[BaseException] = []

    def record(call: Any) -> None:
        try:
            call()
        except BaseException as exc:  # collected for the assertions
            caught.append(exc)
        else:
            pytest.fail("the backend's failure was swallowed")

    async def drain() -> None:
        async for _ in cite.astream("q", SOURCES, **options):
            pass

    record(lambda: cite.generate("q", SOURCES, **options))
    record(lambda: list(cite.stream("q", SOURCES, **options)))
    record(lambda: asyncio.run(cite.agenerate("q", SOURCES, **options)))
    record(lambda: asyncio.run(drain()))
    return caught


def _typed(error: BaseException) -> bool:
    """A backend failure's documented type: a BackendError, or, once text had
    arrived on a stream, a StreamInterruptedError that keeps that text."""
    return isinstance(error, (BackendError, StreamInterruptedError))


def _original(error: BaseException) -> BaseException | None:
    return error.__cause__


@pytest.mark.parametrize("kind", [OnlyGenerate, GenerateAndStream, NativeAsync])
def test_a_foreign_exception_becomes_a_backend_error_with_its_cause(kind: type) -> None:
    boom = Boom("the model server fell over")
    errors = _run_all(Citeformer(kind(boom)))
    assert len(errors) == 4
    for error in errors:
        assert _typed(error), repr(error)
        assert _original(error) is boom
        assert "Boom" in str(error)


def test_the_message_names_the_backend_and_the_original() -> None:
    with pytest.raises(UnexpectedBackendError) as caught:
        Citeformer(OnlyGenerate(RuntimeError("down"))).generate("q", SOURCES)
    assert caught.value.provider == "only-generate"
    assert "OnlyGenerate raised RuntimeError: down" in str(caught.value)
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_a_stream_that_fails_midway_keeps_what_arrived() -> None:
    cite = Citeformer(GenerateAndStream(Boom("lost")))
    with pytest.raises(StreamInterruptedError) as caught:
        list(cite.stream("q", SOURCES))
    assert caught.value.partial_text.startswith("Paris [1]")
    assert type(caught.value.__cause__) is Boom


@pytest.mark.parametrize("kind", [OnlyGenerate, GenerateAndStream, NativeAsync])
def test_misuse_errors_stay_misuse_errors(kind: type) -> None:
    misuse = InvalidOptionError("temperature must be >= 0")
    for error in _run_all(Citeformer(kind(misuse))):
        assert error is misuse or _original(error) is misuse
        assert not isinstance(error, UnexpectedBackendError)


@pytest.mark.parametrize("escape", [KeyboardInterrupt(), SystemExit(3)])
def test_base_exceptions_are_not_wrapped(escape: BaseException) -> None:
    with pytest.raises(type(escape)):
        Citeformer(OnlyGenerate(escape)).generate("q", SOURCES)
    with pytest.raises(type(escape)):
        list(Citeformer(GenerateAndStream(escape)).stream("q", SOURCES))


def test_cancellation_is_not_wrapped() -> None:
    async def main() -> None:
        task = asyncio.ensure_future(Citeformer(NativeAsync(Boom())).agenerate("q", SOURCES))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_a_failing_hint_never_hides_the_failure() -> None:
    class BadHint(OnlyGenerate):
        def error_hint(self, error: BaseException) -> str:
            raise ValueError("the hint itself broke")

    with pytest.raises(UnexpectedBackendError, match="RuntimeError: down") as caught:
        Citeformer(BadHint(RuntimeError("down"))).generate("q", SOURCES)
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_a_torch_failure_inside_the_hf_backend_is_typed() -> None:
    """A real model whose output layer no longer fits: torch raises, the caller gets a
    BackendError whichever entry point it used, and the instance is not poisoned."""
    torch = pytest.importorskip("torch")
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from citeformer.backends.hf import HFBackend
    from tests.backends.test_hf import CHATML
    from tests.grammar.harness import EOS, train_tokenizer

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=train_tokenizer(), eos_token=EOS)  # type: ignore[no-untyped-call]
    tokenizer.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    backend = HFBackend(model, tokenizer)
    working_head = model.lm_head
    model.lm_head = torch.nn.Linear(16, len(tokenizer), bias=False)  # hidden size is 32
    try:
        errors = _run_all(Citeformer(backend), max_new_tokens=4)
    finally:
        model.lm_head = working_head
    assert len(errors) == 4
    for error in errors:
        assert isinstance(error, UnexpectedBackendError), repr(error)  # before any text
        cause = _original(error)
        assert isinstance(cause, RuntimeError) and "shape" in str(cause), repr(cause)
        assert "HFBackend raised RuntimeError" in str(error)
    result = Citeformer(backend).generate("q", SOURCES, max_new_tokens=4)
    assert result.usage is None or result.usage.completion_tokens <= 4
