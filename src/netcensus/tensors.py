"""Predicates on live tensors shared by the tracer and the analyses that run torch on meta tensors."""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode


def fills_own_storage(t: torch.Tensor) -> bool:
    """Whether ``empty_strided(t.shape, t.stride(), dtype=t.dtype)`` makes a tensor that holds the same
    bytes as ``t``: a plain strided tensor, not a view (offset 0, no conj/neg bit, no grad), whose storage
    holds exactly its elements. The kernel cache and the optimizer's state copies rely on it."""
    if (type(t) is not torch.Tensor or t.layout is not torch.strided or t.requires_grad
            or t.storage_offset() != 0 or t.is_conj() or t.is_neg()):
        return False
    shape, stride = t.shape, t.stride()
    expected = 0 if 0 in shape else (1 + sum((n - 1) * st for n, st in zip(shape, stride))) * t.element_size()
    return t.untyped_storage().nbytes() == expected


class PlainDispatchMode(TorchDispatchMode):
    """A ``TorchDispatchMode`` whose ``__torch_dispatch__`` is not wrapped to disable TorchDynamo.

    PyTorch wraps every subclass's ``__torch_dispatch__`` in ``torch._disable_dynamo`` unless the class
    says ``_should_skip_dynamo() -> False``; the wrapper imports ``torch._dynamo`` on the first op a
    process dispatches (0.8 s on 2 CPU cores, the largest part of a cold ``netcensus`` run). Nothing is
    compiled inside a netcensus trace, so the wrapper has nothing to do here.
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False


def contiguous_strides(shape: tuple[int, ...] | torch.Size) -> tuple[int, ...]:
    """The strides ``torch.empty(shape)`` gets (a size-0 or size-1 dimension counts as 1)."""
    strides = []
    step = 1
    for n in reversed(tuple(shape)):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def channels_last_strides(shape: tuple[int, ...] | torch.Size) -> tuple[int, ...]:
    """The strides ``torch.empty(shape, memory_format=torch.channels_last)`` gets, for a 4-d ``shape``
    with no size-0 dimension: channels fastest, then width, height and batch."""
    _, c, h, w = shape
    return (h * w * c, 1, w * c, c)


def suggested_format(t: torch.Tensor) -> torch.memory_format:
    """``Tensor.suggest_memory_format()`` of PyTorch's C++ API, in plain Python: ``channels_last``
    (``channels_last_3d``) for a strided 4-d (5-d) tensor whose strides order its dimensions as NHWC
    (NDHWC) does, with ambiguous orders (a size-1 channel whose stride equals the batch's) read as
    contiguous; else ``contiguous_format``. (``torch._prims_common.suggest_memory_format`` says the same,
    but imports sympy on its first call.)"""
    if t.layout is not torch.strided or t.dim() not in (4, 5):
        return torch.contiguous_format
    shape, strides = tuple(t.shape), t.stride()
    if strides[1] == 0:
        return torch.contiguous_format
    least = 0
    for d in ((1, 3, 2, 0) if t.dim() == 4 else (1, 4, 3, 2, 0)):
        if shape[d] == 0 or strides[d] < least or (d == 0 and least == strides[1]):
            return torch.contiguous_format
        least = strides[d] * shape[d]
    return torch.channels_last if t.dim() == 4 else torch.channels_last_3d
