"""How to trace a model so the memory analysis sees what a real device would allocate.

``trace_contexts(precision)`` returns the ``contexts`` to pass to ``trace_model``:

* :func:`~netcensus.trace.contexts.attention.fused_attention` (unless ``attention="math"``), so
  attention saves what the target device's fused kernel saves;
* on a ``"cuda"`` target without autocast, :func:`~netcensus.trace.contexts.encoder.encoder_fast_path`,
  so ``nn.TransformerEncoderLayer`` in inference runs the native fast path's ops;
* for ``bf16-mixed`` / ``fp16-mixed``, the autocast emulation (entered last, so it casts before the
  attention routing sees the call).

For ``fp16`` / ``bf16`` the floating parameters, buffers and inputs must already be in that dtype when
traced; :func:`low_precision_parameters` swaps a model's floating tensors for cast copies for the
duration of a ``with`` block and puts the very same tensors back on exit. On a meta model this costs
nothing; on a real model it allocates the copies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch
from torch import nn

from ...errors import MemoryConfigError
from ...options import Precision
from .attention import fused_attention
from .autocast import autocast_emulation
from .encoder import encoder_fast_path


def trace_contexts(precision: Precision = Precision.FP32, *, attention: str = "fused",
                   device_type: str = "cuda") -> tuple[Callable[[], AbstractContextManager[Any]], ...]:
    """Context factories for ``trace_model(..., contexts=...)`` (see the module docstring).

    ``device_type`` (the target device) picks the attention kernels (see :mod:`.attention`) and the
    autocast op lists: ``"cuda"`` (default) or ``"cpu"``.
    """
    if attention not in ("fused", "math"):
        raise MemoryConfigError(f"unknown attention {attention!r}", fix="use 'fused' or 'math'")
    if device_type not in ("cuda", "cpu"):
        raise MemoryConfigError(f"unknown autocast device type {device_type!r}", fix="use 'cuda' or 'cpu'")
    out: list[Callable[[], AbstractContextManager[Any]]] = []
    if attention == "fused" and device_type == "cuda" and not precision.mixed:
        out.append(encoder_fast_path(device_type))  # autocast turns the fast path off
    if attention == "fused":
        out.append(fused_attention(device_type))
    if precision.mixed:
        from .autocast import CPU_LISTS, CUDA_LISTS
        lists = CUDA_LISTS if device_type == "cuda" else CPU_LISTS
        out.append(autocast_emulation(getattr(torch, precision.compute_dtype), lists))
    return tuple(out)


@contextmanager
def low_precision_parameters(model: nn.Module, dtype: torch.dtype | str) -> Iterator[nn.Module]:
    """Within the block, ``model``'s floating parameters and buffers are ``dtype`` copies."""
    if isinstance(dtype, str):
        dtype = getattr(torch, Precision.parse(dtype).compute_dtype if dtype in ("bf16", "fp16") else dtype)
    swapped: list[tuple[torch.Tensor, torch.Tensor]] = []
    try:
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point() and t.dtype != dtype:
                swapped.append((t, t.data))
                t.data = t.data.to(dtype)
        yield model
    finally:
        for t, original in swapped:
            t.data = original
