"""Fused attention on meta tensors, so a trace saves what a fused kernel saves.

On meta tensors ``F.scaled_dot_product_attention`` takes its *math* path: it materialises the
B x H x L x S attention probabilities and saves them for backward. Real devices run a fused kernel
that saves only q, k, v, the output and a float32 log-sum-exp of B x H x L, and never materialises
the probabilities. Left alone, a meta trace overstates attention memory by a term quadratic in
sequence length.

:class:`FusedAttention` is a ``TorchFunctionMode`` that runs each 4-d floating-point
``scaled_dot_product_attention`` call through the fused ATen op the target device would run; these ops
have meta and autograd support, so the trace holds exactly the tensors that kernel allocates and saves:

* ``target="cpu"``: ``aten._scaled_dot_product_flash_attention_for_cpu`` for calls without dropout, as
  on a real CPU run; calls with dropout keep the math path (CPU's flash kernel does not take dropout
  in training); ``nn.MultiheadAttention`` keeps its math path.
* ``target="cuda"``: the kernel :func:`netcensus.devices.cuda.sdpa_backend` picks (the CUDA
  dispatcher's rules for sm90): ``aten._scaled_dot_product_cudnn_attention`` (fp16/bf16),
  ``aten._scaled_dot_product_flash_attention`` (fp16/bf16 without a mask),
  ``aten._scaled_dot_product_efficient_attention`` (fp32, masks, dropout), each saving its
  log-sum-exp and, with dropout, the RNG seed and offset instead of a dropout mask. Calls the
  dispatcher would send to the math path keep it. ``F.dropout`` in training runs as
  ``aten.native_dropout`` (a bool mask kept for backward), as on CUDA. ``F.multi_head_attention_forward``
  (``nn.MultiheadAttention``, ``nn.TransformerEncoder``, torchvision's ViT) is run with its inner
  ``scaled_dot_product_attention`` routed the same way, as PyTorch's own code does on CUDA when
  ``need_weights=False``.

Boolean masks are turned into additive float masks first, as PyTorch's front end does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from ...devices.cuda import sdpa_backend

_NAMES = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
_DEFAULTS: dict[str, Any] = {"attn_mask": None, "dropout_p": 0.0, "is_causal": False, "scale": None,
                             "enable_gqa": False}
_SDPA = F.scaled_dot_product_attention
_MHA = F.multi_head_attention_forward
_DROPOUT = F.dropout
_FLOATS = (torch.float32, torch.float16, torch.bfloat16)


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


def _float_mask(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    if mask is not None and mask.dtype == torch.bool:
        zero = torch.zeros((), dtype=dtype)
        return torch.where(mask, zero, torch.tensor(float("-inf"), dtype=dtype))
    if mask is not None and mask.dtype != dtype:
        return mask.to(dtype)
    return mask


def routed_sdpa(target: str, *args: Any, **kwargs: Any) -> Any:
    """``F.scaled_dot_product_attention(*args, **kwargs)`` through the fused kernel of ``target`` (the
    module docstring), or the math path where that device would take it."""
    b = _bind(args, kwargs)
    if b is None:
        return _SDPA(*args, **kwargs)
    q, k, v, mask = b["query"], b["key"], b["value"], b["attn_mask"]
    dropout = float(b["dropout_p"] or 0.0)
    plain = (
        all(isinstance(t, torch.Tensor) and t.device.type == "meta" and t.dim() == 4 and t.dtype in _FLOATS
            for t in (q, k, v))
        and q.dtype == k.dtype == v.dtype
        and (mask is None or isinstance(mask, torch.Tensor))
    )
    if not plain:
        return _SDPA(*args, **kwargs)
    same_heads = q.shape[1] == k.shape[1] == v.shape[1]
    if target == "cpu":
        if dropout or not (b["enable_gqa"] or same_heads):
            return _SDPA(*args, **kwargs)
        out = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, 0.0, bool(b["is_causal"]), attn_mask=_float_mask(mask, q.dtype), scale=b["scale"])
        return out[0]
    gqa = bool(b["enable_gqa"]) and not same_heads
    if not same_heads and not gqa:
        return _SDPA(*args, **kwargs)
    kind = sdpa_backend(str(q.dtype).removeprefix("torch."), q.shape[-1], v.shape[-1], mask is not None,
                        bool(dropout), same_heads or gqa,
                        mask_grad=isinstance(mask, torch.Tensor) and mask.requires_grad
                        and torch.is_grad_enabled())
    if gqa and kind != "cudnn":
        return _SDPA(*args, **kwargs)
    if kind == "math":
        if dropout and torch.is_grad_enabled():
            return _math_with_native_dropout(q, k, v, mask, dropout, bool(b["is_causal"]), b["scale"])
        return _SDPA(*args, **kwargs)
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    causal = bool(b["is_causal"])
    if kind == "flash":
        return torch.ops.aten._scaled_dot_product_flash_attention(
            q, k, v, dropout, causal, False, scale=b["scale"])[0]
    mask = _float_mask(mask, q.dtype)
    if mask is not None:
        mask = mask.expand(q.shape[0], q.shape[1], q.shape[2], k.shape[2])
    if kind == "cudnn":
        return torch.ops.aten._scaled_dot_product_cudnn_attention(
            q, k, v, mask, grad, dropout, causal, False, scale=b["scale"])[0]
    return torch.ops.aten._scaled_dot_product_efficient_attention(
        q, k, v, mask, grad, dropout, causal, scale=b["scale"])[0]


class FusedAttention(TorchFunctionMode):
    """Route meta ``scaled_dot_product_attention`` calls to the fused kernel of ``target`` (module
    docstring); for ``"cuda"``, ``F.multi_head_attention_forward`` as well.

    Every other call passes through unchanged and entering does nothing: ``intercepts`` says so, and
    the tracer then calls this handler from its own mode instead of pushing a second one.
    """

    def __init__(self, target: str = "cuda"):
        super().__init__()
        self.target = target
        self.intercepts: frozenset[Any] = frozenset({_SDPA, _MHA, _DROPOUT} if target == "cuda" else {_SDPA})

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        if func is _SDPA:
            return routed_sdpa(self.target, *args, **kwargs)
        if func is _MHA and self.target == "cuda":
            return _routed_mha(self.target, args, kwargs)
        if func is _DROPOUT and self.target == "cuda":
            return _native_dropout(*args, **kwargs)
        return func(*args, **kwargs)


def _math_with_native_dropout(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Any, p: float,
                              causal: bool, scale: float | None) -> torch.Tensor:
    """The math path of ``scaled_dot_product_attention`` (aten/src/ATen/native/transformers/
    attention.cpp, ``_scaled_dot_product_attention_math``) with its dropout as CUDA runs it:
    ``native_dropout``, keeping a bool mask, where meta's generic ``aten.dropout`` keeps float noise."""
    origin = q.dtype
    if origin in (torch.float16, torch.bfloat16):  # the math path computes in float32 for accuracy
        q, k, v = q.float(), k.float(), v.float()
    factor = math.sqrt(scale if scale is not None else 1.0 / math.sqrt(q.shape[-1]))
    attn = torch.matmul(q * factor, k.transpose(-2, -1) * factor)
    if causal:
        keep = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
        mask = keep if mask is None else keep & mask if mask.dtype == torch.bool else mask
    if mask is not None and mask.dtype == torch.bool:
        mask = _float_mask(mask, origin)
    if mask is not None:
        attn.add_(mask)
    attn = torch._safe_softmax(attn, -1)
    attn = torch.ops.aten.native_dropout(attn, p, True)[0]
    return torch.matmul(attn, v).to(origin)


def _native_dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:
    """``F.dropout`` as CUDA runs it: ``aten.native_dropout``, which keeps a bool mask (1 byte per
    element) for backward. On meta, ``aten.dropout`` takes the generic path instead, which keeps a
    float noise tensor of the input's dtype (4 bytes per element in fp32)."""
    if (not training or not p or inplace or not isinstance(input, torch.Tensor)
            or input.device.type != "meta" or not input.is_floating_point()):
        return _DROPOUT(input, p, training, inplace)
    return torch.ops.aten.native_dropout(input, float(p), True)[0]


def _routed_mha(target: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """PyTorch's own ``F.multi_head_attention_forward``, with the ``scaled_dot_product_attention`` it
    calls (when ``need_weights=False``) routed to ``target``'s kernel. The handler runs with this mode
    off, so the inner call is not seen by it: the name is rebound in ``torch.nn.functional`` for the
    duration of the call (tracing is single-threaded) and restored after."""
    module = F
    module.scaled_dot_product_attention = partial(routed_sdpa, target)  # type: ignore[assignment]
    try:
        return _MHA(*args, **kwargs)
    finally:
        module.scaled_dot_product_attention = _SDPA


def fused_attention(target: str = "cuda") -> Callable[[], AbstractContextManager[Any]]:
    """A factory for ``trace_model(contexts=...)``: the kernels of ``target`` (``"cuda"`` or ``"cpu"``)."""
    return partial(FusedAttention, target)
