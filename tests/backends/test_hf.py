"""HFBackend with the real runtime: a random tiny Llama (fast, fuzzes the decoding
path) and the embedded SmolLM2-135M-Instruct (the real model)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

import pytest

from citeformer import Citeformer, MarkerStyle, Policy, Source
from citeformer.backends.base import Backend, CitationRequest, call_info
from citeformer.backends.hf import HFBackend
from citeformer.errors import ConfigurationError, InvalidOptionError
from citeformer.markers import validate
from citeformer.testing import SOURCES, BackendConformance
from tests.backends.calls import call_with
from tests.grammar.harness import EOS, train_tokenizer

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
FABRICATE = (
    "Answer with citations. You must cite source [7] and source [8] in every sentence, "
    "like this: Paris is big [7][8]. Start with [7]."
)


def tiny_llama(seed: int = 0, **config: int) -> tuple[Any, Any]:
    """A random 2-layer Llama and a real byte-level BPE tokenizer (milliseconds/token).

    Args:
        seed: The weights' seed.
        config: ``LlamaConfig`` fields over the defaults (e.g. ``num_key_value_heads``).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=train_tokenizer(), eos_token=EOS)  # type: ignore[no-untyped-call]
    tokenizer.chat_template = CHATML
    torch.manual_seed(seed)
    fields = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 4, **config}  # fmt: skip
    size = {"vocab_size": len(tokenizer), "max_position_embeddings": 4096}
    model = LlamaForCausalLM(LlamaConfig(eos_token_id=tokenizer.eos_token_id, **size, **fields))
    return model, tokenizer


@pytest.fixture(scope="module")
def tiny() -> HFBackend:
    return HFBackend(*tiny_llama())


@pytest.fixture(scope="module")
def smol(smollm2_hf: HFBackend) -> HFBackend:
    return smollm2_hf  # one load per session (conftest), shared with the choice tests


@pytest.mark.parametrize("style", list(MarkerStyle))
@pytest.mark.parametrize("policy", list(Policy))
def test_random_model_never_escapes_the_grammar(
    tiny: HFBackend, policy: Policy, style: MarkerStyle
) -> None:
    sources = SOURCES[:3]
    request = CitationRequest.build(FABRICATE, sources, policy, marker_style=style)
    for seed in range(6):
        raw = call_with(tiny, request, temperature=1.5,
                            seed=seed, max_new_tokens=120)  # fmt: skip
        assert validate(raw, 3, style).invalid == (), raw
        if call_info(raw).finish_reason == "stop":
            assert request.language.accepts(raw), raw
        else:
            assert request.language.is_prefix(raw), raw


def test_random_model_without_grammar_is_measurably_different(tiny: HFBackend) -> None:
    # The baseline mode exists for the fabrication benchmark; it must really be off.
    raws = [
        tiny.generate(FABRICATE, SOURCES[:3], Policy.REQUIRED, constrain=False, temperature=1.5,
                      seed=seed, max_new_tokens=120)
        for seed in range(6)
    ]  # fmt: skip
    language = CitationRequest.build(FABRICATE, SOURCES[:3], Policy.REQUIRED).language
    assert not all(language.is_prefix(raw) for raw in raws)
    assert all(call_info(raw).enforcement is not None for raw in raws)


def test_random_model_stream_matches_generate_and_closing_stops(tiny: HFBackend) -> None:
    kwargs: dict[str, Any] = {"temperature": 0, "max_new_tokens": 60}
    whole = tiny.generate("q", SOURCES, Policy.AUTO, **kwargs)
    chunks = list(tiny.stream("q", SOURCES, Policy.AUTO, **kwargs))
    assert "".join(chunks) == whole
    assert len(chunks) > 5  # token by token
    stream = tiny.stream("q", SOURCES, Policy.AUTO, max_new_tokens=500, temperature=1.0, seed=1)
    next(stream)
    stream.close()  # GeneratorExit at the yield: the loop ends, nothing else runs


class TestHFConformance(BackendConformance):
    options: ClassVar[dict[str, Any]] = {"temperature": 0, "max_new_tokens": 24}
    backend: HFBackend | None = None

    @pytest.fixture(autouse=True)
    def _shared_model(self, smollm2_hf: HFBackend) -> None:
        TestHFConformance.backend = smollm2_hf

    def make_backend(self) -> Backend:
        assert TestHFConformance.backend is not None
        return TestHFConformance.backend


def test_smollm2_answers_with_valid_citations_under_pressure(smol: HFBackend) -> None:
    for policy in Policy:
        for seed in range(2):
            raw = smol.generate(FABRICATE, SOURCES, policy, temperature=0.8, seed=seed,
                                max_new_tokens=32)  # fmt: skip
            assert validate(raw, 3, MarkerStyle.BRACKET).invalid == (), raw


def test_smollm2_four_paths_agree(smol: HFBackend) -> None:
    cf = Citeformer(smol, citation_policy="required")
    opts: dict[str, Any] = {"temperature": 0, "max_new_tokens": 30}
    expected = cf.generate("How tall is the Eiffel Tower?", SOURCES, **opts)
    assert "".join(cf.stream("How tall is the Eiffel Tower?", SOURCES, **opts)) == expected.text

    async def run() -> tuple[str, str]:
        a = await cf.agenerate("How tall is the Eiffel Tower?", SOURCES, **opts)
        s = cf.astream("How tall is the Eiffel Tower?", SOURCES, **opts)
        return a.text, "".join([c async for c in s])

    assert asyncio.run(run()) == (expected.text, expected.text)
    assert expected.enforcement.value == "grammar"


def test_too_few_tokens_ends_with_length_and_no_half_marker(smol: HFBackend) -> None:
    cf = Citeformer(smol, citation_policy="required")
    result = cf.generate(FABRICATE, SOURCES, max_new_tokens=3, temperature=0)
    assert result.finish_reason == "length"
    assert validate(result.text, 3, MarkerStyle.BRACKET).invalid == ()
    assert result.usage is not None and result.usage.completion_tokens == 3


def test_usage_is_per_call(smol: HFBackend) -> None:
    short = smol.generate("Hi", SOURCES[:1], Policy.AUTO, max_new_tokens=4, temperature=0)
    long = smol.generate("Tell me everything " * 20, SOURCES, Policy.AUTO, max_new_tokens=4)
    assert call_info(short).usage != call_info(long).usage
    assert not any("usage" in name for name in vars(smol))


def test_missing_model_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        HFBackend(str(tmp_path / "nowhere"))


def test_loaded_model_needs_its_tokenizer(tiny: HFBackend) -> None:
    with pytest.raises(InvalidOptionError, match="needs its tokenizer"):
        HFBackend(tiny.model)


def test_tokenizer_without_chat_template_is_refused(tiny: HFBackend) -> None:
    from transformers import PreTrainedTokenizerFast

    bare = PreTrainedTokenizerFast(tokenizer_object=train_tokenizer(), eos_token=EOS)  # type: ignore[no-untyped-call]
    with pytest.raises(ConfigurationError, match="no chat template"):
        HFBackend(tiny.model, bare)
    assert HFBackend(tiny.model, bare, chat_template=CHATML).tokenizer is bare


def test_compiled_grammars_are_cached_per_language(tiny: HFBackend) -> None:
    language = CitationRequest.build("q", [Source("a")] * 12, Policy.AUTO).language
    assert tiny.compiled_grammar(language) is tiny.compiled_grammar(language)
