"""Fused attention on meta tensors, so a trace saves what a fused kernel saves.

On meta tensors ``F.scaled_dot_product_attention`` takes its *math* path: it materialises the
B x H x L x S attention probabilities and saves them for backward. Real devices run a fused kernel
(CUDA: flash or memory-efficient attention; CPU: flash attention) that saves only q, k, v, the output
and a float32 log-sum-exp of B x H x L, and never materialises the probabilities. Left alone, a meta
trace overstates attention memory by a term quadratic in sequence length.

:class:`FusedAttention` is a ``TorchFunctionMode`` that runs each 4-d floating-point
``scaled_dot_product_attention`` call without dropout through PyTorch's own
``aten._scaled_dot_product_flash_attention_for_cpu`` op, which has meta and autograd support: the
trace then holds exactly the tensors that kernel allocates and saves, as on a real CPU run. CUDA's
kernels save the same tensors, up to the log-sum-exp padding of the memory-efficient kernel (rows
rounded up to a multiple of 32) and two scalar RNG tensors. Boolean masks are turned into additive
float masks first, as PyTorch's CPU front end does. Calls with dropout, or with other ranks or
dtypes, keep the math path.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

_NAMES = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
_DEFAULTS: dict[str, Any] = {"attn_mask": None, "dropout_p": 0.0, "is_causal": False, "scale": None,
                             "enable_gqa": False}


def _bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any] | None:
    bound = dict(_DEFAULTS)
    if len(args) > len(_NAMES):
        return None
    bound.update(zip(_NAMES, args))
    for k, v in kwargs.items():
        if k not in _NAMES:
            return None
        bound[k] = v
    return bound if all(n in bound for n in _NAMES[:3]) else None


class FusedAttention(TorchFunctionMode):
    """Route meta ``scaled_dot_product_attention`` calls to the fused kernel (module docstring).

    Every other call passes through unchanged and entering does nothing: ``intercepts`` says so, and
    the tracer then calls this handler from its own mode instead of pushing a second one.
    """

    intercepts: frozenset[Any] = frozenset({F.scaled_dot_product_attention})

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        if func is not F.scaled_dot_product_attention:
            return func(*args, **kwargs)
        b = _bind(args, kwargs)
        if b is None:
            return func(*args, **kwargs)
        q, k, v, mask = b["query"], b["key"], b["value"], b["attn_mask"]
        fused = (
            all(isinstance(t, torch.Tensor) and t.device.type == "meta" and t.dim() == 4
                and t.dtype in (torch.float32, torch.float16, torch.bfloat16) for t in (q, k, v))
            and q.dtype == k.dtype == v.dtype
            and not b["dropout_p"]
            and (mask is None or isinstance(mask, torch.Tensor))
            and (b["enable_gqa"] or q.shape[1] == k.shape[1] == v.shape[1])
        )
        if not fused:
            return func(*args, **kwargs)
        if mask is not None and mask.dtype == torch.bool:
            zero = torch.zeros((), dtype=q.dtype)
            mask = torch.where(mask, zero, torch.tensor(float("-inf"), dtype=q.dtype))
        elif mask is not None and mask.dtype != q.dtype:
            mask = mask.to(q.dtype)
        out = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, 0.0, bool(b["is_causal"]), attn_mask=mask, scale=b["scale"])
        return out[0]


def fused_attention() -> Callable[[], AbstractContextManager[Any]]:
    """A factory for ``trace_model(contexts=...)``."""
    return FusedAttention
