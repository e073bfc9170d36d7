"""Named access to an op call's arguments, resolved through the op's schema.

Trace events keep arguments as the caller passed them (positional and keyword, defaults not filled).
A formula reads them by the names of the op's schema (``call.arg("is_causal")``); the schema is looked
up once per overload name from ``torch.ops``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch

from ..events import OpEvent, TensorMeta
from .cost import FormulaError

_MISSING = object()


@dataclass(frozen=True, slots=True)
class Signature:
    names: tuple[str, ...]
    """Argument names in schema order (positional ones first)."""
    defaults: dict[str, Any]


@functools.cache
def signature(op_name: str) -> Signature | None:
    """The schema of ``"aten.add.Tensor"`` as names and defaults; None when torch has no such op."""
    parts = op_name.split(".")
    if len(parts) != 3:
        return None
    namespace, name, overload = parts
    try:
        op = getattr(getattr(getattr(torch.ops, namespace), name), overload)
        arguments = op._schema.arguments
    except (AttributeError, RuntimeError):
        return None
    names = tuple(a.name for a in arguments)
    defaults = {a.name: a.default_value for a in arguments if a.has_default_value()}
    return Signature(names, defaults)


class Args:
    """Arguments of one call, addressable by schema name or position."""

    __slots__ = ("label", "args", "kwargs", "sig")

    def __init__(self, label: str, args: tuple[Any, ...], kwargs: dict[str, Any], sig: Signature | None):
        self.label = label
        self.args = args
        self.kwargs = kwargs
        self.sig = sig

    def arg(self, name: str, default: Any = _MISSING) -> Any:
        """The argument called ``name``: keyword, else positional by schema, else the schema default."""
        if name in self.kwargs:
            return self.kwargs[name]
        if self.sig is not None and name in self.sig.names:
            i = self.sig.names.index(name)
            if i < len(self.args):
                return self.args[i]
            if name in self.sig.defaults:
                return self.sig.defaults[name]
        if default is not _MISSING:
            return default
        raise FormulaError(f"{self.label}: no argument {name!r}")

    def tensor(self, name: str) -> TensorMeta:
        value = self.arg(name)
        if not isinstance(value, TensorMeta):
            raise FormulaError(f"{self.label}: argument {name!r} is not a tensor: {value!r}")
        return value

    def optional_tensor(self, name: str) -> TensorMeta | None:
        value = self.arg(name, None)
        return value if isinstance(value, TensorMeta) else None

    def shape(self, name: str) -> tuple[int, ...]:
        return self.tensor(name).shape


class Call(Args):
    """One traced op call as a formula sees it: its arguments, outputs and tags."""

    __slots__ = ("event",)

    def __init__(self, event: OpEvent):
        super().__init__(short_name(event.op), event.args, event.kwargs, signature(event.op))
        self.event = event

    @property
    def outputs(self) -> tuple[TensorMeta, ...]:
        return self.event.outputs

    def out(self, i: int = 0) -> TensorMeta:
        if i >= len(self.event.outputs):
            raise FormulaError(f"{self.label}: no output {i}")
        return self.event.outputs[i]

    def first_tensor(self) -> TensorMeta:
        inputs = self.event.inputs
        if not inputs:
            raise FormulaError(f"{self.label}: no tensor argument")
        return inputs[0]


@functools.lru_cache(maxsize=4096)
def short_name(op_name: str) -> str:
    """``"aten.addmm.default"`` -> ``"addmm"``; ``"aten.add.Tensor"`` -> ``"add.Tensor"``."""
    parts = op_name.split(".")
    if len(parts) == 3 and parts[0] == "aten":
        return parts[1] if parts[2] == "default" else f"{parts[1]}.{parts[2]}"
    return op_name
