"""Property tests: randomly drawn models of conv, pool, norm, linear and attention layers.

Three families, each a hypothesis strategy that builds a model layer by layer and keeps only layers
that run on the tensor drawn so far (a real CPU forward inside the strategy), so every example is a
valid model:

* images: Conv2d (stride, padding, dilation, groups, bias), ConvTranspose2d, BatchNorm2d, GroupNorm,
  InstanceNorm2d, max / average / adaptive pooling, Upsample, activations, Dropout2d, then Flatten and
  Linear;
* sequences: Linear, LayerNorm, RMSNorm, nn.MultiheadAttention, a functional
  scaled_dot_product_attention block (causal or not), Conv1d over time, activations, Dropout and
  TransformerEncoderLayer;
* mixed: an image stack whose feature map becomes a token sequence for a sequence stack.

For every drawn model: the parameter total equals ``sum(p.numel())``; the meta trace and a real CPU run
agree on every layer's calls and shapes (and, outside attention, whose CPU fast paths run other kernels,
on the aten ops, their order and the MACs and FLOPs, forward and backward); every shape that
``netcensus.formulas.shape_formula`` predicts equals the traced one; the model's output shape equals a
plain ``model(x)``; and the model is untouched (tests/untouched.py), for inference and training.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from torch import nn
from untouched import untouched

import netcensus
from netcensus import formulas
from netcensus.ops.attention import causal_pairs

SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class SelfAttention(nn.Module):
    """nn.MultiheadAttention as self-attention, first output only."""

    def __init__(self, dim: int, heads: int, bias: bool, need_weights: bool) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, bias=bias, batch_first=True)
        self.need_weights = need_weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=self.need_weights)[0]


class SDPABlock(nn.Module):
    """Functional attention: projections, heads, F.scaled_dot_product_attention, output projection."""

    def __init__(self, dim: int, heads: int, causal: bool) -> None:
        super().__init__()
        self.heads, self.causal = heads, causal
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class ConvOverTime(nn.Module):
    """Conv1d over the time axis of a [B, T, D] sequence."""

    def __init__(self, dim: int, out: int, k: int, padding: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(dim, out, k, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.transpose(1, 2)).transpose(1, 2)


class ToTokens(nn.Module):
    """[B, C, H, W] feature map -> [B, H*W, C] tokens."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2).transpose(1, 2)


class MeanTokens(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(1)


def _fits(layers: list[nn.Module], layer: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """Append ``layer`` when it runs on ``x`` (eval mode, a real CPU forward); return its output."""
    try:
        with torch.no_grad():
            y = layer.eval()(x)
    except (RuntimeError, ValueError, IndexError):
        return None
    if not isinstance(y, torch.Tensor) or y.numel() == 0:
        return None
    layers.append(layer)
    return y


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _image_layers(draw: Any, x: torch.Tensor, layers: list[nn.Module], count: int) -> torch.Tensor:
    for _ in range(count):
        c = x.shape[1]
        kind = draw(st.sampled_from(["conv", "conv", "tconv", "bn", "gn", "in", "max", "avg", "adaptive",
                                     "up", "act", "drop"]))
        k = draw(st.integers(1, 3))
        s = draw(st.integers(1, 2))
        layer: nn.Module
        if kind == "conv":
            groups = draw(st.sampled_from(_divisors(c)[:3]))
            out = groups * draw(st.integers(1, 3))
            layer = nn.Conv2d(c, out, k, stride=s, padding=draw(st.integers(0, k // 2)),
                              dilation=draw(st.integers(1, 2)), groups=groups, bias=draw(st.booleans()))
        elif kind == "tconv":
            layer = nn.ConvTranspose2d(c, draw(st.integers(1, 4)), k, stride=s,
                                       output_padding=draw(st.integers(0, s - 1)), bias=draw(st.booleans()))
        elif kind == "bn":
            layer = nn.BatchNorm2d(c, affine=draw(st.booleans()),
                                   track_running_stats=draw(st.booleans()))
        elif kind == "gn":
            layer = nn.GroupNorm(draw(st.sampled_from(_divisors(c))), c, affine=draw(st.booleans()))
        elif kind == "in":
            layer = nn.InstanceNorm2d(c, affine=draw(st.booleans()))
        elif kind == "max":
            layer = nn.MaxPool2d(k, stride=s, padding=draw(st.integers(0, k // 2)),
                                 ceil_mode=draw(st.booleans()))
        elif kind == "avg":
            layer = nn.AvgPool2d(k, stride=s, padding=draw(st.integers(0, k // 2)),
                                 ceil_mode=draw(st.booleans()), count_include_pad=draw(st.booleans()))
        elif kind == "adaptive":
            size = draw(st.integers(1, 4))
            layer = nn.AdaptiveAvgPool2d(size) if draw(st.booleans()) else nn.AdaptiveMaxPool2d(size)
        elif kind == "up":
            layer = nn.Upsample(scale_factor=2, mode=draw(st.sampled_from(["nearest", "bilinear"])))
        elif kind == "act":
            layer = draw(st.sampled_from([nn.ReLU, nn.SiLU, nn.Hardswish, nn.GELU, nn.LeakyReLU]))()
        else:
            layer = nn.Dropout2d(0.2)
        y = _fits(layers, layer, x)
        if y is not None and y.numel() <= 20_000:
            x = y
        elif y is not None:
            layers.pop()
    return x


def _sequence_layers(draw: Any, x: torch.Tensor, layers: list[nn.Module], count: int) -> torch.Tensor:
    for _ in range(count):
        d = x.shape[-1]
        kind = draw(st.sampled_from(["linear", "linear", "ln", "rms", "mha", "sdpa", "conv", "act", "drop",
                                     "encoder"]))
        heads = draw(st.sampled_from(_divisors(d)[:4]))
        layer: nn.Module
        if kind == "linear":
            layer = nn.Linear(d, draw(st.sampled_from([4, 6, 8, 12])), bias=draw(st.booleans()))
        elif kind == "ln":
            affine = draw(st.booleans())
            layer = nn.LayerNorm(d, elementwise_affine=affine, bias=affine and draw(st.booleans()))
        elif kind == "rms":
            layer = nn.RMSNorm(d, elementwise_affine=draw(st.booleans()))
        elif kind == "mha":
            layer = SelfAttention(d, heads, draw(st.booleans()), draw(st.booleans()))
        elif kind == "sdpa":
            layer = SDPABlock(d, heads, draw(st.booleans()))
        elif kind == "conv":
            k = draw(st.integers(1, 3))
            layer = ConvOverTime(d, draw(st.sampled_from([4, 8])), k, draw(st.integers(0, k // 2)))
        elif kind == "act":
            layer = draw(st.sampled_from([nn.GELU, nn.ReLU, nn.SiLU, nn.Tanh]))()
        elif kind == "drop":
            layer = nn.Dropout(0.1)
        else:
            layer = nn.TransformerEncoderLayer(d, heads, 2 * d, dropout=0.0, batch_first=True,
                                               norm_first=draw(st.booleans()))
        y = _fits(layers, layer, x)
        if y is not None:
            x = y
    return x


@st.composite
def image_models(draw: Any) -> tuple[nn.Module, torch.Tensor]:
    channels = draw(st.integers(1, 4))
    size = draw(st.integers(4, 12))
    x = torch.zeros(2, channels, size, size)
    layers: list[nn.Module] = []
    y = _image_layers(draw, x, layers, draw(st.integers(1, 5)))
    layers += [nn.Flatten(), nn.Linear(y[0].numel(), draw(st.integers(1, 5)))]
    return nn.Sequential(*layers), torch.randn(x.shape)


@st.composite
def sequence_models(draw: Any) -> tuple[nn.Module, torch.Tensor]:
    x = torch.zeros(2, draw(st.integers(1, 7)), draw(st.sampled_from([4, 6, 8])))
    layers: list[nn.Module] = []
    _sequence_layers(draw, x, layers, draw(st.integers(1, 5)))
    if not layers:
        layers.append(nn.Identity())
    return nn.Sequential(*layers), torch.randn(x.shape)


@st.composite
def mixed_models(draw: Any) -> tuple[nn.Module, torch.Tensor]:
    x = torch.zeros(2, draw(st.integers(1, 3)), draw(st.integers(4, 8)), draw(st.integers(4, 8)))
    layers: list[nn.Module] = []
    y = _image_layers(draw, x, layers, draw(st.integers(1, 3)))
    if y.dim() != 4:
        layers.append(nn.Identity())
    layers.append(ToTokens())
    y = ToTokens()(y)
    y = _sequence_layers(draw, y, layers, draw(st.integers(1, 3)))
    layers += [MeanTokens(), nn.Linear(y.shape[-1], 3)]
    return nn.Sequential(*layers), torch.randn(x.shape)


_FAST_PATHS = (nn.MultiheadAttention, nn.TransformerEncoderLayer)


def _rows(p: netcensus.Profile) -> list[tuple[Any, ...]]:
    return [(r.path, r.calls, r.input_shapes, r.output_shapes) for r in p.layers]


def _ops(p: netcensus.Profile) -> list[tuple[str, str, str]]:
    return [(e.op, e.module, e.phase) for e in p.trace.events]


def _check(model: nn.Module, x: torch.Tensor) -> None:
    model.train()  # profiling decides the mode; the model's own flags must come back as they were
    with torch.no_grad():
        flags = [(m, m.training) for m in model.modules()]
        expected = model.eval()(x)
        for m, flag in flags:
            m.training = flag
    fast_paths = any(isinstance(m, _FAST_PATHS) for m in model.modules())
    with untouched(model):
        meta = netcensus.profile(model, inputs=x, target="cpu")
        real = netcensus.profile(model, inputs=x, target="cpu", device="cpu")
        meta_train = netcensus.profile(model, inputs=x, target="cpu", train=True)
        real_train = netcensus.profile(model, inputs=x, target="cpu", device="cpu", train=True)
    numel = sum(p.numel() for p in model.parameters())
    assert meta.total_params == real.total_params == meta_train.total_params == numel
    assert meta.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert meta.layers[0].output_shapes == [tuple(expected.shape)]
    assert _rows(meta) == _rows(real)
    assert _rows(meta_train) == _rows(real_train)
    assert not meta.warnings and not meta_train.warnings, (meta.warnings, meta_train.warnings)
    if not fast_paths:
        assert _ops(meta) == _ops(real)
        assert _ops(meta_train) == _ops(real_train)
        # the same ops on tensors of the same sizes: the same memory, to the byte
        assert (meta.memory.peak, meta_train.memory.peak) == (real.memory.peak, real_train.memory.peak)
        for a, b in ((meta, real), (meta_train, real_train)):
            assert [(r.macs, r.flops, r.core_macs) for r in a.layers] == \
                [(r.macs, r.flops, r.core_macs) for r in b.layers]
    rows = {r.path: r for r in meta.layers}
    for path, module in model.named_modules():
        row = rows[path]
        if not row.input_shapes or row.calls != 1:
            continue
        predicted = formulas.shape_formula(module, tuple(tuple(s) for s in row.input_shapes))
        if predicted is not None:
            assert tuple(predicted.shape) == tuple(row.output_shapes[0]), (path, module, row.input_shapes)


@SETTINGS
@given(image_models())
def test_random_image_stacks(case: tuple[nn.Module, torch.Tensor]):
    _check(*case)


def _layer_norm_before_conv_over_time() -> tuple[nn.Module, torch.Tensor]:
    """Found by the draw: the gradient reaching the LayerNorm comes from a conv over the transposed
    sequence; the CPU kernel returns the LayerNorm's input gradient contiguous, so the Linear's backward
    views it (the meta kernel kept the transposed layout and the Linear copied)."""
    norm = {"elementwise_affine": False, "bias": False}
    model = nn.Sequential(nn.LayerNorm(4, **norm), nn.Linear(4, 4, bias=False), nn.LayerNorm(4, **norm),
                          ConvOverTime(4, 4, 1, 0))
    return model, torch.randn(2, 2, 4, generator=torch.Generator().manual_seed(0))


@SETTINGS
@given(sequence_models())
@example(_layer_norm_before_conv_over_time())
def test_random_sequence_stacks_with_attention(case: tuple[nn.Module, torch.Tensor]):
    _check(*case)


def _conv1d_over_one_channel() -> tuple[nn.Module, torch.Tensor]:
    """Found by the draw: a one-channel feature map as tokens, Conv1d over time, then Linear. The
    conv's input layout is ambiguous; the CPU kernel writes channels-last, which the meta trace must
    follow, or the Linear copies its input on meta only (see netcensus/trace/meta_kernels.py)."""
    model = nn.Sequential(nn.GroupNorm(1, 1, affine=False), ToTokens(),
                          nn.LayerNorm((1,), elementwise_affine=False, bias=False), ConvOverTime(1, 4, 1, 0),
                          nn.Linear(4, 4, bias=False), MeanTokens(), nn.Linear(4, 3))
    return model, torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(0))


@SETTINGS
@given(mixed_models())
@example(_conv1d_over_one_channel())
def test_random_mixed_stacks(case: tuple[nn.Module, torch.Tensor]):
    _check(*case)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40), st.booleans())
def test_causal_pairs_count_the_unmasked_entries_of_the_mask(lq: int, lkv: int, bottom_right: bool):
    """The pairs a causal mask keeps, counted on the mask itself: query i sees key j when
    j <= i (top-left, PyTorch's is_causal) or j <= i + L_kv - L_q (bottom-right)."""
    shift = lkv - lq if bottom_right else 0
    mask = torch.ones(lq, lkv, dtype=torch.bool).tril(diagonal=shift)
    assert causal_pairs(lq, lkv, bottom_right) == int(mask.sum())
