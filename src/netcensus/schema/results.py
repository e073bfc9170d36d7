"""Light, torch-free twins of the analysis results, rebuilt from a saved JSON profile.

A profile loaded from JSON (``Profile.from_dict``) cannot hold the analyses' own result classes:
:mod:`netcensus.analyses.compute` and :mod:`netcensus.memory` import torch at module import time, and
``netcensus show FILE.json`` must work without torch. These frozen dataclasses carry the same field
names, so every renderer reads a loaded profile exactly as a live one. What the JSON does not keep
(per-op-call cost items, per-module compute figures: the layer rows have them) is empty here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def _pick(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``data`` that are fields of ``cls`` (newer minor schema versions may add keys)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class Figures:
    macs: int = 0
    flops: int = 0
    core_macs: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Figures:
        return cls(**_pick(cls, data or {}))


@dataclass(frozen=True)
class ComputeFigures:
    forward: Figures
    backward: Figures
    total: Figures
    causal_forward: Figures
    causal_backward: Figures
    causal_total: Figures

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComputeFigures:
        return cls(**{f.name: Figures.from_dict(data.get(f.name)) for f in fields(cls)})


@dataclass(frozen=True)
class OpRow:
    op: str
    status: str
    calls: int
    forward_calls: int
    backward_calls: int
    figures: Figures
    causal: Figures
    formula: str
    modules: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpRow:
        d = _pick(cls, data)
        d["figures"] = Figures.from_dict(d.get("figures"))
        d["causal"] = Figures.from_dict(d.get("causal"))
        d["modules"] = tuple(d.get("modules", ()))
        return cls(**d)


@dataclass(frozen=True)
class Coverage:
    counted: int
    zero: int
    unsupported: int
    via_region: int
    regions: int
    unsupported_by_op: dict[str, int]
    unsupported_by_module: dict[str, dict[str, int]]
    reasons: dict[str, str]

    @property
    def complete(self) -> bool:
        return self.unsupported == 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Coverage:
        return cls(**_pick(cls, data))


@dataclass(frozen=True)
class ComputeSummary:
    """What a saved profile keeps of :class:`netcensus.analyses.compute.ComputeResult`."""

    totals: ComputeFigures
    by_op: tuple[OpRow, ...]
    coverage: Coverage
    notes: tuple[str, ...] = ()
    modules: dict[str, Any] = field(default_factory=dict)
    """Not saved (the layer rows carry each module's figures); empty."""
    items: tuple[Any, ...] = ()
    """Not saved (one item per op call); empty."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComputeSummary:
        return cls(
            totals=ComputeFigures.from_dict(data["totals"]),
            by_op=tuple(OpRow.from_dict(r) for r in data.get("by_op", ())),
            coverage=Coverage.from_dict(data["coverage"]),
            notes=tuple(data.get("notes", ())),
        )


@dataclass(frozen=True)
class Assumption:
    name: str
    value: str
    meaning: str


@dataclass(frozen=True)
class PeakPoint:
    bytes: int
    phase: str
    event: int | None
    module: str
    op: str
    breakdown: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ModuleMemory:
    path: str
    type: str
    calls: int
    saved: int
    saved_total: int
    forward_peak: int
    backward_peak: int | None
    checkpointed: bool = False


@dataclass(frozen=True)
class MemorySummary:
    """The fields of :class:`netcensus.memory.MemoryResult`, rebuilt from JSON."""

    mode: str
    weights: int
    buffers: int
    inputs: int
    gradients: int
    optimizer: int
    activations: int
    weight_copies: int
    temporaries: int
    forward_end: int
    peak: int
    inference_peak: int | None
    training_peak: int | None
    peak_at: PeakPoint
    optimizer_host: int = 0
    optimizer_breakdown: dict[str, int] = field(default_factory=dict)
    optimizer_step_temporaries: int = 0
    step_peak: int | None = None
    totals: dict[str, int] = field(default_factory=dict)
    devices: int = 1
    recompute_flops: int | None = None
    checkpointed: tuple[str, ...] = ()
    modules: tuple[ModuleMemory, ...] = ()
    assumptions: tuple[Assumption, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def model_states(self) -> int:
        return self.weights + self.gradients + self.optimizer

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemorySummary:
        d = _pick(cls, data)
        d["peak_at"] = PeakPoint(**_pick(PeakPoint, d["peak_at"]))
        d["checkpointed"] = tuple(d.get("checkpointed", ()))
        d["modules"] = tuple(ModuleMemory(**_pick(ModuleMemory, m)) for m in d.get("modules", ()))
        d["assumptions"] = tuple(Assumption(**_pick(Assumption, a)) for a in d.get("assumptions", ()))
        d["notes"] = tuple(d.get("notes", ()))
        return cls(**d)


@dataclass(frozen=True)
class KVLayer:
    module: str
    kv_heads: int
    head_dim_k: int
    head_dim_v: int
    dtype: str
    bytes: int


@dataclass(frozen=True)
class KVCache:
    bytes: int
    batch: int
    context: int
    layers: int
    per_layer: tuple[KVLayer, ...]
    formula: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KVCache:
        d = _pick(cls, data)
        d["per_layer"] = tuple(KVLayer(**_pick(KVLayer, x)) for x in d.get("per_layer", ()))
        return cls(**d)
