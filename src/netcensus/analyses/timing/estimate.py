"""``estimate_time``: one step's time on a named GPU, from the trace, the compute census and the device.

The walk over the trace events that sends each op to its kernel (:mod:`.walk`, with :mod:`.kernels` and
:mod:`.attention`), adds the optimizer step (:mod:`.optimizer`), times the kernels on the roofline
(:mod:`.model`) and compares the GPU total with the host that issues the ops. The package docstring has
the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...devices import DeviceSpec, get_gpu
from ...events import TensorMeta, Trace
from ...options import OptimizerSpec, Precision
from ...results.compute import ComputeResult
from ...results.timing import COMPUTE, LAUNCH, MEMORY, TimeConstants, TimeResult
from .kernels import collect_tensors
from .model import DEFAULT_CONSTANTS, Accumulator, Model, layer_rows
from .optimizer import optimizer_kernels
from .walk import EventWalk


def estimate_time(
    trace: Trace,
    compute: ComputeResult,
    gpu: DeviceSpec | str,
    *,
    precision: Precision | str = Precision.FP32,
    optimizer: OptimizerSpec | str | None = None,
    params: Sequence[Any] = (),
    constants: TimeConstants = DEFAULT_CONSTANTS,
    samples: int | None = None,
    tokens: int | None = None,
    measured_step: float | None = None,
) -> TimeResult:
    """Predict one step's time on ``gpu`` (the model: the :mod:`netcensus.analyses.timing` docstring).
    ``params``: the model's :class:`~netcensus.analyses.memory.ParamInfo` list (the optimizer updates
    those that require grad, when ``trace.train``). ``samples``/``tokens`` per step default to the batch
    of the model's first input (tokens: batch x sequence length when that input is a 2-d integer
    tensor)."""
    device = get_gpu(gpu)
    precision = Precision.parse(precision)
    optimizer = OptimizerSpec.parse(optimizer) if isinstance(optimizer, str) else optimizer
    m = Model(device, constants)
    acc = Accumulator()
    assumptions: list[str] = []
    walk = EventWalk(trace, compute, m, acc, precision)
    walk.run(assumptions)
    opt_host, opt_s = 0, 0.0
    if trace.train and optimizer is not None:
        opt_host, opt_s = optimizer_kernels(m, acc, optimizer, params, precision, assumptions)
    result = _result(trace, compute, m, acc, precision, walk, opt_host, opt_s, assumptions, samples, tokens)
    return result.with_measured(measured_step) if measured_step else result


def _result(trace: Trace, compute: ComputeResult, m: Model, acc: Accumulator, precision: Precision,
            walk: EventWalk, opt_host: int, opt_s: float, assumptions: list[str], samples: int | None,
            tokens: int | None) -> TimeResult:
    """The step: the GPU's kernels against the host's ops, what bounds it, its throughput and MFU."""
    device, constants = m.gpu, m.c
    host_ops = walk.host_ops + opt_host
    ops = acc.result()
    gpu_s = sum(o.time_s for o in ops)
    host_s = (
        host_ops * constants.host_op_s
        + walk.host_views * constants.host_view_s
        + len(trace.calls) * constants.host_module_s
    )
    step_s = max(gpu_s, host_s)
    bound_s, bound = _bound(acc, gpu_s, host_s)
    mfu_unit, mfu_peak = _mfu_peak(m, precision)
    s, tk = _batch(trace)
    samples = samples if samples is not None else s
    tokens = tokens if tokens is not None else tk
    notes = _closing_assumptions(device, compute, walk, mfu_unit, mfu_peak, assumptions)
    flops = compute.totals.total.flops
    return TimeResult(
        gpu=device.name,
        device=device.to_dict(),
        precision=precision.value,
        step_s=step_s,
        gpu_s=gpu_s,
        host_s=host_s,
        optimizer_s=opt_s,
        bound=bound,
        bound_s=bound_s,
        flops=flops,
        bytes=sum(o.bytes for o in ops),
        kernels=sum(o.kernels for o in ops),
        host_ops=host_ops + walk.host_views,
        layers=layer_rows(ops, gpu_s),
        ops=tuple(sorted(ops, key=lambda o: -o.time_s)),
        samples=samples,
        tokens=tokens,
        samples_per_s=samples / step_s if samples and step_s else None,
        tokens_per_s=tokens / step_s if tokens and step_s else None,
        mfu=flops / (step_s * mfu_peak) if step_s and mfu_peak else 0.0,
        mfu_unit=mfu_unit,
        mfu_peak=mfu_peak,
        constants=constants,
        assumptions=tuple(assumptions),
        notes=tuple(notes),
    )


def _closing_assumptions(device: DeviceSpec, compute: ComputeResult, walk: EventWalk, mfu_unit: str,
                         mfu_peak: float, assumptions: list[str]) -> list[str]:
    """Add the device's and the misaligned matmuls' assumptions to ``assumptions``; return the notes."""
    assumptions += _device_assumptions(device, mfu_unit, mfu_peak)
    if walk.misaligned:
        assumptions.append(
            f"{walk.misaligned} matmul call(s) have a dimension whose size in bytes is not a multiple "
            f"of 16: timed at misaligned_efficiency of the tensor-core peak"
        )
    notes: list[str] = []
    if compute.coverage.unsupported:
        notes.append(
            f"{compute.coverage.unsupported} op call(s) have no FLOP formula: timed by their bytes only"
        )
    return notes


def _bound(acc: Accumulator, gpu_s: float, host_s: float) -> tuple[dict[str, float], str]:
    """Seconds of the GPU's kernels by what bounds them, and what bounds the step: the host when it is
    slower than the GPU, else the bound with the most time."""
    bound_s = {COMPUTE: 0.0, MEMORY: 0.0, LAUNCH: 0.0}
    for row in acc.rows.values():
        for b, t in row[8].items():
            bound_s[b] += t
    bound = LAUNCH if host_s > gpu_s else max(bound_s, key=lambda b: bound_s[b])
    return bound_s, bound


def _mfu_peak(m: Model, precision: Precision) -> tuple[str, float]:
    """The unit of the precision's matmuls and its peak FLOP/s, the denominator of MFU."""
    device = m.gpu
    mfu_unit = m.matmul_unit(precision.compute_dtype, cudnn=False)
    mfu_peak = (
        (device.fp32_matmul or device.peak["fp32"]) if mfu_unit == "fp32" else device.peak.get(mfu_unit, 0.0)
    )
    return mfu_unit, mfu_peak


def _device_assumptions(device: DeviceSpec, mfu_unit: str, mfu_peak: float) -> list[str]:
    """The device's figures, PyTorch's TF32 defaults, the eager step, the host and MFU."""
    return [
        f"{device.name}: dense peaks "
        f"{', '.join(f'{k} {v / 1e12:g}' for k, v in device.peak.items())} TFLOP/s, "
        f"{device.bandwidth / 1e12:g} TB/s",
        "float32 matmuls on the FP32 pipe (torch.backends.cuda.matmul.allow_tf32=False), "
        "cuDNN convolutions on TF32 (torch.backends.cudnn.allow_tf32=True): PyTorch's defaults"
        if device.cudnn_tf32 and not device.matmul_tf32
        else f"TF32: matmul {device.matmul_tf32}, cuDNN {device.cudnn_tf32}",
        "fused attention (scaled_dot_product_attention, flex_attention) is one kernel per phase, its FLOPs "
        "causal- or mask-aware",
        "the step is eager PyTorch: no torch.compile, no CUDA graphs, no overlap between steps",
        "host time per op and per module call as fitted on the H200 machine's CPU (the same for every GPU)",
        f"MFU = model FLOPs (the compute census, dense, optimizer excluded) / (step time x {mfu_unit} peak "
        f"{mfu_peak / 1e12:g} TFLOP/s)",
    ]


def _batch(trace: Trace) -> tuple[int | None, int | None]:
    """(samples, tokens) of the model's first input."""
    root = next((c for c in trace.calls if c.depth == 0), None)
    if root is None:
        return None, None
    found: list[TensorMeta] = []
    collect_tensors(root.inputs, found)
    collect_tensors(root.kwargs, found)
    if not found:
        return None, None
    t = found[0]
    if not t.shape:
        return None, None
    if t.dtype in ("int64", "int32") and len(t.shape) == 2:
        return t.shape[0], t.shape[0] * t.shape[1]
    return t.shape[0], None


__all__ = ["estimate_time"]
