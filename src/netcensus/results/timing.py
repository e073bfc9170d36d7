"""The step-time model's result (:func:`netcensus.analyses.timing.estimate_time`): plain, frozen,
torch-free data with ``to_dict`` / ``from_dict`` for the JSON profile.

Times are seconds, FLOPs are counts, bytes are bytes, rates are per second. A *bound* is what limits a
kernel, a layer or the step: ``"compute"`` (FLOPs at the achievable fraction of the unit's peak),
``"memory"`` (bytes at the achievable fraction of peak bandwidth) or ``"launch"`` (the fixed per-kernel
cost, or for the step: the host, which cannot issue the kernels as fast as the GPU runs them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

COMPUTE = "compute"
MEMORY = "memory"
LAUNCH = "launch"
BOUNDS = (COMPUTE, MEMORY, LAUNCH)


@dataclass(frozen=True)
class TimeConstants:
    """The model's named constants: fitted once on the measured H200 table (docs/time.md says how), the
    same for every model and device."""

    tensor_efficiency: float = 0.61
    """Achievable fraction of the tensor-core (and TF32) dense peak by matmuls, convolutions, attention."""
    fp32_efficiency: float = 0.73
    """Achievable fraction of the FP32 pipe's peak by float32 matmuls without TF32 (and fp32 attention)."""
    memory_efficiency: float = 0.87
    """Achievable fraction of peak memory bandwidth."""
    conv_efficiency: float = 0.29
    """Achievable fraction of the tensor-core peak by cuDNN convolutions (forward and backward)."""
    attention_efficiency: float = 0.38
    """Achievable fraction of the unit's peak by fused attention kernels (flash / memory-efficient)."""
    misaligned_efficiency: float = 0.08
    """Achievable fraction of the tensor-core peak by a matmul with a dimension whose size in bytes is
    not a multiple of 16 (cuBLAS's tensor-core kernels want 16-byte aligned rows: a vocabulary of
    50,257 in bf16)."""
    norm_memory_efficiency: float = 0.16
    """Achievable fraction of peak bandwidth by normalization kernels (batch/layer/group norm and their
    backward), which read their input more than once."""
    mixed_batch_norm_efficiency: float = 0.05
    """Achievable fraction of peak bandwidth by batch norm with a low-precision input and float32
    weights (autocast), which ATen runs in its native kernels instead of cuDNN's."""
    dropout_rng_flops: float = 0.0
    """FP32-pipe operations per attention-probability element that dropout inside fused attention costs
    (Philox random numbers, in forward and again in backward)."""
    kernel_overhead_s: float = 4.8e-6
    """GPU time each kernel costs beyond its roofline time (launch latency, ramp-up, tail wave)."""
    host_op_s: float = 13.8e-6
    """Host (CPU) time per aten op that launches a kernel: Python, dispatcher, allocator, launch."""
    host_view_s: float = 12.3e-6
    """Host time per aten op that launches none (views, detach, empty)."""
    host_module_s: float = 52e-6
    """Host time per module call (``nn.Module.__call__`` and the Python of its forward)."""

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TimeConstants:
        names = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in d.items() if k in names})


@dataclass(frozen=True)
class OpTime:
    """All kernels of one op (aten op name or fused kernel) in one module and phase."""

    op: str
    module: str
    phase: str
    kind: str
    """``matmul``, ``conv``, ``attention`` (a fused kernel), ``rnn``, ``elementwise``, ``copy``, ``fill``,
    ``optimizer``."""
    unit: str
    """The peak the compute time is taken against: ``bf16``, ``fp16``, ``tf32``, ``fp32``, ``fp64``,
    ``fp8``."""
    calls: int
    kernels: int
    flops: int
    bytes: int
    compute_s: float
    memory_s: float
    overhead_s: float
    time_s: float
    bound: str

    @property
    def intensity(self) -> float:
        """FLOPs per byte moved."""
        return self.flops / self.bytes if self.bytes else 0.0

    @property
    def achieved_flops(self) -> float:
        return self.flops / self.time_s if self.time_s else 0.0


@dataclass(frozen=True)
class LayerTime:
    """The kernels attributed to one module path (its own ops, not its children's), or the optimizer."""

    path: str
    kernels: int
    flops: int
    bytes: int
    compute_s: float
    memory_s: float
    overhead_s: float
    time_s: float
    share: float
    """Fraction of the GPU time of the step."""
    bound: str
    """The bound of the kernels that take most of the layer's time."""

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes if self.bytes else 0.0

    @property
    def achieved_flops(self) -> float:
        return self.flops / self.time_s if self.time_s else 0.0


@dataclass(frozen=True)
class Measured:
    """A measured step time, compared with the prediction."""

    step_s: float
    mfu: float
    """Achieved MFU: model FLOPs / (measured step time x the MFU peak)."""
    ratio: float
    """predicted / measured (above 1: the model is pessimistic)."""
    error: float
    """(predicted - measured) / measured."""


@dataclass(frozen=True)
class TimeResult:
    """The predicted time of one step on one device."""

    gpu: str
    device: dict[str, Any]
    """The device's figures (``DeviceSpec.to_dict``)."""
    precision: str
    step_s: float
    """Predicted step time: the larger of the GPU time and the host time."""
    gpu_s: float
    """Sum of the kernel times (forward, backward, optimizer)."""
    host_s: float
    """Host time to issue every op."""
    optimizer_s: float
    """GPU time of the optimizer step (included in gpu_s)."""
    bound: str
    """``launch`` when the host time decides the step, else the bound holding most GPU time."""
    bound_s: dict[str, float]
    """GPU time of the kernels by their bound."""
    flops: int
    """Model FLOPs of the step (the compute census's dense total, optimizer excluded)."""
    bytes: int
    """Bytes moved by every kernel (inputs read, outputs written, optimizer state)."""
    kernels: int
    host_ops: int
    layers: tuple[LayerTime, ...]
    ops: tuple[OpTime, ...]
    samples: int | None
    tokens: int | None
    samples_per_s: float | None
    tokens_per_s: float | None
    mfu: float
    """Model FLOPs / (predicted step time x ``mfu_peak``)."""
    mfu_unit: str
    mfu_peak: float
    constants: TimeConstants
    assumptions: tuple[str, ...] = ()
    measured: Measured | None = None
    notes: tuple[str, ...] = field(default=())

    def with_measured(self, step_s: float) -> TimeResult:
        """This result with a measured step time compared (achieved MFU, distance from the prediction)."""
        from dataclasses import replace

        m = Measured(
            step_s=step_s,
            mfu=self.flops / (step_s * self.mfu_peak) if self.mfu_peak else 0.0,
            ratio=self.step_s / step_s,
            error=(self.step_s - step_s) / step_s,
        )
        return replace(self, measured=m)

    def to_dict(self, *, top_ops: int | None = None) -> dict[str, Any]:
        """Plain JSON-ready data; ``top_ops`` keeps only that many op rows (the slowest: ``ops`` is
        sorted by time), to keep a profile's JSON small."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["layers"] = [asdict(x) for x in self.layers]
        d["ops"] = [asdict(x) for x in (self.ops if top_ops is None else self.ops[:top_ops])]
        d["constants"] = self.constants.to_dict()
        d["measured"] = asdict(self.measured) if self.measured else None
        d["assumptions"] = list(self.assumptions)
        d["notes"] = list(self.notes)
        d["device"] = dict(self.device)
        d["bound_s"] = dict(self.bound_s)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TimeResult:
        d = dict(d)
        d["layers"] = tuple(LayerTime(**x) for x in d.get("layers", ()))
        d["ops"] = tuple(OpTime(**x) for x in d.get("ops", ()))
        d["constants"] = TimeConstants.from_dict(d.get("constants", {}))
        d["measured"] = Measured(**d["measured"]) if d.get("measured") else None
        d["assumptions"] = tuple(d.get("assumptions", ()))
        d["notes"] = tuple(d.get("notes", ()))
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def rollup(layers: tuple[LayerTime, ...], depth: int | None) -> tuple[LayerTime, ...]:
    """Layers summed to module paths of at most ``depth`` dotted parts (None: as they are); the
    optimizer row stays on its own. Shares add; the bound is that of the largest part."""
    if depth is None:
        return layers
    groups: dict[str, list[LayerTime]] = {}
    for row in layers:
        path = (
            row.path if row.path.startswith("(") else ".".join(row.path.split(".")[:depth]) if depth else ""
        )
        groups.setdefault(path, []).append(row)
    out = [summed(path, rows, sum(r.share for r in rows)) for path, rows in groups.items()]
    out.sort(key=lambda r: -r.time_s)
    return tuple(out)


def summed(path: str, rows: Sequence[OpTime | LayerTime], share: float) -> LayerTime:
    """One row for ``path`` adding up ``rows`` (ops of one module, or layers rolled up); its bound is the
    bound holding most of their time."""
    by_bound: dict[str, float] = {}
    for r in rows:
        by_bound[r.bound] = by_bound.get(r.bound, 0.0) + r.time_s
    return LayerTime(path, sum(r.kernels for r in rows), sum(r.flops for r in rows),
                     sum(r.bytes for r in rows), sum(r.compute_s for r in rows),
                     sum(r.memory_s for r in rows), sum(r.overhead_s for r in rows),
                     sum(r.time_s for r in rows), share, max(by_bound, key=lambda b: by_bound[b]))
