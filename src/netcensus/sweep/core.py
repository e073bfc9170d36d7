"""The scaling model of one configuration (traces at a few sizes, exact polynomials), sweeps answered
from it, and grids of configurations: see :mod:`netcensus.sweep`."""

from __future__ import annotations

import dataclasses
import multiprocessing
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from math import gcd, isqrt
from typing import Any

from torch import nn

from ..analyses.memory.timeline import MemoryTimeline, observe_timelines
from ..analyses.scaling import Design, NotPolynomial, Observation, TimelineModel, grid
from ..api import profile
from ..errors import SpecError, TraceError
from ..load.inputs import InputSpec, input_specs
from ..options.budget import parse_bytes
from ..results.scaling import Formulas, PeakPiece, SweepPoint, SweepResult, Term

SCALARS = ("flops", "forward_flops", "backward_flops", "params")


# ---- one trace ---------------------------------------------------------------------------------------

def _observe(p: Any, seen: Sequence[MemoryTimeline]) -> tuple[Observation, int]:
    """The timeline of one profile as an :class:`Observation`, and the allocator block (1: none)."""
    if len(seen) != 1:
        raise NotPolynomial(f"the profile ran {len(seen)} memory analyses, not one")
    timeline = seen[0]
    block, sizes = 1, [x.size for x in timeline.lives]
    if timeline.raw_sizes is not None:  # CUDA: the rounding is modelled exactly, per storage
        from ..devices.cuda import MIN_BLOCK

        block, sizes = MIN_BLOCK, list(timeline.raw_sizes)
    kept = tuple((size, x.born, x.died) for size, x in zip(sizes, timeline.lives)
                 if x.category not in timeline.skip)
    mem = p.memory
    step = mem.step_peak if mem.step_peak is not None else None
    return Observation(kept, timeline.total, step, int(mem.peak)), block


@dataclasses.dataclass
class _Traced:
    b: int
    s: int
    values: dict[str, int]
    ops: tuple[str, ...]
    observation: Observation | None
    block: int
    labels: list[tuple[str, str]]
    calls: dict[str, int]
    problem: str = ""


def _specs_at(specs: Sequence[InputSpec], b: int | None, s: int | None) -> list[InputSpec]:
    out = []
    for spec in specs:
        shape = list(spec.shape)
        if b is not None and shape:
            shape[0] = b
        if s is not None and len(shape) > 1:
            shape[1] = s
        out.append(dataclasses.replace(spec, shape=tuple(shape)))
    return out


def _trace(model: nn.Module, specs: Sequence[InputSpec], b: int | None, s: int | None,
           options: Mapping[str, Any]) -> _Traced:
    with observe_timelines() as seen:
        p = profile(model, input_size=_specs_at(specs, b, s), **{**options, "depth": None})
    totals = p.compute.totals
    values = {"flops": int(p.flops), "forward_flops": int(totals.forward.flops),
              "backward_flops": int(totals.backward.flops), "params": int(p.total_params),
              "peak": int(p.memory.peak)}
    calls: dict[str, int] = {}
    for row in p.compute.by_op:
        values["op:" + row.op] = values.get("op:" + row.op, 0) + int(row.figures.flops)
        calls[row.op] = calls.get(row.op, 0) + int(row.calls)
    events = p.trace.events if p.trace is not None else ()
    labels = [("start", "")] + [(e.phase, e.op) for e in events]
    problem = ""
    try:
        observation, block = _observe(p, seen)
    except NotPolynomial as exc:
        observation, block, problem = None, 1, str(exc)
    return _Traced(b or 1, s or 1, values, tuple(e.op for e in events), observation, block, labels, calls,
                   problem)


# ---- the model of one configuration -------------------------------------------------------------------

class ScalingModel:
    """Every quantity of one model and step as a polynomial in b and s (see the module docstring)."""

    def __init__(self, design: Design, traced: Sequence[_Traced]):
        self.design = design
        self.traced = list(traced)
        first = traced[0]
        for t in traced[1:]:
            if t.ops != first.ops:
                at = next((i for i, (x, y) in enumerate(zip(t.ops, first.ops)) if x != y),
                          min(len(t.ops), len(first.ops)))
                raise NotPolynomial(f"the op sequence at b={t.b}, s={t.s} differs from b={first.b}, "
                                    f"s={first.s} from event {at} on ({len(t.ops)} vs {len(first.ops)} "
                                    "events): the model "
                                    "branches on the input's size")
            if set(t.values) != set(first.values):
                raise NotPolynomial("the ops counted differ between sizes")
        problems = [t.problem for t in traced if t.problem]
        if problems:
            raise NotPolynomial(problems[0])
        self.notes: list[str] = []
        self.polys = {k: design.solve([t.values[k] for t in traced]) for k in first.values}
        self.calls = dict(first.calls)
        self.labels = first.labels
        observations = [t.observation for t in traced]
        self.timeline = TimelineModel(design, observations, first.block, first.labels)  # type: ignore[arg-type]

    def value(self, name: str, b: int, s: int = 1) -> int:
        v = self.polys[name](b, s)
        return int(v)

    def peak(self, b: int, s: int = 1) -> int:
        return self.timeline.peak(b, s)[0]

    def check(self, t: _Traced) -> None:
        """Raise :class:`NotPolynomial` unless the trace ``t`` equals the polynomials' prediction."""
        if t.ops != self.traced[0].ops:
            raise NotPolynomial(f"the op sequence at b={t.b}, s={t.s} differs from the traced sizes': the "
                                "model "
                                "branches on the input's size")
        for name, v in t.values.items():
            predicted = self.polys[name](t.b, t.s) if name in self.polys else None
            if name == "peak":
                predicted = self.peak(t.b, t.s)
            if predicted != v:
                said = "nothing" if predicted is None else f"{predicted:,}"
                raise NotPolynomial(f"at b={t.b}, s={t.s} the traced {name} is {v:,} but the polynomial "
                                    f"recovered from {len(self.design.points)} sizes gives {said}: the model "
                                    "is not polynomial in the input's size (padding to a multiple, "
                                    "a sliding window, or a shape-dependent branch)")

    def formulas(self, points: Sequence[tuple[int, int]] = (),
                 peaks: Sequence[tuple[int, int]] | None = None) -> Formulas:
        """The closed forms; the peak's pieces are those at ``points`` (``peaks``: their
        :meth:`TimelineModel.peaks`, when already computed)."""
        pieces: dict[int, int] = {}
        for _, where in (self.timeline.peaks(points) if peaks is None else peaks):
            pieces[where] = pieces.get(where, 0) + 1
        peak = tuple(PeakPiece(self.timeline.polynomial(i), *self._label(i), n)
                     for i, n in sorted(pieces.items(), key=lambda t: -t[1]))
        terms = []
        for name, poly in self.polys.items():
            if name.startswith("op:"):
                op = name[3:]
                for mono, c in poly.terms:
                    if mono != (0, 0):
                        terms.append(Term(mono, op, c, self.calls.get(op, 0)))
        terms.sort(key=lambda t: (-(t.monomial[0] + t.monomial[1]), -abs(t.coefficient)))
        return Formulas(self.polys["flops"], self.polys["forward_flops"], self.polys["backward_flops"],
                        self.value("params", 1, 1), peak, tuple(terms), self.timeline.block)

    def _label(self, i: int) -> tuple[str, str]:
        labels = self.timeline.labels
        return labels[i] if i < len(labels) else ("", "")


def _trace_many(model: nn.Module, specs: Sequence[InputSpec], sizes: Iterable[tuple[int | None, int | None]],
                options: Mapping[str, Any]) -> list[_Traced]:
    return [_trace(model, specs, b, s, options) for b, s in sizes]


def scaling_model(model: nn.Module, input_size: Any, batch: Sequence[int], seq: Sequence[int] | None = None,
                  *, dtype: Any = None, verify: Sequence[tuple[int, int | None]] = (),
                  **options: Any) -> ScalingModel:
    """Trace ``model`` on the grid ``batch x seq`` (``seq`` None: the inputs' dimension 1 is not varied),
    recover every quantity's polynomial, and check it at each ``verify`` size (NotPolynomial if not)."""
    specs = input_specs(input_size, dtype)
    seqs: Sequence[int | None] = list(seq) if seq else [None]
    traced = _trace_many(model, specs, [(b, s) for b in batch for s in seqs], options)
    design = grid(list(batch), [s or 1 for s in seqs])
    result = ScalingModel(design, traced)
    for b, s in verify:
        result.check(_trace(model, specs, b, s if seq else None, options))
    return result


# ---- sweeps --------------------------------------------------------------------------------------------

def _design_axis(values: Sequence[int], degree: int) -> list[int]:
    """``degree + 1`` sizes starting at the smallest value, on the lattice of the values asked: a step of
    the greatest common divisor of their distances from it (the largest such divisor that keeps the
    sizes within the values' range). A model that pads to a multiple of that step (CUDA's attention
    pads its log-sum-exp to 32 rows) is polynomial on the lattice, where every point asked lies; with
    a step of 1 (values such as 1, 2, 4) a model that pads shows as not polynomial."""
    lo, hi = min(values), max(values)
    if len(set(values)) == 1:
        return [lo]
    common = gcd(*(v - lo for v in values))
    divisors = {d for i in range(1, isqrt(common) + 1) if common % i == 0 for d in (i, common // i)}
    step = max((d for d in divisors if lo + degree * d <= hi), default=1)
    return [lo + k * step for k in range(degree + 1)]


def sweep(model: nn.Module, batch: Sequence[int], seq: Sequence[int] | None = None, *,
          input_size: Any, dtype: Any = None, budget: str | int | None = None, exact: bool = False,
          name: str | None = None, config: Sequence[tuple[str, str]] = (), **options: Any) -> SweepResult:
    """Peak memory, FLOPs and parameters at every point of ``batch x seq``.

    The model is traced at a 2 x 3 grid of sizes from the smallest point up (batch ``b0, b0 + d``, sequence
    ``s0, s0 + e, s0 + 2e``, ``d`` and ``e`` the steps of the lattice the points asked lie on: see
    :func:`_design_axis`), every quantity's polynomial recovered and checked on a trace at the largest
    point; the other points are evaluated (``method "polynomial"``). Size 1 often takes other kernels
    (a reshape that is a view at batch 1 copies at batch 2): when the op sequence at 1 differs, the points
    at 1 get their own polynomials (3 more traces and one more check). When the model is not polynomial,
    or ``exact`` is set, every point is traced (``method "traced"``, ``reason`` says why).
    ``options`` are :func:`netcensus.profile`'s.
    """
    started = time.perf_counter()
    batch = _positive(batch, "batch")
    seqs = _positive(seq, "seq") if seq else []
    cap = parse_bytes(budget) if budget is not None else None
    specs = input_specs(input_size, dtype)
    if seqs and not any(len(s.shape) > 1 for s in specs):
        raise SpecError("no input has a dimension 1 to vary as the sequence",
                        fix="drop seq, or give inputs with a sequence dimension")
    seq_axis: list[int | None] = [*seqs] if seqs else [None]
    points: list[tuple[int, int | None]] = [(b, s) for b in batch for s in seq_axis]
    label = name or type(model).__name__
    train = bool(options.get("train"))
    cache: dict[tuple[int, int | None], _Traced] = {}

    def get(b: int, s: int | None) -> _Traced:
        if (b, s) not in cache:
            cache[(b, s)] = _trace(model, specs, b, s, options)
        return cache[(b, s)]

    reason = "exact=True: every point traced" if exact else ""
    if not exact:
        try:
            families = _families(points, get)
        except NotPolynomial as exc:
            reason = f"not polynomial: traced every point ({exc})"
        else:
            out, design, verified = [], [], []
            peaks_of = []
            for members, sm, checked in families:
                design += [p for p in sm.design.points if p not in design]
                verified += checked
                at = [(b, s or 1) for b, s in members]
                peaks = sm.timeline.peaks(at)
                peaks_of.append(peaks)
                flops, params = sm.polys["flops"], sm.polys["params"]
                for (b, s), (peak, _) in zip(members, peaks):
                    out.append(_point(b, s, peak, int(flops(b, s or 1)), int(params(b, s or 1)), cap, config,
                                      (b, s) in cache))
            k = max(range(len(families)), key=lambda i: len(families[i][0]))
            main = families[k]
            notes = tuple(n for f in families for n in f[1].notes) + (() if len(families) == 1 else (
                f"{len(families)} families of sizes with their own polynomials (size 1 takes other kernels); "
                "the formulas are those of the largest family",))
            order = {p: i for i, p in enumerate(points)}
            out.sort(key=lambda x: order[(x.batch, x.seq)])
            return SweepResult(label, tuple(out), cap, "polynomial", "", len(cache), tuple(design),
                               tuple(verified),
                               main[1].formulas([(b, s or 1) for b, s in main[0]], peaks_of[k]), train,
                               time.perf_counter() - started, notes)
    out = []
    for b, s in points:
        t = get(b, s)
        out.append(_point(b, s, t.values["peak"], t.values["flops"], t.values["params"], cap, config, True))
    return SweepResult(label, tuple(out), cap, "traced", reason, len(cache), (), (), None, train,
                       time.perf_counter() - started)


def _families(points: Sequence[tuple[int, int | None]], get: Callable[[int, int | None], _Traced]
              ) -> list[tuple[list[tuple[int, int | None]], ScalingModel, list[tuple[int, int]]]]:
    """The polynomial models covering ``points``, each checked at its largest point not traced for its
    design: one for all points, or (when size 1 runs other ops) one per (batch == 1, seq == 1) group."""
    try:
        return [_family(points, get)]
    except NotPolynomial as exc:
        if not exc.args[0].startswith("the op sequence") or not any(b == 1 or s == 1 for b, s in points):
            raise
    groups: dict[tuple[bool, bool], list[tuple[int, int | None]]] = {}
    for b, s in points:
        groups.setdefault((b == 1, s == 1), []).append((b, s))
    return [_family(members, get) for members in groups.values()]


def _family(points: Sequence[tuple[int, int | None]], get: Callable[[int, int | None], _Traced]
            ) -> tuple[list[tuple[int, int | None]], ScalingModel, list[tuple[int, int]]]:
    batches = sorted({b for b, _ in points})
    seqs = sorted({s for _, s in points if s is not None})
    bd = _design_axis(batches, 1)
    sd: list[int | None] = list(_design_axis(seqs, 2)) if seqs else [None]
    traced = [get(b, s) for b in bd for s in sd]
    sm = ScalingModel(grid(bd, [s or 1 for s in sd]), traced)
    design = {(b, s) for b in bd for s in sd}
    rest = sorted((p for p in points if p not in design), key=lambda p: (p[0] * (p[1] or 1), p), reverse=True)
    checked: list[tuple[int, int]] = []
    for b, s in rest[:3]:  # the largest point; the next ones when a trace there fails (on meta only)
        try:
            t = get(b, s)
        except TraceError as exc:
            reason = "it needs tensor values" if "real tensor values" in str(exc) else type(exc).__name__
            sm.notes.append(f"b={b}, s={s} cannot be traced on meta tensors ({reason}); its figures are the "
                            "polynomials', checked at a smaller size")
            continue
        sm.check(t)
        checked.append((b, s or 1))
        break
    else:
        if rest:
            raise NotPolynomial("no point above the traced sizes could be traced to check the polynomials")
    return list(points), sm, checked


def _point(b: int, s: int | None, peak: int, flops: int, params: int, cap: int | None,
           config: Sequence[tuple[str, str]], traced: bool) -> SweepPoint:
    return SweepPoint(b, s, peak, flops, params, None if cap is None else peak <= cap, tuple(config), traced)


def _positive(values: Sequence[int] | None, what: str) -> list[int]:
    out = sorted({int(v) for v in (values or ())})
    if not out or out[0] < 1:
        raise SpecError(f"{what} sizes must be positive integers, got {values!r}",
                        fix=f"give {what} sizes such as 1,2,4,8")
    return out


# ---- grids of configurations -------------------------------------------------------------------------

def sweep_grid(job: Callable[[tuple[tuple[str, str], ...]], SweepResult],
               configs: Sequence[Sequence[tuple[str, str]]], *, jobs: int = 1,
               executor: Executor | None = None) -> list[SweepResult]:
    """Run ``job(config)`` for every configuration (``(name, value)`` pairs), in order: in this process
    when ``jobs`` is 1, else in a pool of ``jobs`` processes, or on ``executor`` (any
    :class:`concurrent.futures.Executor`: a Dask ``Client.get_executor()``, Ray's ``RayExecutor``...).
    ``job`` must be picklable (a module-level function) for a pool."""
    todo = [tuple(c) for c in configs]
    if executor is not None:
        return list(executor.map(job, todo))
    if jobs <= 1 or len(todo) <= 1:
        return [job(c) for c in todo]
    # spawn, not fork: a forked child of a process that has run torch can hang on its thread pools' locks
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context) as pool:
        return list(pool.map(job, todo))


def dask_client(address: str) -> Any:
    """A ``distributed.Client`` of the Dask cluster whose scheduler is at ``address`` (``tcp://host:8786``);
    ``client.get_executor()`` is a :class:`concurrent.futures.Executor` for :func:`sweep_grid`. Close
    the client when done (``with dask_client(...) as client``). Needs ``pip install "dask[distributed]"``."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise SpecError("a Dask cluster needs the distributed package, which is not installed",
                        fix='pip install "dask[distributed]"') from exc
    return Client(address)
