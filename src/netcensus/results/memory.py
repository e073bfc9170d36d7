"""The result of the memory analysis (:func:`netcensus.analyses.memory.analyze_memory`): plain, frozen,
JSON-friendly data, re-exported by :mod:`netcensus.analyses.memory`.

All figures are bytes (ints). With sharding, model-state figures and peaks are per device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Assumption:
    """One named input of the estimate, printed beside the numbers."""

    name: str
    value: str
    meaning: str


@dataclass(frozen=True)
class PeakPoint:
    """Where live memory was highest, and what it was made of."""

    bytes: int
    phase: str
    """``"start"``, ``"forward"``, ``"backward"`` or ``"optimizer step"``."""
    event: int | None
    """Index of the trace event at the peak (None for start and the optimizer step)."""
    module: str
    op: str
    breakdown: dict[str, int] = field(default_factory=dict)
    """Bytes per category at the peak (see :mod:`netcensus.analyses.memory.timeline`)."""


@dataclass(frozen=True)
class ModuleMemory:
    """Memory seen from one module path (all its calls)."""

    path: str
    type: str
    calls: int
    saved: int
    """Bytes saved for backward by the module's own ops (not its children's), each storage counted
    at the first module that saves it; parameters, buffers, inputs and weight copies excluded."""
    saved_total: int
    """``saved`` summed over the module and everything under it."""
    forward_peak: int
    """Highest live bytes (everything on the device) while its forward runs."""
    backward_peak: int | None
    """Highest live bytes while autograd runs its backward (None without backward)."""
    checkpointed: bool = False


@dataclass(frozen=True)
class MemoryResult:
    """Weights, gradients, optimizer state, activations and peak of one traced step."""

    mode: str
    """``"inference"`` or ``"training"`` (from the trace)."""
    weights: int
    buffers: int
    inputs: int
    gradients: int
    optimizer: int
    """Optimizer state on the device (with float32 master weights when the optimizer keeps them)."""
    activations: int
    """Bytes saved for backward and held at the end of the forward, deduplicated by storage,
    excluding parameters, buffers, model inputs and weight copies (0 for inference)."""
    weight_copies: int
    """Low-precision copies of the weights made by autocast, at most alive at once."""
    temporaries: int
    """Bytes at the peak that are neither model state, inputs, outputs nor saved tensors."""
    forward_end: int
    """Live bytes when the forward has returned (what the backward starts from)."""
    peak: int
    """Highest live bytes of the traced step (per device)."""
    inference_peak: int | None
    training_peak: int | None
    peak_at: PeakPoint
    optimizer_host: int = 0
    """Optimizer state PyTorch keeps on the host (step counters), not in ``optimizer``."""
    optimizer_breakdown: dict[str, int] = field(default_factory=dict)
    optimizer_step_temporaries: int = 0
    step_peak: int | None = None
    """Live bytes during the optimizer step (training only)."""
    totals: dict[str, int] = field(default_factory=dict)
    """Unsharded model states: ``weights``, ``gradients``, ``optimizer``."""
    devices: int = 1
    recompute_flops: int | None = None
    """Extra forward FLOPs of activation checkpointing (when module FLOPs were given)."""
    checkpointed: tuple[str, ...] = ()
    modules: tuple[ModuleMemory, ...] = ()
    assumptions: tuple[Assumption, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def model_states(self) -> int:
        return self.weights + self.gradients + self.optimizer

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
