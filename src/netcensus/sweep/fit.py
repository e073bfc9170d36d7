"""``fit`` from the scaling polynomials (see :mod:`netcensus.sweep`): the largest batch or sequence length
under a budget in at most five traces."""

from __future__ import annotations

import time
from typing import Any

from torch import nn

from ..analyses.memory import fit as search_fit
from ..analyses.scaling import NotPolynomial, grid
from ..errors import SpecError
from ..load.inputs import input_specs
from ..load.positions import position_limit
from ..options.budget import parse_bytes
from ..results.scaling import ScalingFit
from .core import ScalingModel, _trace, _Traced


def fit(model: nn.Module, budget: str | int, input_size: Any, dtype: Any = None, *, along: str = "batch",
        multiple: int = 1, limit: int = 1 << 20, **options: Any) -> ScalingFit:
    """The largest batch (``along="batch"``) or sequence length (``"seq"``), a multiple of ``multiple``,
    whose peak fits ``budget``: answered from the peak's polynomials (3 traces: the inputs' size along
    the axis and the next two), then confirmed by a trace at the answer and one at the next multiple. A
    confirmation that disagrees (the model is not polynomial) falls back to the re-tracing search, on
    multiples of ``multiple`` too; ``method`` and ``reason`` say which answered. The peak is assumed not
    to decrease as the size grows (as the re-tracing search assumes)."""
    started = time.perf_counter()
    if along not in ("batch", "seq"):
        raise SpecError(f"along must be 'batch' or 'seq', got {along!r}")
    if multiple < 1:
        raise SpecError(f"multiple must be >= 1, got {multiple}")
    cap = parse_bytes(budget)
    specs = input_specs(input_size, dtype)
    dim = 0 if along == "batch" else 1
    have = [s.shape[dim] for s in specs if len(s.shape) > dim]
    if not have:
        raise SpecError(f"no input has a dimension {dim} to vary along {along!r}",
                        fix="give inputs with a batch (and sequence) dimension")
    start = max(1, min(have))
    traced_log: list[tuple[int, int]] = []
    notes: list[str] = []
    positions = position_limit(model) if along == "seq" else None
    if positions is not None and positions.learned and positions.limit < limit:
        limit = positions.limit
        notes.append(f"the search stops at the model's {positions.limit:,} positions "
                     f"(config.{positions.field}): a longer sequence raises IndexError in its position "
                     f"table {positions.table}")

    made: dict[int, _Traced] = {}

    def trace_at(n: int) -> _Traced:
        if n not in made:
            made[n] = _trace(model, specs, n if dim == 0 else None, n if dim == 1 else None, options)
            traced_log.append((n, made[n].values["peak"]))
        return made[n]

    start = max(start, 2)  # size 1 often runs other kernels (a reshape that is a view only at 1)
    # three sizes one `multiple` apart, on the lattice the answer lies on: a model that pads to a
    # multiple of it (CUDA's attention pads its log-sum-exp to 32 rows) is polynomial there
    step = multiple if multiple > 1 and -(-start // multiple) * multiple + 2 * multiple <= limit else 1
    start = -(-start // step) * step
    sizes = [start, start + step, start + 2 * step]
    reason = ""
    try:
        traced = [trace_at(n) for n in sizes]
        for t in traced:  # the varied size sits in the b slot for batch, the s slot for seq
            t.b, t.s = (t.b, 1) if dim == 0 else (1, t.s)
        design = grid(sizes, [1]) if dim == 0 else grid([1], sizes)
        sm = ScalingModel(design, traced)
    except NotPolynomial as exc:
        reason = str(exc)
        sm = None

    def model_peak(n: int) -> int:
        assert sm is not None
        return sm.peak(n, 1) if dim == 0 else sm.peak(1, n)

    if sm is not None:
        found = search_fit(lambda k: model_peak(k * multiple), cap, limit=max(1, limit // multiple))
        value = found.value * multiple
        checks = [n for n in ([value, value + multiple] if value else [multiple]) if n <= limit]
        confirmed = True
        for n in checks:
            t = trace_at(n)
            if (t.values["peak"] <= cap) != (n == value):
                confirmed = False
                try:
                    sm.check(t)
                except NotPolynomial as exc:
                    reason = str(exc)
                else:
                    reason = f"the peak at {n} does not {'fit' if n == value else 'exceed the budget'}"
                break
            try:
                sm.check(t)
            except NotPolynomial as exc:  # the answer stands (the traces confirm it), the formula does not
                notes.append(f"the polynomial differs from the trace at {n} ({exc}); the answer is the "
                             "traces'")
        if confirmed:
            peak = made[value].values["peak"] if value else None
            at = (value or multiple, 1) if dim == 0 else (1, value or multiple)
            differs = any(n.startswith("the polynomial differs") for n in notes)
            formula = None if differs else sm.timeline.polynomial(sm.timeline.peak(*at)[1])
            return ScalingFit(value, peak, cap, along, multiple, "polynomial",
                              tuple(traced_log), tuple((k * multiple, p) for k, p in found.tries), "",
                              found.limited, formula, time.perf_counter() - started, tuple(notes))
    # not polynomial: the re-tracing search, on multiples
    cache = {n: p for n, p in traced_log}

    def traced_peak(k: int) -> int:
        n = k * multiple
        if n not in cache:
            cache[n] = trace_at(n).values["peak"]
        return cache[n]

    found = search_fit(traced_peak, cap, limit=max(1, limit // multiple))
    return ScalingFit(found.value * multiple, found.peak, cap, along, multiple, "re-traced",
                      tuple(traced_log),
                      tuple((k * multiple, p) for k, p in found.tries), f"not polynomial: {reason}",
                      found.limited, None, time.perf_counter() - started, tuple(notes))


