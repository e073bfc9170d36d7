"""Parse what users type: input specs (``1x3x224x224``, ``1x128:int64``, ``ids=1x128:int64``) and
model specs (``pkg.module:attr``, ``path/to/file.py:Name``).

Parsing is separate from building: an :class:`InputSpec` is plain data; :func:`make_input` turns it
into a tensor on the requested device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import SpecError

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32, "fp32": torch.float32, "f32": torch.float32, "float": torch.float32,
    "float16": torch.float16, "fp16": torch.float16, "f16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float64": torch.float64, "fp64": torch.float64, "f64": torch.float64, "double": torch.float64,
    "int64": torch.int64, "i64": torch.int64, "long": torch.int64,
    "int32": torch.int32, "i32": torch.int32, "int": torch.int32,
    "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8,
    "bool": torch.bool,
}

#: A dimension above this is refused: no model input has 10^9 elements along one axis.
MAX_DIM = 1 << 31


def parse_dtype(text: str | torch.dtype | None) -> torch.dtype | None:
    if text is None or isinstance(text, torch.dtype):
        return text
    dtype = DTYPES.get(text.strip().lower().removeprefix("torch."))
    if dtype is None:
        raise SpecError(f"unknown dtype {text!r}",
                        fix=f"use one of {', '.join(sorted(set(DTYPES)))}")
    return dtype


def check_device(device: str | torch.device) -> str:
    """The device as text (``"meta"``, ``"cpu"``, ``"cuda:0"``), or a SpecError saying why it cannot be
    used: a name torch does not know, or an accelerator this machine does not have."""
    fix = "use meta (the default: nothing is allocated) or cpu, or an accelerator this machine has"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise SpecError(f"unknown device {str(device)!r}", fix=fix) from None
    if dev.type in ("meta", "cpu"):
        return str(dev)
    backend = getattr(torch, dev.type, None)
    available = getattr(backend, "is_available", None)
    if callable(available) and not available():
        raise SpecError(f"device {str(dev)!r} is not available: this torch {torch.__version__} sees no "
                        f"{dev.type} device", fix=fix)
    count = getattr(backend, "device_count", None)
    if dev.index is not None and callable(count) and dev.index >= count():
        raise SpecError(f"device {str(dev)!r} does not exist: {count()} {dev.type} device(s) found", fix=fix)
    return str(dev)


@dataclass(frozen=True)
class InputSpec:
    """One input: its shape, dtype, and the keyword name it is passed as (None: positional)."""

    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32
    name: str | None = None

    def __str__(self) -> str:
        text = "x".join(str(d) for d in self.shape) or "scalar"
        if self.dtype != torch.float32:
            text += ":" + str(self.dtype).removeprefix("torch.")
        return f"{self.name}={text}" if self.name else text


def check_shape(shape: Any, where: str = "input shape") -> tuple[int, ...]:
    """Validate a shape given as a sequence of ints."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise SpecError(f"{where} {shape!r} is not a sequence of integers",
                        fix="give a shape such as (1, 3, 224, 224)") from None
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int):
            raise SpecError(f"{where} {shape!r} has a non-integer dimension {d!r}",
                            fix="give integer sizes such as (1, 3, 224, 224)")
        if d < 0:
            raise SpecError(f"{where} {shape!r} has a negative dimension {d}", fix="sizes must be >= 0")
        if d > MAX_DIM:
            raise SpecError(f"{where} {shape!r} has an absurd dimension {d:,} (> 2**31)",
                            fix="check the size; did you type a number of elements instead of a shape?")
    return dims


def parse_input(text: str, default_dtype: torch.dtype = torch.float32) -> InputSpec:
    """``1x3x224x224``, ``1x128:int64``, ``input_ids=1x128:int64``, ``2,3``."""
    raw = text
    name = None
    if "=" in text:
        name, text = text.split("=", 1)
        name = name.strip()
        if not name.isidentifier():
            raise SpecError(f"input {raw!r}: {name!r} is not a valid keyword name",
                            fix="write NAME=SHAPE, e.g. input_ids=1x128:int64")
    dtype = default_dtype
    if ":" in text:
        text, dtype_text = text.rsplit(":", 1)
        parsed = parse_dtype(dtype_text)
        assert parsed is not None
        dtype = parsed
    text = text.strip()
    parts = [p for p in text.replace(",", "x").replace("*", "x").split("x")] if text else []
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise SpecError(f"input {raw!r} is not a shape",
                        fix="write sizes joined by 'x', e.g. 1x3x224x224 or 1x128:int64") from None
    return InputSpec(check_shape(dims, f"input {raw!r}"), dtype, name)


def make_input(spec: InputSpec, device: str | torch.device = "meta") -> torch.Tensor:
    """A tensor for ``spec``: meta tensors carry no data; real ones are random floats or zeros
    (integer inputs are zeros, which is a valid index for any embedding).

    Random inputs come from a private generator seeded with 0: the caller's global RNG is not
    consumed (a training script's reproducibility does not depend on whether it profiled), and two
    runs see the same inputs.
    """
    elements = math.prod(spec.shape)
    if elements * spec.dtype.itemsize >= 2**63:
        raise SpecError(f"input {spec} has {elements:,} elements, more bytes than PyTorch can address "
                        "(2**63)", fix="check the sizes; each dimension is a size, not a number of elements")
    if str(device) == "meta" or not (spec.dtype.is_floating_point or spec.dtype.is_complex):
        return torch.zeros(spec.shape, dtype=spec.dtype, device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    return torch.randn(spec.shape, dtype=spec.dtype, device=device, generator=generator)


def load_model(spec: str, *, device: str = "meta") -> nn.Module:
    """Build the model a spec names: ``pkg.module:attr`` or ``path/to/file.py:attr`` (an instance, used as
    is; a class or a factory, called with no arguments under ``torch.device(device)``). A shorthand for
    :func:`netcensus.load.load` with Python sources only."""
    from .load.python_source import load_python

    model = load_python(spec, (), {}, device).model
    assert model is not None
    return model
