"""The compute census's result (:func:`netcensus.analyses.compute.analyze_compute`), re-exported by
:mod:`netcensus.analyses.compute`. See that module for the conventions (MACs, FLOPs, core MACs,
coverage, inclusive module figures)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figures:
    """MACs, FLOPs and core MACs of something."""

    macs: int = 0
    flops: int = 0
    core_macs: int = 0

    def __add__(self, other: Figures) -> Figures:
        return Figures(self.macs + other.macs, self.flops + other.flops, self.core_macs + other.core_macs)


@dataclass(frozen=True, slots=True)
class ComputeFigures:
    """Figures split by phase, dense and causal-aware."""

    forward: Figures
    backward: Figures
    total: Figures
    causal_forward: Figures
    """Causal-aware: causal attention counts only its unmasked query/key pairs."""
    causal_backward: Figures
    causal_total: Figures


@dataclass(frozen=True, slots=True)
class CostItem:
    """One counted (or unsupported) thing: an op call, or a region call in one phase."""

    op: str
    """The aten op name (``"aten.mm.default"``), or the region's name for a region."""
    module: str
    phase: str
    status: str
    """``counted``, ``unsupported`` or ``region``."""
    figures: Figures
    causal: Figures
    """The causal-aware figures (equal to ``figures`` unless this is causal attention)."""
    formula: str
    """The formula with the numbers bound; for unsupported calls, why."""
    event: int | None = None
    """Index of the event (None for a region item)."""
    region: int | None = None
    """Index of the region (for a region item, or an op event counted on its own inside a region)."""


@dataclass(frozen=True, slots=True)
class OpRow:
    """All calls of one op with one status."""

    op: str
    status: str
    """``counted``, ``zero``, ``unsupported``, ``region`` or ``via_region`` (counted by its region)."""
    calls: int
    forward_calls: int
    backward_calls: int
    figures: Figures
    causal: Figures
    formula: str
    """The formula of the first call (an example), the zero category, or why it is unsupported."""
    modules: tuple[str, ...]
    """Modules the op ran in, in order of first call."""


@dataclass(frozen=True, slots=True)
class ModuleCompute:
    """Inclusive figures of one module path (its own ops and all its descendants')."""

    path: str
    figures: ComputeFigures
    own: Figures
    """Figures of the ops attributed to this module itself (exclusive), both phases, dense."""
    counted_calls: int
    """Counted op calls and region items, inclusive."""
    unsupported_calls: int
    """Unsupported op calls, inclusive."""


@dataclass(frozen=True, slots=True)
class Coverage:
    """How completely the trace was counted, in op calls."""

    counted: int
    zero: int
    unsupported: int
    via_region: int
    """Op calls inside a region that was counted as a whole."""
    regions: int
    """Region items counted (one per region and phase)."""
    unsupported_by_op: dict[str, int]
    unsupported_by_module: dict[str, dict[str, int]]
    """Module path (where the calls ran, exclusive) -> op -> calls."""
    reasons: dict[str, str]
    """Unsupported op -> why (no formula, or the formula's error)."""

    @property
    def complete(self) -> bool:
        return self.unsupported == 0


@dataclass(frozen=True, slots=True)
class ComputeResult:
    """Everything :func:`netcensus.analyses.compute.analyze_compute` finds."""

    totals: ComputeFigures
    modules: dict[str, ModuleCompute]
    """Module path -> inclusive figures; ``""`` is the root and equals ``totals``."""
    by_op: tuple[OpRow, ...]
    coverage: Coverage
    items: tuple[CostItem, ...]
    """Every counted or unsupported op call and region item, in trace order; they sum to the totals."""
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        from ..units import exact, si

        t, c = self.totals, self.coverage
        phases = f"forward {si(t.forward.flops)}"
        if t.backward.flops:
            phases += f", backward {si(t.backward.flops)}"
        return (f"ComputeResult(FLOPs {si(t.total.flops)} ({phases}), MACs {si(t.total.macs)}; "
                f"{exact(c.counted + c.via_region)} op calls counted, {exact(c.zero)} zero, "
                f"{exact(c.unsupported)} unsupported; {len(self.modules)} modules, "
                f"{len(self.by_op)} op rows)")

    __str__ = __repr__
