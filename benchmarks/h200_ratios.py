"""The estimate / measured ratios of every H200 case, as docs/memory.md's table shows them.

    python benchmarks/h200_ratios.py [CASE ...]

Profiles each case of tests/gpu_cases.py on meta (CPU only) and divides the steady-state peak, the first
step's peak and the reserved estimate by what the H200 measured (the figures copied into
tests/test_gpu_truth_memory.py, from ../shared/gpu-truth/h200.json). Prints one Markdown row per case.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import gpu_cases as G  # noqa: E402
from test_gpu_truth_memory import H200  # noqa: E402

import netcensus  # noqa: E402


def main(names: list[str]) -> int:
    print("| case | peak / step2_peak | first_step_peak / step1_peak | reserved / step2_reserved |")
    print("| --- | --- | --- | --- |")
    for name in names or list(H200):
        why = G.needs_transformers(G.CASES_BY_NAME[name])
        if why:
            print(f"| {name} | {why} | | |")
            continue
        built = G.build(G.CASES_BY_NAME[name])
        m = netcensus.profile(built.model, **built.profile_kwargs()).memory
        _, step1, _, step2, reserved = H200[name]
        ratios = (m.peak / step2, m.first_step_peak / step1, m.reserved / reserved)
        print(f"| {name} | " + " | ".join(f"{r:.3f}" for r in ratios) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
