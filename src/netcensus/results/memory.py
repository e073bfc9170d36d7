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
    target: str = "cpu"
    """The device the figures are for: ``"cpu"`` (exact storage bytes) or ``"cuda"`` (allocator
    rounding and library workspaces included; ``first_step_peak`` and ``reserved`` estimated)."""
    first_step_peak: int | None = None
    """CUDA: the first step's peak (no optimizer state during its forward and backward; workspaces from
    their first use). ``peak`` is the steady-state peak (the second step on)."""
    reserved: int | None = None
    """CUDA: segments the caching allocator holds at the steady-state peak
    (``torch.cuda.max_memory_reserved``); what nvidia-smi shows, less the CUDA context."""
    workspaces: int = 0
    """CUDA: cuBLAS workspaces kept (in ``peak``)."""
    rounding: int = 0
    """CUDA: bytes the allocator's 512-byte rounding adds to model states (in ``peak``)."""
    measured: dict[str, int] = field(default_factory=dict)
    """A real run on a CUDA device: what the allocator measured (``max_memory_allocated``,
    ``max_memory_reserved``), beside the estimate; empty otherwise."""

    @property
    def model_states(self) -> int:
        return self.weights + self.gradients + self.optimizer

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def _where(self) -> str:
        at = self.peak_at
        parts = [at.phase] + ([at.module or "<root>"] if at.phase in ("forward", "backward") else [])
        return ", ".join(parts + ([at.op] if at.op and at.phase != "optimizer step" else []))

    def _figures(self) -> list[tuple[str, int]]:
        out = [("weights", self.weights), ("buffers", self.buffers), ("inputs", self.inputs)]
        if self.mode == "training":
            out += [("gradients", self.gradients), ("optimizer state", self.optimizer),
                    ("activations saved for backward", self.activations),
                    ("low-precision weight copies", self.weight_copies)]
        return [(k, v) for k, v in out if v or k in ("weights", "inputs")] + [("temporaries at the peak",
                                                                                 self.temporaries)]

    def __repr__(self) -> str:
        """One line: ``MemoryResult(training step: peak 20.05 GiB at ...; weights 3.99 GiB, ...)``."""
        from ..units import nbytes

        per = f", per device of {self.devices}" if self.devices > 1 else ""
        keep = ("weights", "gradients", "optimizer state", "activations saved for backward")
        parts = ", ".join(f"{k.split(' saved')[0]} {nbytes(v)}" for k, v in self._figures() if k in keep)
        return (f"MemoryResult({self.mode} step{per}: peak {nbytes(self.peak)} at {self._where()}; {parts}; "
                f"{len(self.assumptions)} assumptions: print() shows them)")

    def __str__(self) -> str:
        """The breakdown, then every assumption with what it means, then the notes."""
        from ..units import exact, nbytes

        per = f", per device of {self.devices}" if self.devices > 1 else ""
        lines = [f"Memory ({self.mode} step{per}; bytes exact, IEC units):"]
        rows = self._figures() + [("peak", self.peak)]
        lines += [f"  {k:<32}{exact(v):>18} B  {nbytes(v):>11}" for k, v in rows]
        lines[-1] += f"  at {self._where()}"
        lines += ["Assumptions:"] + [f"  {a.name} = {a.value}: {a.meaning}" for a in self.assumptions]
        return "\n".join(lines + [f"note: {n}" for n in self.notes])
