"""User choices of the memory analysis, as small typed objects that validate themselves.

Each ``parse`` accepts the object itself or its usual spelling and raises :class:`MemoryConfigError`
listing the valid values otherwise.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

from ..errors import MemoryConfigError


def _valid(values: Iterable[str], given: object = None) -> str:
    """``'a', 'b', 'c'``, led by a did-you-mean when ``given`` is close to one of them."""
    values = list(values)
    text = ", ".join(repr(v) for v in values)
    if isinstance(given, str):
        close = get_close_matches(given.strip().lower(), values, n=1, cutoff=0.6)
        if close:
            return f"{text} (did you mean {close[0]!r}?)"
    return text


class Precision(enum.Enum):
    """Where weights live and in which dtype the matmul-like ops run.

    * ``fp32`` / ``fp64`` / ``fp16`` / ``bf16``: weights, gradients, optimizer state and compute all in
      that dtype (the model must be traced with its floating parameters in that dtype).
    * ``bf16-mixed`` / ``fp16-mixed``: compute in the low dtype through autocast (emulated on meta
      tensors, see :mod:`netcensus.trace.contexts.autocast`). The fp32 master weights are the parameters
      themselves when they are float32 (PyTorch AMP); when the parameters are low precision (Apex O2,
      DeepSpeed, the ZeRO paper), the optimizer holds a float32 master copy, counted in its state.
    """

    FP32 = "fp32"
    FP64 = "fp64"
    FP16 = "fp16"
    BF16 = "bf16"
    FP16_MIXED = "fp16-mixed"
    BF16_MIXED = "bf16-mixed"

    @classmethod
    def parse(cls, value: Precision | str | None) -> Precision:
        if value is None:
            return cls.FP32
        if isinstance(value, Precision):
            return value
        text = str(value).strip().lower().replace("_", "-")
        text = {"float32": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16",
                "float64": "fp64", "double": "fp64",
                "amp-bf16": "bf16-mixed", "amp-fp16": "fp16-mixed", "bf16-amp": "bf16-mixed",
                "fp16-amp": "fp16-mixed"}.get(text, text)
        for p in cls:
            if p.value == text:
                return p
        raise MemoryConfigError(f"unknown precision {value!r}",
                                fix=f"use one of {_valid((p.value for p in cls), value)}")

    @property
    def mixed(self) -> bool:
        return self in (Precision.FP16_MIXED, Precision.BF16_MIXED)

    @property
    def compute_dtype(self) -> str:
        """The dtype matmul-like ops run in."""
        return {"fp32": "float32", "fp64": "float64", "fp16": "float16", "bf16": "bfloat16",
                "fp16-mixed": "float16",
                "bf16-mixed": "bfloat16"}[self.value]

    @property
    def weight_dtype(self) -> str | None:
        """The dtype the parameters must have in a pure-precision trace; None for mixed policies."""
        return None if self.mixed else self.compute_dtype


OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("SGD", {"lr": 0.1}),
    "sgd-momentum": ("SGD", {"lr": 0.1, "momentum": 0.9}),
    "adam": ("Adam", {}),
    "adamw": ("AdamW", {}),
    "adagrad": ("Adagrad", {}),
    "rmsprop": ("RMSprop", {}),
    "adamax": ("Adamax", {}),
    "nadam": ("NAdam", {}),
    "radam": ("RAdam", {}),
    "adadelta": ("Adadelta", {}),
    "rprop": ("Rprop", {}),
    "adam8bit": ("", {}),
}
"""Accepted optimizer names -> (torch.optim class name, default keyword arguments). ``adam8bit`` is
bitsandbytes' blockwise 8-bit Adam, counted by formula (see :mod:`netcensus.analyses.memory.optimizer`)."""


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer by name, with keyword arguments for its constructor (``momentum=0.9``...)."""

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        key = self.name.strip().lower().replace("_", "-")
        if key not in OPTIMIZERS:
            raise MemoryConfigError(f"unknown optimizer {self.name!r}",
                                    fix=f"use one of {_valid(OPTIMIZERS, self.name)}, or 'none' (None in Python) "
                                        "for no optimizer state")
        object.__setattr__(self, "name", key)
        object.__setattr__(self, "kwargs", dict(self.kwargs))

    @classmethod
    def parse(cls, value: OptimizerSpec | str | None, **kwargs: Any) -> OptimizerSpec | None:
        if value is None:
            return None
        if isinstance(value, OptimizerSpec):
            return value if not kwargs else cls(value.name, {**value.kwargs, **kwargs})
        if isinstance(value, str):
            return cls(value, kwargs)
        raise MemoryConfigError(f"optimizer must be a name or an OptimizerSpec, got {type(value).__name__}",
                                fix=f"use one of {_valid(OPTIMIZERS)}, or 'none' (None in Python)")

    @property
    def torch_class(self) -> str:
        return OPTIMIZERS[self.name][0]

    def constructor_kwargs(self) -> dict[str, Any]:
        """The defaults of the name, overridden by the user's keyword arguments."""
        return {**OPTIMIZERS[self.name][1], **self.kwargs}

    def describe(self) -> str:
        if self.name == "adam8bit":
            text = "bitsandbytes Adam8bit (blockwise)"
        else:
            text = f"torch.optim.{self.torch_class}"
        kw = self.constructor_kwargs()
        if kw:
            text += "(" + ", ".join(f"{k}={v!r}" for k, v in sorted(kw.items())) + ")"
        return text


_CHECKPOINT_KEYWORDS = {"all": True, "blocks": True, "none": False, "off": False}
"""Words that stand for a choice rather than a module: every block (True), or no checkpointing."""


@dataclass(frozen=True)
class Checkpointing:
    """Which module calls run under activation checkpointing (non-reentrant ``torch.utils.checkpoint``).

    ``targets`` holds module class names and/or module paths; the special value ``"all"`` (or
    ``"blocks"``) means every *block*: the outermost modules that are numbered children of a container
    (``layers.0``, ``layers.1``...) repeated with the same class at least twice (transformer layers,
    ResNet blocks); ``"none"``/``"off"`` mean no checkpointing. ``parse`` checks the form only; whether
    the names match modules of a model is :func:`netcensus.analyses.memory.checkpoint.check_targets`' question.
    """

    targets: frozenset[str]
    all_blocks: bool = False

    @classmethod
    def parse(cls, value: Checkpointing | str | Iterable[str] | bool | None) -> Checkpointing | None:
        if value is None or value is False:
            return None
        if isinstance(value, Checkpointing):
            return value
        if value is True:
            return cls(frozenset(), True)
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, Iterable):
            items = []
            for v in value:
                if isinstance(v, type):
                    items.append(v.__name__)
                elif isinstance(v, str):
                    if v.strip():
                        items.append(v.strip())
                else:
                    raise MemoryConfigError(
                        f"checkpointing targets must be module class names or paths, got {v!r}",
                        fix="pass None, 'all', or a set such as {'LlamaDecoderLayer'} or {'model.layers.0'}")
        else:
            raise MemoryConfigError(
                f"checkpointing must be None, 'all', or module class names or paths, got {value!r}",
                fix="pass None, 'all', or a set such as {'LlamaDecoderLayer'} or {'model.layers.0'}")
        keywords = [v for v in items if v.lower() in _CHECKPOINT_KEYWORDS]
        if keywords:
            if len(items) > 1:
                raise MemoryConfigError(
                    f"checkpointing {keywords[0]!r} cannot be combined with module names "
                    f"({', '.join(repr(v) for v in items if v not in keywords)})",
                    fix="pass 'all' alone for every block, or only module class names and/or paths")
            return cls(frozenset(), True) if _CHECKPOINT_KEYWORDS[keywords[0].lower()] else None
        if not items:
            return None
        return cls(frozenset(items), False)

    def describe(self) -> str:
        if self.all_blocks:
            return "all blocks"
        return ", ".join(sorted(self.targets))
