"""Which aten ops launch a kernel on CUDA, of what kind, and how many bytes each moves.

The per-op classification of the step-time model (:mod:`netcensus.analyses.timing`): views, aliases and
allocations launch nothing; fills, copies, norms and the rest of the elementwise ops run on the FP32
pipe; the matmul/convolution/attention "cores" run on the unit their dtype picks. Bytes: every input
read once at its dtype (an expanded view reads its storage, not its expanded size), every output
written once; a normalization re-reads what its second pass needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ...dtypes import itemsize
from ...events import OpEvent, TensorMeta
from ...results.compute import ComputeResult

NO_KERNEL = frozenset(
    {
        "empty",
        "empty_like",
        "empty_strided",
        "new_empty",
        "new_empty_strided",
        "detach",
        "alias",
        "lift_fresh",
        "_local_scalar_dense",
        "set_",
        "resize_",
        "_reshape_alias",
        "view",
        "_unsafe_view",
        "t",
        "transpose",
        "permute",
        "expand",
        "squeeze",
        "unsqueeze",
        "select",
        "slice",
        "split",
        "split_with_sizes",
        "unbind",
        "unsafe_split",
        "unsafe_split_with_sizes",
        "as_strided",
        "narrow",
        "diagonal",
        "view_as_real",
        "view_as_complex",
        "_conj",
        "_neg_view",
        "chunk",
        "unfold",
        "reshape",
        "expand_as",
        "view_as",
        "scalar_tensor",
        "sym_size",
        "sym_stride",
        "sym_numel",
        "is_same_size",
        "_has_compatible_shallow_copy_type",
    }
)
"""Ops that launch no kernel on CUDA (views, aliases, allocations, metadata; ``scalar_tensor`` makes a
0-d tensor that a following kernel takes as an argument)."""

FILLS = frozenset(
    {
        "zeros",
        "ones",
        "full",
        "fill",
        "fill_",
        "zero_",
        "zeros_like",
        "ones_like",
        "full_like",
        "new_zeros",
        "new_ones",
        "new_full",
        "arange",
        "tril",
        "triu",
    }
)

RNN_TYPES = frozenset({"LSTM", "GRU", "RNN"})


def op_base(op: str) -> str:
    """``"aten.add_.Tensor"`` -> ``"add_"``."""
    parts = op.split(".")
    return parts[1] if len(parts) >= 2 and parts[0] in ("aten", "prims") else parts[0]


def read_bytes(t: TensorMeta) -> int:
    return min(t.nbytes, t.storage_nbytes) if t.storage_nbytes else t.nbytes


def first_float(tensors: Iterable[TensorMeta]) -> str | None:
    for t in tensors:
        if t.dtype in ("float32", "float16", "bfloat16", "float64") or t.dtype.startswith("float8"):
            return t.dtype
    return None


def is_core(compute: ComputeResult, ev: OpEvent) -> bool:
    base = op_base(ev.op)
    return base in (
        "mm",
        "addmm",
        "bmm",
        "baddbmm",
        "matmul",
        "linear",
        "addmv",
        "mv",
        "dot",
        "addbmm",
        "convolution",
        "convolution_backward",
        "cudnn_convolution",
        "_convolution",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_flash_attention_for_cpu_backward",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_efficient_attention_backward",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_flash_attention_backward",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_cudnn_attention_backward",
        "_scaled_mm",
        "_int_mm",
        "conv_transpose2d",
    )


def norm_rereads(ev: OpEvent, base: str) -> int:
    """Bytes a normalization reads a second time: a training batch norm reads its input once for the
    statistics and once to normalize; a norm's backward reads input and output gradient once for the
    reductions (weight/bias gradients, the mean terms) and once for the input gradient."""
    ins = ev.inputs
    if base.endswith("_backward") and len(ins) >= 2:
        return read_bytes(ins[0]) + read_bytes(ins[1])
    if "batch_norm" in base and ins and any(a is True for a in ev.args[5:6]):
        return read_bytes(ins[0])
    return 0


def mixed_dtypes(inputs: Sequence[TensorMeta]) -> bool:
    dtypes = {t.dtype for t in inputs if t.dtype in ("float32", "bfloat16", "float16")}
    return "float32" in dtypes and len(dtypes) > 1


def is_misaligned(inputs: Sequence[TensorMeta], outputs: Sequence[TensorMeta]) -> bool:
    """Whether a matmul has a matrix dimension whose size in bytes is not a multiple of 16."""
    for t in (*inputs, *outputs):
        if len(t.shape) < 2:
            continue
        size = itemsize(t.dtype)
        if any(d > 1 and (d * size) % 16 for d in t.shape[-2:]):
            return True
    return False


def collect_tensors(value: Any, out: list[TensorMeta]) -> None:
    if isinstance(value, TensorMeta):
        out.append(value)
    elif isinstance(value, (tuple, list)):
        for v in value:
            collect_tensors(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            collect_tensors(v, out)
