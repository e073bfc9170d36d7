"""The data-parallel sharding a user chooses: a strategy over a number of devices (see
:mod:`netcensus.analyses.memory.sharding` for what each keeps per device)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..errors import MemoryConfigError
from .choices import _valid


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
                                fix="use one of " + _valid((s.value for s in ShardStrategy), text))

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
