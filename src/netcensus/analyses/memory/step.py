"""Memory of one step: weights, buffers, gradients, optimizer state, activations and the peak.

``analyze_memory(trace, params, ...)`` is a pure function of a :class:`~netcensus.events.Trace`
and a plain description of the parameters (:class:`~netcensus.analyses.memory.params.ParamInfo`, built with
:func:`~netcensus.analyses.memory.params.param_infos`). The building blocks live in this package;
docs/memory.md states the model, every formula and what is not modelled.

The step
--------
* Inference (a trace without backward): live bytes over the forward = weights + buffers + the
  trace's storages alive at each op (:mod:`netcensus.analyses.memory.timeline`).
* Training (steady state, any step after the first): optimizer state exists throughout (allocated by
  the first step, kept); gradients do not exist at the start of the forward (``zero_grad`` sets them
  to None, PyTorch's default) and appear during backward as the trace shows; then the optimizer step
  runs with weights, gradients, state, what the step left alive and the step's own temporaries.
  ``training_peak`` is the larger of the forward/backward peak and the step's.

The device
----------
``target="cpu"`` (this function's default) counts exact storage bytes, as a CPU run allocates them.
``target="cuda"`` (``netcensus.profile``'s default) applies :mod:`.device`: allocations in the caching
allocator's 512-byte blocks, cuBLAS workspaces, cuDNN convolution workspaces and RNN buffers, the first
step's peak (``first_step_peak``) beside the steady-state ``peak``, and ``reserved`` (the segments the
allocator holds). Sharded mixed precision follows DeepSpeed (zero1/2/3) or FSDP (fsdp-*), by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ...devices import cuda
from ...devices.spec import DeviceSpec
from ...errors import MemoryConfigError
from ...events import Trace
from ...options import Checkpointing, OptimizerSpec, Precision, Sharding
from ...results.memory import Assumption, MemoryResult, PeakPoint
from .assumptions import cuda_assumptions, framework_assumptions, step_assumptions
from .checkpoint import CheckpointEffect, blocks
from .checkpoint import apply as apply_checkpointing
from .cuda_step import first_step_peak, reserved_bytes, rounding
from .device import Workspaces, cudnn_rnn, rounded, workspaces
from .modules import module_memory
from .optimizer import OptimizerState, optimizer_state
from .params import ParamInfo, distinct_bytes
from .precision import check_precision, deepspeed_states, framework_precision
from .sharding import ModelStates, model_states, per_device
from .timeline import SKIP, Life, MemoryTimeline, Series, alive_at_end, lifetimes, notify, observed

__all__ = ["analyze_memory"]


def analyze_memory(
    trace: Trace,
    params: Sequence[ParamInfo],
    *,
    optimizer: OptimizerSpec | None = None,
    precision: Precision = Precision.FP32,
    checkpointing: Checkpointing | None = None,
    sharding: Sharding | None = None,
    module_flops: Mapping[str, int] | None = None,
    target: str = "cpu",
    measured: Mapping[str, int] | None = None,
    weights_cast_from: str | None = None,
    gpu: DeviceSpec | None = None,
) -> MemoryResult:
    """Memory of the traced step (see the module docstring), for the choices of
    :class:`netcensus.options.Options`: the trace must have been made with the same precision
    (:func:`netcensus.trace.contexts.trace_contexts`). ``sharding`` None means one device.
    ``module_flops``: forward FLOPs per module path (summed over its calls, children included), to price
    the recomputation of checkpointing.
    ``target``: ``"cpu"`` (default here) counts exact storage bytes, as a CPU run allocates them;
    ``"cuda"`` adds what a CUDA device adds (:mod:`.device`): allocator rounding, cuBLAS and cuDNN
    workspaces, the first step's peak and the caching allocator's reserved memory.
    ``measured``: what the allocator measured over the traced run on a real CUDA device
    (:class:`netcensus.trace.contexts.allocator.AllocatorMeter`), reported beside the estimate.
    ``weights_cast_from``: the dtype the weights were first allocated in on the device, before a cast
    there (``"float32"`` for a model built on the GPU and then ``.to(torch.bfloat16)``); the freed
    copies stay in the allocator's cache, so only the reserved estimate changes. None: the weights
    were allocated in their own dtype (loaded with ``torch_dtype=``, or cast before moving).
    ``gpu``: the GPU the ``"cuda"`` figures are for (its architecture sets the BLAS workspace and the
    reductions' staging: :func:`netcensus.devices.cuda.arch_of`); None: an H100/H200 SXM.
    """
    if target not in ("cpu", "cuda"):
        raise MemoryConfigError(f"unknown target {target!r}", fix="use 'cuda' or 'cpu'")
    step = _the_step(trace, params, optimizer, precision, checkpointing, sharding or Sharding(), target,
                     weights_cast_from, cuda.arch_of(gpu))
    states = _model_states(step)
    timeline = _timeline(step, states, module_flops)
    peaks = _peaks(step, states, timeline)
    if observed():
        notify(MemoryTimeline(step.n, tuple(timeline.lives), timeline.raw_sizes, frozenset(SKIP),
                              tuple(peaks.total), peaks.step_peak))
    return _result(step, states, timeline, peaks, measured)




@dataclass(frozen=True)
class _Step:
    """The traced step and the choices it is priced for."""

    trace: Trace
    params: Sequence[ParamInfo]
    spec: OptimizerSpec | None
    policy: Precision
    ckpt: Checkpointing | None
    sharding: Sharding
    target: str
    training: bool
    """Whether the trace ran a backward (the step is a training step)."""
    bs: int
    """The index of the first backward event (the number of events without backward)."""
    framework: str
    """The mixed precision the sharding follows (:func:`.precision.framework_precision`)."""
    notes: list[str]
    cast_from: str | None = None
    """The dtype the weights were first allocated in on the device, before a cast there (or None)."""
    arch: cuda.CudaArch = cuda.DEFAULT_ARCH
    """The GPU the ``"cuda"`` figures are for."""

    @property
    def n(self) -> int:
        return len(self.trace.events)


def _the_step(trace: Trace, params: Sequence[ParamInfo], spec: OptimizerSpec | None, policy: Precision,
              ckpt: Checkpointing | None, sharding: Sharding, target: str,
              cast_from: str | None = None, arch: cuda.CudaArch = cuda.DEFAULT_ARCH) -> _Step:
    """The step's choices, checked against the trace (its first notes said)."""
    notes: list[str] = []
    check_precision(trace, params, policy, notes)
    n = len(trace.events)
    training = trace.train and trace.backward_start is not None
    bs: int = trace.backward_start if trace.train and trace.backward_start is not None else n
    if trace.train and trace.backward_start is None:
        notes.append("the trace asked for training but ran no backward (no output requires grad): "
                     "figures are for the forward only")
    framework = framework_precision(sharding, policy, params)
    return _Step(trace, params, spec, policy, ckpt, sharding, target, training, bs, framework, notes,
                 cast_from, arch)


@dataclass(frozen=True)
class _States:
    """Model states: whole-model totals and per device (``device_states``: :func:`.sharding.model_states`)."""

    weights_total: int
    grads_total: int
    buffers: int
    opt: OptimizerState
    device_states: ModelStates


def _model_states(step: _Step) -> _States:
    """Weights, buffers, gradients and optimizer state, whole and per device."""
    params, spec = step.params, step.spec
    weights_total = distinct_bytes(params, "parameter")
    buffers = distinct_bytes(params, "buffer")
    grads_total = sum(p.nbytes for p in params if p.trainable)
    opt = (optimizer_state(params, spec, step.policy) if spec is not None
           else OptimizerState(0, formula="none"))
    if step.framework == "deepspeed":
        weights_total, grads_total, opt = deepspeed_states(params, weights_total, opt)
    states = model_states(weights_total, grads_total if step.training or spec else 0, opt.device_bytes,
                          step.sharding)
    return _States(weights_total, grads_total, buffers, opt, states)


@dataclass
class _Timeline:
    """Live bytes over the trace, by category (``series``), and what made them."""

    series: Series
    lives: list[Life]
    effect: CheckpointEffect | None
    ws: Workspaces | None
    raw_sizes: tuple[int, ...] | None = None
    """The lives' sizes before the allocator's rounding (CUDA)."""
    rounding: int = 0
    rnn_lines: list[str] = field(default_factory=list)
    gathered: int = 0


def _timeline(step: _Step, states: _States, module_flops: Mapping[str, int] | None) -> _Timeline:
    """The storages' lifetimes, checkpointing applied, as one device holds them, on the target, with the
    model states added."""
    timeline = _checkpointed(step, module_flops)
    _on_one_device(step, states, timeline)
    if step.target == "cuda":
        _on_cuda(step, states, timeline)
    _add_model_states(step, states, timeline)
    return timeline


def _checkpointed(step: _Step, module_flops: Mapping[str, int] | None) -> _Timeline:
    """The trace's storage lifetimes, with activation checkpointing applied when there is a backward."""
    trace, n = step.trace, step.n
    lives = lifetimes(trace)
    series = Series(n, lives.values(), skip=SKIP)
    effect: CheckpointEffect | None = None
    life_list: list[Life] = list(lives.values())
    if step.ckpt is not None:
        if step.training:
            life_list, effect = apply_checkpointing(trace, lives, step.ckpt, series.total(), module_flops)
            series = Series(n, life_list, skip=SKIP)
        else:
            step.notes.append("checkpointing changes nothing without backward")
    return _Timeline(series, life_list, effect, None)


def _on_one_device(step: _Step, states: _States, timeline: _Timeline) -> None:
    """The trace's lives as one device of a sharded run holds them, so that the live bytes, the
    optimizer step's peak and the allocator replay (reserved memory) all count the same allocations:

    * sharded gradients (zero2, zero3, fsdp-*): each unit's gradient is reduce-scattered into the
      device's shard as backward makes it; the whole gradients of the trace give way to one flat
      shard (``per.gradients``) from the start of backward to the end of the step;
    * sharded weights (zero3, fsdp-*): the gathered units, one allocation over the step
      (:func:`_gathered`);
    * a framework's mixed precision (DeepSpeed ZeRO, FSDP MixedPrecision): the weights used are
      already low precision, so autocast's weight copies go; DeepSpeed's unsharded gradients (zero1)
      are 2-byte, as its weights are.
    """
    w_div, g_div, _ = step.sharding.divisors()
    lives, n = timeline.lives, step.n
    if not (w_div > 1 or g_div > 1 or step.framework):
        return
    low_grads: set[int] = set()
    if step.framework == "deepspeed" and g_div == 1:
        low_grads = {t.storage for e in step.trace.events[step.bs:] for t in e.outputs
                     if t.dtype == "float32"}
    kept: list[Life] = []
    for life in lives:
        if step.framework and life.category == "weight_copies":
            continue
        if life.category == "gradients":
            if g_div > 1 and step.training:
                continue
            if life.storage in low_grads:
                life = Life(life.storage, life.size // 2, life.born, life.died, life.category)
        kept.append(life)
    next_id = min(min((x.storage for x in kept), default=0), 0) - 1
    if w_div > 1:
        timeline.gathered = _gathered(step.trace, step.params)
        if step.framework:  # gathered in the low precision (DeepSpeed's 2-byte weights; FSDP's param_dtype)
            timeline.gathered = timeline.gathered * 2 // 4
        kept.append(Life(next_id, timeline.gathered, 0, n, "gathered"))
        next_id -= 1
    if g_div > 1 and step.training:
        kept.append(Life(next_id, states.device_states.gradients, step.bs, n + 1, "gradients"))
    timeline.lives = kept
    timeline.series = Series(n, kept, skip=SKIP)


def _on_cuda(step: _Step, states: _States, timeline: _Timeline) -> None:
    """What a CUDA device adds: cuDNN's RNN buffers, the allocator's blocks, cuBLAS and cuDNN workspaces."""
    ws = timeline.ws = workspaces(step.trace, step.arch)
    w_div, _, o_div = step.sharding.divisors()
    timeline.lives, timeline.rnn_lines = cudnn_rnn(step.trace, timeline.lives, step.params, step.training)
    timeline.raw_sizes = tuple(life.size for life in timeline.lives)
    timeline.lives = rounded(timeline.lives)
    series = timeline.series = Series(step.n, timeline.lives, skip=SKIP)
    timeline.rounding = rounding(step.params, states.opt, w_div, o_div, step.training)
    series.add_constant("rounding", timeline.rounding)
    series.add_constant("workspaces", ws.cublas_bytes)
    for pos, nbytes in ws.transient.items():
        series.add_constant("workspaces", nbytes, pos, pos)


def _add_model_states(step: _Step, states: _States, timeline: _Timeline) -> None:
    """The model states that live through the whole step, per device: weights, buffers, optimizer
    state, DDP's buckets (gathered units and sharded gradients are lives: :func:`_on_one_device`)."""
    series, per = timeline.series, states.device_states
    series.add_constant("weights", per.weights)
    series.add_constant("buffers", states.buffers)
    if step.training:
        series.add_constant("optimizer", per.optimizer)
        series.add_constant("ddp_buckets", per.ddp_buckets)


@dataclass(frozen=True)
class _Peaks:
    """The peak, the optimizer step's, the first step's and the reserved bytes."""

    total: list[int]
    """Live bytes after each event (index 0: the start)."""
    point: PeakPoint
    step_temps: int
    step_peak: int | None
    first_step_peak: int | None
    reserved: int | None


def _peaks(step: _Step, states: _States, timeline: _Timeline) -> _Peaks:
    """The largest of the timeline's totals and the optimizer step's; on CUDA, the first step's peak
    and the reserved bytes."""
    total = timeline.series.total()
    position = max(range(step.n + 1), key=lambda i: (total[i], -i))
    point = _point(step.trace, position, total[position], timeline.series.at(position))
    o_div = step.sharding.divisors()[2]
    step_temps = per_device(states.opt.step_temporaries, o_div) if step.training and step.spec else 0
    step_peak = None
    if step.training:
        at_step = _optimizer_step(step, states, timeline, step_temps)
        step_peak = at_step.bytes
        if step_peak > point.bytes:
            point = at_step
    first = reserved = None
    if timeline.ws is not None:
        first = first_step_peak(total, step.training, states.device_states.optimizer, timeline.ws, step_peak)
        reserved = reserved_bytes(timeline.lives, step.n, step.params, states.device_states, states.buffers,
                                  step.training, states.opt, step_temps, timeline.ws, step.sharding,
                                  step.trace, step.cast_from, step.framework)
        reserved = max(reserved, point.bytes)
    return _Peaks(total, point, step_temps, step_peak, first, reserved)


def _optimizer_step(step: _Step, states: _States, timeline: _Timeline, step_temps: int) -> PeakPoint:
    """Live bytes during ``optimizer.step()``: weights, gradients, state, what the step left alive and
    the step's own temporaries."""
    per = states.device_states
    end = alive_at_end(timeline.lives, step.n)
    end.pop("weights", None)
    end.pop("buffers", None)
    ws = timeline.ws
    at_step = {**end, "weights": per.weights, "buffers": states.buffers, "optimizer": per.optimizer,
               "ddp_buckets": per.ddp_buckets, "temporaries": end.get("temporaries", 0) + step_temps,
               "rounding": timeline.rounding, "workspaces": ws.cublas_bytes if ws else 0}
    at_step = {k: v for k, v in at_step.items() if v}
    return PeakPoint(sum(at_step.values()), "optimizer step", None, "", "optimizer.step()", at_step)


def _held_after_forward(life: Life, training: bool, bs: int, n: int) -> bool:
    if life.category in ("weights", "buffers"):
        return False
    if training:
        return life.born < bs < life.died
    return life.died > n or life.category == "outputs"


def _forward_end(step: _Step, states: _States, timeline: _Timeline, total: list[int]) -> int:
    """Live bytes when the forward ends: what backward will use (training) or what outlives it."""
    if step.n == 0:
        return total[0]
    per = states.device_states
    forward_end = sum(life.size for life in timeline.lives
                      if _held_after_forward(life, step.training, step.bs, step.n))
    forward_end += per.weights + states.buffers
    return forward_end + (per.optimizer + per.ddp_buckets if step.training else 0)


def _assumptions(step: _Step, states: _States, timeline: _Timeline, peaks: _Peaks) -> tuple[Assumption, ...]:
    """Every assumption the estimate names (:mod:`.assumptions`)."""
    assumptions = step_assumptions(step.trace, step.policy, step.spec, states.opt, step.sharding, step.ckpt,
                                   timeline.effect, step.training, timeline.gathered, step.params)
    assumptions += framework_assumptions(step.framework, step.policy)
    if timeline.ws is not None:
        assumptions = cuda_assumptions(assumptions, timeline.ws, timeline.rounding, peaks.first_step_peak,
                                       peaks.reserved, timeline.rnn_lines, step.cast_from)
    return assumptions


def _result(step: _Step, states: _States, timeline: _Timeline, peaks: _Peaks,
            measured: Mapping[str, int] | None) -> MemoryResult:
    """The :class:`MemoryResult` of the step, with its last notes."""
    training, lives, effect = step.training, timeline.lives, timeline.effect
    per, opt = states.device_states, states.opt
    activations = 0
    if training:
        activations = sum(life.size for life in lives
                          if life.category == "activations" and life.born < step.bs < life.died)
    breakdown = peaks.point.breakdown
    modules = module_memory(step.trace, lives, peaks.total, effect.paths if effect else ())
    assumptions = _assumptions(step, states, timeline, peaks)
    if step.spec is not None and not training:
        step.notes.append("optimizer state is reported, but the peak is an inference peak: trace with "
                          "train=True for the training peak")
    if effect is not None and effect.missing_flops:
        step.notes.append("no forward FLOPs given for checkpointed " + ", ".join(effect.missing_flops))
    return MemoryResult(
        mode="training" if training else "inference",
        weights=per.weights,
        buffers=states.buffers,
        inputs=sum(life.size for life in lives if life.category == "inputs"),
        gradients=per.gradients if training or step.spec else 0,
        optimizer=per.optimizer,
        activations=activations,
        weight_copies=max(timeline.series.values.get("weight_copies", [0])),
        temporaries=breakdown.get("temporaries", 0) + breakdown.get("recompute", 0),
        forward_end=_forward_end(step, states, timeline, peaks.total),
        peak=peaks.point.bytes,
        inference_peak=None if training else peaks.point.bytes,
        training_peak=peaks.point.bytes if training else None,
        peak_at=peaks.point,
        optimizer_host=opt.host_bytes,
        optimizer_breakdown=dict(opt.by_key),
        optimizer_step_temporaries=peaks.step_temps,
        step_peak=peaks.step_peak,
        totals={"weights": states.weights_total,
                "gradients": states.grads_total if training or step.spec else 0,
                "optimizer": opt.device_bytes},
        devices=step.sharding.devices,
        recompute_flops=effect.recompute_flops if effect else None,
        checkpointed=effect.paths if effect else (),
        modules=modules,
        assumptions=assumptions,
        notes=tuple(step.notes),
        target=step.target,
        first_step_peak=peaks.first_step_peak,
        reserved=peaks.reserved,
        workspaces=(timeline.ws.cublas_bytes if timeline.ws else 0),
        rounding=timeline.rounding,
        measured=dict(measured or {}),
    )


def _gathered(trace: Trace, params: Sequence[ParamInfo]) -> int:
    """Unsharded weights of the largest block, twice (the unit computed and the one prefetched)."""
    paths = blocks(trace.calls)
    if not paths:
        return distinct_bytes(params, "parameter")
    largest = max(sum(p.nbytes for p in params if p.kind == "parameter" and p.name.startswith(b + "."))
                  for b in paths)
    return 2 * largest


def _point(trace: Trace, position: int, value: int, breakdown: dict[str, int]) -> PeakPoint:
    if position == 0:
        return PeakPoint(value, "start", None, "", "", breakdown)
    e = trace.events[position - 1]
    return PeakPoint(value, e.phase, e.index, e.module, e.op, breakdown)
