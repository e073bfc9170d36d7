"""Read a ``.safetensors`` file's header: the tensors' names, dtypes, shapes and byte ranges.

The format is an 8-byte little-endian header length N, N bytes of JSON, then the tensor data. Only
the first 8 + N bytes are read, with no safetensors package: no tensor data is read and nothing is
executed. The header is checked against the file: every byte range lies inside the data section,
matches its shape and dtype, and no two ranges overlap; a violation is an error naming the file and
the tensor, since a truncated download is the usual cause.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import ModelLoadError
from .result import Loaded, TensorInfo

#: The safetensors reference implementation refuses headers above 100 MB.
MAX_HEADER = 100_000_000

#: safetensors dtype code -> (torch-style name, bits per element).
DTYPES: dict[str, tuple[str, int]] = {
    "BOOL": ("bool", 8), "U8": ("uint8", 8), "I8": ("int8", 8), "U16": ("uint16", 16), "I16": ("int16", 16),
    "F16": ("float16", 16), "BF16": ("bfloat16", 16), "U32": ("uint32", 32), "I32": ("int32", 32),
    "F32": ("float32", 32), "U64": ("uint64", 64), "I64": ("int64", 64), "F64": ("float64", 64),
    "C64": ("complex64", 64), "F8_E5M2": ("float8_e5m2", 8), "F8_E4M3": ("float8_e4m3fn", 8),
    "F8_E8M0": ("float8_e8m0fnu", 8), "E8M0": ("float8_e8m0fnu", 8), "F6_E2M3": ("float6_e2m3", 6),
    "F6_E3M2": ("float6_e3m2", 6), "F4": ("float4_e2m1", 4),
}


def _fail(path: str, what: str, fix: str = "copy or download the file again") -> ModelLoadError:
    return ModelLoadError(f"not a valid safetensors file: {what}", where=f"file {path!r}", fix=fix)


def read_header(path: str) -> tuple[list[TensorInfo], dict[str, str]]:
    """The tensors in file order and the ``__metadata__`` strings."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise _fail(path, f"it is {size} bytes long, shorter than the 8-byte header length")
        n = int.from_bytes(head, "little")
        if n > size - 8:
            raise _fail(path, f"the header length says {n:,} bytes of JSON follow, but the file holds only "
                              f"{size - 8:,} more bytes: it is truncated")
        if n > MAX_HEADER:
            raise _fail(path, f"the header length {n:,} exceeds the format's {MAX_HEADER:,}-byte limit")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path, f"its header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise _fail(path, f"its header is a JSON {type(header).__name__}, not an object")
    data_size = size - 8 - n
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise _fail(path, "__metadata__ is not an object of strings")
    tensors: list[TensorInfo] = []
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        info, begin, end = _entry(path, name, entry, data_size)
        tensors.append(info)
        spans.append((begin, end, name))
    spans.sort()
    for (b0, e0, n0), (b1, _e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise _fail(path, f"tensors {n0!r} (bytes {b0}-{e0}) and {n1!r} (from byte {b1}) overlap")
    return tensors, {str(k): str(v) for k, v in metadata.items()}


def _entry(path: str, name: str, entry: Any, data_size: int) -> tuple[TensorInfo, int, int]:
    if not isinstance(entry, dict):
        raise _fail(path, f"the entry of tensor {name!r} is not an object")
    code, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(code, str):
        raise _fail(path, f"tensor {name!r} has no dtype")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                              for d in shape):
        raise _fail(path, f"tensor {name!r} has shape {shape!r}, not a list of non-negative integers")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]):
        raise _fail(path, f"tensor {name!r} has data_offsets {offsets!r}, not [begin, end] with begin <= end")
    begin, end = offsets
    if end > data_size:
        raise _fail(path, f"tensor {name!r} ends at byte {end:,} of the data section, which holds only "
                          f"{data_size:,} bytes: the file is truncated")
    numel = 1
    for d in shape:
        numel *= d
    dtype_name, bits = DTYPES.get(code, (code.lower(), 0))
    if bits and (numel * bits + 7) // 8 != end - begin:
        raise _fail(path, f"tensor {name!r} is {code} of shape {shape}, {(numel * bits + 7) // 8:,} bytes, "
                          f"but its data_offsets span {end - begin:,} bytes")
    return TensorInfo(name, tuple(shape), dtype_name, end - begin), begin, end


def census_safetensors(path: str) -> Loaded:
    """A parameter-only :class:`Loaded` for the safetensors file at ``path``."""
    tensors, metadata = read_header(path)
    notes = [f"read the {len(tensors)}-tensor header only; no tensor data read, nothing executed"]
    unknown = sorted({t.dtype for t in tensors if t.dtype.upper() not in DTYPES and t.dtype not in
                      {v[0] for v in DTYPES.values()}})
    if unknown:
        notes.append(f"dtype codes unknown to netcensus: {', '.join(unknown)}; their bytes come from the "
                     "header's data_offsets")
    if metadata:
        shown = ", ".join(f"{k}={v}" for k, v in list(metadata.items())[:6])
        notes.append(f"metadata: {shown}" + (" ..." if len(metadata) > 6 else ""))
    return Loaded(None, None, f"{path} (safetensors, {len(tensors)} tensors)", tuple(notes), tuple(tensors),
                  source="safetensors")
