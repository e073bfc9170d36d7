"""Step time on a named GPU: a roofline model of the traced kernels, plus the host that issues them.

``estimate_time(trace, compute, gpu, precision=..., optimizer=..., params=...)`` is a pure function of
the trace events, the compute census, the device's figures and the typed options. The model
(docs/time.md has the full account and the accuracy table):

* Every aten op that launches a kernel on CUDA is one kernel with ``F`` FLOPs (the compute census's
  figure for that call: causal-aware, so fused attention skips masked blocks) and ``B`` bytes: every
  input read once at its dtype (an expanded view reads its storage, not its expanded size) and every
  output written once. Its time is::

      t = max(F / (peak[unit] * eff[unit]), B / (bandwidth * memory_efficiency)) + kernel_overhead_s

  ``unit`` is where the op's products run: bf16/fp16/fp8 tensor cores for those dtypes; for float32,
  the FP32 pipe for matmuls (PyTorch's default: TF32 off for cuBLAS) and TF32 tensor cores for cuDNN
  convolutions and RNNs (TF32 on for cuDNN by default); the FP32 pipe for everything elementwise.
* Views, ``detach`` and allocations launch no kernel. Fused kernels count once: a
  ``scaled_dot_product_attention`` call (a trace region) is one kernel per phase (forward reads q, k,
  v and the mask and writes the output; backward moves twice that); dropout (``bernoulli_``, ``div_``,
  ``mul`` on meta) is CUDA's one ``native_dropout`` kernel with a one-byte mask; the ops of an
  ``nn.LSTM``/``GRU``/``RNN`` call are cuDNN's RNN: its matmuls are kernels, its gate arithmetic is
  fused into them.
* The optimizer step (not in the trace) is counted from the parameter list: a foreach optimizer reads
  and writes every state tensor once per ``torch._foreach_*`` op (Adam: 18 tensor passes, AdamW 20,
  fused Adam 7, SGD with momentum 8), in launches of at most 320 x 65,536 elements.
* The host issues the ops: ``host_op_s`` per op that launches a kernel and ``host_view_s`` per op
  that does not. The GPU runs ahead of a fast host and waits for a slow one, so the step takes the
  larger of the two totals.

The constants (:class:`~netcensus.results.timing.TimeConstants`) were fitted once on the 32 measured
H200 steps (docs/time.md); nothing in them is per model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from ..devices import DeviceSpec, get_gpu
from ..dtypes import itemsize
from ..events import BACKWARD, FORWARD, OpEvent, TensorMeta, Trace
from ..options import OptimizerSpec, Precision
from ..results.compute import ComputeResult
from ..results.timing import COMPUTE, LAUNCH, MEMORY, LayerTime, OpTime, TimeConstants, TimeResult

DEFAULT_CONSTANTS = TimeConstants()

OPTIMIZER_ROW = "(optimizer)"

NO_KERNEL = frozenset(
    {
        "empty",
        "empty_like",
        "empty_strided",
        "new_empty",
        "new_empty_strided",
        "detach",
        "alias",
        "lift_fresh",
        "_local_scalar_dense",
        "set_",
        "resize_",
        "_reshape_alias",
        "view",
        "_unsafe_view",
        "t",
        "transpose",
        "permute",
        "expand",
        "squeeze",
        "unsqueeze",
        "select",
        "slice",
        "split",
        "split_with_sizes",
        "unbind",
        "unsafe_split",
        "unsafe_split_with_sizes",
        "as_strided",
        "narrow",
        "diagonal",
        "view_as_real",
        "view_as_complex",
        "_conj",
        "_neg_view",
        "chunk",
        "unfold",
        "reshape",
        "expand_as",
        "view_as",
        "scalar_tensor",
        "sym_size",
        "sym_stride",
        "sym_numel",
        "is_same_size",
        "_has_compatible_shallow_copy_type",
    }
)
"""Ops that launch no kernel on CUDA (views, aliases, allocations, metadata; ``scalar_tensor`` makes a
0-d tensor that a following kernel takes as an argument)."""

FILLS = frozenset(
    {
        "zeros",
        "ones",
        "full",
        "fill",
        "fill_",
        "zero_",
        "zeros_like",
        "ones_like",
        "full_like",
        "new_zeros",
        "new_ones",
        "new_full",
        "arange",
        "tril",
        "triu",
    }
)

RNN_TYPES = frozenset({"LSTM", "GRU", "RNN"})

# multi_tensor_apply (ATen/native/cuda/MultiTensorApply.cuh): chunks of 65,536 elements, at most 320
# blocks and (for 3-4 tensor lists) 36-48 tensors per launch.
_CHUNK = 65536
_BLOCKS_PER_LAUNCH = 320
_TENSORS_PER_LAUNCH = 48

# Foreach optimizer steps as torch.optim runs them (torch/optim/adam.py _multi_tensor_adam, sgd.py
# _multi_tensor_sgd; no amsgrad, capturable=False, weight decay as the class applies it): the
# _foreach ops of one step with the full-size tensors each reads and writes.
_FOREACH_STEPS: dict[str, tuple[tuple[str, int], ...]] = {
    # (op, tensor passes: reads + writes of parameter-sized tensors)
    "adam": (
        ("_foreach_lerp_ (m)", 3),
        ("_foreach_mul_ (v)", 2),
        ("_foreach_addcmul_ (v)", 3),
        ("_foreach_sqrt", 2),
        ("_foreach_div_", 2),
        ("_foreach_add_ (eps)", 2),
        ("_foreach_addcdiv_ (p)", 4),
    ),
    "adamw": (
        ("_foreach_mul_ (weight decay)", 2),
        ("_foreach_lerp_ (m)", 3),
        ("_foreach_mul_ (v)", 2),
        ("_foreach_addcmul_ (v)", 3),
        ("_foreach_sqrt", 2),
        ("_foreach_div_", 2),
        ("_foreach_add_ (eps)", 2),
        ("_foreach_addcdiv_ (p)", 4),
    ),
    "sgd": (("_foreach_add_ (p)", 3),),
    "sgd-momentum": (("_foreach_mul_ (buf)", 2), ("_foreach_add_ (buf)", 3), ("_foreach_add_ (p)", 3)),
}
_FUSED_PASSES = {"adam": 7, "adamw": 7, "sgd": 3, "sgd-momentum": 5}
"""Fused optimizers (``fused=True``): one kernel reading p, g and each state tensor, writing p and each
state tensor (Adam: p, g, m, v read; p, m, v written)."""


def _base(op: str) -> str:
    """``"aten.add_.Tensor"`` -> ``"add_"``."""
    parts = op.split(".")
    return parts[1] if len(parts) >= 2 and parts[0] in ("aten", "prims") else parts[0]


def _read_bytes(t: TensorMeta) -> int:
    return min(t.nbytes, t.storage_nbytes) if t.storage_nbytes else t.nbytes


def _first_float(tensors: Iterable[TensorMeta]) -> str | None:
    for t in tensors:
        if t.dtype in ("float32", "float16", "bfloat16", "float64") or t.dtype.startswith("float8"):
            return t.dtype
    return None


_DTYPE_UNIT = {"bfloat16": "bf16", "float16": "fp16", "float64": "fp64"}


class _Model:
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


class _Acc:
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
    """Predict one step's time on ``gpu`` (module docstring). ``params``: the model's
    :class:`~netcensus.analyses.memory.ParamInfo` list (the optimizer updates those that require grad,
    when ``trace.train``). ``samples``/``tokens`` per step default to the batch of the model's first
    input (tokens: batch x sequence length when that input is a 2-d integer tensor)."""
    device = get_gpu(gpu)
    precision = Precision.parse(precision)
    optimizer = OptimizerSpec.parse(optimizer) if isinstance(optimizer, str) else optimizer
    m = _Model(device, constants)
    acc = _Acc()
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

    fused_cores = _unwatched_attention(trace, event_flops, precision)
    if fused_cores:
        assumptions.append(
            f"{len({k for k in fused_cores.values()})} attention core(s) traced on the math path "
            f"outside a watched call (nn.MultiheadAttention's scaled_dot_product_attention) run "
            f"as one fused kernel per phase, as on CUDA"
        )
    cores_seen: set[int] = set()
    for ev in trace.events:
        base = _base(ev.op)
        core_key = fused_cores.get(ev.index)
        if core_key is not None:
            if id(core_key) not in cores_seen:
                cores_seen.add(id(core_key))
                host_ops += 1
                _fused_core(m, acc, core_key)
            continue
        if ev.region is not None and (ev.region, ev.phase) in region_items:
            key = (ev.region, ev.phase)
            if key not in region_seen:
                region_seen.add(key)
                host_ops += 1
                _region(m, acc, trace, region_items[key], ev.phase, precision)
            continue
        inputs = ev.inputs
        if ev.module in rnn_paths:
            flops = event_flops.get(ev.index, 0)
            if base in ("mm", "addmm", "bmm", "baddbmm", "addmv", "mv", "matmul", "linear"):
                unit = m.matmul_unit(_first_float(inputs), cudnn=True)
                nbytes = sum(_read_bytes(t) for t in inputs) + sum(t.nbytes for t in ev.outputs)
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
        nbytes = sum(t.numel if t.storage in masks else _read_bytes(t) for t in inputs)
        nbytes += sum(t.nbytes for t in ev.outputs)
        core = _is_core(compute, ev)
        kernels = max(1, sum(1 for t in ev.outputs if t.numel)) if base == "convolution_backward" else 1
        if core:
            conv = "convolution" in base or base.startswith("cudnn")
            attention = "attention" in base or "flash" in base
            unit = m.matmul_unit(_first_float(inputs), cudnn=conv)
            kind = "conv" if conv else "attention" if attention else "matmul"
            if attention and unit == "tf32":
                unit = "fp32"
            rate_kind = kind
            if kind == "matmul" and unit not in ("fp32", "fp64") and _misaligned(inputs, ev.outputs):
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
                nbytes += _norm_rereads(ev, base)
            times = m.times(flops, nbytes, "fp32", False, kernels, "elementwise", norm)
            if norm and "batch_norm" in base and _mixed_dtypes(inputs):
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
        opt_host, opt_s = _optimizer(m, acc, optimizer, params, precision, assumptions)
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

    layers = _layers(ops, gpu_s)
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


def _is_core(compute: ComputeResult, ev: OpEvent) -> bool:
    base = _base(ev.op)
    return base in (
        "mm",
        "addmm",
        "bmm",
        "baddbmm",
        "matmul",
        "linear",
        "addmv",
        "mv",
        "dot",
        "addbmm",
        "convolution",
        "convolution_backward",
        "cudnn_convolution",
        "_convolution",
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_flash_attention_for_cpu_backward",
        "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_efficient_attention_backward",
        "_scaled_dot_product_flash_attention",
        "_scaled_dot_product_flash_attention_backward",
        "_scaled_dot_product_cudnn_attention",
        "_scaled_dot_product_cudnn_attention_backward",
        "_scaled_mm",
        "_int_mm",
        "conv_transpose2d",
    )


def _region(m: _Model, acc: _Acc, trace: Trace, item: Any, phase: str, precision: Precision) -> None:
    """A fused attention call: one kernel per phase. Under autocast its inputs are cast to the compute
    dtype first (``scaled_dot_product_attention`` is on autocast's lower-precision list)."""
    region = trace.regions[item.region]
    tensors: list[TensorMeta] = []
    _collect(region.args, tensors)
    _collect(tuple(region.kwargs.values()), tensors)
    dtype = precision.compute_dtype if precision.mixed else _first_float(tensors)
    scale = {
        t.dtype: itemsize(dtype) / itemsize(t.dtype)
        for t in tensors
        if dtype and t.dtype != dtype and t.dtype.startswith(("float", "bfloat"))
    }
    nbytes = sum(int(_read_bytes(t) * scale.get(t.dtype, 1.0)) for t in tensors)
    nbytes += sum(t.nbytes for t in region.outputs)
    if phase == BACKWARD:
        nbytes *= 2  # reads q, k, v, out, grad out; writes grad q, k, v
    unit = m.matmul_unit(dtype, cudnn=False)
    if unit == "tf32":
        unit = "fp32"
    flops = item.causal.flops
    compute, memory, overhead = m.times(flops, nbytes, unit, True, 1, "attention")
    p = region.kwargs.get("dropout_p", region.args[4] if len(region.args) > 4 else 0.0)
    if isinstance(p, (int, float)) and p > 0 and tensors:
        head_dim = tensors[0].shape[-1] if tensors[0].shape else 1
        forward_flops = item.causal.flops if phase == FORWARD else item.causal.flops / 2.5
        elements = forward_flops / (4 * max(head_dim, 1))  # attention-probability elements computed
        compute += elements * m.c.dropout_rng_flops / m.peak("fp32", matmul=False)
    acc.add(
        f"{region.name} (fused)",
        item.module,
        phase,
        "attention",
        unit,
        1,
        flops,
        nbytes,
        (compute, memory, overhead),
    )


class _Core:
    """An attention core found on the math path: its events, FLOPs, bytes, dtype, dropout."""

    def __init__(
        self,
        module: str,
        phase: str,
        flops: int,
        nbytes: int,
        dtype: str | None,
        dropout: bool,
        head_dim: int,
        forward_flops: int,
    ):
        self.module, self.phase, self.flops, self.nbytes = module, phase, flops, nbytes
        self.dtype, self.dropout, self.head_dim, self.forward_flops = dtype, dropout, head_dim, forward_flops


_BMM = ("bmm", "baddbmm")
_CORE_EDGE = frozenset({"_to_copy", "mul", "div", "clone"}) | NO_KERNEL


def _unwatched_attention(trace: Trace, event_flops: dict[int, int], precision: Precision) -> dict[int, _Core]:
    """Event index -> its attention core, for ``scaled_dot_product_attention`` calls that ran on the math
    path without a region (``_safe_softmax`` marks that path; eager softmax attention uses ``_softmax``
    and is left alone). Forward: the QK and PV bmm and what lies between, with the casts and scalings
    next to them; backward: the four bmm around ``_softmax_backward_data``."""
    events = trace.events
    by_module: dict[tuple[str, str], list[int]] = {}
    for pos, ev in enumerate(events):
        if ev.region is None:
            by_module.setdefault((ev.module, ev.phase), []).append(pos)
    out: dict[int, _Core] = {}
    forward_cores: dict[str, list[_Core]] = {}
    for (module, phase), positions in by_module.items():
        names = [_base(events[p].op) for p in positions]
        marker = "_safe_softmax" if phase == FORWARD else "_softmax_backward_data"
        want = 1 if phase == FORWARD else 2
        for i, name in enumerate(names):
            if name != marker:
                continue
            if phase == BACKWARD and not forward_cores.get(module):
                continue
            before = [j for j in range(i - 1, -1, -1) if names[j] in _BMM][:want]
            after = [j for j in range(i + 1, len(names)) if names[j] in _BMM][:want]
            if len(before) < want or len(after) < want or any(positions[j] in out for j in (*before, *after)):
                continue
            lo, hi = min(before), max(after)
            while lo > 0 and names[lo - 1] in _CORE_EDGE and positions[lo - 1] not in out:
                lo -= 1
            while (
                hi + 1 < len(names)
                and names[hi + 1] in _CORE_EDGE - {"clone"}
                and positions[hi + 1] not in out
            ):
                hi += 1
            span = [positions[j] for j in range(lo, hi + 1)]
            bmms = [events[positions[j]] for j in (*before, *after)]
            flops = sum(event_flops.get(e.index, 0) for e in bmms)
            if phase == FORWARD:
                qk, pv = events[positions[before[0]]], events[positions[after[0]]]
                dtype = precision.compute_dtype if precision.mixed else _first_float(qk.inputs)
                size = itemsize(dtype or "float32")
                numel = sum(t.numel for t in qk.inputs[-2:]) + pv.inputs[-1].numel + pv.outputs[0].numel
                dropout = any(_base(events[p].op) == "bernoulli_" for p in span)
                head_dim = qk.inputs[-2].shape[-1] if qk.inputs[-2].shape else 1
                core = _Core(module, phase, flops, numel * size, dtype, dropout, head_dim, flops)
                forward_cores.setdefault(module, []).append(core)
            else:
                f = forward_cores[module].pop(0)
                core = _Core(
                    module, phase, flops, 2 * f.nbytes, f.dtype, f.dropout, f.head_dim, f.forward_flops
                )
            for p in span:
                out[events[p].index] = core
    return out


def _fused_core(m: _Model, acc: _Acc, core: _Core) -> None:
    unit = m.matmul_unit(core.dtype, cudnn=False)
    if unit == "tf32":
        unit = "fp32"
    compute, memory, overhead = m.times(core.flops, core.nbytes, unit, True, 1, "attention")
    if core.dropout:
        compute += (
            core.forward_flops
            / (4 * max(core.head_dim, 1))
            * m.c.dropout_rng_flops
            / m.peak("fp32", matmul=False)
        )
    acc.add(
        "scaled_dot_product_attention (fused)",
        core.module,
        core.phase,
        "attention",
        unit,
        1,
        core.flops,
        core.nbytes,
        (compute, memory, overhead),
    )


def _norm_rereads(ev: OpEvent, base: str) -> int:
    """Bytes a normalization reads a second time: a training batch norm reads its input once for the
    statistics and once to normalize; a norm's backward reads input and output gradient once for the
    reductions (weight/bias gradients, the mean terms) and once for the input gradient."""
    ins = ev.inputs
    if base.endswith("_backward") and len(ins) >= 2:
        return _read_bytes(ins[0]) + _read_bytes(ins[1])
    if "batch_norm" in base and ins and any(a is True for a in ev.args[5:6]):
        return _read_bytes(ins[0])
    return 0


def _mixed_dtypes(inputs: Sequence[TensorMeta]) -> bool:
    dtypes = {t.dtype for t in inputs if t.dtype in ("float32", "bfloat16", "float16")}
    return "float32" in dtypes and len(dtypes) > 1


def _misaligned(inputs: Sequence[TensorMeta], outputs: Sequence[TensorMeta]) -> bool:
    """Whether a matmul has a matrix dimension whose size in bytes is not a multiple of 16."""
    for t in (*inputs, *outputs):
        if len(t.shape) < 2:
            continue
        size = itemsize(t.dtype)
        if any(d > 1 and (d * size) % 16 for d in t.shape[-2:]):
            return True
    return False


def _collect(value: Any, out: list[TensorMeta]) -> None:
    if isinstance(value, TensorMeta):
        out.append(value)
    elif isinstance(value, (tuple, list)):
        for v in value:
            _collect(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _collect(v, out)


def _optimizer(
    m: _Model,
    acc: _Acc,
    spec: OptimizerSpec,
    params: Sequence[Any],
    precision: Precision,
    assumptions: list[str],
) -> tuple[int, float]:
    """Kernels of one optimizer step; returns (host ops, GPU seconds)."""
    trainable = [
        p
        for p in params
        if getattr(p, "requires_grad", False) and getattr(p, "kind", "parameter") == "parameter"
    ]
    if not trainable:
        return 0, 0.0
    kw = spec.constructor_kwargs()
    name = spec.name
    if name == "sgd" and kw.get("momentum"):
        name = "sgd-momentum"
    numels = [p.numel for p in trainable]
    elements = sum(numels)
    # state and gradients have the parameters' dtype; a low-precision model under a mixed policy keeps an
    # fp32 master copy (counted by the memory analysis), updated in fp32
    size = sum(p.numel * itemsize(p.dtype) for p in trainable)
    if precision.mixed and any(p.dtype in ("bfloat16", "float16") for p in trainable):
        size = elements * 4
    fused = bool(kw.get("fused"))
    foreach = kw.get("foreach")
    chunks = sum(math.ceil(n / _CHUNK) for n in numels)
    per_op = max(math.ceil(len(numels) / _TENSORS_PER_LAUNCH), math.ceil(chunks / _BLOCKS_PER_LAUNCH))
    label = spec.describe()
    if fused and name in _FUSED_PASSES:
        passes = _FUSED_PASSES[name]
        steps: tuple[tuple[str, int], ...] = ((f"_fused_{name.split('-')[0]}_", passes),)
        assumptions.append(
            f"optimizer {label}: one fused kernel per {_TENSORS_PER_LAUNCH} tensors reading and "
            f"writing {passes} parameter-sized tensors"
        )
    elif name in _FOREACH_STEPS:
        steps = _FOREACH_STEPS[name]
        passes = sum(p for _, p in steps)
        assumptions.append(
            f"optimizer {label}: {'per-parameter loops' if foreach is False else 'foreach'} "
            f"(torch's CUDA default), {len(steps)} ops, {passes} parameter-sized tensor passes"
        )
    else:
        states = {
            "adagrad": 1,
            "rmsprop": 1,
            "adamax": 2,
            "nadam": 2,
            "radam": 2,
            "adadelta": 2,
            "rprop": 2,
            "adam8bit": 2,
        }.get(name, 2)
        steps = (("foreach update (estimated)", 2 * (states + 1) + 1),) * 4
        passes = sum(p for _, p in steps)
        assumptions.append(
            f"optimizer {label}: no kernel-level recipe; estimated as 4 foreach ops of "
            f"{passes // 4} tensor passes each"
        )
    if foreach is False and not fused:
        per_op = len(numels)
    host = 0
    total = 0.0
    for op, p in steps:
        nbytes = p * size
        flops = p * elements  # about one FLOP per element per pass: always memory-bound
        times = m.times(flops, nbytes, "fp32", False, per_op)
        acc.add(op, OPTIMIZER_ROW, "optimizer", "optimizer", "fp32", per_op, flops, nbytes, times)
        total += max(times[0], times[1]) + times[2]
        host += per_op
    return host, total


def _layers(ops: list[OpTime], gpu_s: float) -> tuple[LayerTime, ...]:
    groups: dict[str, list[OpTime]] = {}
    for o in ops:
        groups.setdefault(o.module, []).append(o)
    out = []
    for path, rows in groups.items():
        by: dict[str, float] = {}
        for r in rows:
            by[r.bound] = by.get(r.bound, 0.0) + r.time_s
        t = sum(r.time_s for r in rows)
        out.append(
            LayerTime(
                path,
                sum(r.kernels for r in rows),
                sum(r.flops for r in rows),
                sum(r.bytes for r in rows),
                sum(r.compute_s for r in rows),
                sum(r.memory_s for r in rows),
                sum(r.overhead_s for r in rows),
                t,
                t / gpu_s if gpu_s else 0.0,
                max(by, key=lambda b: by[b]),
            )
        )
    out.sort(key=lambda r: -r.time_s)
    return tuple(out)


def _batch(trace: Trace) -> tuple[int | None, int | None]:
    """(samples, tokens) of the model's first input."""
    root = next((c for c in trace.calls if c.depth == 0), None)
    if root is None:
        return None, None
    found: list[TensorMeta] = []
    _collect(root.inputs, found)
    _collect(root.kwargs, found)
    if not found:
        return None, None
    t = found[0]
    if not t.shape:
        return None, None
    if t.dtype in ("int64", "int32") and len(t.shape) == 2:
        return t.shape[0], t.shape[0] * t.shape[1]
    return t.shape[0], None


__all__ = ["DEFAULT_CONSTANTS", "OPTIMIZER_ROW", "estimate_time"]
