"""What a user chooses, as one frozen, typed :class:`Options` built once at the boundary.

The API's keyword arguments and the command line's flags are both turned into an :class:`Options` by
:meth:`Options.build`, which validates every value once and raises :class:`~netcensus.errors.SpecError`
(or its subclass :class:`~netcensus.errors.MemoryConfigError`) naming the value and the valid ones.
Below the boundary only these typed values travel: no strings to parse again, no sentinels.

Nothing here imports torch.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..devices import DeviceSpec, get_gpu
from ..dtypes import ALIASES
from ..errors import SpecError
from .budget import parse_bytes
from .choices import OPTIMIZERS, Checkpointing, OptimizerSpec, Precision
from .sharding import Sharding, ShardStrategy


class Default(enum.Enum):
    """The value of an option the user left out, where the default depends on other options."""

    DEFAULT = "default"

    def __repr__(self) -> str:
        return "default"


TARGETS = ("cuda", "cpu")
"""The devices an estimate can be made for."""

DEFAULT = Default.DEFAULT
"""``optimizer=DEFAULT``: AdamW for a training step, none for inference."""

OptimizerArg = str | OptimizerSpec | None | Default
PrecisionArg = str | Precision | None
CheckpointingArg = str | Iterable[str] | Checkpointing | bool | None
ShardArg = str | Sharding | None


def _floating_dtype(name: object, option: str) -> str:
    """torch's name of a floating dtype the user typed (``fp32``, ``bf16``, ``float16``...)."""
    text = str(name).strip().lower().removeprefix("torch.") if isinstance(name, str) else ""
    canonical = ALIASES.get(text)
    if canonical not in ("float32", "float16", "bfloat16", "float64"):
        raise SpecError(f"{option} must be a floating dtype, got {name!r}",
                        fix="give fp32, bf16, fp16 or fp64 (e.g. fp32 for a model built in float32 on the "
                            "GPU and then cast)")
    return canonical


@dataclass(frozen=True)
class Options:
    """Every choice of one profile, validated."""

    train: bool = False
    mode: str | None = None
    """``"eval"``, ``"train"``, or None for the default (train with ``train``, else eval)."""
    depth: int | None = 3
    strict: bool = False
    optimizer: OptimizerSpec | None = None
    precision: Precision = Precision.FP32
    precision_given: bool = False
    """Whether the user asked for ``precision`` (else it is the model's own dtype)."""
    checkpointing: Checkpointing | None = None
    sharding: Sharding = Sharding()
    kv_context: int | None = None
    gpu: DeviceSpec | None = None
    """The GPU a step time is predicted for (None: no time model)."""
    gpu_compare: tuple[DeviceSpec, ...] = ()
    """Further GPUs to predict the same step on, side by side."""
    measured_step: float | None = None
    """A measured step time in seconds, compared with the prediction (achieved MFU)."""
    target: str = "cuda"
    """The device the estimate is for: ``"cuda"`` (default) or ``"cpu"``. It decides which kernels the
    trace routes to (fused attention, autocast op lists) and what the memory analysis adds for them."""
    weights_cast_from: str | None = None
    """The dtype (torch's name) the weights had when first allocated on the device, when they were cast
    there (``"float32"`` for a model built on the GPU and then cast to bf16); None: allocated in their
    own dtype. Only the reserved estimate depends on it."""

    def idle(self) -> list[str]:
        """Choices that change nothing for the step asked, one sentence each (the report prints them)."""
        out = []
        s = self.sharding
        if s.strategy not in (ShardStrategy.NONE, ShardStrategy.DDP) and s.devices == 1:
            out.append(f"sharding {s.strategy.value} over 1 device shards nothing: give the number of devices "
                       "(devices=N; CLI --devices N)")
        if not self.train and s.strategy in (ShardStrategy.DDP, ShardStrategy.ZERO1, ShardStrategy.ZERO2,
                                             ShardStrategy.FSDP_GRAD_OP) and s.devices > 1:
            out.append(f"sharding {s.strategy.value} changes nothing for inference: it shares out gradients "
                       "and optimizer state, which only a training step has (train=True; CLI --train)")
        return out

    @property
    def trace_mode(self) -> str:
        return self.mode or ("train" if self.train else "eval")

    @classmethod
    def build(
        cls,
        *,
        train: bool = False,
        mode: str | None = None,
        depth: int | None = 3,
        strict: bool = False,
        optimizer: OptimizerArg = DEFAULT,
        precision: PrecisionArg = None,
        model_precision: str = "fp32",
        checkpointing: CheckpointingArg = None,
        shard: ShardArg = None,
        devices: int = 1,
        kv_context: int | None = None,
        target: str = "cuda",
        gpu: str | DeviceSpec | None = None,
        gpu_compare: Iterable[str | DeviceSpec] = (),
        measured_step: float | None = None,
        weights_cast_from: str | None = None,
    ) -> Options:
        """Validate the keyword arguments of :func:`netcensus.profile` (``model_precision`` is the
        precision the model's own parameters have, used when ``precision`` is None)."""
        if mode not in (None, "eval", "train"):
            raise SpecError(f"mode must be 'eval', 'train' or None, got {mode!r}")
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 0):
            raise SpecError(f"depth must be a level >= 0 (0: the model alone, 1: its children, ...) or None "
                            f"for every level, got {depth!r}",
                            fix="give depth=0 or more, or depth=None for every level (CLI: --depth N, or --all)")
        if kv_context is not None and (isinstance(kv_context, bool) or not isinstance(kv_context, int)
                                       or kv_context < 0):
            raise SpecError(f"kv_context must be a number of tokens >= 0, got {kv_context!r}",
                            fix="give the context length the KV cache holds, e.g. kv_context=4096 "
                                "(CLI: --kv-context 4096)")
        if target not in TARGETS:
            raise SpecError(f"unknown target {target!r}", fix=f"use one of {', '.join(map(repr, TARGETS))}")
        if measured_step is not None:
            if isinstance(measured_step, bool) or not isinstance(measured_step, (int, float)) or \
                    not measured_step > 0:
                raise SpecError(f"measured_step must be a step time in seconds > 0, got {measured_step!r}",
                                fix="give the measured time of one step, e.g. measured_step=0.19 "
                                    "(CLI: --measured-step 0.19)")
            if gpu is None:
                raise SpecError("measured_step needs the GPU it was measured on",
                                fix="add gpu='H100 SXM' (CLI: --gpu NAME; --gpu list shows the names)")
        cast_from = _floating_dtype(weights_cast_from, "weights_cast_from") if weights_cast_from else None
        compare = tuple(get_gpu(g) for g in ([gpu_compare] if isinstance(gpu_compare, str) else gpu_compare))
        if optimizer is DEFAULT or optimizer == "default":
            optimizer = "adamw" if train else None
        elif isinstance(optimizer, str) and optimizer.strip().lower() == "none":
            optimizer = None
        return cls(
            train=bool(train), mode=mode, depth=depth, strict=bool(strict),
            optimizer=OptimizerSpec.parse(optimizer),
            precision=Precision.parse(precision if precision is not None else model_precision),
            precision_given=precision is not None,
            checkpointing=Checkpointing.parse(checkpointing),
            sharding=Sharding.parse(shard, devices), kv_context=kv_context, target=target,
            gpu=get_gpu(gpu) if gpu is not None else None, gpu_compare=compare,
            measured_step=float(measured_step) if measured_step is not None else None,
            weights_cast_from=cast_from,
        )

    def replace(self, **changes: Any) -> Options:
        from dataclasses import replace

        return replace(self, **changes)


__all__ = [
    "DEFAULT",
    "TARGETS",
    "OPTIMIZERS",
    "Checkpointing",
    "Default",
    "OptimizerSpec",
    "Options",
    "Precision",
    "ShardStrategy",
    "Sharding",
    "parse_bytes",
]
