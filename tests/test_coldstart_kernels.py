"""netcensus's own meta outputs (trace/own_kernels.py, the stride helpers of tensors.py, standins.meta_like)
against PyTorch's meta kernels, the oracle: wherever netcensus makes an output itself, it has the
kernel's shape, strides and dtype; wherever the kernel refuses the arguments, netcensus makes none (and
the tracer runs the kernel, which raises its own error).

Inputs: contiguous, broadcast, transposed, sliced, expanded, channels-last (also the ambiguous layouts a
size-1 channel or spatial size makes), size-1 dimensions with any stride, 0-dim and size-0 tensors,
every common dtype, mixed dtypes and Python scalars. Strides are compared in full, also those of
size-1 dimensions.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

import pytest
import torch

from netcensus.tensors import channels_last_strides, contiguous_strides, suggested_format
from netcensus.trace import own_kernels
from netcensus.trace.meta_kernels import KERNELS
from netcensus.trace.own_kernels import POINTWISE, own_output
from netcensus.trace.standins import meta_like

aten = torch.ops.aten
META = "meta"


def _strided(shape: tuple[int, ...], strides: tuple[int, ...], dtype: torch.dtype = torch.float32
             ) -> torch.Tensor:
    return torch.empty_strided(shape, strides, dtype=dtype, device=META)


def _layouts(shape: tuple[int, ...], dtype: torch.dtype) -> list[torch.Tensor]:
    """Meta tensors of ``shape`` in several layouts: contiguous, reversed dimension order, a slice of a
    larger tensor, channels-last (4-d), an expanded size-1 dimension, and odd strides on size-1 dims."""
    out = [torch.empty(shape, dtype=dtype, device=META)]
    if len(shape) >= 2:
        out.append(torch.empty(shape[::-1], dtype=dtype, device=META).permute(*range(len(shape) - 1, -1, -1)))
        wide = torch.empty((*shape[:-1], 2 * shape[-1]), dtype=dtype, device=META)
        out.append(wide[..., ::2])
    if len(shape) == 4:
        out.append(torch.empty(shape, dtype=dtype, device=META, memory_format=torch.channels_last))
    if 1 in shape:
        i = shape.index(1)
        strides = list(contiguous_strides(shape))
        strides[i] = 77
        out.append(_strided(shape, tuple(strides), dtype))
    if shape and shape[0] > 1:
        out.append(torch.empty((1, *shape[1:]), dtype=dtype, device=META).expand(shape))
    return out


SHAPES = [(), (5,), (3, 4), (2, 3, 4), (2, 1, 4), (1, 3, 1), (2, 3, 4, 5), (2, 1, 4, 5), (2, 3, 1, 1),
          (1, 1, 1, 1), (2, 0, 3), (0,)]
PAIRS = [((2, 3, 4), (4,)), ((2, 3, 4), (3, 1)), ((2, 1, 4), (3, 1)), ((3, 4), ()), ((), (3, 4)),
         ((2, 3, 4, 5), (3, 1, 1)), ((2, 3, 4, 5), (1, 3, 1, 1)), ((4,), (2, 3)), ((2, 3), (3, 2)),
         ((2, 3, 4, 5), (2, 3, 4, 5)), ((1, 3), (1, 3))]
DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32, torch.bool]

#: op -> function of the main tensor argument ``x`` and a second tensor ``y`` (or None for ops of one
#: tensor), returning (args, kwargs).
Build = Callable[[Any, Any], tuple[tuple, dict]]
UNARY: dict[str, Build] = {
    "relu": lambda x, _: ((x,), {}), "gelu": lambda x, _: ((x,), {}), "silu": lambda x, _: ((x,), {}),
    "sigmoid": lambda x, _: ((x,), {}), "tanh": lambda x, _: ((x,), {}), "neg": lambda x, _: ((x,), {}),
    "exp": lambda x, _: ((x,), {}), "log": lambda x, _: ((x,), {}), "sqrt": lambda x, _: ((x,), {}),
    "rsqrt": lambda x, _: ((x,), {}), "abs": lambda x, _: ((x,), {}), "reciprocal": lambda x, _: ((x,), {}),
    "sin": lambda x, _: ((x,), {}), "cos": lambda x, _: ((x,), {}), "erf": lambda x, _: ((x,), {}),
    "hardtanh": lambda x, _: ((x, -1.0, 1.0), {}), "hardswish": lambda x, _: ((x,), {}),
    "hardsigmoid": lambda x, _: ((x,), {}), "leaky_relu": lambda x, _: ((x, 0.01), {}),
    "elu": lambda x, _: ((x, 1.0, 1.0, 1.0), {}), "mish": lambda x, _: ((x,), {}),
    "softplus": lambda x, _: ((x, 1, 20), {}), "clamp_min": lambda x, _: ((x, 0), {}),
    "clamp_max": lambda x, _: ((x, 0.5), {}), "clamp": lambda x, _: ((x, -1, 1), {}),
    "pow.Tensor_Scalar": lambda x, _: ((x, 2), {}), "logical_not": lambda x, _: ((x,), {}),
    "eq.Scalar": lambda x, _: ((x, 0), {}), "ne.Scalar": lambda x, _: ((x, 0.5), {}),
    "lt.Scalar": lambda x, _: ((x, True), {}), "le.Scalar": lambda x, _: ((x, 0), {}),
    "gt.Scalar": lambda x, _: ((x, 1.5), {}), "ge.Scalar": lambda x, _: ((x, 0), {}),
}
BINARY: dict[str, Build] = {
    "add.Tensor": lambda x, y: ((x, y), {"alpha": 2}), "sub.Tensor": lambda x, y: ((x, y), {}),
    "mul.Tensor": lambda x, y: ((x, y), {}), "div.Tensor": lambda x, y: ((x, y), {}),
    "div.Tensor_mode": lambda x, y: ((x, y), {"rounding_mode": "floor"}),
    "maximum": lambda x, y: ((x, y), {}), "minimum": lambda x, y: ((x, y), {}),
    "pow.Tensor_Tensor": lambda x, y: ((x, y), {}), "eq.Tensor": lambda x, y: ((x, y), {}),
    "ne.Tensor": lambda x, y: ((x, y), {}), "lt.Tensor": lambda x, y: ((x, y), {}),
    "le.Tensor": lambda x, y: ((x, y), {}), "gt.Tensor": lambda x, y: ((x, y), {}),
    "ge.Tensor": lambda x, y: ((x, y), {}),
    "where.self": lambda x, y: ((torch.empty(x.shape, dtype=torch.bool, device=META), x, y), {}),
    "threshold_backward": lambda x, y: ((x, y, 0), {}), "gelu_backward": lambda x, y: ((x, y), {}),
    "silu_backward": lambda x, y: ((x, y), {}), "sigmoid_backward": lambda x, y: ((x, y), {}),
    "tanh_backward": lambda x, y: ((x, y), {}),
}


def _op(name: str) -> Any:
    op, _, overload = name.partition(".")
    return getattr(getattr(aten, op), overload or "default")


def _agrees(op: Any, args: tuple, kwargs: dict) -> bool:
    """Whether netcensus made an output; asserts it is the meta kernel's where it did."""
    try:
        want = op(*args, **kwargs)
    except Exception:
        assert own_output(op, args, kwargs) is None, (op, args, kwargs)
        return False
    got = own_output(op, args, kwargs)
    if got is None:
        return False
    wants = want if isinstance(want, tuple) else (want,)
    gots = got if isinstance(got, tuple) else (got,)
    for g, w in zip(gots, wants, strict=True):
        described = [(tuple(a.shape), a.stride(), a.dtype) if isinstance(a, torch.Tensor) else a
                     for a in args]
        assert (tuple(g.shape), g.stride(), g.dtype, g.device) == (
            tuple(w.shape), w.stride(), w.dtype, w.device), (op, described)
    return True


def test_every_pointwise_op_is_tested():
    assert {_op(n) for n in (*UNARY, *BINARY)} == set(POINTWISE)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_pointwise_as_the_meta_kernel(name: str):
    op, made = _op(name), 0
    for shape, dtype in itertools.product(SHAPES, DTYPES):
        for x in _layouts(shape, dtype):
            args, kwargs = UNARY[name](x, None)
            made += _agrees(op, args, kwargs)
    assert made >= 15  # the common cases are made here, not left to the kernel


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_pointwise_as_the_meta_kernel(name: str):
    op, made = _op(name), 0
    rng = random.Random(name)
    dtypes = [(d, d) for d in DTYPES] + [tuple(rng.sample(DTYPES, 2)) for _ in range(4)]
    for (s1, s2), (d1, d2) in itertools.product(PAIRS + [(s, s) for s in SHAPES], dtypes):
        xs, ys = _layouts(s1, d1), _layouts(s2, d2)
        # each layout of one against the other contiguous, and the same layout on both (same shapes)
        pairs = [(x, ys[0]) for x in xs] + [(xs[0], y) for y in ys[1:]]
        pairs += list(zip(xs[1:], ys[1:])) if s1 == s2 else []
        for x, y in pairs:
            args, kwargs = BINARY[name](x, y)
            made += _agrees(op, args, kwargs)
    assert made >= 30


@pytest.mark.parametrize("scalar", [2, 0.5, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_python_scalars_and_0_dim_tensors_promote_as_in_the_meta_kernel(scalar: Any, dtype: torch.dtype):
    x = torch.empty(2, 3, dtype=dtype, device=META)
    for other in (scalar, torch.empty((), dtype=torch.float64, device=META),
                  torch.empty((), dtype=torch.int64, device=META)):
        for op in (aten.add.Tensor, aten.mul.Tensor, aten.div.Tensor, aten.eq.Tensor, aten.maximum.default):
            if op is aten.maximum.default and not isinstance(other, torch.Tensor):
                continue
            _agrees(op, (x, other), {})
            _agrees(op, (other, x), {}) if isinstance(other, torch.Tensor) else None


def test_pointwise_made_here_for_the_layouts_models_run():
    for x, y in [(torch.empty(1, 96, 54, 54, device=META), None),
                 (torch.empty(8, 16, 7, 7, device=META, memory_format=torch.channels_last),
                  torch.empty(8, 16, 7, 7, device=META, memory_format=torch.channels_last)),
                 (torch.empty(4, 128, 768, device=META), torch.empty(768, device=META))]:
        args = (x,) if y is None else (x, y)
        assert _agrees(aten.relu.default if y is None else aten.add.Tensor, args, {})


def test_mm_and_addmm_as_the_meta_kernel():
    made = 0
    dtypes = [torch.float32, torch.bfloat16, torch.float64, torch.int64]
    for (n, k, p), dtype in itertools.product([(3, 4, 5), (1, 4096, 10), (2, 0, 3), (0, 2, 3), (3, 1, 1)],
                                              dtypes):
        def empty(*shape: int, dtype: torch.dtype = dtype) -> torch.Tensor:
            return torch.empty(shape, dtype=dtype, device=META)

        a = empty(n, k)
        for b in (empty(k, p), empty(p, k).t(), empty(k + 1, p)):
            made += _agrees(aten.mm.default, (a, b), {})
            biases = (empty(p), empty(n, p), empty(1, p), empty(n, 1), empty(), empty(p, n).t(), empty(p + 1))
            for bias in biases:
                for kwargs in ({}, {"beta": 0, "alpha": 2}, {"beta": 0.5}):
                    made += _agrees(aten.addmm.default, (bias, a, b), kwargs)
    assert made >= 50


def _conv_cases(n: int, seed: int):
    rng = random.Random(seed)
    for _ in range(n):
        d = rng.choice([1, 2, 3])
        batch, cin, cout = rng.choice([1, 2]), rng.choice([1, 2, 4]), rng.choice([1, 2, 4, 3])
        groups = rng.choice([1, 2, cin])
        spatial = [rng.choice([1, 2, 3, 5, 7]) for _ in range(d)]
        kernel = [rng.choice([1, 2, 3]) for _ in range(d)]
        dtype = rng.choice([torch.float32, torch.float64, torch.bfloat16])
        order = list(range(d + 2))
        rng.shuffle(order)
        shape = [batch, cin, *spatial]
        x = torch.empty([shape[i] for i in order], dtype=dtype, device=META)
        x = x.permute([order.index(i) for i in range(d + 2)])
        w = torch.empty([cout, max(cin // groups, 1), *kernel], dtype=dtype, device=META)
        if d >= 2 and rng.random() < 0.3:
            w = w.to(memory_format=torch.channels_last if d == 2 else torch.channels_last_3d)
        bias = rng.choice([None, torch.empty(cout, dtype=dtype, device=META)])
        per = rng.choice([1, d])
        rest = ([rng.choice([1, 2, 3])] * per, [rng.choice([0, 1, 2])] * per, [rng.choice([1, 2])] * per,
                False, [0] * d, groups)
        yield x, w, bias, rest


def test_convolution_as_the_tracer_made_it_before():
    """The oracle: meta_kernels.py's convolution (the meta kernel's shape, re-laid-out as the CPU backend
    writes it), which the tracer ran before; a convolution either refuses also gets None here."""
    made = channels_last = 0
    for x, w, bias, rest in _conv_cases(400, seed=3):
        args = (x, w, bias, *rest)
        try:
            want = KERNELS[aten.convolution.default](*args)
        except Exception:
            assert own_output(aten.convolution.default, args, {}) is None
            continue
        got = own_output(aten.convolution.default, args, {})
        if got is None:
            continue
        assert (tuple(got.shape), got.stride(), got.dtype) == (tuple(want.shape), want.stride(), want.dtype)
        made += 1
        channels_last += not got.is_contiguous()
    assert made >= 150 and channels_last >= 10


def test_pooling_as_the_meta_kernel():
    rng = random.Random(5)
    made = 0
    for _ in range(400):
        dim = rng.choice([3, 4])
        shape = [rng.choice([1, 2, 3]) for _ in range(dim - 2)] + [rng.choice([1, 2, 5, 8]) for _ in range(2)]
        if rng.random() < 0.1:
            shape[0] = 0
        dtype = rng.choice([torch.float32, torch.bfloat16, torch.int64])
        layouts = _layouts(tuple(shape), dtype)
        x = rng.choice(layouts)
        k = [rng.choice([1, 2, 3])] * rng.choice([1, 2])
        s = rng.choice([[], [1], [2, 1], [3]])
        p = [rng.choice([0, 1])] * rng.choice([1, 2])
        dil = [rng.choice([1, 2])] * rng.choice([1, 2])
        made += _agrees(aten.max_pool2d_with_indices.default, (x, k, s, p, dil, rng.random() < 0.5), {})
        out = [rng.choice([1, 2, 3, 0]), rng.choice([1, 4])]
        made += _agrees(aten._adaptive_avg_pool2d.default, (x, out), {})
    assert made >= 200


def test_reductions_as_the_meta_kernel():
    made = 0
    for shape, dtype in itertools.product([s for s in SHAPES if s], DTYPES + [torch.complex64]):
        for x in _layouts(shape, dtype):
            n = len(shape)
            for dims in [[-1], [0], [n - 1, 0], [-2, -1], [0, n], [0, -n], [], list(range(n))]:
                for keepdim, kwargs in [(True, {}), (False, {}), (True, {"dtype": torch.float64})]:
                    for op in (aten.mean.dim, aten.sum.dim_IntList):
                        made += _agrees(op, (x, dims, keepdim), kwargs)
    assert made >= 300


def test_ops_outside_the_rules_are_left_to_the_kernel():
    x = torch.empty(2, 3, device=META)
    assert own_output(aten.relu.default, (torch.empty(2, 3),), {}) is None  # a CPU tensor
    assert own_output(aten.add.Tensor, (x, torch.empty(4, device=META)), {}) is None  # does not broadcast
    assert own_output(aten.sub.Tensor, (x.bool(), x.bool()), {}) is None  # the kernels refuse bool - bool
    assert own_output(aten.softmax.int, (x, 1), {}) is None  # not an op made here
    assert own_output(aten.addmm.default, (torch.empty(3, device=META), x, torch.empty(3, 3, device=META)),
                      {"out_dtype": torch.float32}) is None


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 3, 4, 5), (2, 1, 4, 5), (2, 3, 1, 1), (2, 3, 1, 5),
                                   (1, 1, 1, 1), (2, 3, 4, 5, 6), (2, 1, 1, 1, 6), (2, 3, 0, 5)])
def test_suggested_format_as_pytorchs(shape: tuple[int, ...]):
    from torch._prims_common import suggest_memory_format

    rng = random.Random(str(shape))
    for _ in range(60):
        order = list(range(len(shape)))
        rng.shuffle(order)
        t = torch.empty([shape[i] for i in order], device=META)
        t = t.permute([order.index(j) for j in range(len(shape))])
        # size-1 dimensions with any stride (the layouts that make the ambiguous cases)
        strides = [st if n != 1 or rng.random() < 0.5 else rng.choice([1, 7, st])
                   for st, n in zip(t.stride(), shape)]
        t = _strided(shape, tuple(strides))
        assert suggested_format(t) == suggest_memory_format(t), (shape, t.stride())


@pytest.mark.parametrize("shape", SHAPES + [(2, 3, 0, 5)])
def test_stride_helpers_as_torch_empty(shape: tuple[int, ...]):
    assert contiguous_strides(shape) == torch.empty(shape, device=META).stride()
    if len(shape) == 4 and 0 not in shape:
        assert channels_last_strides(shape) == torch.empty(shape, device=META,
                                                          memory_format=torch.channels_last).stride()


@pytest.mark.parametrize("dtype", [None, torch.bfloat16, torch.int64])
def test_meta_like_as_empty_like(dtype: torch.dtype | None):
    for shape in SHAPES:
        for t in _layouts(shape, torch.float32):
            cpu = torch.empty_strided(t.shape, t.stride()) if t.numel() else torch.empty(t.shape)
            want = torch.empty_like(cpu, device=META, dtype=dtype or cpu.dtype)
            got = meta_like(cpu, dtype or cpu.dtype)
            assert (got.shape, got.stride(), got.dtype, got.device) == (want.shape, want.stride(), want.dtype,
                                                                        want.device)


def test_own_kernels_cover_what_they_say():
    assert set(own_kernels.OWN) >= {aten.mm.default, aten.addmm.default, aten.convolution.default,
                                    aten.max_pool2d_with_indices.default, aten.mean.dim}
