"""VLLMBackend against the real vLLM CPU engine running the embedded SmolLM2."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any, ClassVar

import pytest

from citeformer import Citeformer, Policy
from citeformer.backends.base import Backend, CitationRequest, call_info
from citeformer.backends.vllm import VLLMBackend
from citeformer.core import Enforcement, MarkerStyle
from citeformer.errors import (
    ConfigurationError,
    InvalidOptionError,
    InvalidSourceError,
    MissingDependencyError,
)
from citeformer.markers import Validation, validate
from citeformer.testing import QUESTION, SOURCES, BackendConformance

SEEDS = range(10)


def test_vllm_is_installed() -> None:
    """The suite fails, never skips, without vLLM."""
    import vllm

    assert vllm.__version__


class TestVLLMConformance(BackendConformance):
    """The shared Backend contract, on the real engine."""

    options: ClassVar[dict[str, Any]] = {"temperature": 0, "max_new_tokens": 40}

    @pytest.fixture(autouse=True)
    def _engine(self, backend: VLLMBackend) -> None:
        self._backend = backend

    def make_backend(self) -> Backend:
        """The session's engine."""
        return self._backend


def _demand(style: MarkerStyle) -> str:
    seven, eight = style.marker([7]), style.marker([8])
    return (
        f"How tall is the Eiffel Tower? You must cite source {seven} and source {eight} in "
        f"every sentence, like this: The tower is tall {seven}{eight}. Start with {seven}."
    )


def _fabricated(raw: str, style: MarkerStyle) -> Validation:
    return validate(raw, len(SOURCES), style)


def _only_cut_off_at_the_end(raw: str, style: MarkerStyle) -> bool:
    """True when the only invalid marker is one the token limit cut off at the end."""
    invalid = _fabricated(raw, style).invalid
    if not invalid:
        return True
    return (
        call_info(raw).finish_reason == "length"
        and len(invalid) == 1
        and invalid[0].reason == "unclosed"
        and invalid[0].end == len(raw.rstrip())
    )


def test_demanded_out_of_range_markers_never_appear_in_raw_output(backend: VLLMBackend) -> None:
    """Every policy x style x 10 seeds at T=0.8, one batch: no fabricated marker."""
    items = [
        (_demand(style), SOURCES, policy, {"seed": seed, "marker_style": style})
        for policy in Policy
        for style in MarkerStyle
        for seed in SEEDS
    ]
    outs = backend.generate_batch(items, temperature=0.8, max_new_tokens=40)
    assert len(outs) == len(items)
    for (_, _, policy, opts), raw in zip(items, outs, strict=True):
        style = opts["marker_style"]
        assert _only_cut_off_at_the_end(raw, style), (policy, style, raw)
        assert not [m for m in _fabricated(raw, style).invalid if m.reason == "out_of_range"]
        assert call_info(raw).enforcement is None  # the class-level GRAMMAR applies

    # The same batch without the grammar fabricates: the test has teeth.
    baseline_items = [i for i in items if i[3]["marker_style"] is MarkerStyle.BRACKET]
    baseline = backend.generate_batch(
        baseline_items, temperature=0.8, max_new_tokens=40, constrain=False
    )
    assert all(call_info(r).enforcement is Enforcement.VALIDATED for r in baseline)
    fabricated = [r for r in baseline if _fabricated(r, MarkerStyle.BRACKET).invalid]
    assert fabricated, "the unconstrained baseline should cite the demanded [7]/[8]"


def test_entry_points_agree_and_stream_is_token_by_token(backend: VLLMBackend) -> None:
    """generate/stream/agenerate/astream give the same text at T=0; streaming is real."""
    cf = Citeformer(backend, citation_policy=Policy.REQUIRED)
    opts: dict[str, Any] = {"temperature": 0, "max_new_tokens": 30}
    expected = cf.generate(QUESTION, SOURCES, **opts)
    chunks = list(backend.stream(QUESTION, SOURCES, Policy.REQUIRED, **opts))
    assert len(chunks) > 10  # token deltas plus the final info chunk
    raw = backend.generate(QUESTION, SOURCES, Policy.REQUIRED, **opts)
    assert "".join(chunks) == raw
    streamed, generated = call_info(chunks[-1]).usage, call_info(raw).usage
    assert streamed is not None and generated is not None
    assert (streamed.prompt_tokens, streamed.completion_tokens) == (
        generated.prompt_tokens,
        generated.completion_tokens,
    )
    stream = cf.stream(QUESTION, SOURCES, **opts)
    assert "".join(stream) == expected.text

    async def both() -> tuple[str, str]:
        a = await cf.agenerate(QUESTION, SOURCES, **opts)
        s = cf.astream(QUESTION, SOURCES, **opts)
        return a.text, "".join([c async for c in s])

    assert asyncio.run(both()) == (expected.text, expected.text)


def test_token_limit_gives_length_and_no_half_marker(backend: VLLMBackend) -> None:
    """A cut inside a marker is reported as ``length`` and never reaches result.text."""
    cf = Citeformer(backend)
    opts: dict[str, Any] = {"temperature": 0, "policy": Policy.REQUIRED}
    short = cf.generate(QUESTION, SOURCES, max_new_tokens=3, **opts)
    assert short.finish_reason == "length"
    assert short.usage is not None and short.usage.completion_tokens == 3
    assert _fabricated(short.text, MarkerStyle.BRACKET).invalid == ()

    # Find a limit that stops decoding right inside a marker, then cut there.
    chunks = list(backend.stream(QUESTION, SOURCES, Policy.REQUIRED, max_new_tokens=60))
    text, cut = "", None
    for i, chunk in enumerate(chunks, start=1):
        text += chunk
        invalid = _fabricated(text, MarkerStyle.BRACKET).invalid
        if invalid and invalid[-1].reason == "unclosed":
            cut = i
            break
    assert cut is not None, f"no marker in {text!r}"
    raw = backend.generate(QUESTION, SOURCES, Policy.REQUIRED, max_new_tokens=cut)
    assert _fabricated(raw, MarkerStyle.BRACKET).invalid[-1].reason == "unclosed"
    result = cf.generate(QUESTION, SOURCES, max_new_tokens=cut, **opts)
    assert result.finish_reason == "length"
    assert result.invalid_markers == () or result.invalid_markers[-1].reason == "unclosed"
    assert _fabricated(result.text, MarkerStyle.BRACKET).invalid == ()
    assert not result.text.rstrip().endswith("[")


def test_generate_batch_reports_usage_per_prompt(backend: VLLMBackend) -> None:
    """Each item gets its own usage and finish reason, in order."""
    request = CitationRequest.build("Where is Big Ben?", SOURCES, Policy.AUTO)
    items: list[Any] = [
        ("How tall is the Eiffel Tower?", SOURCES[:1], Policy.AUTO),
        (QUESTION + " Answer in detail, with every figure.", SOURCES, Policy.REQUIRED),
        request,
    ]
    outs = backend.generate_batch(items, temperature=0, max_new_tokens=12)
    assert [type(o).__name__ for o in outs] == ["BackendText"] * 3
    usages = [call_info(o).usage for o in outs]
    assert all(u is not None and 0 < u.completion_tokens <= 12 for u in usages)
    prompt_tokens = [u.prompt_tokens for u in usages if u is not None]
    assert prompt_tokens[0] < prompt_tokens[1]  # one source vs three plus a longer question
    assert len(set(prompt_tokens)) == 3
    assert all(call_info(o).finish_reason in ("stop", "length") for o in outs)
    assert backend.generate_batch([]) == []
    single = backend.generate_batch(items[:1], temperature=0, max_new_tokens=12)[0]
    assert single == outs[0]


def test_concurrent_calls_share_the_engine_and_keep_their_own_facts(
    backend: VLLMBackend,
) -> None:
    """Threads calling one backend are batched by vLLM; each gets its own info."""
    questions = ["How tall is the Eiffel Tower?", "Which bell is called Big Ben? " * 4]
    results: dict[int, str] = {}

    def call(i: int) -> None:
        results[i] = backend.generate(questions[i], SOURCES, Policy.AUTO, max_new_tokens=15)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    first, second = call_info(results[0]).usage, call_info(results[1]).usage
    assert first is not None and second is not None
    assert first.prompt_tokens < second.prompt_tokens
    assert backend._driver._inbox == {}


def test_closing_a_stream_early_aborts_the_request(backend: VLLMBackend) -> None:
    """An abandoned stream frees its request; the engine keeps serving."""
    stream = iter(backend.stream(QUESTION, SOURCES, Policy.AUTO, max_new_tokens=200))
    first = next(stream)
    assert isinstance(first, str)
    stream.close()  # type: ignore[attr-defined]
    assert backend._driver._inbox == {}
    out = backend.generate(QUESTION, SOURCES, Policy.AUTO, max_new_tokens=5)
    assert call_info(out).usage is not None


def test_injected_engine_is_shared_not_owned(backend: VLLMBackend) -> None:
    """A built ``vllm.LLM`` is used as is; engine kwargs cannot reconfigure it."""
    other = VLLMBackend(backend.llm)
    assert other.llm is backend.llm and not other._owned
    out = other.generate(QUESTION, SOURCES, Policy.AUTO, max_new_tokens=5, nonsense_option=1)
    assert call_info(out).usage is not None
    with pytest.raises(InvalidOptionError):
        VLLMBackend(backend.llm, dtype="float32")
    with pytest.raises(InvalidOptionError):
        VLLMBackend(object())
    with pytest.raises(InvalidOptionError):
        backend.generate(QUESTION, SOURCES, Policy.AUTO, max_new_tokens=0)


def test_seed_on_a_cpu_engine_with_chunked_prefill_is_refused(backend: VLLMBackend) -> None:
    """Seeds would crash such an engine (vLLM rewinds CPU generators); say so instead."""
    other = VLLMBackend(backend.llm)
    assert not other._seed_breaks_engine  # default() disables chunked prefill
    other._seed_breaks_engine = True
    with pytest.raises(ConfigurationError, match="enable_chunked_prefill=False"):
        other.generate(QUESTION, SOURCES, Policy.AUTO, seed=1)
    other.generate(QUESTION, SOURCES, Policy.AUTO, max_new_tokens=3)  # no seed: fine


def test_stop_and_top_p_reach_the_sampler(backend: VLLMBackend) -> None:
    """``stop`` ends the answer at the stop string (excluded), reported as ``stop``."""
    opts: dict[str, Any] = {"temperature": 0, "max_new_tokens": 60}
    full = backend.generate(QUESTION, SOURCES, Policy.REQUIRED, **opts)
    assert " " in full
    word = full.split()[1]
    cut = backend.generate(QUESTION, SOURCES, Policy.REQUIRED, stop=[word], top_p=0.9, **opts)
    assert call_info(cut).finish_reason == "stop"
    assert word not in cut and full.startswith(cut)


def test_guidance_engine_gets_lark_and_stays_in_range() -> None:
    """With vLLM's ``guidance`` backend the grammar goes as Lark (llguidance)."""
    engine = VLLMBackend.default(
        max_model_len=1024, structured_outputs_config={"backend": "guidance"}
    )
    try:
        request = CitationRequest.build(QUESTION, SOURCES, Policy.AUTO)
        assert engine.grammar(request.language).startswith("start:")
        items = [
            (_demand(style), SOURCES, policy, {"seed": seed, "marker_style": style})
            for policy in Policy
            for style in MarkerStyle
            for seed in range(3)
        ]
        outs = engine.generate_batch(items, temperature=0.8, max_new_tokens=40)
        for (_, _, _, opts), raw in zip(items, outs, strict=True):
            assert _only_cut_off_at_the_end(raw, opts["marker_style"]), raw
    finally:
        engine.close()


def test_grammar_text_is_the_xgrammar_ebnf(backend: VLLMBackend) -> None:
    """The default structured-output backend gets XGrammar EBNF with root ``root``."""
    request = CitationRequest.build(QUESTION, SOURCES, Policy.REQUIRED)
    assert "root ::=" in backend.grammar(request.language)


def test_missing_model_path_is_a_configuration_error() -> None:
    """A path that does not exist fails before any engine starts."""
    with pytest.raises(ConfigurationError, match="does not exist"):
        VLLMBackend("/nonexistent/models/SmolLM2")
    with pytest.raises(ConfigurationError):
        VLLMBackend("./no-such-model-folder")


def test_missing_vllm_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without vLLM, the error says what to install."""
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(MissingDependencyError, match=r"citeformer\[vllm\]"):
        VLLMBackend("/nonexistent")
    assert issubclass(MissingDependencyError, ImportError)


def test_readme_vllm_snippet_runs() -> None:
    """The README's vLLM block (```py, skipped by the main suite) runs as a script."""
    import os
    import re
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    blocks = re.findall(r"```py\n(.*?)```", (root / "README.md").read_text(), re.S)
    (code,) = [block for block in blocks if "VLLMBackend" in block]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "[1]" in out.stdout or "330" in out.stdout


def test_citeformer_generate_batch_is_one_engine_batch(backend: VLLMBackend) -> None:
    """Citeformer.generate_batch hands vLLM one batch, each request under its own grammar."""
    cf = Citeformer(backend)
    requests: list[Any] = [
        {"question": _demand(MarkerStyle.BRACKET), "sources": SOURCES[:n], "policy": "required",
         "temperature": 0.8, "seed": seed, "max_new_tokens": 30}
        for n in (1, 2, 3) for seed in SEEDS[:3]
    ]  # fmt: skip
    requests.append((QUESTION, []))  # malformed: its slot holds the error, the rest run
    batches: list[int] = []
    engine_batch = backend.complete_batch

    def counting(calls: Any) -> Any:
        batches.append(len(calls))
        return engine_batch(calls)

    backend.complete_batch = counting  # type: ignore[method-assign]
    try:
        results = cf.generate_batch(requests, return_exceptions=True)
    finally:
        del backend.complete_batch  # type: ignore[method-assign]
    assert batches == [9]
    assert isinstance(results[-1], InvalidSourceError)
    for request, result in zip(requests[:-1], results[:-1], strict=True):
        assert not isinstance(result, BaseException)
        n = len(request["sources"])
        assert all(1 <= c.source_id <= n for c in result.citations)
        assert result.enforcement is Enforcement.GRAMMAR
