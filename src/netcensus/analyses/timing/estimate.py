"""``estimate_time``: one step's time on a named GPU, from the trace, the compute census and the device.

The walk over the trace events that sends each op to its kernel (:mod:`.kernels`, :mod:`.attention`),
adds the optimizer step (:mod:`.optimizer`), times the kernels on the roofline (:mod:`.model`) and
compares the GPU total with the host that issues the ops. The package docstring has the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...devices import DeviceSpec, get_gpu
from ...events import TensorMeta, Trace
from ...options import OptimizerSpec, Precision
from ...results.compute import ComputeResult
from ...results.timing import COMPUTE, LAUNCH, MEMORY, TimeConstants, TimeResult
from .attention import fused_core, fused_region, unwatched_attention
from .kernels import (
    FILLS,
    NO_KERNEL,
    RNN_TYPES,
    collect_tensors,
    first_float,
    is_core,
    is_misaligned,
    mixed_dtypes,
    norm_rereads,
    op_base,
    read_bytes,
)
from .model import DEFAULT_CONSTANTS, Accumulator, Model, layer_rows
from .optimizer import optimizer_kernels


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
    notes: list[str] = []

    event_flops: dict[int, int] = {}
    region_items: dict[tuple[int, str], Any] = {}
    for item in compute.items:
        if item.status == "region" and item.region is not None:
            region_items[(item.region, item.phase)] = item
        elif item.event is not None:
            event_flops[item.event] = item.causal.flops

    rnn_paths = {c.path for c in trace.calls if c.type in RNN_TYPES}
    rnn_calls = sum(1 for c in trace.calls if c.type in RNN_TYPES)
    masks: set[int] = set()
    region_seen: set[tuple[int, str]] = set()
    host_ops = 0
    host_views = 0
    misaligned = 0

    fused_cores = unwatched_attention(trace, event_flops, precision)
    if fused_cores:
        assumptions.append(
            f"{len({k for k in fused_cores.values()})} attention core(s) traced on the math path "
            f"outside a watched call (nn.MultiheadAttention's scaled_dot_product_attention) run "
            f"as one fused kernel per phase, as on CUDA"
        )
    cores_seen: set[int] = set()
    for ev in trace.events:
        base = op_base(ev.op)
        core_key = fused_cores.get(ev.index)
        if core_key is not None:
            if id(core_key) not in cores_seen:
                cores_seen.add(id(core_key))
                host_ops += 1
                fused_core(m, acc, core_key)
            continue
        if ev.region is not None and (ev.region, ev.phase) in region_items:
            key = (ev.region, ev.phase)
            if key not in region_seen:
                region_seen.add(key)
                host_ops += 1
                fused_region(m, acc, trace, region_items[key], ev.phase, precision)
            continue
        inputs = ev.inputs
        if ev.module in rnn_paths:
            flops = event_flops.get(ev.index, 0)
            if base in ("mm", "addmm", "bmm", "baddbmm", "addmv", "mv", "matmul", "linear"):
                unit = m.matmul_unit(first_float(inputs), cudnn=True)
                nbytes = sum(read_bytes(t) for t in inputs) + sum(t.nbytes for t in ev.outputs)
                acc.add(
                    "cudnn_rnn (gemm)",
                    ev.module,
                    ev.phase,
                    "rnn",
                    unit,
                    1,
                    flops,
                    nbytes,
                    m.times(flops, nbytes, unit, True, 1),
                )
            elif flops:
                acc.add(
                    "cudnn_rnn (fused gates)",
                    ev.module,
                    ev.phase,
                    "rnn",
                    "fp32",
                    0,
                    flops,
                    0,
                    (0.0, 0.0, 0.0),
                )
            continue
        if (
            base in NO_KERNEL
            or base == "bernoulli_"
            or (base == "div_" and inputs and inputs[0].storage in masks)
        ):
            if base == "bernoulli_":
                masks.update(t.storage for t in ev.outputs)
                host_ops += 1
            else:
                host_views += 1
            continue
        in_storages = {t.storage for t in inputs}
        if (
            not base.endswith("_")
            and ev.outputs
            and all(t.storage in in_storages for t in ev.outputs)
            and base not in ("clone", "copy", "_to_copy", "contiguous")
        ):
            host_views += 1  # an op returning views of its inputs
            continue
        if not ev.outputs and not inputs:
            continue
        host_ops += 1
        flops = event_flops.get(ev.index, 0)
        nbytes = sum(t.numel if t.storage in masks else read_bytes(t) for t in inputs)
        nbytes += sum(t.nbytes for t in ev.outputs)
        core = is_core(compute, ev)
        kernels = max(1, sum(1 for t in ev.outputs if t.numel)) if base == "convolution_backward" else 1
        if core:
            conv = "convolution" in base or base.startswith("cudnn")
            attention = "attention" in base or "flash" in base
            unit = m.matmul_unit(first_float(inputs), cudnn=conv)
            kind = "conv" if conv else "attention" if attention else "matmul"
            if attention and unit == "tf32":
                unit = "fp32"
            rate_kind = kind
            if kind == "matmul" and unit not in ("fp32", "fp64") and is_misaligned(inputs, ev.outputs):
                rate_kind = "misaligned"
                misaligned += 1
            acc.add(
                ev.op,
                ev.module,
                ev.phase,
                kind,
                unit,
                kernels,
                flops,
                nbytes,
                m.times(flops, nbytes, unit, True, kernels, rate_kind),
            )
        else:
            kind = (
                "fill"
                if base in FILLS
                else "copy"
                if base in ("clone", "copy_", "_to_copy", "cat", "stack", "contiguous", "copy")
                else "elementwise"
            )
            norm = "norm" in base
            if norm:
                kind = "norm"
                nbytes += norm_rereads(ev, base)
            times = m.times(flops, nbytes, "fp32", False, kernels, "elementwise", norm)
            if norm and "batch_norm" in base and mixed_dtypes(inputs):
                # autocast: a bf16/fp16 input with float32 weights runs ATen's native batch norm, not cuDNN's
                times = (
                    times[0],
                    nbytes / (device.bandwidth * constants.mixed_batch_norm_efficiency),
                    times[2],
                )
            acc.add(ev.op, ev.module, ev.phase, kind, "fp32", kernels, flops, nbytes, times)
    host_ops += 2 * rnn_calls if trace.train else rnn_calls
    if rnn_paths:
        assumptions.append(
            "nn.LSTM/GRU/RNN run as cuDNN's RNN: each of its matmuls a kernel on TF32 tensor cores "
            "(cuDNN's default for float32), the gate arithmetic fused into them"
        )

    opt_host = 0
    opt_s = 0.0
    if trace.train and optimizer is not None:
        opt_host, opt_s = optimizer_kernels(m, acc, optimizer, params, precision, assumptions)
        host_ops += opt_host

    ops = acc.result()
    gpu_s = sum(o.time_s for o in ops)
    module_calls = len(trace.calls)
    host_s = (
        host_ops * constants.host_op_s
        + host_views * constants.host_view_s
        + module_calls * constants.host_module_s
    )
    step_s = max(gpu_s, host_s)
    bound_s = {COMPUTE: 0.0, MEMORY: 0.0, LAUNCH: 0.0}
    for row in acc.rows.values():
        for b, t in row[8].items():
            bound_s[b] += t
    bound = LAUNCH if host_s > gpu_s else max(bound_s, key=lambda b: bound_s[b])

    layers = layer_rows(ops, gpu_s)
    flops = compute.totals.total.flops
    mfu_unit = m.matmul_unit(precision.compute_dtype, cudnn=False)
    mfu_peak = (
        (device.fp32_matmul or device.peak["fp32"]) if mfu_unit == "fp32" else device.peak.get(mfu_unit, 0.0)
    )
    s, tk = _batch(trace)
    samples = samples if samples is not None else s
    tokens = tokens if tokens is not None else tk
    assumptions += [
        f"{device.name}: dense peaks "
        f"{', '.join(f'{k} {v / 1e12:g}' for k, v in device.peak.items())} TFLOP/s, "
        f"{device.bandwidth / 1e12:g} TB/s",
        "float32 matmuls on the FP32 pipe (torch.backends.cuda.matmul.allow_tf32=False), "
        "cuDNN convolutions on TF32 (torch.backends.cudnn.allow_tf32=True): PyTorch's defaults"
        if device.cudnn_tf32 and not device.matmul_tf32
        else f"TF32: matmul {device.matmul_tf32}, cuDNN {device.cudnn_tf32}",
        "fused attention (scaled_dot_product_attention) is one kernel per phase, its FLOPs causal-aware",
        "the step is eager PyTorch: no torch.compile, no CUDA graphs, no overlap between steps",
        "host time per op and per module call as fitted on the H200 machine's CPU (the same for every GPU)",
        f"MFU = model FLOPs (the compute census, dense, optimizer excluded) / (step time x {mfu_unit} peak "
        f"{mfu_peak / 1e12:g} TFLOP/s)",
    ]
    if misaligned:
        assumptions.append(
            f"{misaligned} matmul call(s) have a dimension whose size in bytes is not a multiple "
            f"of 16: timed at misaligned_efficiency of the tensor-core peak"
        )
    if compute.coverage.unsupported:
        notes.append(
            f"{compute.coverage.unsupported} op call(s) have no FLOP formula: timed by their bytes only"
        )
    result = TimeResult(
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
        host_ops=host_ops + host_views,
        layers=layers,
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
    return result.with_measured(measured_step) if measured_step else result


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
