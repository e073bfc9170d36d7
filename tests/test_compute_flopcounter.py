"""Our matmul-family FLOPs (2 * core MACs) against torch.utils.flop_counter.FlopCounterMode.

FlopCounterMode counts only matmul-like ops (mm, addmm, bmm, baddbmm, convolution and its backward,
the fused attention kernels), so its total is compared with ``2 * core_macs``, forward and backward.
It runs the model for real on the CPU; we trace it on meta tensors. Two settings keep FlopCounterMode
counting what it can: the MATH attention backend (on CPU the fused flash kernel,
``_scaled_dot_product_flash_attention_for_cpu``, is not in its registry and counts as 0) and oneDNN
off (``mkldnn_rnn_layer``, the CPU LSTM kernel, is not in its registry either); and grad mode on, also
for the forward-only runs, so that nn.MultiheadAttention and nn.TransformerEncoderLayer do not take
their inference fast path (``_native_multi_head_attention``, ``_transformer_encoder_layer_fwd``: not in
its registry, counted as 0). Grouped convolutions
are left out: FlopCounterMode counts their weight gradient ``groups`` times (see docs/conventions.md).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from netcensus.analyses.compute import analyze_compute
from netcensus.ops import expand
from netcensus.trace.tracer import trace_model


class Block(nn.Module):
    """Pre-norm transformer block calling F.scaled_dot_product_attention."""

    def __init__(self, dim: int = 32, heads: int = 4, kv_heads: int = 4, causal: bool = True) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.causal, self.dh = heads, kv_heads, causal, dim // heads
        self.norm = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * kv_heads * self.dh)
        self.out = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = self.norm(x)
        q = self.q(h).view(b, n, self.heads, self.dh).transpose(1, 2)
        k, v = self.kv(h).view(b, n, 2, self.kv_heads, self.dh).permute(2, 0, 3, 1, 4)
        gqa = self.kv_heads != self.heads
        a = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal, enable_gqa=gqa)
        x = x + self.out(a.transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(x)


def convnet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(), nn.ConvTranspose2d(16, 4, 2, stride=2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10),
    )


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(12, 32), nn.GELU(), nn.Linear(32, 32), nn.LayerNorm(32), nn.Linear(32, 3))


ZOO: dict[str, tuple[Callable[[], nn.Module], Callable[[], tuple]]] = {
    "convnet": (convnet, lambda: (torch.randn(2, 3, 12, 12),)),
    "convnet-input-grad": (convnet, lambda: (torch.randn(2, 3, 12, 12, requires_grad=True),)),
    "mlp": (mlp, lambda: (torch.randn(4, 12),)),
    "block-causal": (Block, lambda: (torch.randn(2, 6, 32),)),
    "block-gqa": (lambda: Block(kv_heads=2, causal=False), lambda: (torch.randn(2, 6, 32),)),
    "lstm": (lambda: nn.LSTM(8, 16, num_layers=2), lambda: (torch.randn(5, 2, 8),)),
    "gru-bidirectional": (lambda: nn.GRU(8, 16, bidirectional=True), lambda: (torch.randn(5, 2, 8),)),
    "multihead-attention": (lambda: nn.MultiheadAttention(16, 4, batch_first=True),
                            lambda: (torch.randn(2, 5, 16),) * 3),
    "transformer-encoder-layer": (lambda: nn.TransformerEncoderLayer(16, 4, 32, batch_first=True),
                                  lambda: (torch.randn(2, 5, 16),)),
}


def flop_counter_mode(model: nn.Module, inputs: tuple, train: bool) -> int:
    model.train(train)
    with sdpa_kernel(SDPBackend.MATH), torch.backends.mkldnn.flags(enabled=False), \
            FlopCounterMode(display=False) as counter:
        out = model(*inputs)
        if train:
            outs = [o for o in (out if isinstance(out, tuple) else (out,))
                    if isinstance(o, torch.Tensor) and o.requires_grad]
            torch.autograd.backward(outs, [torch.ones_like(o) for o in outs])
    return counter.get_total_flops()


@pytest.mark.parametrize("train", [False, True], ids=["forward", "forward+backward"])
@pytest.mark.parametrize("name", list(ZOO))
def test_matmul_flops_equal_flopcounter(name: str, train: bool) -> None:
    torch.manual_seed(0)
    build, make_inputs = ZOO[name]
    model, inputs = build(), make_inputs()
    result = analyze_compute(trace_model(model, inputs, train=train, expand=expand))
    assert result.coverage.unsupported == 0, result.coverage.unsupported_by_op
    ours = 2 * result.totals.total.core_macs
    assert ours == flop_counter_mode(model, inputs, train) > 0
    if train:
        assert result.totals.backward.core_macs > 0
