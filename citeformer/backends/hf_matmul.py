"""Single-token decoding matmuls split across CPU threads, bit for bit.

A decoding step multiplies one row by every weight matrix of the model. On CPU,
PyTorch hands that to MKL's matrix-vector kernel, which runs on one thread: on this
project's 2-core machine it reads weights at ~11 GB/s with one thread or two, while
the memory bus gives ~33 GB/s. ``torch.bmm`` over the weight's row blocks runs the
blocks on separate threads, and where the kernel's summation order does not depend
on how many rows it is given, every output is bitwise the one ``F.linear`` gives.
That is checked, not assumed: each (shape, dtype, blocks) is compared once against
``F.linear`` on a random row, and a layer whose check fails keeps ``F.linear``.
Measured in ``benchmarks/hf_speed.py`` (SmolLM2 fp32: ~1.5x faster per token). Imported
only with torch present (HFBackend imports it lazily).
"""

from __future__ import annotations

import threading
from typing import Any

import torch

_checked: dict[tuple[Any, ...], bool] = {}
_checked_lock = threading.Lock()
# Rows per block stay a multiple of this: kernels vectorise over rows in such tiles.
_ROW_ALIGNMENT = 16


class SplitLinear(torch.nn.Linear):
    """``nn.Linear`` whose one-row products run as one ``bmm`` over row blocks."""

    split_blocks: int = 2

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """``F.linear(input, weight)``, as a ``bmm`` over row blocks for one row."""
        weight = self.weight
        if input.numel() == weight.shape[1] and self.bias is None:
            blocks = self.split_blocks
            if _block_split_exact(weight, blocks):
                row = input.reshape(1, 1, -1).expand(blocks, 1, -1)
                parts = weight.view(blocks, -1, weight.shape[1]).transpose(1, 2)
                return torch.bmm(row, parts).reshape(*input.shape[:-1], -1)
        return super().forward(input)


def split_matmuls(model: torch.nn.Module, blocks: int | None = None) -> int:
    """Make the bias-free ``nn.Linear`` layers of ``model`` split one-row inputs.

    The layers' class becomes :class:`SplitLinear` (a ``nn.Linear`` subclass: the
    same parameters, state dict and pickling); inputs of more than one row, other
    devices and layers whose check fails run ``F.linear`` as before.

    Args:
        model: The model, changed in place.
        blocks: Row blocks per matrix (default: ``torch.get_num_threads()``).

    Returns:
        How many layers were switched (0 with one thread: nothing to gain).
    """
    blocks = blocks or torch.get_num_threads()
    if blocks < 2:
        return 0
    switched = 0
    for module in model.modules():
        if type(module) is torch.nn.Linear and module.bias is None:
            module.__class__ = SplitLinear
            module.split_blocks = blocks
            switched += 1
    return switched


def _block_split_exact(weight: torch.Tensor, blocks: int) -> bool:
    """Whether ``blocks`` row blocks of ``weight`` give ``F.linear``'s bits (cached)."""
    rows, columns = weight.shape
    if (
        weight.device.type != "cpu"
        or not weight.is_contiguous()
        or rows % (blocks * _ROW_ALIGNMENT)
    ):
        return False
    key = (rows, columns, weight.dtype, blocks)
    known = _checked.get(key)
    if known is None:
        known = _compare(weight, blocks)
        with _checked_lock:
            _checked[key] = known
    return known


def _compare(weight: torch.Tensor, blocks: int) -> bool:
    rows, columns = weight.shape
    generator = torch.Generator().manual_seed(rows * 7919 + columns)
    with torch.inference_mode():
        probe = torch.randn(2, 1, columns, generator=generator).to(weight.dtype)
        parts = weight.view(blocks, -1, columns).transpose(1, 2)
        for row in probe:
            split = torch.bmm(row.reshape(1, 1, -1).expand(blocks, 1, -1), parts)
            if not torch.equal(split.reshape(1, -1), torch.nn.functional.linear(row, weight)):
                return False
    return True
