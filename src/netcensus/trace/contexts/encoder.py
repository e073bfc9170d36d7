"""``nn.TransformerEncoderLayer``'s inference fast path, traced as the device runs it.

In eval mode without gradients, ``nn.TransformerEncoderLayer.forward`` hands the whole layer to one
native op, ``torch._transformer_encoder_layer_fwd`` (aten/src/ATen/native/transformers/transformer.cpp),
when its conditions hold. A meta trace never takes that path: the layer refuses it when a tensor is not
on a CPU/CUDA device or a torch-function mode is active, and both are true while tracing. The op's meta
kernel would not help either: it returns the output without the intermediates the real kernel
allocates. So on a ``"cuda"`` target this context runs, in place of the layer's forward, the sequence of
ops the native op runs there:

* ``norm_first``: ``x = layer_norm1(src)``;
* attention (``_native_multi_head_attention`` with ``need_weights=False`` and no mask takes its fused
  branch): one packed ``linear`` to ``[B, T, 3D]``, three head views of its chunks, the fused
  ``scaled_dot_product_attention`` the dispatcher picks (:func:`.attention.routed_sdpa`), the output
  projection;
* ``x.add_(src)`` **in place**, then ``layer_norm1`` when not ``norm_first``;
* the feed-forward: ``_addmm_activation`` (the first linear with ReLU/GELU fused into it: one output, no
  separate activation tensor), the second linear, ``add_`` of the residual **in place**, then
  ``layer_norm2`` when not ``norm_first``.

The Python forward instead keeps the first linear's output *and* the activation's, and allocates new
tensors for both residual sums: for BERT-base sizes that is the difference between the 0.98 GB a plain
meta trace of a b32 s512 inference holds and the 0.83 GB an H200 measured.

The fast path is taken only where PyTorch takes it (the conditions of ``TransformerEncoderLayer.forward``
in torch 2.x: fast path enabled, 3-d batched input, eval mode, ``batch_first``, bias, same q/k/v
embedding size, ReLU or GELU, equal norm eps, an even head count, autocast off, no forward hooks on the
layer or its submodules, no gradients needed) and only without a mask: with a mask the native op takes
its unfused attention branch, which is not modelled, and the Python forward is traced as before.
Training, and ``target="cpu"``, keep the Python forward.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..common import note
from .attention import routed_sdpa


def takes_fast_path(layer: nn.TransformerEncoderLayer, src: torch.Tensor, src_mask: Any,
                    src_key_padding_mask: Any) -> bool:
    """Whether PyTorch's forward would run ``_transformer_encoder_layer_fwd`` on a real device, for a
    call without a mask (the module docstring)."""
    attn = layer.self_attn
    if src_mask is not None or src_key_padding_mask is not None:
        return False
    if not (torch.backends.mha.get_fastpath_enabled() and isinstance(src, torch.Tensor) and src.dim() == 3
            and not src.is_nested and not layer.training and attn.batch_first
            and attn.in_proj_bias is not None and attn._qkv_same_embed_dim
            and layer.activation_relu_or_gelu and layer.norm1.eps == layer.norm2.eps
            and attn.num_heads % 2 == 0 and not torch.is_autocast_enabled()):
        return False
    if any(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in layer.modules()):
        return False
    tensors = (src, attn.in_proj_weight, attn.in_proj_bias, attn.out_proj.weight, attn.out_proj.bias,
               layer.linear1.weight, layer.linear1.bias, layer.linear2.weight, layer.linear2.bias)
    return not (torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors))


def _attention(layer: nn.TransformerEncoderLayer, x: torch.Tensor, target: str) -> torch.Tensor:
    """``_native_multi_head_attention``'s fused branch (aten/src/ATen/native/transformers/cuda/
    attention.cu): packed projection, head views, fused attention, output projection."""
    attn = layer.self_attn
    batch, heads = x.shape[0], attn.num_heads
    qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = (c.view(batch, -1, heads, attn.head_dim).transpose(1, 2) for c in qkv.chunk(3, -1))
    y = routed_sdpa(target, q, k, v)
    return F.linear(y.transpose(1, 2).reshape(batch, -1, attn.embed_dim), attn.out_proj.weight,
                    attn.out_proj.bias)


def _feed_forward(layer: nn.TransformerEncoderLayer, x: torch.Tensor) -> torch.Tensor:
    """``ffn`` of transformer.cpp: ``_addmm_activation`` (bias, ReLU or GELU fused), then ``addmm``."""
    lin1, lin2 = layer.linear1, layer.linear2
    flat = x.reshape(-1, x.shape[-1])
    gelu = layer.activation_relu_or_gelu == 2
    h = torch._addmm_activation(lin1.bias, flat, lin1.weight.t(), use_gelu=gelu)
    out = torch.addmm(lin2.bias, h, lin2.weight.t())
    return out.view(x.shape[0], x.shape[1], -1)


def fast_forward(layer: nn.TransformerEncoderLayer, src: torch.Tensor, target: str) -> torch.Tensor:
    """``transformer_encoder_layer_forward`` of transformer.cpp, op by op (the module docstring)."""
    x = layer.norm1(src) if layer.norm_first else src
    x = _attention(layer, x, target)
    x.add_(src)
    if not layer.norm_first:
        x = layer.norm1(x)
    residual = x
    if layer.norm_first:
        x = layer.norm2(x)
    x = _feed_forward(layer, x)
    x.add_(residual)
    del residual
    return x if layer.norm_first else layer.norm2(x)


class EncoderFastPath:
    """Within the block, ``nn.TransformerEncoderLayer.forward`` takes the device's fast path (traced op
    by op) wherever PyTorch would take it on ``target``; the class's own forward is put back on exit."""

    def __init__(self, target: str = "cuda"):
        self.target = target
        self.saved: Any = None

    def __enter__(self) -> EncoderFastPath:
        target = self.target
        original = self.saved = nn.TransformerEncoderLayer.forward

        def forward(layer: nn.TransformerEncoderLayer, src: torch.Tensor, src_mask: Any = None,
                    src_key_padding_mask: Any = None, is_causal: bool = False) -> torch.Tensor:
            if target == "cuda" and takes_fast_path(layer, src, src_mask, src_key_padding_mask):
                note("nn.TransformerEncoderLayer in inference runs PyTorch's fused fast path on CUDA "
                     "(torch._transformer_encoder_layer_fwd), traced op by op: its submodules do not run "
                     "as modules, their work is on the layer's row")
                return fast_forward(layer, src, target)
            return original(layer, src, src_mask, src_key_padding_mask, is_causal)

        nn.TransformerEncoderLayer.forward = forward  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        nn.TransformerEncoderLayer.forward = self.saved  # type: ignore[method-assign,assignment]


def encoder_fast_path(target: str = "cuda") -> Callable[[], AbstractContextManager[Any]]:
    """A factory for ``trace_model(contexts=...)`` (see the module docstring)."""
    return lambda: EncoderFastPath(target)
