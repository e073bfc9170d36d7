"""Where PyTorch's meta kernels return (or accept) other things than its real kernels, the real ones.

A meta trace stands for a real run: the ops it records, and the memory of every tensor they make,
must be the real run's. A few meta kernels differ in what they return or accept, and each changes the trace.
Where the real kernels of different devices differ too, the reference is PyTorch's CPU kernels (the
real run netcensus's tests compare every meta trace with):

Convolution layouts
    PyTorch's meta kernel for ``aten.convolution`` (and ``convolution_backward``) always returns
    contiguous tensors: a meta tensor carries no device, so it cannot know which backend would run.
    The real kernels choose: oneDNN and the slow CPU paths (and cuDNN) write channels-last outputs
    when the input or the weight is channels-last, which includes ambiguous layouts with a size-1
    dimension, such as a one-channel ``Conv1d`` over a transposed sequence. The ops that follow depend
    on that layout: a ``reshape``, or a ``Linear`` over a 3-d input, is a view on one layout and a copy
    (``clone`` + ``_unsafe_view``) on the other. So each meta convolution asks PyTorch itself which
    backend a CPU tensor of the same metadata would use (``torch._C._select_conv_backend``) and which
    memory format that backend writes (``torch._C._conv_determine_backend_memory_format``), on
    storage-less stand-ins that report the CPU device (nothing is allocated), and its outputs are
    re-made in that format, as ``FakeTensorMode`` does for fake CPU tensors. Gradients of the input and
    of the weight take the same format as the forward output, as the real kernels give them. Where
    these private functions are missing (another PyTorch release), the meta kernel's layout stands.

Batch norm gradients that were not asked for
    ``native_batch_norm_backward`` on meta returns a gradient of the input even where its
    ``output_mask`` says it is not needed (a BatchNorm first in the model, whose input needs no
    gradient); the CPU and CUDA kernels return none, and allocate none.

Matrix products of operands of different dtypes
    ``mm``, ``addmm``, ``bmm``, ``baddbmm``, ``mv``, ``addmv`` and ``dot`` on meta accept operands of
    different dtypes; the real kernels refuse them.

Grouped matrix products (mixtures of experts)
    ``_grouped_mm`` on meta copies the checks of the CUDA kernel of an older release: bfloat16
    operands only. The CPU kernel and CUDA's (measured on an H200 with PyTorch 2.11) multiply float32,
    float16 and bfloat16 operands of one dtype, so transformers' experts (``grouped_mm`` implementation) in a
    float32 model fail on meta only. Here the operands must share a dtype, as the real kernels
    require, and the output is the meta kernel's shape, contiguous, in that dtype (or ``out_dtype``).
    Its size does not depend on the offsets' values: each row of ``mat_a`` goes to one group.

Batch norm statistics in eval mode
    In eval mode batch norm normalises with the running statistics and saves none for a backward:
    the CPU kernels return empty (0-element) ``save_mean`` and ``save_invstd``; the meta kernels
    return two tensors of ``C`` elements. (CUDA's native kernel allocates them too: ``2 * C * 4``
    bytes per eval BatchNorm, which this model of memory leaves out.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils._pytree import tree_map

from ..tensors import suggested_format

aten = torch.ops.aten
_CPU = torch.device("cpu")


class _CpuStandIn(torch.Tensor):
    """Shape, strides and dtype of a meta tensor, reporting the CPU device, with no storage.

    PyTorch's backend selection reads metadata only, but it reshapes its arguments on the way (a 1-d
    convolution is looked at as a 2-d one): those ops run on the wrapped meta tensor.
    """

    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor) -> _CpuStandIn:
        out = torch.Tensor._make_wrapper_subclass(
            cls, elem.shape, strides=elem.stride(), storage_offset=elem.storage_offset(),
            dtype=elem.dtype, device=_CPU, requires_grad=False)
        out.elem = elem
        return out

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):  # type: ignore[override]
        def unwrap(v: Any) -> Any:
            return v.elem if isinstance(v, _CpuStandIn) else v

        def wrap(v: Any) -> Any:
            return _CpuStandIn(v) if isinstance(v, torch.Tensor) and v.is_meta else v

        return tree_map(wrap, func(*tree_map(unwrap, args), **tree_map(unwrap, kwargs or {})))


_SELECT = getattr(torch._C, "_select_conv_backend", None)
_FORMAT = getattr(torch._C, "_conv_determine_backend_memory_format", None)


def _cpu_format(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None,
                bias_sizes: list[int] | None, rest: tuple[Any, ...]) -> torch.memory_format | None:
    """The memory format a CPU convolution with these arguments writes; None if PyTorch cannot say."""
    if _SELECT is None or _FORMAT is None:
        return None
    try:
        x_in, w_in = _CpuStandIn(x), _CpuStandIn(w)
        b_in = _CpuStandIn(bias) if isinstance(bias, torch.Tensor) and bias.is_meta else None
        if b_in is None and bias_sizes is not None:
            backend = _SELECT(x_in, w_in, None, *rest, bias_sizes)
        else:
            backend = _SELECT(x_in, w_in, b_in, *rest)
        if w.dim() == 3:  # the CPU kernels run a 1-d convolution as a 2-d one over a contiguous input
            x_in, w_in = _CpuStandIn(x.contiguous().unsqueeze(2)), _CpuStandIn(w.unsqueeze(2))
        return _FORMAT(x_in, w_in, backend)
    except (RuntimeError, TypeError, ValueError, AttributeError):
        return None


def _format_strides(shape: tuple[int, ...], fmt: torch.memory_format) -> tuple[int, ...] | None:
    """The strides of a tensor of ``shape`` made contiguous in ``fmt``; None for a format that does not
    apply to that many dimensions."""
    if fmt is torch.contiguous_format:
        return torch.empty(shape, device="meta").stride()
    if len(shape) == 3 and fmt is torch.channels_last:  # 1-d: channels-last of the 2-d view
        wide = torch.empty((shape[0], shape[1], 1, shape[2]), device="meta", memory_format=fmt)
        return wide.squeeze(2).stride()
    if ((len(shape) == 4 and fmt is torch.channels_last)
            or (len(shape) == 5 and fmt is torch.channels_last_3d)):
        return torch.empty(shape, device="meta", memory_format=fmt).stride()
    return None


def _laid_out(t: Any, fmt: torch.memory_format) -> Any:
    """``t`` re-made (a fresh meta tensor) in ``fmt`` when that gives other strides, else ``t``."""
    if not isinstance(t, torch.Tensor):
        return t
    shape = tuple(t.shape)
    strides = _format_strides(shape, fmt)
    if strides is None or strides == t.stride():
        return t
    return torch.empty_strided(shape, strides, dtype=t.dtype, device="meta")


def _convolution(*args: Any, **kwargs: Any) -> Any:
    out = aten.convolution.default(*args, **kwargs)
    if kwargs or len(args) != 9 or not isinstance(out, torch.Tensor) or not out.is_meta:
        return out
    x, w, bias = args[0], args[1], args[2]
    fmt = _cpu_format(x, w, bias, None, tuple(args[3:9]))
    return out if fmt is None else _laid_out(out, fmt)


def _convolution_backward(*args: Any, **kwargs: Any) -> Any:
    out = aten.convolution_backward.default(*args, **kwargs)
    if kwargs or len(args) != 11 or not isinstance(out, tuple) or len(out) != 3:
        return out
    grad_input, grad_weight, grad_bias = out
    if not any(isinstance(g, torch.Tensor) and g.is_meta for g in (grad_input, grad_weight)):
        return out
    x, w, bias_sizes = args[1], args[2], args[3]
    fmt = _cpu_format(x, w, None, bias_sizes, tuple(args[4:10]))
    if fmt is None:
        return out
    return (_laid_out(grad_input, fmt), _laid_out(grad_weight, fmt), grad_bias)


def _dense_format(t: torch.Tensor) -> torch.memory_format | None:
    """The memory format ``t`` is contiguous in, if any (PyTorch's batch norm asks this first)."""
    if t.is_contiguous():
        return torch.contiguous_format
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    if t.dim() == 5 and t.is_contiguous(memory_format=torch.channels_last_3d):
        return torch.channels_last_3d
    return None


def _suggested_format(t: torch.Tensor) -> torch.memory_format:
    """``Tensor.suggest_memory_format()`` of the C++ API (channels-last for NHWC-like strides)."""
    return suggested_format(t)


_LOW_PRECISION = (torch.bfloat16, torch.float16)


def _batch_norm_outputs(x: Any, params: tuple[Any, ...], training: bool) -> tuple[torch.Tensor, ...] | None:
    """Batch norm's three outputs made directly, as the CPU kernel returns them; None where this
    does not apply (the meta kernel then runs).

    PyTorch's meta kernel for batch norm is a Python decomposition, the most expensive op of a CNN
    trace (ResNet-50 runs 53); the outputs follow from the arguments' metadata alone: the normalised
    output has the input's shape and dtype, laid out contiguously in the input's own memory format
    when it is dense in one (else in its suggested format); the saved mean and inverse standard
    deviation have ``C`` elements in training and none in eval mode, in the dtype of the parameters
    and running statistics (the input's when there are none). The CPU kernel requires those to share
    one dtype, the input's or, for a bfloat16 or float16 input, float32; so is it here, where the
    meta kernel accepted any mix.
    """
    if type(x) is not torch.Tensor or not x.is_meta or x.dim() < 2 or x.layout is not torch.strided:
        return None
    if not x.dtype.is_floating_point:
        return None
    channels = x.shape[1]
    dtypes = set()
    for p in params:
        if p is None:
            continue
        if (not isinstance(p, torch.Tensor) or not p.is_meta or p.dim() != 1 or p.shape[0] != channels):
            return None  # the meta kernel's own checks and messages
        dtypes.add(p.dtype)
    if len(dtypes) > 1 or (dtypes and dtypes != {x.dtype}
                           and not (x.dtype in _LOW_PRECISION and dtypes == {torch.float32})):
        names = ", ".join(sorted(_name(d) for d in dtypes))
        allowed = "float32 or " if x.dtype in _LOW_PRECISION else ""
        raise RuntimeError(
            f"batch norm of a {_name(x.dtype)} input with weight, bias and running "
            f"statistics in {names}: PyTorch's CPU kernel requires them all in one dtype, {allowed}"
            f"the input's")
    stats_dtype = dtypes.pop() if dtypes else x.dtype
    fmt = _dense_format(x) or _suggested_format(x)
    shape = tuple(x.shape)
    y = torch.empty_strided(shape, _format_strides(shape, fmt) or torch.empty(shape, device="meta").stride(),
                            dtype=x.dtype, device="meta")
    n = channels if training else 0
    return (y, torch.empty((n,), dtype=stats_dtype, device="meta"),
            torch.empty((n,), dtype=stats_dtype, device="meta"))


def _batch_norm(op: Any, n_params: int, training_at: int | None, always_trains: bool = False
                ) -> Callable[..., Any]:
    """Batch norm as the CPU kernel returns it: ``_batch_norm_outputs`` where it applies, else the meta
    kernel with its output re-laid-out and, in eval mode, its two saved statistics empty.
    ``n_params``: how many of weight, bias, running mean and variance follow the input;
    ``training_at``: the position of the ``training`` flag (None: fixed by the op)."""

    def kernel(*args: Any, **kwargs: Any) -> Any:
        x = args[0] if args else None
        if kwargs or not isinstance(x, torch.Tensor) or len(args) <= n_params:
            return op(*args, **kwargs)
        training = always_trains if training_at is None else (len(args) <= training_at or args[training_at])
        if op in _MADE_HERE:
            made = _batch_norm_outputs(x, args[1:1 + n_params], bool(training))
            if made is not None:
                return made
        out = op(*args, **kwargs)
        if not isinstance(out, tuple) or len(out) < 3 or not all(
                isinstance(t, torch.Tensor) and t.is_meta for t in out[:3]):
            return out
        y = _laid_out(out[0], _dense_format(x) or _suggested_format(x))
        stats = out[1:3] if training else tuple(torch.empty((0,), dtype=t.dtype, device="meta")
                                                for t in out[1:3])
        return (y, *stats, *out[3:])

    return kernel


def _native_batch_norm_backward(*args: Any, **kwargs: Any) -> Any:
    out = aten.native_batch_norm_backward.default(*args, **kwargs)
    if kwargs or len(args) != 10 or not isinstance(out, tuple) or len(out) != 3:
        return out
    grad_out, x, mask = args[0], args[1], args[9]
    grad_input = out[0]
    if isinstance(grad_input, torch.Tensor) and grad_input.is_meta:
        if not mask[0]:
            grad_input = None  # not asked for: the real kernels compute and allocate none
        else:
            # contiguous in the input's format when input and gradient are dense in the same one
            dense = _dense_format(x)
            if (dense is None or _dense_format(grad_out) is None
                    or _suggested_format(x) != _suggested_format(grad_out)):
                dense = _suggested_format(x)
            grad_input = _laid_out(grad_input, dense)
    return (grad_input, *out[1:])


def _native_layer_norm_backward(*args: Any, **kwargs: Any) -> Any:
    out = aten.native_layer_norm_backward.default(*args, **kwargs)
    if not isinstance(out, tuple) or not out or not isinstance(out[0], torch.Tensor) or not out[0].is_meta:
        return out
    return (_laid_out(out[0], torch.contiguous_format), *out[1:])  # the CPU and CUDA kernels: contiguous


def _same_dtype_operands(op: Any, first: int, second: int) -> Callable[..., Any]:
    """A matrix product whose two operands (at these positions) must have one dtype, as PyTorch's CPU
    and CUDA kernels require; the meta kernels do not check, so a float32 Linear fed int64 or float16
    inputs would trace on meta without a word where any real run raises."""

    def kernel(*args: Any, **kwargs: Any) -> Any:
        if len(args) > second:
            a, b = args[first], args[second]
            if (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype != b.dtype
                    and (a.is_meta or b.is_meta)):
                raise RuntimeError(f"{op}: operands of different dtypes, {_name(a.dtype)} and "
                                   f"{_name(b.dtype)}, which PyTorch's CPU and CUDA kernels refuse")
        return op(*args, **kwargs)

    return kernel


def _grouped_mm(*args: Any, **kwargs: Any) -> Any:
    """``_grouped_mm(mat_a, mat_b, offs=None, bias=None, out_dtype=None)`` on meta, for any floating
    dtype the two operands share (see the module's docstring)."""
    names = ("mat_a", "mat_b", "offs", "bias", "out_dtype")
    bound = dict(zip(names, args)) | kwargs
    a, b = bound.get("mat_a"), bound.get("mat_b")
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and (a.is_meta or b.is_meta)
            and a.dtype.is_floating_point and a.dtype != torch.bfloat16 and a.dim() in (2, 3)
            and b.dim() in (2, 3)):
        return aten._grouped_mm.default(*args, **kwargs)
    if a.dtype != b.dtype:
        raise RuntimeError(f"_grouped_mm: operands of different dtypes, {_name(a.dtype)} and "
                           f"{_name(b.dtype)}, which PyTorch's CPU and CUDA kernels refuse")
    if a.shape[-1] != b.shape[-2] and not (a.dim() == 2 and b.dim() == 2):
        raise RuntimeError(f"_grouped_mm: contraction dimension of mat_a {tuple(a.shape)} and "
                           f"mat_b {tuple(b.shape)} must match")
    offs = bound.get("offs")
    shape: tuple[int, ...]
    if a.dim() == 2 and b.dim() == 2:
        if not isinstance(offs, torch.Tensor):
            raise RuntimeError("_grouped_mm: 2D/2D operands need offsets")
        shape = (offs.shape[0], a.shape[0], b.shape[1])
    elif a.dim() == 2:
        shape = (a.shape[0], b.shape[-1])
    elif b.dim() == 2:
        shape = (a.shape[1], b.shape[1])
    else:
        shape = (a.shape[0], a.shape[1], b.shape[-1])
    return torch.empty(shape, dtype=bound.get("out_dtype") or a.dtype, device="meta")


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


#: Batch norms whose outputs ``_batch_norm_outputs`` makes (the ops with three outputs, whose dtype rules
#: were checked against the CPU kernel; the others run the meta kernel and are corrected after).
_MADE_HERE = frozenset({aten.native_batch_norm.default, aten._native_batch_norm_legit.default,
                        aten._native_batch_norm_legit_no_training.default})

#: op -> a kernel that returns what the real kernels return (each is the op itself off meta).
def _log_softmax(x: Any, dim: int, half_to_float: bool) -> Any:
    """CUDA's ``_log_softmax`` takes ``half_to_float`` for float16 and bfloat16 inputs (autocast's
    float32 log_softmax of a 16-bit tensor, a float32 output with no float32 copy of the input); the meta
    decomposition accepts float16 only. A contiguous float32 output, as the CUDA kernel allocates it."""
    if half_to_float and x.dtype == torch.bfloat16 and x.device.type == "meta":
        return torch.empty(x.shape, dtype=torch.float32, device=x.device)
    return aten._log_softmax.default(x, dim, half_to_float)


KERNELS: dict[Any, Callable[..., Any]] = {
    aten._log_softmax.default: _log_softmax,
    aten.convolution.default: _convolution,
    aten.convolution_backward.default: _convolution_backward,
    aten.native_batch_norm.default: _batch_norm(aten.native_batch_norm.default, 4, 5),
    aten._native_batch_norm_legit.default: _batch_norm(aten._native_batch_norm_legit.default, 4, 5),
    aten._native_batch_norm_legit.no_stats: _batch_norm(aten._native_batch_norm_legit.no_stats, 2, 3),
    aten._native_batch_norm_legit_no_training.default: _batch_norm(
        aten._native_batch_norm_legit_no_training.default, 4, None),
    aten._batch_norm_with_update.default: _batch_norm(aten._batch_norm_with_update.default, 4, None, True),
    aten._batch_norm_no_update.default: _batch_norm(aten._batch_norm_no_update.default, 4, None),
    aten.native_batch_norm_backward.default: _native_batch_norm_backward,
    aten.native_layer_norm_backward.default: _native_layer_norm_backward,
    **({aten._grouped_mm.default: _grouped_mm} if hasattr(aten, "_grouped_mm") else {}),
    **{op: _same_dtype_operands(op, i, j) for op, (i, j) in {
        aten.mm.default: (0, 1), aten.addmm.default: (1, 2), aten.bmm.default: (0, 1),
        aten.baddbmm.default: (1, 2), aten.mv.default: (0, 1), aten.addmv.default: (1, 2),
        aten.dot.default: (0, 1)}.items()},
}
