"""Fused attention in the step-time model: one kernel per phase.

A watched ``scaled_dot_product_attention`` call (a trace region) is timed as one kernel per phase
(:func:`fused_region`); an attention core traced on the math path outside a watched call
(``nn.MultiheadAttention``'s, found by :func:`unwatched_attention`) runs as the same one fused kernel
on CUDA (:func:`fused_core`). Dropout inside the kernel adds its random-number work on the FP32 pipe.
"""

from __future__ import annotations

from typing import Any

from ...dtypes import itemsize
from ...events import BACKWARD, FORWARD, TensorMeta, Trace
from ...options import Precision
from .kernels import NO_KERNEL, collect_tensors, first_float, op_base, read_bytes
from .model import Accumulator, Model


def fused_region(
    m: Model, acc: Accumulator, trace: Trace, item: Any, phase: str, precision: Precision
) -> None:
    """A fused attention call: one kernel per phase. Under autocast its inputs are cast to the compute
    dtype first (``scaled_dot_product_attention`` is on autocast's lower-precision list)."""
    region = trace.regions[item.region]
    tensors: list[TensorMeta] = []
    collect_tensors(region.args, tensors)
    collect_tensors(tuple(region.kwargs.values()), tensors)
    dtype = precision.compute_dtype if precision.mixed else first_float(tensors)
    scale = {
        t.dtype: itemsize(dtype) / itemsize(t.dtype)
        for t in tensors
        if dtype and t.dtype != dtype and t.dtype.startswith(("float", "bfloat"))
    }
    nbytes = sum(int(read_bytes(t) * scale.get(t.dtype, 1.0)) for t in tensors)
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


class AttentionCore:
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


def unwatched_attention(
    trace: Trace, event_flops: dict[int, int], precision: Precision
) -> dict[int, AttentionCore]:
    """Event index -> its attention core, for ``scaled_dot_product_attention`` calls that ran on the math
    path without a region (``_safe_softmax`` marks that path; eager softmax attention uses ``_softmax``
    and is left alone). Forward: the QK and PV bmm and what lies between, with the casts and scalings
    next to them; backward: the four bmm around ``_softmax_backward_data``."""
    events = trace.events
    by_module: dict[tuple[str, str], list[int]] = {}
    for pos, ev in enumerate(events):
        if ev.region is None:
            by_module.setdefault((ev.module, ev.phase), []).append(pos)
    out: dict[int, AttentionCore] = {}
    forward_cores: dict[str, list[AttentionCore]] = {}
    for (module, phase), positions in by_module.items():
        names = [op_base(events[p].op) for p in positions]
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
                dtype = precision.compute_dtype if precision.mixed else first_float(qk.inputs)
                size = itemsize(dtype or "float32")
                numel = sum(t.numel for t in qk.inputs[-2:]) + pv.inputs[-1].numel + pv.outputs[0].numel
                dropout = any(op_base(events[p].op) == "bernoulli_" for p in span)
                head_dim = qk.inputs[-2].shape[-1] if qk.inputs[-2].shape else 1
                core = AttentionCore(module, phase, flops, numel * size, dtype, dropout, head_dim, flops)
                forward_cores.setdefault(module, []).append(core)
            else:
                f = forward_cores[module].pop(0)
                core = AttentionCore(
                    module, phase, flops, 2 * f.nbytes, f.dtype, f.dropout, f.head_dim, f.forward_flops
                )
            for p in span:
                out[events[p].index] = core
    return out


def fused_core(m: Model, acc: Accumulator, core: AttentionCore) -> None:
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
