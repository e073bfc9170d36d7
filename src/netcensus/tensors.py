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
