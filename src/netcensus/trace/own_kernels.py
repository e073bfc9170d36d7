"""Outputs of common ops on meta tensors made by netcensus itself, where PyTorch's meta kernel is Python.

In PyTorch 2.x the meta kernels of most ops a model runs are Python functions (torch._refs,
torch._decomp, torch._meta_registrations), and the first call of one in a process imports what they
use: ``torch._dynamo`` (0.7-1.5 s on 2 CPU cores; every pointwise reference is wrapped by
``torch._disable_dynamo``, which imports it on its first call) and, through ``torch._check``,
``torch.fx.experimental.symbolic_shapes`` and sympy (0.3-0.5 s). A cold ``netcensus`` run on a small
CNN spent more on those imports than on everything else it does.

An op's meta output is its shape, strides and dtype, with fresh storage. For the ops here these follow
from the arguments' metadata by rules short enough to state, and the functions below make them with
``torch.empty_strided`` (a C++ kernel) in the cases where the rule is unambiguous; in every other case
(an unusual layout, a size-0 output, an argument the rule does not cover, anything PyTorch's kernel
would refuse) they return None and the tracer runs PyTorch's kernel as before. tests/test_coldstart*.py
compares each with PyTorch's meta kernel, the oracle, over inputs of many shapes, layouts and dtypes.

Pointwise ops (``POINTWISE``)
    Shape: the arguments' shapes broadcast. Strides: contiguous when every tensor argument has the
    strides ``torch.empty`` gives its shape (broadcast or not); channels-last when every tensor argument
    is a 4-d tensor of the output's shape with the strides ``memory_format=torch.channels_last`` gives,
    and none is also contiguous (PyTorch's references and TensorIterator order the output's dimensions
    as those arguments do; other layouts are decided by tie-breaking rules in which they can differ).
    Dtype: the CPU kernel's, asked on tensors of no elements (a 0-dim argument stays 0-dim, with value 1,
    as type promotion treats 0-dim tensors apart): type promotion and the dtypes an op refuses are
    properties of the dtypes, not of the values. (The meta kernels of the activations' gradients keep
    the gradient's dtype where the CPU kernels promote: those are made here for one dtype only.)
``mm``, ``addmm``
    ``(n, m) @ (m, p)``: a contiguous ``(n, p)`` tensor in the operands' dtype (floating dtypes; the
    bias of ``addmm`` contiguous, in that dtype, and broadcastable to ``(n, p)``).
``convolution`` (not transposed)
    Spatial size ``(L + 2p - d(k - 1) - 1) // s + 1`` per dimension, ``weight.shape[0]`` channels, laid out
    in the format the CPU backend writes (meta_kernels.py: ``_cpu_format``).
``_adaptive_avg_pool2d``
    ``input.shape[:-2] + output_size``, in the input's dtype and suggested memory format.
``mean.dim``, ``sum.dim_IntList`` (floating input, no ``dtype``)
    The input's shape without the reduced dimensions (size 1 with ``keepdim``), contiguous.
``max_pool2d_with_indices``
    Output size per spatial dimension ``(L + 2p - d(k - 1) - 1 + (s - 1 if ceil_mode)) // s + 1``, one
    less when ``ceil_mode`` starts the last window in the right padding; values in the input's dtype,
    indices int64, both in the input's suggested memory format.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..tensors import channels_last_strides, contiguous_strides, suggested_format
from .meta_kernels import _cpu_format, _format_strides

aten = torch.ops.aten
_META_TENSORS = (torch.Tensor, nn.Parameter)
_FLOATING = frozenset({torch.float32, torch.float64, torch.float16, torch.bfloat16})
_ARG_TYPES = (int, float, bool, str, type(None))


def _plain(t: Any) -> bool:
    """A plain strided meta tensor with no conjugate or negative bit."""
    return (type(t) in _META_TENSORS and t.is_meta and t.layout is torch.strided
            and not t.is_conj() and not t.is_neg())


def broadcast_shape(shapes: list[tuple[int, ...]]) -> tuple[int, ...] | None:
    """The shapes broadcast together; None where they do not broadcast."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for shape in shapes:
        for i, n in enumerate(shape, ndim - len(shape)):
            if n == out[i] or n == 1:
                continue
            if out[i] != 1:
                return None
            out[i] = n
    return tuple(out)


def _probe_dtype(func: Any, args: tuple, kwargs: dict) -> torch.dtype | None:
    """The dtype of ``func``'s output as the CPU kernel gives it for arguments of these dtypes (see the
    module's docstring); None where the CPU kernel refuses them."""

    def small(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            if v.dim() == 0:
                return torch.ones((), dtype=v.dtype, device="cpu")
            return torch.empty((0,), dtype=v.dtype, device="cpu")
        return v

    try:
        out = func(*[small(a) for a in args], **{k: small(v) for k, v in kwargs.items()})
    except (RuntimeError, TypeError, ValueError, NotImplementedError):
        return None
    return out.dtype if type(out) is torch.Tensor else None


def _pointwise_strides(shape: tuple[int, ...], tensors: list[torch.Tensor]) -> tuple[int, ...] | None:
    if all(t.stride() == contiguous_strides(t.shape) for t in tensors):
        return contiguous_strides(shape)
    if len(shape) == 4:
        cl = channels_last_strides(shape)
        if all(tuple(t.shape) == shape and t.stride() == cl and not t.is_contiguous() for t in tensors):
            return cl
    return None


def pointwise(func: Any, args: tuple, kwargs: dict) -> torch.Tensor | None:
    """The output of a pointwise op of ``POINTWISE`` (see the module's docstring), or None."""
    tensors = []
    for v in (*args, *kwargs.values()):
        if isinstance(v, torch.Tensor):
            if not _plain(v):
                return None
            tensors.append(v)
        elif not isinstance(v, _ARG_TYPES):
            return None
    if not tensors or (func in _ONE_DTYPE and len({t.dtype for t in tensors}) > 1):
        return None
    shape = broadcast_shape([tuple(t.shape) for t in tensors])
    if shape is None or 0 in shape:
        return None
    strides = _pointwise_strides(shape, tensors)
    if strides is None:
        return None
    dtype = _probe_dtype(func, args, kwargs)
    if dtype is None:
        return None
    return torch.empty_strided(shape, strides, dtype=dtype, device="meta")


def _matrices(a: Any, b: Any) -> tuple[int, int] | None:
    """(rows, columns) of ``a @ b`` for two 2-d plain meta tensors of one floating dtype, else None."""
    if not (_plain(a) and _plain(b) and a.dim() == 2 and b.dim() == 2 and a.dtype == b.dtype
            and a.dtype in _FLOATING and a.shape[1] == b.shape[0]):
        return None
    n, p = a.shape[0], b.shape[1]
    return (n, p) if n and p and a.shape[1] else None


def mm(*args: Any, **kwargs: Any) -> torch.Tensor | None:
    if kwargs or len(args) != 2:
        return None
    out = _matrices(args[0], args[1])
    return None if out is None else torch.empty(out, dtype=args[0].dtype, device="meta")


def addmm(*args: Any, **kwargs: Any) -> torch.Tensor | None:
    named = dict(zip(("self", "mat1", "mat2", "beta", "alpha"), args)) | kwargs
    if set(named) - {"self", "mat1", "mat2", "beta", "alpha"} or not {"self", "mat1", "mat2"} <= set(named):
        return None
    bias, a, b = named["self"], named["mat1"], named["mat2"]
    out = _matrices(a, b)
    if out is None or not _plain(bias) or bias.dtype != a.dtype:
        return None
    if not all(type(named.get(k, 1)) in (int, float) for k in ("beta", "alpha")):
        return None
    if bias.stride() != contiguous_strides(bias.shape) or broadcast_shape([tuple(bias.shape), out]) != out:
        return None
    return torch.empty(out, dtype=a.dtype, device="meta")


def _per_dim(values: Any, n: int) -> list[int] | None:
    if not isinstance(values, (list, tuple)) or not all(type(v) is int for v in values):
        return None
    if len(values) == 1:
        return [values[0]] * n
    return list(values) if len(values) == n else None


def _conv_shape(x: torch.Tensor, w: torch.Tensor, bias: Any, rest: tuple[Any, ...]) -> list[int] | None:
    """The output shape of a valid, not transposed convolution of a non-empty input, else None."""
    stride, padding, dilation, transposed, _, groups = rest
    dims = x.dim() - 2
    if transposed is not False or type(groups) is not int or groups < 1 or x.dim() not in (3, 4, 5):
        return None
    if not (_plain(x) and _plain(w) and w.dim() == x.dim() and x.dtype == w.dtype
            and x.dtype in _FLOATING):
        return None
    out_channels = w.shape[0]
    if x.shape[1] != w.shape[1] * groups or out_channels % groups or 0 in x.shape or 0 in w.shape:
        return None
    if bias is not None and not (_plain(bias) and bias.dtype == x.dtype and bias.dim() == 1
                                 and bias.shape[0] == out_channels):
        return None
    s, p, d = _per_dim(stride, dims), _per_dim(padding, dims), _per_dim(dilation, dims)
    if s is None or p is None or d is None or min(s) < 1 or min(d) < 1 or min(p) < 0:
        return None
    shape = [x.shape[0], out_channels]
    for n, k, si, pi, di in zip(x.shape[2:], w.shape[2:], s, p, d):
        span = n + 2 * pi - di * (k - 1)
        if span < 1:
            return None
        shape.append((span - 1) // si + 1)
    return shape


def convolution(*args: Any, **kwargs: Any) -> torch.Tensor | None:
    """``aten.convolution`` as meta_kernels.py makes it (the meta kernel's shape, the CPU backend's
    layout), for a valid convolution that is not transposed; else None."""
    if kwargs or len(args) != 9:
        return None
    x, w, bias = args[0], args[1], args[2]
    shape = _conv_shape(x, w, bias, tuple(args[3:9]))
    if shape is None:
        return None
    fmt = _cpu_format(x, w, bias, None, tuple(args[3:9]))
    strides = None if fmt is None else _format_strides(tuple(shape), fmt)
    if strides is None:
        return None
    return torch.empty_strided(shape, strides, dtype=x.dtype, device="meta")


def _pool_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _bind(names: tuple[str, ...], defaults: dict[str, Any], args: tuple, kwargs: dict
          ) -> dict[str, Any] | None:
    """The arguments by name (``names`` in schema order), defaults filled in; None for an unknown
    keyword or a missing argument."""
    bound = defaults | dict(zip(names, args)) | kwargs
    return bound if len(args) <= len(names) and set(bound) == set(names) else None


def max_pool2d_with_indices(*args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    bound = _bind(("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode"),
                  {"stride": [], "padding": [0], "dilation": [1], "ceil_mode": False}, args, kwargs)
    if bound is None:
        return None
    x: Any = bound["input"]
    ceil_mode = bound["ceil_mode"]
    if (not _plain(x) or x.dim() not in (3, 4) or 0 in x.shape or x.dtype not in _FLOATING
            or type(ceil_mode) is not bool):
        return None
    k = _per_dim(bound["kernel_size"], 2)
    s = k if bound["stride"] in ([], ()) else _per_dim(bound["stride"], 2)
    p, d = _per_dim(bound["padding"], 2), _per_dim(bound["dilation"], 2)
    if k is None or s is None or p is None or d is None or min(k + s + d) < 1:
        return None
    if any(pi < 0 or pi > ki // 2 for pi, ki in zip(p, k)):
        return None
    spatial = [_pool_size(n, ki, si, pi, di, ceil_mode)
               for n, ki, si, pi, di in zip(x.shape[-2:], k, s, p, d)]
    if min(spatial) < 1:
        return None
    size = (*x.shape[:-2], *spatial)
    cl = suggested_format(x) is torch.channels_last
    strides = channels_last_strides(size) if cl else contiguous_strides(size)
    return (torch.empty_strided(size, strides, dtype=x.dtype, device="meta"),
            torch.empty_strided(size, strides, dtype=torch.int64, device="meta"))


def adaptive_avg_pool2d(*args: Any, **kwargs: Any) -> torch.Tensor | None:
    """``_adaptive_avg_pool2d(input, output_size)``: ``input.shape[:-2] + output_size`` in the input's
    dtype and suggested memory format, for a 3-d or 4-d input with no size-0 dimension."""
    bound = _bind(("input", "output_size"), {}, args, kwargs)
    if bound is None:
        return None
    x: Any = bound["input"]
    size = _per_dim(bound["output_size"], 2)
    if (not _plain(x) or x.dim() not in (3, 4) or 0 in x.shape or x.dtype not in _FLOATING
            or size is None or len(bound["output_size"]) != 2 or min(size) < 1):
        return None
    shape = (*x.shape[:-2], *size)
    cl = suggested_format(x) is torch.channels_last
    strides = channels_last_strides(shape) if cl else contiguous_strides(shape)
    return torch.empty_strided(shape, strides, dtype=x.dtype, device="meta")


def reduction(*args: Any, **kwargs: Any) -> torch.Tensor | None:
    """``mean.dim`` and ``sum.dim_IntList`` of a floating input over a non-empty list of distinct
    dimensions, with no ``dtype``: the input's shape without (or, with ``keepdim``, with size 1 in) those
    dimensions, contiguous, in the input's dtype."""
    bound = _bind(("input", "dim", "keepdim", "dtype"), {"keepdim": False, "dtype": None}, args, kwargs)
    if bound is None or bound["dtype"] is not None:
        return None
    x: Any = bound["input"]
    dims, keepdim = bound["dim"], bound["keepdim"]
    if not _plain(x) or x.dim() == 0 or 0 in x.shape or x.dtype not in _FLOATING or type(keepdim) is not bool:
        return None
    if not isinstance(dims, (list, tuple)) or not dims or not all(type(d) is int for d in dims):
        return None
    n = x.dim()
    if not all(-n <= d < n for d in dims):
        return None
    reduced = {d % n for d in dims}
    if len(reduced) != len(dims):
        return None
    shape = tuple(1 if i in reduced else size for i, size in enumerate(x.shape)
                  if keepdim or i not in reduced)
    return torch.empty(shape, dtype=x.dtype, device="meta")


def _ops(*names: str) -> list[Any]:
    """The overloads ``aten.<op>.<overload>`` of this PyTorch release among ``names``."""
    found = []
    for name in names:
        op, _, overload = name.partition(".")
        packet = getattr(aten, op, None)
        if packet is not None and hasattr(packet, overload or "default"):
            found.append(getattr(packet, overload or "default"))
    return found


#: Pointwise ops made by :func:`pointwise`: each broadcasts its tensor arguments together and has one
#: output (tests/test_coldstart_kernels.py checks each against PyTorch's meta kernel).
POINTWISE = frozenset(_ops(
    "relu", "gelu", "silu", "sigmoid", "tanh", "neg", "exp", "log", "sqrt", "rsqrt", "abs", "reciprocal",
    "sin", "cos", "erf", "hardtanh", "hardswish", "hardsigmoid", "leaky_relu", "elu", "mish", "softplus",
    "clamp_min", "clamp_max", "clamp", "pow.Tensor_Scalar", "pow.Tensor_Tensor", "add.Tensor",
    "sub.Tensor", "mul.Tensor", "div.Tensor", "div.Tensor_mode", "maximum", "minimum", "eq.Tensor",
    "eq.Scalar", "ne.Tensor", "ne.Scalar", "lt.Tensor", "lt.Scalar", "le.Tensor", "le.Scalar",
    "gt.Tensor", "gt.Scalar", "ge.Tensor", "ge.Scalar", "where.self", "logical_not", "threshold_backward",
    "gelu_backward", "silu_backward", "sigmoid_backward", "tanh_backward"))

#: Pointwise ops made here only when their tensor arguments share one dtype: the gradients of
#: activations, whose meta kernels keep the gradient's dtype where the CPU kernels promote.
_ONE_DTYPE = frozenset(op for op in POINTWISE if op.__name__.split(".")[0].endswith("_backward"))

#: op -> a function returning its meta output, or None to leave it to PyTorch's kernel.
OWN: dict[Any, Callable[..., Any]] = {
    aten.mm.default: mm,
    aten.addmm.default: addmm,
    aten.convolution.default: convolution,
    aten.max_pool2d_with_indices.default: max_pool2d_with_indices,
    aten._adaptive_avg_pool2d.default: adaptive_avg_pool2d,
    aten.mean.dim: reduction,
    aten.sum.dim_IntList: reduction,
}


def own_output(func: Any, args: tuple, kwargs: dict) -> Any:
    """``func``'s meta output made here (see the module's docstring), or None."""
    if func in POINTWISE:
        return pointwise(func, args, kwargs)
    made = OWN.get(func)
    return None if made is None else made(*args, **kwargs)
