"""Analytic output shapes of standard layers, one :class:`DimFormula` per computed dimension.

Contract of :func:`shape_formula`: given the shapes of the module's positional tensor inputs (the
first is the main input), return the shape of its (first) output as PyTorch would compute it, or
``None`` when the type is unknown or the input would make PyTorch raise (wrong rank, channel
mismatch, input too small...). :func:`analyse` is the same analysis, but raises
:class:`ShapeProblem` with the reason instead of returning ``None``; diagnose() uses it.

``dims`` holds only the dimensions the layer computes (spatial sizes of conv/pool, the feature dim
of Linear, the merged dim of Flatten); a dimension copied from the input (batch, or every dim of a
shape-preserving layer) has none. Unbatched inputs are accepted where PyTorch accepts them.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from netcensus.formulas import spatial
from netcensus.formulas._util import Shape, ShapeProblem, expect_ndim, fmt_shape, has_lazy_params, prod
from netcensus.formulas.base import DimFormula, ShapeFormula

__all__ = ["analyse", "shape_formula"]


def _linear(m: nn.Linear, shapes: tuple[Shape, ...]) -> ShapeFormula:
    x = shapes[0]
    if len(x) == 0:
        raise ShapeProblem("Linear expects an input with at least 1 dim [..., in_features], got a scalar")
    if not has_lazy_params(m) and x[-1] != m.in_features:
        raise ShapeProblem(
            f"{type(m).__name__} expects in_features={m.in_features} at the last dim, got {x[-1]}")
    o = int(m.out_features)
    return ShapeFormula((*x[:-1], o), (DimFormula("features", "out_features", str(o), o),))


def _bilinear(m: nn.Bilinear, shapes: tuple[Shape, ...]) -> ShapeFormula | None:
    if len(shapes) < 2:
        return None
    a, b = shapes[0], shapes[1]
    cls = type(m).__name__
    if not a or not b:
        raise ShapeProblem(f"{cls} expects inputs with at least 1 dim, got {fmt_shape(a)} and {fmt_shape(b)}")
    if a[-1] != m.in1_features or b[-1] != m.in2_features:
        raise ShapeProblem(
            f"{cls} expects in1_features={m.in1_features} and in2_features={m.in2_features} at the last"
            f" dims, got {a[-1]} and {b[-1]}")
    if a[:-1] != b[:-1]:
        raise ShapeProblem(f"{cls} expects both inputs to share their leading dims, got {fmt_shape(a)}"
                           f" and {fmt_shape(b)}")
    o = int(m.out_features)
    return ShapeFormula((*a[:-1], o), (DimFormula("features", "out_features", str(o), o),))


_FLAT_NAMES = {2: ("N", "F"), 3: ("N", "C", "L"), 4: ("N", "C", "H", "W"), 5: ("N", "C", "D", "H", "W")}


def _flatten(m: nn.Flatten, shapes: tuple[Shape, ...]) -> ShapeFormula:
    x = shapes[0]
    nd = len(x)
    if nd == 0:
        raise ShapeProblem("Flatten cannot flatten a scalar (0-D) input")
    s = m.start_dim + nd if m.start_dim < 0 else m.start_dim
    e = m.end_dim + nd if m.end_dim < 0 else m.end_dim
    for name, v, raw in (("start_dim", s, m.start_dim), ("end_dim", e, m.end_dim)):
        if not 0 <= v < nd:
            raise ShapeProblem(f"Flatten: {name}={raw} is out of range for a {nd}-D input {fmt_shape(x)}")
    if s > e:
        raise ShapeProblem(f"Flatten: start_dim={m.start_dim} comes after end_dim={m.end_dim} for a {nd}-D"
                           f" input {fmt_shape(x)}")
    if s == e:
        return ShapeFormula(tuple(x))
    names = _FLAT_NAMES.get(nd, tuple(f"d{i}" for i in range(nd)))
    merged = prod(x[s:e + 1])
    dim = DimFormula("flat", "*".join(names[s:e + 1]), "*".join(str(v) for v in x[s:e + 1]), merged)
    return ShapeFormula((*x[:s], merged, *x[e + 1:]), (dim,))


def _nd_in_name(m: nn.Module, stems: tuple[str, ...]) -> int | None:
    for cls in type(m).__mro__:
        for stem in stems:
            if cls.__name__.removeprefix("Lazy").startswith(stem) and cls.__name__[-2:] in ("1d", "2d", "3d"):
                return int(cls.__name__[-2])
    return None


def _check_channels(cls: str, x: Shape, cdim: int, want: int, what: str = "C") -> None:
    if x[cdim] != want:
        raise ShapeProblem(f"{cls} expects {what}={want} channels at dim {cdim}, got {x[cdim]}")


def _batchnorm(m: nn.modules.batchnorm._NormBase, shapes: tuple[Shape, ...]) -> ShapeFormula:
    cls, x = type(m).__name__, shapes[0]
    nd = _nd_in_name(m, ("BatchNorm", "InstanceNorm"))
    instance = isinstance(m, nn.modules.instancenorm._InstanceNorm)
    if instance:
        assert nd is not None
        lead = expect_ndim(cls, x, ["N", "C", *(["L"], ["H", "W"], ["D", "H", "W"])[nd - 1]])
        if (m.affine or m.track_running_stats) and not has_lazy_params(m):
            _check_channels(cls, x, lead, m.num_features)
        if (m.training or not m.track_running_stats) and prod(x[lead + 1:]) <= 1:
            raise ShapeProblem(f"{cls} needs more than 1 spatial element per channel to compute statistics,"
                               f" got input {fmt_shape(x)}")
        return ShapeFormula(tuple(x))
    allowed = {1: (2, 3), 2: (4,), 3: (5,)}.get(nd or 0)
    if allowed is not None and len(x) not in allowed:
        want = " or ".join(f"{n}-D" for n in allowed)
        raise ShapeProblem(f"{cls} expects a {want} input [N, C, ...], got a {len(x)}-D input {fmt_shape(x)}")
    if len(x) < 2:
        raise ShapeProblem(f"{cls} expects at least a 2-D input [N, C, ...], got {fmt_shape(x)}")
    if not has_lazy_params(m):
        _check_channels(cls, x, 1, m.num_features)
    uses_batch_stats = m.training or (m.running_mean is None and m.running_var is None)
    if uses_batch_stats and x[0] * prod(x[2:]) == 1:
        raise ShapeProblem(
            f"{cls} in training mode needs more than 1 value per channel, got input {fmt_shape(x)}"
            " (batch size times spatial size is 1); use a batch size above 1 or call model.eval()")
    return ShapeFormula(tuple(x))


def _trailing(m: nn.LayerNorm | nn.RMSNorm, shapes: tuple[Shape, ...]) -> ShapeFormula:
    cls, x = type(m).__name__, shapes[0]
    want = tuple(int(d) for d in m.normalized_shape)
    got = tuple(x[len(x) - len(want):]) if len(x) >= len(want) else tuple(x)
    if got != want:
        raise ShapeProblem(f"{cls} expects the last {len(want)} dim(s) to be {fmt_shape(want)}, got"
                           f" {fmt_shape(got)}")
    return ShapeFormula(tuple(x))


def _groupnorm(m: nn.GroupNorm, shapes: tuple[Shape, ...]) -> ShapeFormula:
    cls, x = type(m).__name__, shapes[0]
    if len(x) < 2:
        raise ShapeProblem(f"{cls} expects at least a 2-D input [N, C, ...], got {fmt_shape(x)}")
    _check_channels(cls, x, 1, m.num_channels)
    if x[0] * x[1] // m.num_groups * prod(x[2:]) == 1:
        raise ShapeProblem(f"{cls} needs more than 1 value per group, got input {fmt_shape(x)} with"
                           f" {m.num_groups} groups")
    return ShapeFormula(tuple(x))


def _prelu(m: nn.PReLU, shapes: tuple[Shape, ...]) -> ShapeFormula:
    cls, x = type(m).__name__, shapes[0]
    n = int(m.num_parameters)
    if n != 1:
        channels = x[1] if len(x) >= 2 else 1
        if len(x) == 0 or channels != n:
            raise ShapeProblem(f"{cls} has num_parameters={n}, which must equal the channel size at dim 1,"
                               f" got {channels}")
    return ShapeFormula(tuple(x))


def _softmax(m: nn.Softmax | nn.LogSoftmax | nn.Softmin, shapes: tuple[Shape, ...]) -> ShapeFormula:
    x = shapes[0]
    nd = max(len(x), 1)
    if m.dim is not None and not -nd <= m.dim < nd:
        raise ShapeProblem(f"{type(m).__name__}: dim={m.dim} is out of range for input {fmt_shape(x)}")
    return ShapeFormula(tuple(x))


def _glu(m: nn.GLU, shapes: tuple[Shape, ...]) -> ShapeFormula:
    x = shapes[0]
    nd = len(x)
    if not -nd <= m.dim < nd or x[m.dim] % 2:
        raise ShapeProblem(f"GLU halves dim {m.dim}, which must exist and be even, got input {fmt_shape(x)}")
    d = m.dim % nd
    half = x[d] // 2
    return ShapeFormula((*x[:d], half, *x[d + 1:]), (DimFormula("half", "n/2", f"{x[d]}/2", half),))


_DROPOUT_NDIM = {nn.Dropout1d: (2, 3), nn.Dropout2d: (3, 4), nn.Dropout3d: (4, 5)}


def _dropout(m: nn.Module, shapes: tuple[Shape, ...]) -> ShapeFormula | None:
    x = shapes[0]
    for cls, ok in _DROPOUT_NDIM.items():
        if isinstance(m, cls) and len(x) not in ok:
            return None  # PyTorch warns or raises depending on the rank; no claim either way
    return ShapeFormula(tuple(x))


def _same(m: nn.Module, shapes: tuple[Shape, ...]) -> ShapeFormula:
    return ShapeFormula(tuple(shapes[0]))


def _embedding(m: nn.Embedding, shapes: tuple[Shape, ...]) -> ShapeFormula:
    d = int(m.embedding_dim)
    return ShapeFormula((*shapes[0], d), (DimFormula("features", "embedding_dim", str(d), d),))


def _rnn(m: nn.RNNBase, shapes: tuple[Shape, ...]) -> ShapeFormula:
    cls, x = type(m).__name__, shapes[0]
    if len(x) not in (2, 3):
        layout = "[N, L, H_in]" if m.batch_first else "[L, N, H_in]"
        raise ShapeProblem(f"{cls} expects a 3-D input {layout} or an unbatched 2-D input [L, H_in], got"
                           f" a {len(x)}-D input {fmt_shape(x)}")
    if x[-1] != m.input_size:
        raise ShapeProblem(f"{cls} expects input_size={m.input_size} at the last dim, got {x[-1]}")
    dirs = 2 if m.bidirectional else 1
    h_out = int(m.proj_size or m.hidden_size)
    sym = "D*" + ("P" if m.proj_size else "H")
    dim = DimFormula("features", sym, f"{dirs}*{h_out}", dirs * h_out)
    return ShapeFormula((*x[:-1], dirs * h_out), (dim,))


def _mha(m: nn.MultiheadAttention, shapes: tuple[Shape, ...]) -> ShapeFormula:
    cls, q = type(m).__name__, shapes[0]
    if len(q) not in (2, 3):
        raise ShapeProblem(f"{cls} expects a 3-D query or an unbatched 2-D query [L, E], got {fmt_shape(q)}")
    if q[-1] != m.embed_dim:
        raise ShapeProblem(f"{cls} expects embed_dim={m.embed_dim} at the last dim of query, got {q[-1]}")
    roles = (("key", m.kdim), ("value", m.vdim))
    for (role, want), s in zip(roles, shapes[1:3], strict=False):
        if len(s) != len(q):
            raise ShapeProblem(f"{cls}: {role} {fmt_shape(s)} and query {fmt_shape(q)} must have the same"
                               " number of dims")
        if s[-1] != want:
            raise ShapeProblem(f"{cls} expects {'kdim' if role == 'key' else 'vdim'}={want} at the last dim"
                               f" of {role}, got {s[-1]}")
    if len(shapes) >= 3:
        k, v = shapes[1], shapes[2]
        if k[:-1] != v[:-1]:
            raise ShapeProblem(f"{cls}: key {fmt_shape(k)} and value {fmt_shape(v)} must match except in the"
                               " last dim")
        if len(q) == 3:
            bdim = 0 if m.batch_first else 1
            if k[bdim] != q[bdim]:
                raise ShapeProblem(f"{cls}: key batch size {k[bdim]} differs from query batch size {q[bdim]}"
                                   f" (batch dim {bdim}, batch_first={m.batch_first})")
    e = int(m.embed_dim)
    return ShapeFormula((*q[:-1], e), (DimFormula("features", "embed_dim", str(e), e),))


_ELEMENTWISE = (
    nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish, nn.Hardshrink, nn.Softshrink,
    nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.LogSigmoid, nn.Threshold, nn.RReLU,
)

_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_ADAPTIVE = (
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
)

_Analyser = Callable[..., ShapeFormula | None]
_DISPATCH: list[tuple[type | tuple[type, ...], _Analyser]] = [
    (nn.modules.conv._ConvNd, spatial.analyse_conv),
    (_POOLS, spatial.analyse_pool),
    (_ADAPTIVE, spatial.analyse_adaptive),
    (nn.Upsample, spatial.analyse_upsample),
    (nn.Linear, _linear),
    (nn.Bilinear, _bilinear),
    (nn.Flatten, _flatten),
    (nn.modules.batchnorm._NormBase, _batchnorm),
    ((nn.LayerNorm, nn.RMSNorm), _trailing),
    (nn.GroupNorm, _groupnorm),
    (nn.PReLU, _prelu),
    ((nn.Softmax, nn.LogSoftmax, nn.Softmin), _softmax),
    (nn.GLU, _glu),
    (nn.modules.dropout._DropoutNd, _dropout),
    (_ELEMENTWISE, _same),
    (nn.Embedding, _embedding),
    (nn.RNNBase, _rnn),
    (nn.MultiheadAttention, _mha),
]


def analyse(module: nn.Module, input_shapes: tuple[Shape, ...]) -> ShapeFormula | None:
    """The output shape, ``None`` for an unknown type; raises :class:`ShapeProblem` for a bad input."""
    if not input_shapes:
        return None
    shapes = tuple(tuple(int(d) for d in s) for s in input_shapes)
    for cls, fn in _DISPATCH:
        if isinstance(module, cls):
            return fn(module, shapes)
    return None


def shape_formula(module: nn.Module, input_shapes: tuple[Shape, ...]) -> ShapeFormula | None:
    """The analytic output shape of ``module`` for these input shapes, or ``None`` (see module doc)."""
    try:
        return analyse(module, input_shapes)
    except ShapeProblem:
        return None
    except (AttributeError, TypeError, ValueError, IndexError, KeyError, ZeroDivisionError):
        return None  # a subclass with unexpected attributes: no claim
