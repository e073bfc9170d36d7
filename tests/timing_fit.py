"""Fit the step-time model's constants on the measured H200 steps (how docs/time.md's values were made).

    python tests/timing_fit.py [--holdout]     # needs scipy and transformers; a few minutes on 2 cores

Traces every measured case of tests/gpu_cases.py on meta once, then minimises the soft-L1 loss (scale
0.1) of log(predicted / measured) over the constants of TimeConstants with scipy's least_squares,
within physically plausible bounds, from the defaults. ``--holdout`` fits on every other case and
reports the error on the rest. Not collected by pytest (the name does not start with test_).
"""

from __future__ import annotations

import math
import statistics
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BOUNDS = {  # name: (low, high)
    "tensor_efficiency": (0.3, 0.95),
    "fp32_efficiency": (0.3, 0.95),
    "memory_efficiency": (0.4, 0.95),
    "conv_efficiency": (0.05, 0.9),
    "attention_efficiency": (0.1, 0.9),
    "misaligned_efficiency": (0.05, 0.9),
    "norm_memory_efficiency": (0.05, 0.9),
    "mixed_batch_norm_efficiency": (0.01, 0.9),
    "kernel_overhead_s": (1e-7, 20e-6),
    "host_op_s": (1e-6, 80e-6),
    "host_view_s": (1e-7, 30e-6),
    "host_module_s": (1e-7, 80e-6),
}


def traced_cases() -> list[tuple[str, object, object, object, object, float]]:
    import gpu_cases as G
    from test_timing import MEASURED_H200_STEP_S

    import netcensus
    from netcensus.analyses.memory import param_infos
    from netcensus.errors import TraceError
    from netcensus.options import OptimizerSpec

    out = []
    for name, measured in MEASURED_H200_STEP_S.items():
        built = G.build(G.CASES_BY_NAME[name])
        kwargs = built.profile_kwargs()
        if built.optimizer is not None and built.optimizer.kwargs.get("fused"):
            kwargs["optimizer"] = OptimizerSpec(built.optimizer.name)
        try:
            p = netcensus.profile(built.model, **kwargs)
        except TraceError:
            print(f"skipped (not traceable on meta): {name}")
            continue
        out.append((name, p.trace, p.compute, built, param_infos(built.model), measured))
    return out


def main() -> int:
    import numpy as np
    from scipy.optimize import least_squares

    from netcensus.analyses.timing import estimate_time
    from netcensus.results.timing import TimeConstants

    cases = traced_cases()
    names = list(BOUNDS)
    base = TimeConstants()

    def residuals(logx, subset):
        c = replace(base, **{n: float(v) for n, v in zip(names, np.exp(logx))})
        return np.array([math.log(estimate_time(t, comp, "H200", precision=b.precision, optimizer=b.optimizer,
                                                params=pi, constants=c).step_s / m)
                         for _, t, comp, b, pi, m in subset])

    fit_on = cases[0::2] if "--holdout" in sys.argv else cases
    x0 = np.log([getattr(base, n) for n in names])
    lo, hi = np.log([BOUNDS[n][0] for n in names]), np.log([BOUNDS[n][1] for n in names])
    sol = least_squares(residuals, np.clip(x0, lo, hi), bounds=(lo, hi), args=(fit_on,), loss="soft_l1",
                        f_scale=0.1, max_nfev=80, diff_step=0.02)
    for n, v in zip(names, np.exp(sol.x)):
        print(f"{n} = {v:.4g}")
    for label, subset in (("fit", fit_on), ("held out", cases[1::2] if "--holdout" in sys.argv else [])):
        if subset:
            r = np.exp(residuals(sol.x, subset))
            print(f"{label}: n={len(r)} median |error| {statistics.median(abs(r - 1)):.3f}, "
                  f"worst ratio {max(max(r), max(1 / r)):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
