"""Split one-row matmuls: bitwise the plain products, on random layers and SmolLM2."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from citeformer import Policy, Source  # noqa: E402
from citeformer.backends import hf_matmul  # noqa: E402
from citeformer.backends.hf_matmul import SplitLinear, split_matmuls  # noqa: E402

# SmolLM2-135M's layer shapes (q/o, k/v, gate/up, down, lm_head), then odd ones.
SHAPES = [(576, 576), (192, 576), (1536, 576), (576, 1536), (49152, 576), (100, 64), (48, 7)]


def _layers(bias: bool = False) -> Any:
    torch.manual_seed(3)
    return torch.nn.ModuleList(
        [torch.nn.Linear(columns, rows, bias=bias) for rows, columns in SHAPES]
    )


def test_one_row_outputs_are_bitwise_the_plain_ones_for_every_shape() -> None:
    layers = _layers()
    plain = copy.deepcopy(layers)
    assert split_matmuls(layers, blocks=2) == len(SHAPES)
    with torch.inference_mode():
        for split, reference in zip(layers, plain, strict=True):
            assert type(split) is SplitLinear
            for shape in [(1, 1, split.in_features), (1, split.in_features), (split.in_features,)]:
                row = torch.randn(shape)
                out = split(row)
                assert out.shape == reference(row).shape
                assert torch.equal(out, reference(row))


def test_the_split_is_taken_for_the_models_shapes_and_refused_where_rows_do_not_divide() -> None:
    # The speed-up is real only if the check passes for SmolLM2's shapes on this CPU.
    for rows, columns in SHAPES[:5]:
        assert hf_matmul._block_split_exact(torch.randn(rows, columns), 2), (rows, columns)
    assert not hf_matmul._block_split_exact(torch.randn(100, 64), 2)  # 50-row blocks
    assert not hf_matmul._block_split_exact(torch.randn(576, 576).t(), 2)  # not contiguous


def test_a_failed_check_keeps_the_plain_product(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hf_matmul, "_checked", {})
    monkeypatch.setattr(hf_matmul, "_compare", lambda weight, blocks: False)
    layer = torch.nn.Linear(576, 1536, bias=False)
    split_matmuls(layer)
    calls: list[str] = []
    monkeypatch.setattr(torch, "bmm", lambda *a: calls.append("bmm"))
    row = torch.randn(1, 576)
    assert torch.equal(layer(row), torch.nn.functional.linear(row, layer.weight))
    assert calls == []


def test_rows_batches_biases_and_one_thread_are_left_alone() -> None:
    layers = _layers(bias=True)
    assert split_matmuls(layers, blocks=2) == 0  # biased layers keep nn.Linear
    assert split_matmuls(torch.nn.Linear(8, 32, bias=False), blocks=1) == 0
    layer = torch.nn.Linear(576, 576, bias=False)
    reference = copy.deepcopy(layer)
    split_matmuls(layer, blocks=2)
    batch = torch.randn(3, 5, 576)  # prefill: many rows, F.linear's own kernel
    assert torch.equal(layer(batch), reference(batch))


def test_split_layers_pickle_copy_and_keep_their_state_dict() -> None:
    layer = torch.nn.Linear(576, 192, bias=False)
    keys = list(layer.state_dict())
    split_matmuls(layer, blocks=4)
    again = pickle.loads(pickle.dumps(layer))
    clone = copy.deepcopy(layer)
    row = torch.randn(1, 576)
    for other in (again, clone):
        assert type(other) is SplitLinear and other.split_blocks == 4
        assert torch.equal(other(row), layer(row))
    assert list(layer.state_dict()) == keys
    assert isinstance(layer, torch.nn.Linear)


def _greedy_logits(backend: Any, steps: int) -> list[Any]:
    ids = backend._encode([{"role": "user", "content": "Name three rivers in Europe."}])
    kwargs = {backend._cache_arg: backend._new_cache(), "use_cache": True, **backend._last_only}
    rows = []
    with torch.inference_mode():
        for _ in range(steps):
            logits = backend.model(input_ids=ids, **kwargs).logits[:, -1, :]
            rows.append(logits)
            ids = logits.argmax(-1, keepdim=True)
    return rows


def test_smollm2_decodes_bitwise_the_same_with_and_without_the_split(smollm2_hf: Any) -> None:
    from citeformer.backends.embedded import quiet_transformers, smollm2_hf_dir
    from citeformer.backends.hf import HFBackend

    with quiet_transformers():
        plain = HFBackend(smollm2_hf_dir(), split_matmuls=False)
    assert not any(isinstance(m, SplitLinear) for m in plain.model.modules())
    assert sum(isinstance(m, SplitLinear) for m in smollm2_hf.model.modules()) == 211
    for split, reference in zip(
        _greedy_logits(smollm2_hf, 24), _greedy_logits(plain, 24), strict=True
    ):
        assert torch.equal(split, reference)
    sources = [Source("The Danube flows through Vienna."), Source("The Rhine passes Basel.")]
    answers = [
        backend.generate("Which rivers?", sources, Policy.AUTO, max_tokens=40, temperature=0)
        for backend in (smollm2_hf, plain)
    ]
    assert answers[0] and str(answers[0]) == str(answers[1])


def test_a_passed_model_is_switched_only_when_asked(smollm2_hf: Any) -> None:
    from citeformer.backends.hf import HFBackend

    model = copy.deepcopy(smollm2_hf.model)
    for module in model.modules():
        if isinstance(module, SplitLinear):
            module.__class__ = torch.nn.Linear
    HFBackend(model, smollm2_hf.tokenizer)
    assert not any(isinstance(m, SplitLinear) for m in model.modules())
    HFBackend(model, smollm2_hf.tokenizer, split_matmuls=True)
    assert any(isinstance(m, SplitLinear) for m in model.modules())


@pytest.mark.parametrize("bias", [False, True])
def test_rows_exact_gives_each_row_the_bits_of_a_one_row_call(bias: bool) -> None:
    layers = _layers(bias=bias)
    split_matmuls(layers, blocks=2)
    hf_matmul.exact_rows(layers)  # biased layers: one block, F.linear row by row
    assert all(type(layer) is SplitLinear for layer in layers)
    with torch.inference_mode():
        for layer in layers:
            rows = torch.randn(1, 5, layer.in_features)
            one_by_one = torch.stack([layer(row) for row in rows[0]])
            with hf_matmul.rows_exact():
                exact = layer(rows)
            assert exact.shape == (1, 5, layer.out_features)
            assert torch.equal(exact[0], one_by_one)
            # Outside the block many rows take F.linear's matrix kernel (other bits).
            plain = torch.nn.functional.linear(rows, layer.weight, layer.bias)
            assert torch.equal(layer(rows), plain)


def test_a_matrix_larger_than_the_cache_is_read_in_checked_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    layer = torch.nn.Linear(576, 49152, bias=False)  # SmolLM2's lm_head: 113 MB
    split_matmuls(layer, blocks=2)
    chunk = hf_matmul._chunk_rows(layer)
    assert chunk is not None and chunk % 32 == 0
    assert (chunk - 32) * 576 * 4 < hf_matmul._CACHE_BYTES  # about the budget, whole tiles
    rows = torch.randn(3, 576)
    with torch.inference_mode(), hf_matmul.rows_exact():
        assert torch.equal(layer(rows), torch.stack([layer(row) for row in rows]))
    # A chunking whose bits differ is refused: the whole matrix, row by row.
    monkeypatch.setattr(hf_matmul, "_checked", {})
    monkeypatch.setattr(hf_matmul, "_compare_chunks", lambda layer, chunk: False)
    assert hf_matmul._chunk_rows(layer) is None
    small = torch.nn.Linear(576, 576, bias=False)
    split_matmuls(small, blocks=2)
    assert hf_matmul._chunk_rows(small) is None  # fits the cache whole
