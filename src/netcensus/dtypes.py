"""Dtypes by name: the one table of element sizes, floating kinds and the spellings users type.

Everything below the tracer names a dtype by torch's spelling without ``torch.`` (``"bfloat16"``), so
results, events and analyses stay free of torch objects. Nothing here imports torch at import time.
"""

from __future__ import annotations

from collections.abc import Iterable

ITEMSIZE: dict[str, int] = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "complex128": 16, "complex64": 8,
    "complex32": 4, "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
    "uint16": 2, "uint32": 4, "uint64": 8, "float8_e4m3fn": 1, "float8_e5m2": 1, "float8_e4m3fnuz": 1,
    "float8_e5m2fnuz": 1,
}
"""Bytes per element of each dtype, by the name the trace uses (``str(dtype)`` without ``torch.``)."""

FLOATING = frozenset({"float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2",
                      "float8_e4m3fnuz", "float8_e5m2fnuz", "complex64", "complex128", "complex32"})
"""Dtypes whose tensors can require grad (floating and complex)."""

ALIASES: dict[str, str] = {
    "float32": "float32", "fp32": "float32", "f32": "float32", "float": "float32",
    "float16": "float16", "fp16": "float16", "f16": "float16", "half": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float64": "float64", "fp64": "float64", "f64": "float64", "double": "float64",
    "int64": "int64", "i64": "int64", "long": "int64",
    "int32": "int32", "i32": "int32", "int": "int32",
    "int16": "int16", "int8": "int8", "uint8": "uint8",
    "bool": "bool",
}
"""What users may type for an input dtype -> torch's name."""


def itemsize(dtype: str) -> int:
    """Bytes per element of ``dtype`` (a trace dtype name such as ``"bfloat16"``)."""
    size = ITEMSIZE.get(dtype)
    if size is None:  # a dtype this table does not list yet: ask torch once
        import torch

        size = torch.empty((), dtype=getattr(torch, dtype)).element_size()
        ITEMSIZE[dtype] = size
    return size


def numel(shape: Iterable[int]) -> int:
    """Elements of a tensor of ``shape`` (1 for a scalar)."""
    n = 1
    for d in shape:
        n *= d
    return n


def dtype_name(dtype: object) -> str:
    """``torch.bfloat16`` -> ``"bfloat16"``."""
    return str(dtype).removeprefix("torch.")
