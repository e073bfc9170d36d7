"""The roofline itself: the device, the fitted constants and the unit choice (:class:`Model`), and
the kernel rows summed by op and module (:class:`Accumulator`, :func:`layer_rows`).

A kernel of ``F`` FLOPs and ``B`` bytes on unit ``u`` takes::

    t = max(F / (peak[u] * eff[u]), B / (bandwidth * memory_efficiency)) + kernel_overhead_s
"""

from __future__ import annotations

from typing import Any

from ...devices import DeviceSpec
from ...results.timing import COMPUTE, LAUNCH, MEMORY, LayerTime, OpTime, TimeConstants, summed

DEFAULT_CONSTANTS = TimeConstants()

_DTYPE_UNIT = {"bfloat16": "bf16", "float16": "fp16", "float64": "fp64"}


class Model:
    """The device, the constants and the unit choice."""

    def __init__(self, gpu: DeviceSpec, c: TimeConstants):
        self.gpu = gpu
        self.c = c

    def matmul_unit(self, dtype: str | None, cudnn: bool) -> str:
        if dtype is None or dtype == "float32":
            tf32 = self.gpu.cudnn_tf32 if cudnn else self.gpu.matmul_tf32
            return "tf32" if tf32 and "tf32" in self.gpu.peak else "fp32"
        if dtype.startswith("float8"):
            return "fp8" if "fp8" in self.gpu.peak else "bf16"
        return _DTYPE_UNIT.get(dtype, "fp32")

    def peak(self, unit: str, *, matmul: bool) -> float:
        g = self.gpu
        if unit == "fp32":
            return (g.fp32_matmul or g.peak["fp32"]) if matmul else g.peak["fp32"]
        return g.peak.get(unit) or g.peak.get("bf16" if unit == "fp8" else "fp32") or g.peak["fp32"]

    def rate(self, unit: str, *, matmul: bool, kind: str = "matmul") -> float:
        """Achievable FLOP/s of ``unit`` for a kernel of ``kind``: ``matmul`` (the unit's own fraction),
        ``conv``, ``attention``, ``misaligned``, or ``elementwise`` (the FP32 pipe at its fraction)."""
        c = self.c
        peak = self.peak(unit, matmul=matmul)
        if kind == "attention":
            return peak * c.attention_efficiency
        if unit in ("fp32", "fp64"):
            return peak * c.fp32_efficiency
        if kind == "conv":
            return peak * c.conv_efficiency
        if kind == "misaligned":
            return peak * c.misaligned_efficiency
        return peak * c.tensor_efficiency

    def times(
        self,
        flops: float,
        nbytes: int,
        unit: str,
        matmul: bool,
        kernels: int,
        kind: str = "matmul",
        norm: bool = False,
    ) -> tuple[float, float, float]:
        compute = flops / self.rate(unit, matmul=matmul, kind=kind) if flops else 0.0
        eff = self.c.norm_memory_efficiency if norm else self.c.memory_efficiency
        memory = nbytes / (self.gpu.bandwidth * eff) if nbytes else 0.0
        return compute, memory, kernels * self.c.kernel_overhead_s


def _bound(compute: float, memory: float, overhead: float) -> str:
    if overhead >= max(compute, memory):
        return LAUNCH
    return COMPUTE if compute >= memory else MEMORY


class Accumulator:
    """Kernel rows summed by (op, module, phase, kind, unit)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str, str, str], list[Any]] = {}

    def add(
        self,
        op: str,
        module: str,
        phase: str,
        kind: str,
        unit: str,
        kernels: int,
        flops: int,
        nbytes: int,
        times: tuple[float, float, float],
        calls: int = 1,
    ) -> None:
        key = (op, module, phase, kind, unit)
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = [0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, {COMPUTE: 0.0, MEMORY: 0.0, LAUNCH: 0.0}]
        compute, memory, overhead = times
        t = max(compute, memory) + overhead
        row[0] += calls
        row[1] += kernels
        row[2] += flops
        row[3] += nbytes
        row[4] += compute
        row[5] += memory
        row[6] += overhead
        row[7] += t
        if kernels:
            row[8][_bound(compute, memory, overhead)] += t

    def result(self) -> list[OpTime]:
        out = []
        for (op, module, phase, kind, unit), r in self.rows.items():
            by = r[8]
            out.append(
                OpTime(
                    op,
                    module,
                    phase,
                    kind,
                    unit,
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    r[7],
                    max(by, key=lambda b: by[b]),
                )
            )
        return out


def layer_rows(ops: list[OpTime], gpu_s: float) -> tuple[LayerTime, ...]:
    groups: dict[str, list[OpTime]] = {}
    for o in ops:
        groups.setdefault(o.module, []).append(o)
    out = [summed(path, rows, sum(r.time_s for r in rows) / gpu_s if gpu_s else 0.0)
           for path, rows in groups.items()]
    out.sort(key=lambda r: -r.time_s)
    return tuple(out)
