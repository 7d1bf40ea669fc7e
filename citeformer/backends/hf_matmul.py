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

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from typing import Any

import torch

_checked: dict[tuple[Any, ...], bool] = {}
_checked_lock = threading.Lock()
# Rows per block stay a multiple of this: kernels vectorise over rows in such tiles.
_ROW_ALIGNMENT = 16
# Matrices above this many bytes are read in chunks by the row-by-row path, so that
# each chunk stays in the last-level cache while every row is multiplied by it.
_CACHE_BYTES = 4 * 2**20
_rows_exact: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "citeformer_rows_exact", default=False
)


class SplitLinear(torch.nn.Linear):
    """``nn.Linear`` whose one-row products run as one ``bmm`` over row blocks.

    Inside :func:`rows_exact`, an input of several rows is multiplied row by row
    through the same one-row product, so each output row has the bits a one-row
    call gives (what speculative decoding's verification needs; see ``hf_rows``).
    """

    split_blocks: int = 2

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """``F.linear(input, weight, bias)``; one row at a time in :func:`rows_exact`."""
        columns = input.shape[-1]
        if input.numel() == columns:
            return self._one_row(input)
        if _rows_exact.get():
            return self._each_row(input.reshape(-1, columns)).reshape(*input.shape[:-1], -1)
        return super().forward(input)

    def _one_row(self, input: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        blocks = self.split_blocks
        if self.bias is None and blocks > 1 and _block_split_exact(weight, blocks):
            row = input.reshape(1, 1, -1).expand(blocks, 1, -1)
            parts = weight.view(blocks, -1, weight.shape[1]).transpose(1, 2)
            return torch.bmm(row, parts).reshape(*input.shape[:-1], -1)
        return super().forward(input)

    def _each_row(self, rows: torch.Tensor) -> torch.Tensor:
        chunk = _chunk_rows(self)
        if chunk is None:
            return torch.stack([self._one_row(row) for row in rows])
        return self._rows_by_chunk(rows, chunk)

    def _rows_by_chunk(self, rows: torch.Tensor, chunk: int) -> torch.Tensor:
        # A matrix larger than the cache is read once: each chunk serves every row.
        weight, blocks = self.weight, self.split_blocks
        out = rows.new_empty(rows.shape[0], weight.shape[0])
        for start in range(0, weight.shape[0], chunk):
            parts = weight[start : start + chunk].view(blocks, -1, weight.shape[1]).transpose(1, 2)
            for index, row in enumerate(rows):
                product = torch.bmm(row.reshape(1, 1, -1).expand(blocks, 1, -1), parts)
                out[index, start : start + chunk] = product.reshape(-1)
        return out


@contextlib.contextmanager
def rows_exact() -> Iterator[None]:
    """Within the block, :class:`SplitLinear` multiplies several rows one by one.

    Per thread and task (a context variable): concurrent calls do not see it.
    """
    token = _rows_exact.set(True)
    try:
        yield
    finally:
        _rows_exact.reset(token)


def in_rows_exact() -> bool:
    """Whether the caller is inside :func:`rows_exact`."""
    return _rows_exact.get()


def exact_rows(model: torch.nn.Module) -> None:
    """Give every ``nn.Linear`` of ``model`` the row-by-row path of :func:`rows_exact`.

    Layers :func:`split_matmuls` did not switch (biased ones, or all of them with one
    thread) become :class:`SplitLinear` with one block: plain ``F.linear`` products.
    """
    for module in model.modules():
        if type(module) is torch.nn.Linear:
            module.__class__ = SplitLinear
            module.split_blocks = 1  # type: ignore[assignment]


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


def _chunk_rows(layer: SplitLinear) -> int | None:
    """Rows per cache-sized chunk of ``layer``'s matrix, or None to multiply it whole.

    A chunk is used only where its products are checked to be bitwise the whole
    matrix's one-row products (cached per shape).
    """
    weight, blocks = layer.weight, layer.split_blocks
    size = weight.numel() * weight.element_size()
    if size <= _CACHE_BYTES or layer.bias is not None or blocks < 2:
        return None
    if not _block_split_exact(weight, blocks):
        return None
    alignment = blocks * _ROW_ALIGNMENT
    count = -(-size // _CACHE_BYTES)
    chunk = -(-weight.shape[0] // count // alignment) * alignment
    if chunk >= weight.shape[0]:
        return None
    key = ("chunk", *weight.shape, weight.dtype, blocks, chunk)
    known = _checked.get(key)
    if known is None:
        known = _compare_chunks(layer, chunk)
        with _checked_lock:
            _checked[key] = known
    return chunk if known else None


def _compare_chunks(layer: SplitLinear, chunk: int) -> bool:
    weight = layer.weight
    generator = torch.Generator().manual_seed(weight.shape[0] * 31 + chunk)
    with torch.inference_mode():
        probe = torch.randn(2, weight.shape[1], generator=generator).to(weight.dtype)
        whole = torch.stack([layer._one_row(row) for row in probe])
        return torch.equal(layer._rows_by_chunk(probe, chunk), whole)
