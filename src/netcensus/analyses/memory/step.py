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

from ...devices import cuda
from ...errors import MemoryConfigError
from ...events import Trace
from ...options import Checkpointing, OptimizerSpec, Precision, Sharding
from ...results.memory import Assumption, MemoryResult, ModuleMemory, PeakPoint
from ...units import nbytes as fmt_bytes
from .checkpoint import CheckpointEffect, blocks
from .checkpoint import apply as apply_checkpointing
from .device import Workspaces, cudnn_rnn, replay_reserved, rounded, workspaces
from .optimizer import OptimizerState, optimizer_state
from .params import ParamInfo, distinct_bytes
from .sharding import ModelStates, model_states, per_device
from .timeline import Life, Series, alive_at_end, lifetimes

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
    """
    if target not in ("cpu", "cuda"):
        raise MemoryConfigError(f"unknown target {target!r}", fix="use 'cuda' or 'cpu'")
    spec, policy, ckpt = optimizer, precision, checkpointing
    sharding = sharding or Sharding()
    notes: list[str] = []
    _check_precision(trace, params, policy, notes)

    n = len(trace.events)
    training = trace.train and trace.backward_start is not None
    bs: int = trace.backward_start if trace.train and trace.backward_start is not None else n
    if trace.train and trace.backward_start is None:
        notes.append("the trace asked for training but ran no backward (no output requires grad): "
                     "figures are for the forward only")

    weights_total = distinct_bytes(params, "parameter")
    buffers = distinct_bytes(params, "buffer")
    grads_total = sum(p.nbytes for p in params if p.trainable)
    opt = optimizer_state(params, spec, policy) if spec is not None else OptimizerState(0, formula="none")
    framework = _framework_precision(sharding, policy, params)
    if framework == "deepspeed":
        # DeepSpeed ZeRO with fp16/bf16: the module's weights and gradients are 2-byte; the float32
        # master copy lives in the (sharded) optimizer state: the ZeRO paper's 2 + 2 + 12 bytes
        low = 2
        floating = [p for p in params if p.kind == "parameter" and p.floating]
        weights_total = weights_total - sum(p.nbytes for p in floating) + sum(p.numel * low for p in floating)
        grads_total = sum(p.numel * low for p in params if p.trainable and p.floating) + sum(
            p.nbytes for p in params if p.trainable and not p.floating)
        master = sum(p.numel * 4 for p in params if p.trainable and p.floating)
        opt = OptimizerState(opt.device_bytes + master, opt.host_bytes,
                             {**opt.by_key, "master_weights": master}, master, opt.step_temporaries,
                             opt.formula + " + float32 master weights in the optimizer state (DeepSpeed)")
    states = model_states(weights_total, grads_total if training or spec else 0, opt.device_bytes, sharding)
    w_div, g_div, o_div = sharding.divisors()

    lives = lifetimes(trace)
    series = Series(n, lives.values(), skip=("weights", "buffers"))
    effect: CheckpointEffect | None = None
    life_list: list[Life] = list(lives.values())
    if ckpt is not None:
        if training:
            life_list, effect = apply_checkpointing(trace, lives, ckpt, series.total(), module_flops)
            series = Series(n, life_list, skip=("weights", "buffers"))
        else:
            notes.append("checkpointing changes nothing without backward")

    on_cuda = target == "cuda"
    ws = workspaces(trace) if on_cuda else None
    rounding = 0
    rnn_lines: list[str] = []
    if ws is not None:
        life_list, rnn_lines = cudnn_rnn(trace, life_list, params, training)
        life_list = rounded(life_list)
        series = Series(n, life_list, skip=("weights", "buffers"))
        rounding = _rounding(params, opt, w_div, o_div, training)
        series.add_constant("rounding", rounding)
        series.add_constant("workspaces", ws.cublas_bytes)
        for pos, nbytes in ws.conv.items():
            series.add_constant("workspaces", nbytes, pos, pos)

    # model states, per device
    series.add_constant("weights", states.weights)
    series.add_constant("buffers", buffers)
    gathered = 0
    if w_div > 1:
        gathered = _gathered(trace, params)
        if framework:  # gathered in the low precision (DeepSpeed's 2-byte weights; FSDP's param_dtype)
            gathered = gathered * 2 // 4
        series.add_constant("gathered", gathered, 1, n)
    if training:
        series.add_constant("optimizer", states.optimizer)
        series.add_constant("ddp_buckets", states.ddp_buckets)
        if g_div > 1:
            series.replace("gradients", [0] * (n + 1))
            series.add_constant("gradients", states.gradients, bs + 1, n)
    if framework and "weight_copies" in series.values:
        # the gathered (FSDP) or stored (DeepSpeed) weights are already low precision: no autocast copies
        series.replace("weight_copies", [0] * (n + 1))
    total = series.total()
    position = max(range(n + 1), key=lambda i: (total[i], -i))
    peak_point = _point(trace, position, total[position], series.at(position))

    step_peak = None
    step_temps = per_device(opt.step_temporaries, o_div) if training and spec else 0
    if training:
        end = alive_at_end(life_list, n)
        end.pop("weights", None)
        end.pop("buffers", None)
        if g_div > 1:
            end["gradients"] = states.gradients
        step = {**end, "weights": states.weights, "buffers": buffers, "optimizer": states.optimizer,
                "ddp_buckets": states.ddp_buckets, "temporaries": end.get("temporaries", 0) + step_temps,
                "rounding": rounding, "workspaces": ws.cublas_bytes if ws else 0}
        step = {k: v for k, v in step.items() if v}
        step_peak = sum(step.values())
        if step_peak > peak_point.bytes:
            peak_point = PeakPoint(step_peak, "optimizer step", None, "", "optimizer.step()", step)

    first_step_peak = reserved = None
    if on_cuda and ws is not None:
        first = list(total)
        for i in range(n + 1):
            if training:
                first[i] -= states.optimizer
            for start in (ws.forward_first, ws.backward_first):
                if start is not None and i < start:
                    first[i] -= cuda.CUBLAS_WORKSPACE
        first_step_peak = max(max(first), step_peak or 0)
        reserved = _reserved(life_list, n, params, states, buffers, training, opt, step_temps, ws,
                             sharding, trace)
        reserved = max(reserved, peak_point.bytes)

    activations = 0
    if training:
        activations = sum(life.size for life in life_list
                          if life.category == "activations" and life.born < bs < life.died)
    copies = max(series.values.get("weight_copies", [0]))

    def held_after_forward(life: Life) -> bool:
        if life.category in ("weights", "buffers"):
            return False
        if training:
            return life.born < bs < life.died
        return life.died > n or life.category == "outputs"

    forward_end = sum(life.size for life in life_list if held_after_forward(life))
    forward_end += states.weights + buffers + (states.optimizer + states.ddp_buckets if training else 0)
    if n == 0:
        forward_end = total[0]
    temporaries = peak_point.breakdown.get("temporaries", 0) + peak_point.breakdown.get("recompute", 0)

    modules = _modules(trace, life_list, total, effect.paths if effect else ())
    assumptions = _assumptions(trace, policy, spec, opt, sharding, ckpt, effect, training, gathered, params)
    if framework == "deepspeed":
        assumptions += (Assumption("mixed precision under sharding", "DeepSpeed ZeRO",
                                   f"{policy.compute_dtype} weights and gradients (2 + 2 bytes per "
                                   "parameter); "
                                   "the float32 master weights in the optimizer state with its moments (12 "
                                   "bytes per parameter for Adam), sharded as the strategy says; no autocast "
                                   "weight copies"),)
    elif framework == "fsdp":
        assumptions += (Assumption("mixed precision under sharding", "FSDP MixedPrecision",
                                   f"param_dtype={policy.compute_dtype}: float32 sharded parameters, "
                                   "gradients "
                                   "and optimizer state; each unit gathered in "
                                   f"{policy.compute_dtype} to compute it; no autocast weight copies"),)
    if on_cuda and ws is not None:
        assumptions = tuple(a for a in assumptions if a.name != "accounting") + (
            Assumption("accounting", "by storage, in the allocator's 512-byte blocks",
                       "no CUDA context (about 0.5 GiB, outside the allocator), communication buffers, "
                       "or fused-kernel internals"),
        ) + _device_assumptions(ws, rounding, first_step_peak, reserved)
        if rnn_lines:
            assumptions += (Assumption("cuDNN RNN", "; ".join(rnn_lines),
                                       "one _cudnn_rnn call per module, as on CUDA: its workspace and, in "
                                       "training, its reserve space replace the per-step tensors of the "
                                       "traced "
                                       "decomposition (netcensus.devices.cuda.rnn_buffers)"),)
    if spec is not None and not training:
        notes.append("optimizer state is reported, but the peak is an inference peak: trace with train=True "
                     "for the training peak")
    if effect is not None and effect.missing_flops:
        notes.append("no forward FLOPs given for checkpointed " + ", ".join(effect.missing_flops))
    return MemoryResult(
        mode="training" if training else "inference",
        weights=states.weights,
        buffers=buffers,
        inputs=sum(life.size for life in life_list if life.category == "inputs"),
        gradients=states.gradients if training or spec else 0,
        optimizer=states.optimizer,
        activations=activations,
        weight_copies=copies,
        temporaries=temporaries,
        forward_end=forward_end,
        peak=peak_point.bytes,
        inference_peak=None if training else peak_point.bytes,
        training_peak=peak_point.bytes if training else None,
        peak_at=peak_point,
        optimizer_host=opt.host_bytes,
        optimizer_breakdown=dict(opt.by_key),
        optimizer_step_temporaries=step_temps,
        step_peak=step_peak,
        totals={"weights": weights_total, "gradients": grads_total if training or spec else 0,
                "optimizer": opt.device_bytes},
        devices=sharding.devices,
        recompute_flops=effect.recompute_flops if effect else None,
        checkpointed=effect.paths if effect else (),
        modules=modules,
        assumptions=assumptions,
        notes=tuple(notes),
        target=target,
        first_step_peak=first_step_peak,
        reserved=reserved,
        workspaces=(ws.cublas_bytes if ws else 0),
        rounding=rounding,
        measured=dict(measured or {}),
    )


def _rounding(params: Sequence[ParamInfo], opt: OptimizerState, w_div: int, o_div: int,
              training: bool) -> int:
    """Bytes the allocator's 512-byte blocks add to weights, buffers and optimizer state (unsharded
    tensors only: a shard is one flat buffer)."""
    extra = 0
    for p in params:
        if p.kind == "buffer" or (p.kind == "parameter" and w_div == 1):
            extra += cuda.round_block(p.nbytes) - p.nbytes
    trainable = [p for p in params if p.trainable and p.floating]
    keys = [k for k in opt.by_key if k != "step"] or ["state"]
    total = sum(p.nbytes for p in trainable)
    if training and o_div == 1 and total and opt.device_bytes:
        for p in trainable:
            per = opt.device_bytes * p.nbytes // total // len(keys)
            extra += len(keys) * (cuda.round_block(per) - per)
    return extra


def _reserved(lives: list[Life], n: int, params: Sequence[ParamInfo], states: ModelStates, buffers: int,
              training: bool, opt: OptimizerState, step_temps: int, ws: Workspaces, sharding: Sharding,
              trace: Trace) -> int:
    """Peak reserved bytes of the second step (:func:`.device.replay_reserved`)."""
    w_div, _, o_div = sharding.divisors()
    persistent = ([p.nbytes for p in params if p.kind == "parameter"] if w_div == 1 else [states.weights])
    persistent += [p.nbytes for p in params if p.kind == "buffer"]
    persistent += [x.size for x in lives if x.category == "inputs"]
    trainable = [p for p in params if p.trainable and p.floating]
    total = sum(p.nbytes for p in trainable) or 1
    step_start: list[int] = []
    temps: list[int] = []
    if training and states.optimizer:
        keys = [k for k in opt.by_key if k != "step"] or ["state"]
        if o_div == 1:
            for p in trainable:
                step_start += [states.optimizer * p.nbytes // total // len(keys)] * len(keys)
        else:
            step_start = [states.optimizer]
    if training and step_temps:
        temps = [step_temps * p.nbytes // total for p in trainable] if o_div == 1 else [step_temps]
    once = [(pos, cuda.CUBLAS_WORKSPACE) for pos in (ws.forward_first, ws.backward_first) if pos is not None]
    reserved, _ = replay_reserved(lives, n, persistent, step_start, temps, once, ws.conv)
    return reserved


def _device_assumptions(ws: Workspaces, rounding: int, first: int | None, reserved: int | None
                        ) -> tuple[Assumption, ...]:
    out = [
        Assumption("target", "cuda", f"figures for {cuda.MEASURED_WITH}; the caching allocator's "
                   "allocated bytes (torch.cuda.max_memory_allocated)"),
        Assumption("allocator rounding", fmt_bytes(rounding) + " on model states",
                   "every allocation rounded up to 512 bytes (activations included in the peak)"),
        Assumption("cuBLAS workspace", f"{ws.cublas_handles} x {fmt_bytes(cuda.CUBLAS_WORKSPACE)}",
                   "one per thread that runs a matmul (forward; autograd's backward thread), kept"),
    ]
    if ws.conv:
        out.append(Assumption("cuDNN convolution workspace", f"up to {fmt_bytes(max(ws.conv.values()))}",
                              f"transient, {cuda.CONV_WORKSPACE_FRACTION:g} x the larger tensor of each "
                              "convolution (fitted to a measured ResNet-18-shaped net)"))
    if first is not None:
        out.append(Assumption("first step", fmt_bytes(first),
                              "the first step's peak: no optimizer state until its optimizer.step() creates "
                              "it; workspaces from their first use"))
    if reserved is not None:
        out.append(Assumption("reserved", fmt_bytes(reserved),
                              "segments the caching allocator holds over a steady-state step (two steps "
                              "replayed through its best-fit/split/merge rules); "
                              + cuda.COMPARE_WITH_NVIDIA_SMI))
    return tuple(out)


def _check_precision(trace: Trace, params: Sequence[ParamInfo], policy: Precision, notes: list[str]) -> None:
    floats = [p for p in params if p.kind == "parameter" and p.floating]
    if not floats:
        return
    wanted = policy.weight_dtype
    if wanted is not None and not any(p.dtype == wanted for p in floats):
        have = sorted({p.dtype for p in floats})
        raise MemoryConfigError(
            f"precision {policy.value!r} needs {wanted} parameters, "
            f"but the traced ones are {', '.join(have)}",
            fix=f"trace the model with its floating parameters and inputs in {wanted} "
                "(netcensus.trace.contexts.low_precision_parameters), or pick the precision they have")
    if policy.mixed:
        low = policy.compute_dtype
        if not any(o.dtype == low for e in trace.events for o in e.outputs):
            notes.append(f"precision {policy.value!r}, but no op in the trace produced {low}: was it traced "
                         "with netcensus.trace.contexts.trace_contexts(precision)?")


def _framework_precision(sharding: Sharding, policy: Precision, params: Sequence[ParamInfo]) -> str:
    """Which framework's mixed precision the sharding follows: ``"deepspeed"`` (zero1/2/3),
    ``"fsdp"`` (fsdp-*: ``MixedPrecision(param_dtype=low)``, float32 sharded parameters, gradients
    and state; the gathered unit in the low dtype) or ``""`` (no sharding, DDP, or not a mixed policy
    over float32 weights: plain autocast)."""
    from ...options.sharding import ShardStrategy
    if not policy.mixed or not any(p.dtype == "float32" for p in params if p.kind == "parameter"):
        return ""
    if sharding.strategy in (ShardStrategy.ZERO1, ShardStrategy.ZERO2, ShardStrategy.ZERO3):
        return "deepspeed"
    if sharding.strategy in (ShardStrategy.FSDP_FULL, ShardStrategy.FSDP_HYBRID, ShardStrategy.FSDP_GRAD_OP):
        return "fsdp"
    return ""


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


def _ancestors(path: str) -> list[str]:
    """``a.b.c`` -> ``["a.b.c", "a.b", "a", ""]``."""
    out = [path]
    while path:
        path = path.rpartition(".")[0]
        out.append(path)
    return out


def _modules(trace: Trace, lives: list[Life], total: list[int], checkpointed: Sequence[str]
             ) -> tuple[ModuleMemory, ...]:
    types: dict[str, str] = {}
    calls: dict[str, int] = {}
    fwd: dict[str, int] = {}
    for c in trace.calls:
        types.setdefault(c.path, c.type)
        calls[c.path] = calls.get(c.path, 0) + 1
        window = total[c.start + 1:c.end + 1] or [total[min(c.start, len(total) - 1)]]
        fwd[c.path] = max(fwd.get(c.path, 0), max(window))
    if not types:
        return ()
    size = {life.storage: life.size for life in lives}
    bs = trace.backward_start
    held_at_bwd = {life.storage for life in lives
                   if life.category == "activations" and bs is not None and life.born < bs < life.died}
    own: dict[str, int] = {}
    seen: set[int] = set()
    for s in trace.saved:
        sid = s.tensor.storage
        if sid in seen or sid not in held_at_bwd:
            continue
        seen.add(sid)
        own[s.module] = own.get(s.module, 0) + size.get(sid, 0)
    subtotal: dict[str, int] = {}
    for path, b in own.items():
        for a in _ancestors(path):
            subtotal[a] = subtotal.get(a, 0) + b
    bwd: dict[str, int] = {}
    if bs is not None:
        # the largest total at each module's own backward events, then carried up to its ancestors
        highest: dict[str, int] = {}
        for e in trace.events[bs:]:
            v = total[e.index + 1]
            if v > highest.get(e.module, -1):
                highest[e.module] = v
        for module, v in highest.items():
            for a in _ancestors(module):
                if v > bwd.get(a, -1):
                    bwd[a] = v
    marked = set(checkpointed)
    return tuple(
        ModuleMemory(path, types[path], calls[path], own.get(path, 0), subtotal.get(path, 0),
                     fwd.get(path, 0), bwd.get(path) if bs is not None else None, path in marked)
        for path in types
    )


def _assumptions(trace: Trace, policy: Precision, spec: OptimizerSpec | None, opt: OptimizerState,
                 sharding: Sharding, ckpt: Checkpointing | None, effect: CheckpointEffect | None,
                 training: bool, gathered: int, params: Sequence[ParamInfo]) -> tuple[Assumption, ...]:
    out = [
        Assumption("step", "training" if training else "inference",
                   "one forward, backward and optimizer step in steady state (optimizer state kept from "
                   "the first step; gradients set to None before the forward, created during backward)"
                   if training else "one forward under no_grad"),
        Assumption("precision", policy.value, _precision_meaning(policy, params)),
    ]
    if training:
        per = ""
        trainable = sum(p.numel for p in params if p.trainable and p.floating)
        if spec is not None and trainable:
            per = f"; {opt.device_bytes / trainable:.4g} bytes per trainable parameter"
        out.append(Assumption("optimizer", spec.describe() if spec else "none",
                              (opt.formula + per) if spec else "no optimizer state"))
        if spec is not None:
            out.append(Assumption("optimizer step temporaries",  # per device, as in the peak
                                  fmt_bytes(per_device(opt.step_temporaries, sharding.divisors()[2])),
                                  "peak the step allocates beyond weights, gradients and state (foreach "
                                  "implementation unless foreach=False was given)"))
    out.append(Assumption("sharding", sharding.strategy.value, sharding.describe()))
    if sharding.ddp_buckets:
        out.append(Assumption("ddp buckets", "gradient_as_bucket_view=False",
                              "DDP keeps flat gradient buckets beside .grad: one more copy of the gradients"))
    if gathered:
        out.append(Assumption("gathered weights", fmt_bytes(gathered),
                              "parameter sharding gathers one unit's full weights to compute it and "
                              "prefetches the next: twice the largest block's weights (the whole model "
                              "when no blocks are found)"))
    if ckpt is not None:
        meaning = ("non-reentrant torch.utils.checkpoint: saved tensors inside a checkpointed call are "
                   "dropped when it returns and recomputed when backward first needs them")
        if effect is not None:
            meaning += f"; {effect.calls} calls"
        out.append(Assumption("checkpointing", ckpt.describe(), meaning))
    out.append(Assumption("attention", _attention_kind(trace),
                          "what scaled_dot_product_attention saves: fused kernels keep q, k, v, output and "
                          "a log-sum-exp; the math path keeps the attention probabilities"))
    out.append(Assumption("accounting", "by storage, exact bytes",
                          "no allocator rounding, caching or fragmentation; no CUDA context, cuBLAS/cuDNN "
                          "workspaces or communication buffers"))
    return tuple(out)


def _precision_meaning(policy: Precision, params: Sequence[ParamInfo]) -> str:
    if not policy.mixed:
        return f"weights, gradients, optimizer state and compute in {policy.compute_dtype}"
    low = policy.compute_dtype
    if any(p.trainable and p.dtype not in ("float32",) and p.floating for p in params):
        return (f"{low} weights and gradients; the optimizer keeps a float32 master copy (4 bytes per "
                f"parameter, in its state); matmul-like ops in {low}")
    return (f"float32 weights are the master copy; autocast (emulated) runs matmul-like ops in {low} on "
            f"{low} copies of the weights, alive from their cast until backward has used them")


def _attention_kind(trace: Trace) -> str:
    ops = {e.op for e in trace.events if e.region is not None}
    if not trace.regions:
        return "none seen"
    if any("flash" in op or "efficient" in op or "cudnn_attention" in op for op in ops):
        return "fused"
    return "math (probabilities materialised)"
