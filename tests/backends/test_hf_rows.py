"""Speculative greedy decoding: bitwise plain decoding's output, on a random model and SmolLM2.

The differential is the test: the same backend with drafts off (``draft_tokens=0``) is
the reference, and drafts that are always wrong, always right or looked up in the
prompt must all give its text, its token count and its stream.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from citeformer import Policy, Source  # noqa: E402
from citeformer.backends import hf, hf_draft, hf_rows  # noqa: E402
from citeformer.backends.base import call_info  # noqa: E402
from citeformer.backends.hf import HFBackend  # noqa: E402
from citeformer.backends.hf_matmul import SplitLinear, rows_exact, split_matmuls  # noqa: E402
from citeformer.testing import SOURCES  # noqa: E402
from tests.backends.test_hf import tiny_llama  # noqa: E402

EIFFEL = [
    Source("The Eiffel Tower was designed by Gustave Eiffel's company and completed in 1889."),
    Source("The Eiffel Tower is 330 metres tall and stands on the Champ de Mars in Paris."),
]


@pytest.fixture(scope="module")
def tiny() -> HFBackend:
    """A random Llama with drafts on (a random model's greedy text repeats itself)."""
    model, tokenizer = tiny_llama(1, hidden_size=64, intermediate_size=128, num_key_value_heads=2)
    split_matmuls(model, blocks=2)
    return HFBackend(model, tokenizer, speculative=True)


class _Counting:
    """Counts the model's forward passes and the drafts the backend verified."""

    def __init__(self, backend: HFBackend, monkeypatch: pytest.MonkeyPatch) -> None:
        self.passes = 0
        self.drafted = 0
        logits = backend._logits

        def counted(feed: Any, kwargs: Any, drafted: int) -> Any:
            self.passes += 1
            self.drafted += drafted
            return logits(feed, kwargs, drafted)

        monkeypatch.setattr(backend, "_logits", counted)


def _generate(backend: HFBackend, question: str, sources: list[Source], **options: Any) -> Any:
    return backend.generate(question, sources, Policy.AUTO, **{"temperature": 0, **options})


@pytest.mark.parametrize("constrain", [True, False])
@pytest.mark.parametrize("question", ["Tell me about the sources.", "a a a a a", "Why? [1]"])
def test_drafts_from_the_prompt_give_plain_decodings_answer(
    tiny: HFBackend, monkeypatch: pytest.MonkeyPatch, question: str, constrain: bool
) -> None:
    options = {"max_new_tokens": 80, "constrain": constrain}
    plain = _generate(tiny, question, SOURCES[:3], draft_tokens=0, **options)
    counting = _Counting(tiny, monkeypatch)
    drafted = _generate(tiny, question, SOURCES[:3], **options)
    assert str(drafted) == str(plain)
    assert call_info(drafted) == call_info(plain)
    assert counting.drafted > 0  # the drafts were really verified
    assert counting.passes < call_info(plain).usage.completion_tokens + 1


@pytest.mark.parametrize("seed", range(4))
def test_always_wrong_and_always_right_drafts_change_nothing(
    tiny: HFBackend, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    options = {"max_new_tokens": 60, "min_new_tokens": 20, "seed": seed}
    question = f"Question number {seed}?"
    answer: list[int] = []
    push = hf._IncrementalDecoder.push
    with monkeypatch.context() as patch:

        def recording(self: Any, token: int) -> str:
            answer.append(token)
            return push(self, token)

        patch.setattr(hf._IncrementalDecoder, "push", recording)
        plain = _generate(tiny, question, SOURCES[:2], draft_tokens=0, **options)
    generator = torch.Generator().manual_seed(seed)
    vocab = tiny.model.config.vocab_size
    monkeypatch.setattr(
        hf_draft.PromptLookup, "propose",
        lambda self, limit: torch.randint(0, vocab, (min(limit, 5),), generator=generator).tolist(),
    )  # fmt: skip
    assert str(_generate(tiny, question, SOURCES[:2], **options)) == str(plain)
    # An oracle draft: the plain answer's own next tokens, up to 7 at a time.
    prompt = call_info(plain).usage.prompt_tokens
    monkeypatch.setattr(
        hf_draft.PromptLookup,
        "propose",
        lambda self, limit: answer[len(self._tokens) - prompt :][: min(limit, 7)],
    )
    counting = _Counting(tiny, monkeypatch)
    right = _generate(tiny, question, SOURCES[:2], **options)
    assert str(right) == str(plain)
    assert call_info(right) == call_info(plain)
    assert counting.passes <= -(-call_info(plain).usage.completion_tokens // 8) + 2


def test_token_limits_hold_with_drafts(tiny: HFBackend) -> None:
    for limit in (1, 2, 3, 7):
        plain = _generate(tiny, "a a a a", SOURCES[:2], max_new_tokens=limit, draft_tokens=0)
        drafted = _generate(tiny, "a a a a", SOURCES[:2], max_new_tokens=limit, draft_tokens=6)
        assert call_info(drafted).usage.completion_tokens <= limit
        assert str(drafted) == str(plain) and call_info(drafted) == call_info(plain)


def test_a_stream_with_drafts_is_the_whole_answer_and_closes_mid_draft(tiny: HFBackend) -> None:
    whole = _generate(tiny, "a a a a a", SOURCES[:3], max_new_tokens=80)
    stream = tiny.stream("a a a a a", SOURCES[:3], Policy.AUTO, temperature=0, max_new_tokens=80)
    pieces = [piece for piece in stream if isinstance(piece, str)]
    assert "".join(pieces) == str(whole)
    stream = tiny.stream("a a a a a", SOURCES[:3], Policy.AUTO, temperature=0, max_new_tokens=80)
    first = next(iter(stream))
    stream.close()  # type: ignore[attr-defined]
    assert isinstance(first, str)


def test_sampling_never_drafts(tiny: HFBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    counting = _Counting(tiny, monkeypatch)
    _generate(tiny, "a a a", SOURCES[:2], temperature=0.8, seed=1, max_new_tokens=30)
    assert counting.drafted == 0


def test_rows_exact_is_per_thread() -> None:
    seen: list[bool] = []
    layer = torch.nn.Linear(64, 64, bias=False)
    split_matmuls(layer, blocks=2)
    rows = torch.randn(3, 64)
    reference = torch.nn.functional.linear(rows, layer.weight)

    def other_thread() -> None:
        seen.append(torch.equal(layer(rows), reference))  # F.linear's own kernel

    with rows_exact():
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        exact = layer(rows)
    assert seen == [True]
    assert torch.equal(exact, torch.stack([layer(row) for row in rows]))


def test_a_failed_check_or_a_passed_model_keeps_plain_decoding(
    smollm2_hf: HFBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = HFBackend(smollm2_hf.model, smollm2_hf.tokenizer)  # a passed model: off
    assert backend._drafts_exact() is False
    checked = HFBackend(smollm2_hf.model, smollm2_hf.tokenizer, speculative=True)
    monkeypatch.setattr(hf_rows, "rows_match_steps", lambda *args, **kwargs: False)
    assert checked._drafts_exact() is False
    counting = _Counting(checked, monkeypatch)
    _generate(checked, "Who built it?", EIFFEL, max_new_tokens=8)
    assert counting.drafted == 0


def test_windowed_or_non_sdpa_models_are_refused(tiny: HFBackend) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM

    small = {"vocab_size": 64, "hidden_size": 32, "intermediate_size": 64,
             "num_hidden_layers": 1, "num_attention_heads": 2}  # fmt: skip
    assert not hf_rows.enable(MistralForCausalLM(MistralConfig(sliding_window=16, **small)))
    eager = LlamaForCausalLM(LlamaConfig(**small, attn_implementation="eager"))
    assert not hf_rows.enable(eager)
    assert not any(isinstance(m, SplitLinear) for m in eager.modules())


def test_smollm2_verification_rows_are_bitwise_one_token_steps(smollm2_hf: HFBackend) -> None:
    assert smollm2_hf._drafts_exact()
    assert smollm2_hf.model.config._attn_implementation == hf_rows.ATTENTION
    for drafts in (1, 3, 8):
        assert hf_rows.rows_match_steps(
            smollm2_hf.model, smollm2_hf._new_cache, smollm2_hf._cache_arg, drafts=drafts
        )


def test_smollm2_cited_answers_are_the_same_with_drafts_and_take_fewer_passes(
    smollm2_hf: HFBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    for question in ("Who built the Eiffel Tower, and when?", "How tall is the Eiffel Tower?"):
        plain = smollm2_hf.generate(question, EIFFEL, Policy.REQUIRED, temperature=0,
                                    max_new_tokens=48, draft_tokens=0)  # fmt: skip
        counting = _Counting(smollm2_hf, monkeypatch)
        drafted = smollm2_hf.generate(question, EIFFEL, Policy.REQUIRED, temperature=0,
                                      max_new_tokens=48)  # fmt: skip
        monkeypatch.undo()
        assert str(drafted) == str(plain)
        assert call_info(drafted) == call_info(plain)
        assert counting.passes < call_info(plain).usage.completion_tokens


@pytest.mark.parametrize(
    ("option", "value"),
    [("draft_tokens", -1), ("draft_tokens", "4"), ("draft_tokens", True), ("draft_tokens", 2.5),
     ("min_new_tokens", -3), ("constrain", "no")],
)  # fmt: skip
def test_bad_decoding_options_get_a_typed_error_naming_them(
    tiny: HFBackend, option: str, value: Any
) -> None:
    from citeformer import Citeformer
    from citeformer.errors import InvalidOptionError

    with pytest.raises(InvalidOptionError, match=option):
        _generate(tiny, "Hi", SOURCES[:2], max_new_tokens=4, **{option: value})
    with pytest.raises(InvalidOptionError, match=option):
        Citeformer(tiny).generate("Hi", SOURCES[:2], max_new_tokens=4, **{option: value})


def test_concurrent_threads_with_drafts_get_their_own_answers(tiny: HFBackend) -> None:
    from concurrent.futures import ThreadPoolExecutor

    questions = [f"Question {i}: a a a {i}" for i in range(6)]
    alone = {q: str(_generate(tiny, q, SOURCES[:3], max_new_tokens=50, draft_tokens=0))
             for q in questions}  # fmt: skip
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(
            lambda q: str(_generate(tiny, q, SOURCES[:3], max_new_tokens=50)), questions * 2
        ))  # fmt: skip
    assert together == [alone[q] for q in questions * 2]


def test_smollm2_in_half_precision_drafts_the_same_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # fp16 sums differ from fp32 ones, so its check and its verification are its own.
    half = HFBackend.default(model_kwargs={"dtype": torch.float16})
    assert half._drafts_exact()
    counting = _Counting(half, monkeypatch)
    question = "What was the Eiffel Tower built for?"
    options = {"temperature": 0, "max_new_tokens": 40}
    answers = [
        str(half.generate(question, EIFFEL, Policy.REQUIRED, draft_tokens=drafts, **options))
        for drafts in (0, 4)
    ]
    assert answers[0] and answers[0] == answers[1]
    assert counting.drafted > 0
