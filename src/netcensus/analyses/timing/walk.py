"""The walk over the trace events that sends each op to its kernel (:func:`walk_events`).

Each event is one of: part of a fused attention core or of a watched region (one kernel per phase,
:mod:`.attention`); an op of an ``nn.LSTM``/``GRU``/``RNN`` call (cuDNN's RNN: its matmuls are kernels,
its gate arithmetic fused into them); an op that launches no kernel (a view, an allocation, dropout's
``div_`` by its mask); or a kernel, timed on the roofline (:class:`.model.Model`) as a core op (matmul,
convolution, attention) or as an elementwise, copy, fill or norm op. The walk also counts what the
host issues: ops that launch a kernel and ops that do not.
"""

from __future__ import annotations

from typing import Any

from ...events import OpEvent, Trace
from ...options import Precision
from ...results.compute import ComputeResult
from .attention import fused_core, fused_region, unwatched_attention
from .kernels import (
    FILLS,
    NO_KERNEL,
    RNN_TYPES,
    first_float,
    is_core,
    is_misaligned,
    mixed_dtypes,
    norm_rereads,
    op_base,
    read_bytes,
)
from .model import Accumulator, Model

_MATMULS = ("mm", "addmm", "bmm", "baddbmm", "addmv", "mv", "matmul", "linear")
_COPIES = ("clone", "copy_", "_to_copy", "cat", "stack", "contiguous", "copy")


class EventWalk:
    """The kernels of the trace's events, added to ``acc``; the host's op counts in ``host_ops``
    (ops that launch a kernel), ``host_views`` (ops that do not); ``misaligned`` matmul calls."""

    def __init__(self, trace: Trace, compute: ComputeResult, m: Model, acc: Accumulator,
                 precision: Precision):
        self.trace, self.compute, self.m, self.acc, self.precision = trace, compute, m, acc, precision
        self.event_flops: dict[int, int] = {}
        self.region_items: dict[tuple[int, str], Any] = {}
        for item in compute.items:
            if item.status == "region" and item.region is not None:
                self.region_items[(item.region, item.phase)] = item
            elif item.event is not None:
                self.event_flops[item.event] = item.causal.flops
        self.rnn_paths = {c.path for c in trace.calls if c.type in RNN_TYPES}
        self.masks: set[int] = set()
        self.region_seen: set[tuple[int, str]] = set()
        self.cores_seen: set[int] = set()
        self.host_ops = 0
        self.host_views = 0
        self.misaligned = 0
        self.fused_cores = unwatched_attention(trace, self.event_flops, precision)

    def run(self, assumptions: list[str]) -> None:
        """Walk every event; say what was assumed about attention cores and RNNs."""
        if self.fused_cores:
            assumptions.append(
                f"{len({k for k in self.fused_cores.values()})} attention core(s) traced on the math path "
                f"outside a watched call (nn.MultiheadAttention's scaled_dot_product_attention) run "
                f"as one fused kernel per phase, as on CUDA"
            )
        for ev in self.trace.events:
            self.event(ev)
        rnn_calls = sum(1 for c in self.trace.calls if c.type in RNN_TYPES)
        self.host_ops += 2 * rnn_calls if self.trace.train else rnn_calls
        if self.rnn_paths:
            assumptions.append(
                "nn.LSTM/GRU/RNN run as cuDNN's RNN: each of its matmuls a kernel on TF32 tensor cores "
                "(cuDNN's default for float32), the gate arithmetic fused into them"
            )

    def event(self, ev: OpEvent) -> None:
        """Send one event to its kernel (or to none)."""
        base = op_base(ev.op)
        if self._fused(ev):
            return
        if ev.module in self.rnn_paths:
            self._rnn(ev, base)
            return
        if self._no_kernel(ev, base):
            return
        inputs = ev.inputs
        if not ev.outputs and not inputs:
            return
        self.host_ops += 1
        flops = self.event_flops.get(ev.index, 0)
        nbytes = sum(t.numel if t.storage in self.masks else read_bytes(t) for t in inputs)
        nbytes += sum(t.nbytes for t in ev.outputs)
        kernels = max(1, sum(1 for t in ev.outputs if t.numel)) if base == "convolution_backward" else 1
        if is_core(self.compute, ev):
            self._core(ev, base, flops, nbytes, kernels)
        else:
            self._other(ev, base, flops, nbytes, kernels)

    def _fused(self, ev: OpEvent) -> bool:
        """Whether ``ev`` is part of a fused attention core or a watched region (counted once per phase)."""
        core_key = self.fused_cores.get(ev.index)
        if core_key is not None:
            if id(core_key) not in self.cores_seen:
                self.cores_seen.add(id(core_key))
                self.host_ops += 1
                fused_core(self.m, self.acc, core_key)
            return True
        if ev.region is not None and (ev.region, ev.phase) in self.region_items:
            key = (ev.region, ev.phase)
            if key not in self.region_seen:
                self.region_seen.add(key)
                self.host_ops += 1
                fused_region(self.m, self.acc, self.trace, self.region_items[key], ev.phase, self.precision)
            return True
        return False

    def _rnn(self, ev: OpEvent, base: str) -> None:
        """An op of an RNN module: cuDNN's RNN runs its matmuls as kernels and fuses its gates into them."""
        flops = self.event_flops.get(ev.index, 0)
        if base in _MATMULS:
            unit = self.m.matmul_unit(first_float(ev.inputs), cudnn=True)
            nbytes = sum(read_bytes(t) for t in ev.inputs) + sum(t.nbytes for t in ev.outputs)
            self.acc.add("cudnn_rnn (gemm)", ev.module, ev.phase, "rnn", unit, 1, flops, nbytes,
                         self.m.times(flops, nbytes, unit, True, 1))
        elif flops:
            self.acc.add("cudnn_rnn (fused gates)", ev.module, ev.phase, "rnn", "fp32", 0, flops, 0,
                         (0.0, 0.0, 0.0))

    def _no_kernel(self, ev: OpEvent, base: str) -> bool:
        """Whether ``ev`` launches no kernel of its own (counted as a host view, or dropout's one op)."""
        inputs = ev.inputs
        if (
            base in NO_KERNEL
            or base == "bernoulli_"
            or (base == "div_" and inputs and inputs[0].storage in self.masks)
        ):
            if base == "bernoulli_":
                self.masks.update(t.storage for t in ev.outputs)
                self.host_ops += 1
            else:
                self.host_views += 1
            return True
        in_storages = {t.storage for t in inputs}
        if (
            not base.endswith("_")
            and ev.outputs
            and all(t.storage in in_storages for t in ev.outputs)
            and base not in ("clone", "copy", "_to_copy", "contiguous")
        ):
            self.host_views += 1  # an op returning views of its inputs
            return True
        return False

    def _core(self, ev: OpEvent, base: str, flops: int, nbytes: int, kernels: int) -> None:
        """A matmul, convolution or attention kernel, on the unit its inputs' dtype selects."""
        conv = "convolution" in base or base.startswith("cudnn")
        attention = "attention" in base or "flash" in base
        unit = self.m.matmul_unit(first_float(ev.inputs), cudnn=conv)
        kind = "conv" if conv else "attention" if attention else "matmul"
        if attention and unit == "tf32":
            unit = "fp32"
        rate_kind = kind
        if kind == "matmul" and unit not in ("fp32", "fp64") and is_misaligned(ev.inputs, ev.outputs):
            rate_kind = "misaligned"
            self.misaligned += 1
        self.acc.add(ev.op, ev.module, ev.phase, kind, unit, kernels, flops, nbytes,
                     self.m.times(flops, nbytes, unit, True, kernels, rate_kind))

    def _other(self, ev: OpEvent, base: str, flops: int, nbytes: int, kernels: int) -> None:
        """An elementwise, copy, fill or norm kernel on the FP32 pipe."""
        kind = "fill" if base in FILLS else "copy" if base in _COPIES else "elementwise"
        norm = "norm" in base
        if norm:
            kind = "norm"
            nbytes += norm_rereads(ev, base)
        times = self.m.times(flops, nbytes, "fp32", False, kernels, "elementwise", norm)
        if norm and "batch_norm" in base and mixed_dtypes(ev.inputs):
            # autocast: a bf16/fp16 input with float32 weights runs ATen's native batch norm, not cuDNN's
            times = (
                times[0],
                nbytes / (self.m.gpu.bandwidth * self.m.c.mixed_batch_norm_efficiency),
                times[2],
            )
        self.acc.add(ev.op, ev.module, ev.phase, kind, "fp32", kernels, flops, nbytes, times)
