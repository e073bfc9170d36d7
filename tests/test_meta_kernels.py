"""Meta kernels corrected to return what the real kernels return (netcensus/trace/meta_kernels.py).

Oracle: the same op run by PyTorch's CPU kernel on real tensors of the same shapes, strides and dtype;
and whole models traced on meta against the same models run on CPU. Strides of size-1 dimensions are
not compared (any value describes the same memory).
"""

from __future__ import annotations

import math
import random

import pytest
import torch
from torch import nn

import netcensus
from netcensus.trace.meta_kernels import KERNELS

aten = torch.ops.aten


def _same_layout(a: tuple[int, ...], b: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    return all(x == y or n == 1 for x, y, n in zip(a, b, shape))


def _meta(t: torch.Tensor) -> torch.Tensor:
    return torch.empty_strided(t.shape, t.stride(), dtype=t.dtype, device="meta")


def _cases(n: int, seed: int):
    """Convolutions of every kind over inputs in every dimension order (channels-last among them,
    and the ambiguous ones a size-1 channel or batch makes), with contiguous or channels-last weights."""
    rng = random.Random(seed)
    made = 0
    while made < n:
        d = rng.choice([1, 2, 3])
        batch, cin, cout = rng.choice([1, 2]), rng.choice([1, 2, 4]), rng.choice([1, 2, 4])
        groups = rng.choice([1, cin])
        if cin % groups or cout % groups:
            groups = 1
        spatial = [rng.choice([1, 2, 3, 5]) for _ in range(d)]
        kernel = [rng.choice([1, 2]) for _ in range(d)]
        if any(k > s for k, s in zip(kernel, spatial)):
            continue
        transposed = rng.random() < 0.2
        dtype = rng.choice([torch.float32, torch.float64, torch.bfloat16])
        shape = [batch, cin, *spatial]
        order = list(range(d + 2))
        rng.shuffle(order)
        x = torch.randn([shape[i] for i in order], dtype=dtype)
        x = x.permute([order.index(i) for i in range(d + 2)])
        w_shape = [cin, cout // groups] if transposed else [cout, cin // groups]
        w = torch.randn(w_shape + kernel, dtype=dtype)
        if d >= 2 and rng.random() < 0.3:
            w = w.to(memory_format=torch.channels_last if d == 2 else torch.channels_last_3d)
        rest = ([rng.choice([1, 2])] * d, [0] * d, [1] * d, transposed, [0] * d, groups)
        try:
            y = aten.convolution.default(x, w, None, *rest)
        except RuntimeError:  # a drawn combination the kernel refuses (transposed groups and sizes)
            continue
        made += 1
        yield x, w, rest, y


def test_forward_and_backward_layouts_match_the_cpu_kernels():
    checked = channels_last = 0
    for x, w, rest, y in _cases(300, seed=7):
        got = KERNELS[aten.convolution.default](_meta(x), _meta(w), None, *rest)
        assert tuple(got.shape) == tuple(y.shape)
        assert _same_layout(got.stride(), y.stride(), tuple(y.shape)), (x.shape, x.stride(), w.stride(), rest)
        channels_last += not y.is_contiguous()
        grad = torch.randn_like(y)
        mask = [True, True, False]  # grad_input, grad_weight
        real = aten.convolution_backward.default(grad, x, w, None, *rest, mask)
        meta = KERNELS[aten.convolution_backward.default](_meta(grad), _meta(x), _meta(w), None, *rest, mask)
        for r, m in zip(real[:2], meta[:2]):
            assert _same_layout(m.stride(), r.stride(), tuple(r.shape)), (x.shape, x.stride(), w.stride())
        checked += 1
    assert checked == 300
    assert channels_last > 10  # the draw exercises the channels-last outputs, not only contiguous ones


@pytest.mark.parametrize("mask", [[bool(i & 4), bool(i & 2), bool(i & 1)] for i in range(8)])
def test_batch_norm_backward_returns_the_gradients_asked_for(mask: list[bool]):
    x, grad = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    weight, mean, invstd = torch.randn(3), torch.randn(3), torch.rand(3) + 0.5
    op = aten.native_batch_norm_backward.default
    real = op(grad, x, weight, None, None, mean, invstd, True, 1e-5, mask)
    stand_ins = (_meta(grad), _meta(x), _meta(weight), None, None, _meta(mean), _meta(invstd))
    meta = KERNELS[op](*stand_ins, True, 1e-5, mask)
    assert [m is None for m in meta] == [r is None for r in real]
    for r, m in zip(real, meta):
        if r is not None:
            assert (tuple(m.shape), m.dtype) == (tuple(r.shape), r.dtype)


_BATCH_NORMS = {  # op -> arguments after (input, weight, bias): eval mode, running statistics given
    "native_batch_norm": ("running", False, 0.1, 1e-5),
    "_native_batch_norm_legit": ("running", False, 0.1, 1e-5),
    "_native_batch_norm_legit_no_training": ("running", 0.1, 1e-5),
    "_batch_norm_no_update": ("running", 0.1, 1e-5),
}


@pytest.mark.parametrize("name", sorted(_BATCH_NORMS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_eval_batch_norm_saves_what_the_cpu_kernel_saves(name: str, dtype: torch.dtype):
    op = getattr(aten, name).default
    x, weight = torch.randn(2, 3, 4, 4, dtype=dtype), torch.randn(3)
    running = (torch.zeros(3), torch.ones(3))
    rest = [a for v in _BATCH_NORMS[name] for a in (running if v == "running" else (v,))]
    real = op(x, weight, weight, *rest)
    meta_rest = [_meta(a) if isinstance(a, torch.Tensor) else a for a in rest]
    meta = KERNELS[op](_meta(x), _meta(weight), _meta(weight), *meta_rest)
    assert [(tuple(m.shape), m.dtype) for m in meta] == [(tuple(r.shape), r.dtype) for r in real]


_F32, _BF16, _F64 = torch.float32, torch.bfloat16, torch.float64


@pytest.mark.parametrize("x_dtype, param_dtype, stats_dtype", [
    (_F32, _F32, _F32), (_BF16, _BF16, _BF16), (_BF16, _F32, _F32), (_F64, _F64, _F64),  # accepted
    (_BF16, _BF16, _F32), (_BF16, _F32, _BF16), (_F32, _BF16, _BF16), (_F32, _F64, _F64),  # refused
    (_F64, _F32, _F32), (_F32, _F32, _F64),
])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_dtypes_as_the_cpu_kernel(x_dtype, param_dtype, stats_dtype, training: bool):
    """The CPU kernel accepts parameters and running statistics of one dtype, the input's (or float32
    for a bfloat16 input), and saves its statistics in that dtype; the meta kernel accepted any mix."""
    x = torch.randn(2, 3, 4, 4, dtype=x_dtype)
    weight, bias = torch.randn(3, dtype=param_dtype), torch.randn(3, dtype=param_dtype)
    mean, var = torch.zeros(3, dtype=stats_dtype), torch.ones(3, dtype=stats_dtype)
    op = aten.native_batch_norm.default
    try:
        real = op(x, weight, bias, mean, var, training, 0.0, 1e-5)
    except RuntimeError:
        with pytest.raises(RuntimeError, match="requires them all in one dtype"):
            KERNELS[op](*map(_meta, (x, weight, bias, mean, var)), training, 0.0, 1e-5)
        return
    meta = KERNELS[op](*map(_meta, (x, weight, bias, mean, var)), training, 0.0, 1e-5)
    assert [(tuple(m.shape), m.dtype) for m in meta] == [(tuple(r.shape), r.dtype) for r in real]


def _permuted(shape: list[int], rng: random.Random) -> torch.Tensor:
    """A tensor of ``shape`` whose memory holds its dimensions in a random order."""
    order = list(range(len(shape)))
    rng.shuffle(order)
    return torch.randn([shape[i] for i in order]).permute([order.index(i) for i in range(len(shape))])


def test_norm_layouts_match_the_cpu_kernels():
    """Batch norm (train and eval, forward and backward) and layer norm backward over inputs and
    gradients in every dimension order, 3-d to 5-d, size-1 dimensions included."""
    rng = random.Random(3)
    checked = 0
    while checked < 300:
        shape = [rng.choice([1, 2, 3]), rng.choice([1, 2, 4])] + [rng.choice([1, 2, 4])
                                                                  for _ in range(rng.choice([1, 2, 3]))]
        if shape[0] * math.prod(shape[2:]) == 1:  # batch statistics need two values per channel
            continue
        x, grad = _permuted(shape, rng), _permuted(shape, rng)
        c = shape[1]
        weight, bias, mean, var = torch.randn(c), torch.randn(c), torch.zeros(c), torch.ones(c)
        stand_ins = (_meta(x), _meta(weight), _meta(bias), _meta(mean), _meta(var))
        op = aten.native_batch_norm.default
        for training in (True, False):
            real = op(x, weight, bias, mean, var, training, 0.0, 1e-5)
            meta = KERNELS[op](*stand_ins, training, 0.0, 1e-5)
            for r, m in zip(real, meta):
                assert tuple(m.shape) == tuple(r.shape), (shape, training)
                assert _same_layout(m.stride(), r.stride(), tuple(r.shape)), (shape, x.stride(), training)
        saved = op(x, weight, bias, mean, var, True, 0.0, 1e-5)[1:]
        op = aten.native_batch_norm_backward.default
        real = op(grad, x, weight, mean, var, *saved, True, 1e-5, [True, True, True])
        meta = KERNELS[op](_meta(grad), *stand_ins[:2], *stand_ins[3:], *map(_meta, saved), True, 1e-5,
                           [True, True, True])
        for r, m in zip(real, meta):
            assert _same_layout(m.stride(), r.stride(), tuple(r.shape)), (shape, x.stride(), grad.stride())
        op = aten.native_layer_norm_backward.default
        w = torch.randn(shape[-1])
        _, mu, rstd = aten.native_layer_norm.default(x, [shape[-1]], w, None, 1e-5)
        real = op(grad, x, [shape[-1]], mu, rstd, w, None, [True, True, False])
        meta = KERNELS[op](_meta(grad), _meta(x), [shape[-1]], _meta(mu), _meta(rstd), _meta(w), None,
                           [True, True, False])
        for r, m in zip(real[:2], meta[:2]):
            assert _same_layout(m.stride(), r.stride(), tuple(r.shape)), (shape, x.stride(), grad.stride())
        checked += 1


class _ConvOverTime(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 1)
        self.proj = nn.Linear(4, 4, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, 1] -> [B, T, 4]
        return self.proj(self.conv(x.transpose(1, 2)).transpose(1, 2))


class _ChannelsLastHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8 * 6 * 6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x.contiguous(memory_format=torch.channels_last)).reshape(x.shape[0], -1))


def _ops(p: netcensus.Profile) -> list[tuple[str, str, str]]:
    return [(e.op, e.module, e.phase) for e in p.trace.events]


@pytest.mark.parametrize("model, x", [
    # a one-channel Conv1d over a transposed sequence: the input's layout is ambiguous, the CPU kernel
    # writes channels-last, so the Linear after it views its input instead of copying it
    (_ConvOverTime(), torch.randn(2, 16, 1)),
    # a channels-last CNN: reshape before the classifier copies on the real layout
    (_ChannelsLastHead(), torch.randn(2, 3, 8, 8)),
    # BatchNorm first: its input needs no gradient, so the real backward computes none (on meta one
    # of 128 bytes was counted: 2 x 1 x 4 x 4 float32)
    (nn.Sequential(nn.BatchNorm2d(1), nn.Flatten(), nn.Linear(16, 1)), torch.randn(2, 1, 4, 4)),
    # eval BatchNorm after a conv: the CPU kernel saves no statistics (meta counted 2 x 8 float32)
    (nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()), torch.randn(2, 3, 8, 8)),
    # depthwise conv with channels-last weights ([8, 1, 3, 3] at strides (9, 1, 3, 1), which also count
    # as contiguous): the weight's stand-in must keep those strides, the backend reads them
    (nn.Sequential(nn.Conv2d(8, 8, 3, groups=8), nn.Flatten(), nn.Linear(8 * 4 * 4, 2)).to(
        memory_format=torch.channels_last), torch.randn(2, 8, 6, 6)),
], ids=["conv1d-over-time", "channels-last-cnn", "batch-norm-first", "conv-batch-norm",
        "depthwise-cl-weights"])
@pytest.mark.parametrize("train", [False, True], ids=["inference", "training"])
def test_meta_trace_makes_the_copies_a_real_run_makes(model: nn.Module, x: torch.Tensor, train: bool):
    meta = netcensus.profile(model, inputs=x, train=train)
    real = netcensus.profile(model, inputs=x, device="cpu", train=train)
    assert _ops(meta) == _ops(real)
    assert meta.memory.peak == real.memory.peak


class _Block(nn.Module):
    """A residual block: conv, batch norm, in-place ReLU, in-place add of the shortcut."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(x))
        out += x
        return self.relu(out)


@pytest.mark.parametrize("train", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["contiguous", "channels-last"])
def test_repeated_blocks_trace_as_a_real_run(train: bool, channels_last: bool):
    """Four identical blocks: the kernel cache answers the later batch norms (eval), ReLUs and adds
    from the first; every op, and the memory to the byte, must still be the real run's."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), *[_Block(8) for _ in range(4)], nn.Flatten(),
                          nn.Linear(8 * 6 * 6, 5))
    x = torch.randn(2, 3, 6, 6)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    meta = netcensus.profile(model, inputs=x, train=train)
    real = netcensus.profile(model, inputs=x, device="cpu", train=train)
    assert _ops(meta) == _ops(real)
    assert [op for op, _, _ in _ops(meta)].count("aten.relu_.default") == 4
    assert meta.memory.peak == real.memory.peak
    assert [(r.macs, r.flops) for r in meta.layers] == [(r.macs, r.flops) for r in real.layers]
