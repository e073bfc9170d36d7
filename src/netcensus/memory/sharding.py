"""Data-parallel sharding of model states across devices: DDP, ZeRO-1/2/3, FSDP.

Notation: W, G, O are the bytes of weights, gradients and optimizer state of the whole model; S is the
size of the group the states are sharded over (``devices``, or ``node_size`` for hybrid sharding).
Per device (the ZeRO paper's P_os, P_os+g, P_os+g+p):

=================  ======  ======  ======
strategy           W       G       O
=================  ======  ======  ======
none, ddp          W       G       O
zero1              W       G       O/S
zero2, fsdp-grad   W       G/S     O/S
zero3, fsdp-full   W/S     G/S     O/S
fsdp-hybrid        W/S     G/S     O/S     with S = node_size (replicated across nodes)
=================  ======  ======  ======

Divisions round up to whole bytes. Buffers are never sharded. Activations are per device anyway
(each device runs its own micro-batch), so the trace's activations are the per-device ones.
What comes on top (see docs/memory.md): DDP's flat gradient buckets (another G unless
``gradient_as_bucket_view``), and for parameter sharding the all-gathered unsharded weights of the
unit being computed (and the one prefetched).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import MemoryConfigError


class ShardStrategy(enum.Enum):
    NONE = "none"
    DDP = "ddp"
    ZERO1 = "zero1"
    ZERO2 = "zero2"
    ZERO3 = "zero3"
    FSDP_FULL = "fsdp-full"
    FSDP_GRAD_OP = "fsdp-grad-op"
    FSDP_HYBRID = "fsdp-hybrid"
    FSDP_NO_SHARD = "fsdp-no-shard"

    @property
    def shards(self) -> tuple[bool, bool, bool]:
        """Whether (weights, gradients, optimizer state) are sharded."""
        if self in (ShardStrategy.NONE, ShardStrategy.DDP, ShardStrategy.FSDP_NO_SHARD):
            return (False, False, False)
        if self is ShardStrategy.ZERO1:
            return (False, False, True)
        if self in (ShardStrategy.ZERO2, ShardStrategy.FSDP_GRAD_OP):
            return (False, True, True)
        return (True, True, True)


_ALIASES = {"zero-1": "zero1", "zero-2": "zero2", "zero-3": "zero3", "fsdp": "fsdp-full",
            "full-shard": "fsdp-full", "fsdp-full-shard": "fsdp-full", "shard-grad-op": "fsdp-grad-op",
            "hybrid": "fsdp-hybrid", "hybrid-shard": "fsdp-hybrid", "fsdp-hybrid-shard": "fsdp-hybrid",
            "no-shard": "fsdp-no-shard", "p-os": "zero1", "p-os+g": "zero2", "p-os+g+p": "zero3"}


@dataclass(frozen=True)
class Sharding:
    """A sharding strategy over ``devices`` data-parallel devices."""

    strategy: ShardStrategy = ShardStrategy.NONE
    devices: int = 1
    node_size: int | None = None
    """Devices per node, for ``fsdp-hybrid`` (shard within a node, replicate across nodes)."""
    gradient_as_bucket_view: bool = False
    """DDP only: PyTorch's default (False) keeps flat gradient buckets beside ``.grad`` (another G)."""

    def __post_init__(self) -> None:
        if not isinstance(self.devices, int) or self.devices < 1:
            raise MemoryConfigError(f"devices must be a positive integer, got {self.devices!r}")
        if self.strategy is ShardStrategy.FSDP_HYBRID:
            if self.node_size is None or self.node_size < 1:
                raise MemoryConfigError("fsdp-hybrid needs node_size, the number of devices per node",
                                        fix="pass Sharding('fsdp-hybrid', devices=64, node_size=8) "
                                            "or shard='fsdp-hybrid:8'")

    @classmethod
    def parse(cls, value: Sharding | str | None, devices: int = 1) -> Sharding:
        if isinstance(value, Sharding):
            return value
        if value is None:
            return cls(ShardStrategy.NONE if devices == 1 else ShardStrategy.DDP, devices)
        text = str(value).strip().lower().replace("_", "-")
        node_size = None
        if ":" in text:
            text, _, size = text.partition(":")
            try:
                node_size = int(size)
            except ValueError:
                raise MemoryConfigError(f"bad node size in sharding {value!r}",
                                        fix="write it as 'fsdp-hybrid:8'") from None
        text = _ALIASES.get(text, text)
        for s in ShardStrategy:
            if s.value == text:
                return cls(s, devices, node_size)
        raise MemoryConfigError(f"unknown sharding {value!r}",
                                fix="use one of " + ", ".join(repr(s.value) for s in ShardStrategy))

    @property
    def group(self) -> int:
        """S: how many devices the sharded states are split over."""
        if self.strategy is ShardStrategy.FSDP_HYBRID:
            return min(self.devices, self.node_size or 1)
        return self.devices

    def divisors(self) -> tuple[int, int, int]:
        """(weights, gradients, optimizer) divisors."""
        s = self.group
        w, g, o = self.strategy.shards
        return (s if w else 1, s if g else 1, s if o else 1)

    @property
    def ddp_buckets(self) -> bool:
        return self.strategy is ShardStrategy.DDP and self.devices > 1 and not self.gradient_as_bucket_view

    def describe(self) -> str:
        w, g, o = self.divisors()
        text = f"{self.strategy.value} over {self.devices} device{'s' if self.devices != 1 else ''}"
        if self.strategy is ShardStrategy.FSDP_HYBRID:
            text += f" (sharded within nodes of {self.group})"
        return text + f": weights/{w}, gradients/{g}, optimizer state/{o}"


def per_device(total: int, divisor: int) -> int:
    """``ceil(total / divisor)``: a shard's bytes, rounded up to a whole byte."""
    return -(-total // divisor)


@dataclass(frozen=True)
class ModelStates:
    """Per-device bytes of the model states under a sharding."""

    weights: int
    gradients: int
    optimizer: int
    ddp_buckets: int = 0

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.ddp_buckets


def model_states(weights: int, gradients: int, optimizer: int, sharding: Sharding) -> ModelStates:
    """Per-device model states: the table of this module's docstring."""
    w, g, o = sharding.divisors()
    return ModelStates(per_device(weights, w), per_device(gradients, g), per_device(optimizer, o),
                       gradients if sharding.ddp_buckets else 0)
