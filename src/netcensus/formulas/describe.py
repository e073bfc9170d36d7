"""One-line, constructor-like descriptions of layers: ``Conv2d(1, 96, k=11, s=4, p=1)``.

Contract of :func:`describe`: the essential positional hyper-parameters always, any other
hyper-parameter only when it differs from its default, never weights or tensors. Abbreviations:
``k`` kernel_size, ``s`` stride, ``p`` padding, ``d`` dilation, ``op`` output_padding. Sizes that are
the same in every dimension print once (``k=3``), others as a tuple (``k=(3, 5)``). The name is the
module's own class name, so a subclass keeps its name. Unknown types fall back to the class name.
An uninitialised lazy layer prints ``?`` for the sizes it has not inferred yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from netcensus.formulas._util import compact, has_lazy_params, ntuple

__all__ = ["describe"]


def _fmt_float(x: float) -> str:
    return f"{x:g}"


def _conv(m: nn.modules.conv._ConvNd) -> list[str]:
    nd = len(m.kernel_size)
    lazy = has_lazy_params(m)
    args = ["?" if lazy else str(m.in_channels), str(m.out_channels), f"k={compact(m.kernel_size)}"]
    if any(s != 1 for s in m.stride):
        args.append(f"s={compact(m.stride)}")
    if isinstance(m.padding, str):
        if m.padding != "valid":
            args.append(f"p={m.padding}")
    elif any(p != 0 for p in m.padding):
        args.append(f"p={compact(m.padding)}")
    if m.transposed and any(p != 0 for p in m.output_padding):
        args.append(f"op={compact(ntuple(m.output_padding, nd))}")
    if any(d != 1 for d in m.dilation):
        args.append(f"d={compact(m.dilation)}")
    if m.groups != 1:
        args.append(f"groups={m.groups}")
    if m.bias is None:
        args.append("bias=False")
    if m.padding_mode != "zeros":
        args.append(f"padding_mode={m.padding_mode}")
    return args


def _pool(m: nn.Module) -> list[str]:
    nd = _pool_dims(m)
    k = ntuple(m.kernel_size, nd)
    s = ntuple(m.stride if m.stride is not None else m.kernel_size, nd)
    p = ntuple(m.padding, nd)
    args = [f"k={compact(k)}"]
    if s != k:
        args.append(f"s={compact(s)}")
    if any(p):
        args.append(f"p={compact(p)}")
    dil = getattr(m, "dilation", 1)
    if any(d != 1 for d in ntuple(dil, nd)):
        args.append(f"d={compact(ntuple(dil, nd))}")
    if m.ceil_mode:
        args.append("ceil_mode")
    if getattr(m, "return_indices", False):
        args.append("return_indices")
    if getattr(m, "count_include_pad", True) is False:
        args.append("count_include_pad=False")
    if getattr(m, "divisor_override", None) is not None:
        args.append(f"divisor_override={m.divisor_override}")
    return args


def _pool_dims(m: nn.Module) -> int:
    for cls in type(m).__mro__:
        if cls.__module__ == "torch.nn.modules.pooling" and cls.__name__[-2:] in ("1d", "2d", "3d"):
            return int(cls.__name__[-2])
    return 1


def _adaptive(m: nn.Module) -> list[str]:
    out: Any = m.output_size
    text = str(out) if isinstance(out, int) or out is None else "(" + ", ".join(str(o) for o in out) + ")"
    if isinstance(out, tuple) and len(out) == 1:
        text = str(out[0])
    args = [text]
    if getattr(m, "return_indices", False):
        args.append("return_indices")
    return args


def _linear(m: nn.Linear) -> list[str]:
    args = ["?" if has_lazy_params(m) else str(m.in_features), str(m.out_features)]
    if m.bias is None:
        args.append("bias=False")
    return args


def _bilinear(m: nn.Bilinear) -> list[str]:
    args = [str(m.in1_features), str(m.in2_features), str(m.out_features)]
    if m.bias is None:
        args.append("bias=False")
    return args


def _norm_common(m: nn.Module, eps_default: float | None = 1e-5) -> list[str]:
    args: list[str] = []
    eps = getattr(m, "eps", None)
    if eps is not None and eps != eps_default:
        args.append(f"eps={_fmt_float(eps)}")
    return args


def _batchnorm(m: nn.modules.batchnorm._NormBase) -> list[str]:
    lazy = has_lazy_params(m) or (m.num_features == 0)
    args = ["?" if lazy else str(m.num_features)] + _norm_common(m)
    is_instance = isinstance(m, nn.modules.instancenorm._InstanceNorm)
    if m.momentum != 0.1:
        args.append(f"momentum={m.momentum}")
    if is_instance:
        if m.affine:
            args.append("affine")
        if m.track_running_stats:
            args.append("track_running_stats")
    else:
        if not m.affine:
            args.append("affine=False")
        if not m.track_running_stats:
            args.append("track_running_stats=False")
    return args


def _shape_text(shape: tuple[int, ...]) -> str:
    return str(shape[0]) if len(shape) == 1 else "(" + ", ".join(str(d) for d in shape) + ")"


def _layernorm(m: nn.LayerNorm) -> list[str]:
    args = [_shape_text(tuple(m.normalized_shape))] + _norm_common(m)
    if not m.elementwise_affine:
        args.append("elementwise_affine=False")
    elif m.bias is None:
        args.append("bias=False")
    return args


def _rmsnorm(m: nn.RMSNorm) -> list[str]:
    args = [_shape_text(tuple(m.normalized_shape))] + _norm_common(m, eps_default=None)
    if not m.elementwise_affine:
        args.append("elementwise_affine=False")
    return args


def _groupnorm(m: nn.GroupNorm) -> list[str]:
    args = [str(m.num_groups), str(m.num_channels)] + _norm_common(m)
    if not m.affine:
        args.append("affine=False")
    return args


def _embedding(m: nn.Embedding | nn.EmbeddingBag) -> list[str]:
    args = [str(m.num_embeddings), str(m.embedding_dim)]
    if m.padding_idx is not None:
        args.append(f"padding_idx={m.padding_idx}")
    if m.max_norm is not None:
        args.append(f"max_norm={_fmt_float(m.max_norm)}")
    if isinstance(m, nn.EmbeddingBag) and m.mode != "mean":
        args.append(f"mode={m.mode}")
    if m.sparse:
        args.append("sparse")
    return args


def _mha(m: nn.MultiheadAttention) -> list[str]:
    args = [str(m.embed_dim), f"heads={m.num_heads}"]
    if m.kdim != m.embed_dim:
        args.append(f"kdim={m.kdim}")
    if m.vdim != m.embed_dim:
        args.append(f"vdim={m.vdim}")
    if m.in_proj_bias is None:
        args.append("bias=False")
    if m.bias_k is not None:
        args.append("add_bias_kv")
    if m.add_zero_attn:
        args.append("add_zero_attn")
    if m.dropout:
        args.append(f"dropout={_fmt_float(m.dropout)}")
    if m.batch_first:
        args.append("batch_first")
    return args


def _rnn(m: nn.RNNBase) -> list[str]:
    args = [str(m.input_size), str(m.hidden_size)]
    if m.num_layers != 1:
        args.append(f"layers={m.num_layers}")
    if m.mode == "RNN_RELU":
        args.append("nonlinearity=relu")
    if m.bidirectional:
        args.append("bidirectional")
    if m.proj_size:
        args.append(f"proj={m.proj_size}")
    if not m.bias:
        args.append("bias=False")
    if m.batch_first:
        args.append("batch_first")
    if m.dropout:
        args.append(f"dropout={_fmt_float(m.dropout)}")
    return args


def _flatten(m: nn.Flatten) -> list[str]:
    if (m.start_dim, m.end_dim) == (1, -1):
        return []
    return [str(m.start_dim), str(m.end_dim)]


def _upsample(m: nn.Upsample) -> list[str]:
    args = []
    if m.size is not None:
        size = m.size
        text = f"({', '.join(str(v) for v in size)})" if isinstance(size, tuple) else str(size)
        args.append(f"size={text}")
    if m.scale_factor is not None:
        sf = m.scale_factor
        text = compact([_fmt_float(x) for x in sf]) if isinstance(sf, tuple) else _fmt_float(sf)
        args.append(f"scale={text}")
    if m.mode != "nearest":
        args.append(f"mode={m.mode}")
    if m.align_corners:
        args.append("align_corners")
    return args


def _dropout(m: nn.modules.dropout._DropoutNd) -> list[str]:
    args = [_fmt_float(m.p)]
    if m.inplace:
        args.append("inplace")
    return args


def _prelu(m: nn.PReLU) -> list[str]:
    return [] if m.num_parameters == 1 else [str(m.num_parameters)]


def _dim(m: nn.Module) -> list[str]:
    return [] if m.dim is None else [f"dim={m.dim}"]


def _leaky(m: nn.LeakyReLU) -> list[str]:
    return [] if m.negative_slope == 0.01 else [_fmt_float(m.negative_slope)]


def _gelu(m: nn.GELU) -> list[str]:
    return [] if m.approximate == "none" else [f"approximate={m.approximate}"]


_POOLS = (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
)
_ADAPTIVE = (
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
)

_DISPATCH: list[tuple[type[nn.Module] | tuple[type[nn.Module], ...], Callable[..., list[str]]]] = [
    (nn.modules.conv._ConvNd, _conv),
    (_POOLS, _pool),
    (_ADAPTIVE, _adaptive),
    (nn.Linear, _linear),
    (nn.Bilinear, _bilinear),
    (nn.modules.batchnorm._NormBase, _batchnorm),
    (nn.LayerNorm, _layernorm),
    (nn.RMSNorm, _rmsnorm),
    (nn.GroupNorm, _groupnorm),
    (nn.Embedding, _embedding),
    (nn.EmbeddingBag, _embedding),
    (nn.MultiheadAttention, _mha),
    (nn.RNNBase, _rnn),
    (nn.Flatten, _flatten),
    (nn.Upsample, _upsample),
    (nn.modules.dropout._DropoutNd, _dropout),
    (nn.PReLU, _prelu),
    ((nn.Softmax, nn.LogSoftmax, nn.Softmin), _dim),
    (nn.LeakyReLU, _leaky),
    (nn.GELU, _gelu),
]


def describe(module: nn.Module) -> str:
    """``ClassName(args)`` for known layer types, else the bare class name."""
    name = type(module).__name__
    for cls, fn in _DISPATCH:
        if isinstance(module, cls):
            try:
                return f"{name}({', '.join(fn(module))})"
            except (AttributeError, TypeError, ValueError, KeyError, IndexError):
                return name
    return name
