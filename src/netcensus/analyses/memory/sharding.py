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

from dataclasses import dataclass

from ...options.sharding import Sharding


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
