"""Inputs as users give them: specs they type (``1x3x224x224``, ``1x128:int64``, ``ids=1x128:int64``),
shapes, or tensors, turned into the ``(args, kwargs)`` a forward takes.

Parsing is separate from building: an :class:`InputSpec` is plain data; :func:`make_input` turns it
into a tensor on the requested device; :func:`build_inputs` does both for the API's arguments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..dtypes import ALIASES, dtype_name
from ..errors import SpecError
from ..units import shape

DTYPES: dict[str, torch.dtype] = {name: getattr(torch, canonical) for name, canonical in ALIASES.items()}
"""What users may type for an input dtype -> the torch dtype (the names of :data:`netcensus.dtypes.ALIASES`)."""

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


def batch_of(args: tuple, kwargs: dict) -> int:
    """The batch size of the inputs: the first dimension of the first tensor."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return int(value.shape[0])
    return 1


def build_inputs(inputs: Any, input_size: Any, dtype: Any, device: str) -> tuple[tuple, dict, str]:
    if inputs is not None and input_size is not None:
        raise SpecError("both inputs= and input_size= were given", fix="give one of them")
    if inputs is not None:
        args: tuple[Any, ...]
        kwargs: dict[str, Any]
        if isinstance(inputs, Mapping):
            args, kwargs = (), dict(inputs)
        elif isinstance(inputs, tuple) and not hasattr(inputs, "_fields"):
            args, kwargs = inputs, {}
        elif isinstance(inputs, list) and inputs and all(isinstance(x, torch.Tensor) for x in inputs):
            args, kwargs = tuple(inputs), {}
        else:
            args, kwargs = (inputs,), {}
        if device != "meta":
            check_real(enumerate(_live_tensors((args, kwargs))), "input tensor", device)
        return args, kwargs, describe_values(args, kwargs)
    if input_size is None:
        raise SpecError("no inputs were given",
                        fix="pass inputs=tensor(s) or input_size=(1, 3, 224, 224) (CLI: --input 1x3x224x224)")
    specs = input_specs(input_size, dtype)
    return (tuple(make_input(s, device) for s in specs if s.name is None),
            {s.name: make_input(s, device) for s in specs if s.name is not None},
            ", ".join(_describe_spec(s) for s in specs))


def _live_tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _live_tensors(v)]
    return []


def check_real(named: Any, what: str, device: str) -> None:
    """A run on a real device copies values; meta tensors have none."""
    for name, t in named:
        if t.device.type == "meta":
            raise SpecError(f"{what} {name!r} is on the meta device, which holds no values, so it cannot "
                            f"run on {device}",
                            fix="profile on meta (the default device, which needs no values), or build the "
                                "model and inputs on a real device")


def input_specs(input_size: Any, dtype: Any) -> list[InputSpec]:
    if isinstance(input_size, (str, InputSpec)) or (
        isinstance(input_size, Sequence) and all(isinstance(d, (int, float)) and not isinstance(d, bool)
                                                 for d in input_size)
    ):  # one shape (a float in it is then named as a non-integer dimension), else a list of them
        items = [input_size]
    elif isinstance(input_size, Sequence):
        items = list(input_size)
    else:
        raise SpecError(f"input_size {input_size!r} is not a shape or a list of shapes",
                        fix="give input_size=(1, 3, 224, 224) or [(1, 3), (1, 5)]")
    if dtype is None or isinstance(dtype, (str, torch.dtype)):
        dtypes = [parse_dtype(dtype)] * len(items)
    else:
        dtypes = [parse_dtype(d) for d in dtype]
        if len(dtypes) != len(items):
            raise SpecError(f"{len(dtypes)} dtypes for {len(items)} inputs", fix="give one dtype per input")
    specs = []
    for item, dt in zip(items, dtypes):
        if isinstance(item, InputSpec):
            specs.append(item)
        elif isinstance(item, str):
            specs.append(parse_input(item, dt or torch.float32))
        else:
            specs.append(InputSpec(check_shape(item), dt or torch.float32))
    return specs


def _describe_spec(s: InputSpec) -> str:
    text = f"{shape(s.shape)} {dtype_name(s.dtype)}"
    return f"{s.name}={text}" if s.name else text


def describe_values(args: tuple, kwargs: dict) -> str:
    parts = []
    for v in args:
        parts.append(_describe_value(v))
    for k, v in kwargs.items():
        parts.append(f"{k}={_describe_value(v)}")
    return ", ".join(parts)


def _describe_value(v: Any) -> str:
    if isinstance(v, torch.Tensor):
        return f"{shape(tuple(v.shape))} {dtype_name(v.dtype)}"
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(_describe_value(x) for x in v) + ")"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k}: {_describe_value(x)}" for k, x in v.items()) + "}"
    return repr(v)
