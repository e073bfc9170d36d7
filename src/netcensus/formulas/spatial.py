"""Output-size formulas of layers that slide a window over spatial dims: conv, transposed conv,
max/avg pooling, adaptive pooling, upsampling.

Each ``*_dim`` function computes one output dimension as a :class:`DimFormula` whose ``numbers``
text is a valid Python expression (with ``floor``/``ceil`` from ``math`` and exact ``/``) that
evaluates to ``value``. The analysers check the input the way PyTorch does and raise
:class:`ShapeProblem` with a readable reason (wrong number of dims, channel mismatch, input too
small, with the smallest size that works), or return the :class:`ShapeFormula`.

PyTorch rules mirrored here: a conv output needs ``H_in + 2*p >= d*(k-1) + 1``; a transposed conv
output must be at least 1 (the meta kernels and the reference CPU path say so; the oneDNN CPU path
lets some size-0 outputs through, which we do not follow); ``reflect`` padding
needs ``p < H_in`` and ``circular`` needs ``p <= H_in``; ``padding="same"`` keeps the size (stride
1); pooling padding must be at most ``k//2``; with ``ceil_mode`` the last window is dropped when it
would start at or past ``H_in + p`` (past the input and the left padding); every output size must
be at least 1; AvgPool3d also needs ``H_in >= k`` before padding. Upsampling computes
``floor(H_in*scale)`` in double precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch import nn

from netcensus.formulas._util import (
    SPATIAL_NAMES,
    Shape,
    ShapeProblem,
    expect_ndim,
    fmt_shape,
    has_lazy_params,
    ntuple,
    smallest,
)
from netcensus.formulas.base import DimFormula, ShapeFormula


def conv_dim(name: str, n: int, k: int, s: int, p: int, d: int) -> DimFormula:
    value = (n + 2 * p - d * (k - 1) - 1) // s + 1
    return DimFormula(
        name,
        f"floor(({name}_in + 2*p - d*(k-1) - 1)/s) + 1",
        f"floor(({n} + 2*{p} - {d}*({k}-1) - 1)/{s}) + 1",
        value,
    )


def conv_transpose_dim(name: str, n: int, k: int, s: int, p: int, d: int, op: int) -> DimFormula:
    value = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
    return DimFormula(
        name,
        f"({name}_in - 1)*s - 2*p + d*(k-1) + op + 1",
        f"({n} - 1)*{s} - 2*{p} + {d}*({k}-1) + {op} + 1",
        value,
    )


def pool_dim(name: str, n: int, k: int, s: int, p: int, d: int, ceil_mode: bool, avg: bool) -> DimFormula:
    """Max pooling (with dilation) or average pooling (``avg``: no dilation term)."""
    a = n + 2 * p - d * (k - 1) - 1
    if avg:
        sym_in, num_in = f"{name}_in + 2*p - k", f"{n} + 2*{p} - {k}"
    else:
        sym_in, num_in = f"{name}_in + 2*p - d*(k-1) - 1", f"{n} + 2*{p} - {d}*({k}-1) - 1"
    if not ceil_mode:
        return DimFormula(name, f"floor(({sym_in})/s) + 1", f"floor(({num_in})/{s}) + 1", a // s + 1)
    value = -(-a // s) + 1
    sym, num = f"ceil(({sym_in})/s) + 1", f"ceil(({num_in})/{s}) + 1"
    if (value - 1) * s >= n + p:
        value -= 1
        sym += f" - 1 [ceil_mode: the last window would start at (out-1)*s >= {name}_in + p; dropped]"
        num += " - 1"
    return DimFormula(name, sym, num, value)


def _spatial_nd(m: nn.Module) -> int:
    for cls in type(m).__mro__:
        tail = cls.__name__[-2:]
        if cls.__module__.startswith("torch.nn.modules") and tail in ("1d", "2d", "3d"):
            return int(tail[0])
    raise ShapeProblem(f"{type(m).__name__}: cannot tell its number of spatial dims")


def _too_small(cls: str, dims: list[DimFormula], valid_for: Callable[[int], Callable[[int], bool]],
               other: Callable[[int], str] | None = None) -> None:
    """Raise one problem listing every dim whose output is below 1 or that breaks another rule
    (``other(i)`` says why), each with the smallest input size that works along that dim."""
    parts = []
    for i, f in enumerate(dims):
        why = other(i) if other is not None else ""
        if not why and f.value >= 1:
            continue
        low = smallest(valid_for(i))
        tail = f"; the smallest {f.name}_in that works is {low}" if low is not None else ""
        parts.append(f"{f.name}: {why or f'{f.numbers} = {f.value}, below 1'}{tail}")
    if parts:
        raise ShapeProblem(f"{cls}: input too small: " + "; ".join(parts))


def analyse_conv(m: nn.modules.conv._ConvNd, shapes: tuple[Shape, ...]) -> ShapeFormula:
    cls, x = type(m).__name__, shapes[0]
    nd = len(m.kernel_size)
    names = SPATIAL_NAMES[nd]
    lead = expect_ndim(cls, x, ["N", "C_in", *names])
    cdim = lead
    if not has_lazy_params(m) and x[cdim] != m.in_channels:
        msg = f"{cls} expects C_in={m.in_channels} channels at dim {cdim}, got {x[cdim]}"
        if x[-1] == m.in_channels and len(x) > cdim + 1:
            msg += (f"; the input looks channels-last [{', '.join(['N'][:lead] + [*names, 'C'])}],"
                    f" permute it to channels-first [{', '.join(['N'][:lead] + ['C', *names])}]")
        raise ShapeProblem(msg)
    spatial = x[cdim + 1:]
    ks, ss, ds = (ntuple(v, nd) for v in (m.kernel_size, m.stride, m.dilation))
    if m.transposed:
        ps, ops = ntuple(m.padding, nd), ntuple(m.output_padding, nd)
        for i in range(nd):
            if ops[i] >= max(ss[i], ds[i]):
                raise ShapeProblem(
                    f"{cls}: output_padding={ops[i]} along {names[i]} must be smaller than stride={ss[i]}"
                    f" or dilation={ds[i]}")
        dims = [conv_transpose_dim(names[i], spatial[i], ks[i], ss[i], ps[i], ds[i], ops[i])
                for i in range(nd)]

        def t_valid(i: int) -> Callable[[int], bool]:
            return lambda n: conv_transpose_dim("", n, ks[i], ss[i], ps[i], ds[i], ops[i]).value >= 1

        _too_small(cls, dims, t_valid)
    else:
        if m.padding == "same":
            dims = [DimFormula(names[i], f"{names[i]}_in [padding='same']", str(spatial[i]), spatial[i])
                    for i in range(nd)]
            # total padding d*(k-1), split left = total//2, right = the rest (PyTorch's rule)
            pads = [(ds[i] * (ks[i] - 1) - ds[i] * (ks[i] - 1) // 2) for i in range(nd)]
        else:
            ps = (0,) * nd if m.padding == "valid" else ntuple(m.padding, nd)
            dims = [conv_dim(names[i], spatial[i], ks[i], ss[i], ps[i], ds[i]) for i in range(nd)]
            pads = list(ps)
        mode = m.padding_mode

        def pad_ok(n: int, pad: int) -> bool:
            return not ((mode == "reflect" and pad >= n) or (mode == "circular" and pad > n))

        def valid(i: int) -> Callable[[int], bool]:
            if m.padding == "same":
                return lambda n: pad_ok(n, pads[i])
            return lambda n: pad_ok(n, pads[i]) and conv_dim("", n, ks[i], ss[i], pads[i], ds[i]).value >= 1

        def pad_rule(i: int) -> str:
            if pad_ok(spatial[i], pads[i]):
                return ""
            rule = "padding < input size" if mode == "reflect" else "padding <= input size"
            return f"padding_mode='{mode}' needs {rule}, got padding={pads[i]} and {names[i]}_in={spatial[i]}"

        _too_small(cls, dims, valid, other=pad_rule)
    out = (*x[:cdim], int(m.out_channels), *(f.value for f in dims))
    return ShapeFormula(out, tuple(dims))


def analyse_pool(m: nn.Module, shapes: tuple[Shape, ...]) -> ShapeFormula:
    cls, x = type(m).__name__, shapes[0]
    nd = _spatial_nd(m)
    names = SPATIAL_NAMES[nd]
    lead = expect_ndim(cls, x, ["N", "C", *names])
    spatial = x[lead + 1:]
    avg = not isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d))
    ks = ntuple(m.kernel_size, nd)
    ss = ntuple(m.stride if m.stride is not None else m.kernel_size, nd)
    ps = ntuple(m.padding, nd)
    ds = (1,) * nd if avg else ntuple(m.dilation, nd)
    ceil_mode = bool(m.ceil_mode)
    for i in range(nd):
        if ps[i] > ks[i] // 2:
            raise ShapeProblem(
                f"{cls}: padding must be at most half the kernel size, but along {names[i]} p={ps[i]} and"
                f" k={ks[i]} (k//2 = {ks[i] // 2})")
    dims = [pool_dim(names[i], spatial[i], ks[i], ss[i], ps[i], ds[i], ceil_mode, avg) for i in range(nd)]
    # avg_pool3d alone also wants the unpadded input to hold one whole window
    whole = isinstance(m, nn.AvgPool3d)

    def valid(i: int) -> Callable[[int], bool]:
        return lambda n: ((not whole or n >= ks[i])
                          and pool_dim("", n, ks[i], ss[i], ps[i], ds[i], ceil_mode, avg).value >= 1)

    def window_rule(i: int) -> str:
        if whole and spatial[i] < ks[i]:
            return (f"{cls} needs {names[i]}_in >= k without padding, got {names[i]}_in={spatial[i]}"
                    f" and k={ks[i]}")
        return ""

    _too_small(cls, dims, valid, other=window_rule)
    return ShapeFormula((*x[:lead + 1], *(f.value for f in dims)), tuple(dims))


def analyse_adaptive(m: nn.Module, shapes: tuple[Shape, ...]) -> ShapeFormula:
    cls, x = type(m).__name__, shapes[0]
    nd = _spatial_nd(m)
    names = SPATIAL_NAMES[nd]
    lead = expect_ndim(cls, x, ["N", "C", *names])
    spatial = x[lead + 1:]
    out: Any = m.output_size
    outs: list[Any] = [out] * nd if isinstance(out, int) or out is None else list(out)
    if len(outs) == 1 and nd > 1:
        outs = outs * nd
    if len(outs) != nd:
        raise ShapeProblem(f"{cls}: output_size {out} has {len(outs)} entries, expected {nd}")
    if nd == 1 and outs[0] is None:
        raise ShapeProblem(f"{cls}: output_size=None (keep the input size) is only accepted by 2-d and 3-d"
                           " adaptive pools")
    dims = []
    for i in range(nd):
        if outs[i] is None:
            sym = f"{names[i]}_in [output_size None]"
            dims.append(DimFormula(names[i], sym, str(spatial[i]), spatial[i]))
        else:
            dims.append(DimFormula(names[i], "output_size", str(outs[i]), int(outs[i])))
    if any(n == 0 for n in spatial):
        raise ShapeProblem(f"{cls}: spatial input sizes must be non-zero, got {fmt_shape(x)}")
    return ShapeFormula((*x[:lead + 1], *(f.value for f in dims)), tuple(dims))


_UPSAMPLE_NDIM = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}


def analyse_upsample(m: nn.Upsample, shapes: tuple[Shape, ...]) -> ShapeFormula:
    cls, x = type(m).__name__, shapes[0]
    if len(x) not in (3, 4, 5):
        raise ShapeProblem(f"{cls} expects a 3-D, 4-D or 5-D input [N, C, *spatial], got {fmt_shape(x)}")
    want = _UPSAMPLE_NDIM.get(m.mode)
    if want is not None and len(x) != want:
        raise ShapeProblem(f"{cls}(mode={m.mode}) expects a {want}-D input, got {fmt_shape(x)}")
    nd = len(x) - 2
    names = SPATIAL_NAMES[nd]
    spatial = x[2:]
    dims: list[DimFormula] = []
    if m.size is not None:
        sizes = list(m.size) if isinstance(m.size, (tuple, list)) else [m.size] * nd
        if len(sizes) != nd:
            raise ShapeProblem(f"{cls}: size {m.size} has {len(sizes)} entries for {nd} spatial dims")
        dims = [DimFormula(names[i], "size", str(int(sizes[i])), int(sizes[i])) for i in range(nd)]
    elif m.scale_factor is not None:
        sf = m.scale_factor
        scales = [float(v) for v in sf] if isinstance(sf, (tuple, list)) else [float(sf)] * nd
        if len(scales) != nd:
            raise ShapeProblem(f"{cls}: scale_factor {sf} has {len(scales)} entries for {nd} spatial dims")
        dims = [DimFormula(names[i], f"floor({names[i]}_in*scale)", f"floor({spatial[i]}*{scales[i]!r})",
                           math.floor(spatial[i] * scales[i])) for i in range(nd)]
    else:
        raise ShapeProblem(f"{cls}: neither size nor scale_factor is set")
    bad = [f for f in dims if f.value < 1]
    if bad:
        raise ShapeProblem(f"{cls}: output size must be at least 1, got "
                           + "; ".join(f"{f.name}: {f.numbers} = {f.value}" for f in bad))
    return ShapeFormula((x[0], x[1], *(f.value for f in dims)), tuple(dims))
