"""Compute census of a trace: MACs, FLOPs and core MACs per op call, attributed to modules.

``analyze_compute(trace)`` is a pure function of a :class:`~netcensus.events.Trace`. Its result,
:class:`ComputeResult` and its parts, is defined in :mod:`netcensus.results.compute` (torch-free, so
a profile loaded from JSON holds the same classes) and re-exported here.

Conventions (docs/conventions.md has the full list)
---------------------------------------------------
* A MAC is one multiply-accumulate, 1 MAC = 2 FLOPs. ``core_macs`` counts conv, linear, matmul and
  attention products only; ``macs`` adds other sums of products (interpolation weights); ``flops``
  counts everything, by the per-op formulas of :mod:`netcensus.ops`.
* Every op call is *counted* (a formula), *zero* by definition (views, copies, allocation...), or
  *unsupported* (no formula: tallied per op and per module, never a silent zero).
* A watched-function call (``Trace.regions``, e.g. ``scaled_dot_product_attention``) with a region
  formula is counted as a whole, once per phase; the op calls inside it are ``via_region`` and not
  counted again. A region without a formula leaves its ops to be counted one by one.
* Figures of a module are *inclusive*: a module's figures include its children's, the root ``""``
  equals the total, and the items sum to the root.
* Forward and backward are split; the causal-aware figures count only the unmasked query/key pairs
  of causal attention (equal to the dense figures where there is none).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

from ..events import BACKWARD, FORWARD, Trace
from ..ops import COUNTED, UNSUPPORTED, ZERO, FormulaError, OpCost, evaluate, evaluate_region
from ..results.compute import ComputeFigures, ComputeResult, CostItem, Coverage, Figures, ModuleCompute, OpRow

REGION = "region"
VIA_REGION = "via_region"

RegionKey = tuple[int, str]


ZERO_FIGURES = Figures()


def _figures(cost: OpCost) -> Figures:
    return Figures(cost.macs, cost.flops, cost.core_macs)


def analyze_compute(trace: Trace) -> ComputeResult:
    """Count every op call of ``trace`` and attribute it to modules (see the module docstring)."""
    notes: list[str] = []
    region_items, region_phases = _region_items(trace, notes)
    items: list[CostItem] = []
    rows = _Rows()
    emitted: set[tuple[int, str]] = set()
    counts: Counter[str] = Counter()
    unsupported_by_op: Counter[str] = Counter()
    unsupported_by_module: dict[str, Counter[str]] = defaultdict(Counter)
    reasons: dict[str, str] = {}

    for ev in trace.events:
        key: RegionKey | None = (ev.region, ev.phase) if ev.region is not None else None
        if key is not None and key in region_phases:
            if key not in emitted:
                emitted.add(key)
                item = region_items[key]
                items.append(item)
                rows.add(item.op, REGION, item.phase, item.module, item.figures, item.causal, item.formula)
            counts[VIA_REGION] += 1
            index = ev.region if ev.region is not None else -1
            rows.count(ev.op, VIA_REGION, ev.phase, ev.module,
                       _later("counted by its region ({} #{})", trace.regions[index].name, index))
            continue
        result = evaluate(ev)
        counts[result.status] += 1
        if result.status == ZERO:
            rows.count(ev.op, ZERO, ev.phase, ev.module, _later("zero by definition ({})", result.reason))
            continue
        if result.status == UNSUPPORTED or result.cost is None:
            unsupported_by_op[ev.op] += 1
            unsupported_by_module[ev.module][ev.op] += 1
            reasons.setdefault(ev.op, result.reason)
            text = f"unsupported: {result.reason}"
            items.append(CostItem(ev.op, ev.module, ev.phase, UNSUPPORTED, ZERO_FIGURES, ZERO_FIGURES, text,
                                  ev.index, ev.region))
            rows.add(ev.op, UNSUPPORTED, ev.phase, ev.module, ZERO_FIGURES, ZERO_FIGURES, text)
            continue
        cost = result.cost
        item = CostItem(ev.op, ev.module, ev.phase, COUNTED, _figures(cost), _figures(cost.aware),
                        cost.formula, ev.index, ev.region)
        items.append(item)
        rows.add(ev.op, COUNTED, ev.phase, ev.module, item.figures, item.causal, cost.formula)

    for region_key, item in region_items.items():  # a region whose phase recorded no op call
        if region_key not in emitted:
            items.append(item)
            rows.add(item.op, REGION, item.phase, item.module, item.figures, item.causal, item.formula)

    modules = _modules(trace, items)
    totals = modules[""].figures
    if totals.causal_total != totals.total:
        notes.append("causal attention: the causal-aware figures count only unmasked query/key pairs")
    if unsupported_by_op:
        listed = ", ".join(f"{op} x{c}" for op, c in unsupported_by_op.most_common())
        notes.append(f"not counted (unsupported): {listed}")
    coverage = Coverage(
        counted=counts[COUNTED], zero=counts[ZERO], unsupported=counts[UNSUPPORTED],
        via_region=counts[VIA_REGION], regions=len(region_items), unsupported_by_op=dict(unsupported_by_op),
        unsupported_by_module={m: dict(c) for m, c in unsupported_by_module.items()}, reasons=reasons,
    )
    return ComputeResult(totals, modules, rows.result(), coverage, tuple(items), tuple(notes))


def _later(template: str, *values: object) -> Callable[[], str]:
    """A formula text made only when the by-op table needs it (its row's first call)."""
    return lambda: template.format(*values)


def _region_items(trace: Trace, notes: list[str]) -> tuple[dict[RegionKey, CostItem], set[RegionKey]]:
    """Region items keyed by (region index, phase); a backward item only where the region's backward
    ran (some backward event carries its index). Regions without a formula are left out, so their op
    calls are counted one by one."""
    first_backward: dict[int, str] = {}
    for ev in trace.events:
        if ev.phase == BACKWARD and ev.region is not None and ev.region not in first_backward:
            first_backward[ev.region] = ev.module
    items: dict[RegionKey, CostItem] = {}
    for region in trace.regions:
        phases = [(FORWARD, region.module)]
        if region.index in first_backward:
            phases.append((BACKWARD, first_backward[region.index]))
        for phase, module in phases:
            try:
                cost = evaluate_region(region, phase)
            except FormulaError as exc:
                notes.append(f"{exc}; its op calls are counted one by one")
                continue
            if cost is None:
                continue
            items[(region.index, phase)] = CostItem(region.name, module, phase, REGION, _figures(cost),
                                                    _figures(cost.aware), cost.formula, None, region.index)
    return items, set(items)


def _ancestors(path: str) -> list[str]:
    """``"a.b.c"`` -> ``["a.b.c", "a.b", "a", ""]``; ``""`` -> ``[""]``."""
    if not path:
        return [""]
    parts = path.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)] + [""]


# Accumulators are lists of ints, not Figures (a frozen dataclass per addition was the hot loop):
# [forward macs, flops, core, backward macs, flops, core, causal forward macs, flops, core, causal
# backward macs, flops, core, counted items, unsupported items]
_PHASE_OFFSET: dict[str, int] = {FORWARD: 0, BACKWARD: 3}


def _modules(trace: Trace, items: list[CostItem]) -> dict[str, ModuleCompute]:
    chains: dict[str, list[str]] = {}

    def chain(path: str) -> list[str]:
        found = chains.get(path)
        if found is None:
            found = chains[path] = _ancestors(path)
        return found

    paths: dict[str, None] = {"": None}
    for call in trace.calls:
        for p in reversed(chain(call.path)):
            paths.setdefault(p, None)
    # figures of each module's own items (exclusive), then added to the module and its ancestors
    exclusive: dict[str, list[int]] = {}
    own: dict[str, list[int]] = {}
    for item in items:
        module = item.module
        acc = exclusive.get(module)
        if acc is None:
            acc = exclusive[module] = [0] * 14
            own[module] = [0, 0, 0]
            for p in chain(module):
                paths.setdefault(p, None)
        f, c = item.figures, item.causal
        o = own[module]
        o[0] += f.macs
        o[1] += f.flops
        o[2] += f.core_macs
        offset = _PHASE_OFFSET.get(item.phase)
        if offset is not None:
            acc[offset] += f.macs
            acc[offset + 1] += f.flops
            acc[offset + 2] += f.core_macs
            acc[offset + 6] += c.macs
            acc[offset + 7] += c.flops
            acc[offset + 8] += c.core_macs
        acc[13 if item.status == UNSUPPORTED else 12] += 1
    inclusive: dict[str, list[int]] = {}
    for module, acc in exclusive.items():
        for p in chain(module):
            total = inclusive.get(p)
            if total is None:
                inclusive[p] = list(acc)
            else:
                for i, v in enumerate(acc):
                    total[i] += v
    result: dict[str, ModuleCompute] = {}
    zero = [0] * 14
    for p in paths:
        a = inclusive.get(p, zero)
        fwd, bwd = Figures(a[0], a[1], a[2]), Figures(a[3], a[4], a[5])
        cfwd, cbwd = Figures(a[6], a[7], a[8]), Figures(a[9], a[10], a[11])
        figures = ComputeFigures(fwd, bwd, fwd + bwd, cfwd, cbwd, cfwd + cbwd)
        mine = own.get(p)
        result[p] = ModuleCompute(p, figures, Figures(*mine) if mine is not None else ZERO_FIGURES, a[12],
                                  a[13])
    return result


class _Rows:
    """Accumulates the by-op table."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list] = {}
        # [calls, forward calls, backward calls, macs, flops, core, causal macs, flops, core,
        #  formula, modules]

    def _row(self, op: str, status: str, formula: Callable[[], str] | str) -> list:
        row = self.rows.get((op, status))
        if row is None:
            row = self.rows[(op, status)] = [0, 0, 0, 0, 0, 0, 0, 0, 0,
                                             formula() if callable(formula) else formula, {}]
        return row

    def add(self, op: str, status: str, phase: str, module: str, figures: Figures, causal: Figures,
            formula: str) -> None:
        row = self._row(op, status, formula)
        row[0] += 1
        row[1 if phase == FORWARD else 2] += 1
        row[3] += figures.macs
        row[4] += figures.flops
        row[5] += figures.core_macs
        row[6] += causal.macs
        row[7] += causal.flops
        row[8] += causal.core_macs
        row[10].setdefault(module, None)

    def count(self, op: str, status: str, phase: str, module: str, formula: Callable[[], str]) -> None:
        """A call with zero figures; ``formula`` is only made for the row's first call."""
        row = self._row(op, status, formula)
        row[0] += 1
        row[1 if phase == FORWARD else 2] += 1
        row[10].setdefault(module, None)

    def result(self) -> tuple[OpRow, ...]:
        rows = [OpRow(op, status, r[0], r[1], r[2], Figures(r[3], r[4], r[5]), Figures(r[6], r[7], r[8]),
                      r[9], tuple(r[10])) for (op, status), r in self.rows.items()]
        rows.sort(key=lambda r: (-r.figures.flops, -r.calls, r.op, r.status))
        return tuple(rows)
