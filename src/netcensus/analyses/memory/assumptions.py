"""The assumptions a memory estimate names (:func:`~netcensus.analyses.memory.step.analyze_memory`).

Each is an :class:`~netcensus.results.memory.Assumption`: a name, the value taken and what it means.
:func:`step_assumptions` describes the step on any target; :func:`framework_assumptions` the mixed
precision a sharding framework runs; :func:`cuda_assumptions` what the ``"cuda"`` target adds.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...devices import cuda
from ...events import Trace
from ...options import Checkpointing, OptimizerSpec, Precision, Sharding
from ...results.memory import Assumption
from ...units import nbytes as fmt_bytes
from .checkpoint import CheckpointEffect
from .device import Workspaces
from .optimizer import OptimizerState
from .params import ParamInfo
from .sharding import per_device


def step_assumptions(trace: Trace, policy: Precision, spec: OptimizerSpec | None, opt: OptimizerState,
                     sharding: Sharding, ckpt: Checkpointing | None, effect: CheckpointEffect | None,
                     training: bool, gathered: int, params: Sequence[ParamInfo]) -> tuple[Assumption, ...]:
    """The step, precision, optimizer, sharding, checkpointing, attention and accounting taken."""
    out = [
        Assumption("step", "training" if training else "inference",
                   "one forward, backward and optimizer step in steady state (optimizer state kept from "
                   "the first step; gradients set to None before the forward, created during backward)"
                   if training else "one forward under no_grad"),
        Assumption("precision", policy.value, _precision_meaning(policy, params)),
    ]
    if training:
        out += _optimizer_assumptions(spec, opt, sharding, params)
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
                          "a log-sum-exp; the math path keeps the attention probabilities. The kernel is the "
                          "one PyTorch 2.11 picks on sm90 (measured on an H200; fp32 grouped-query attention "
                          "takes the math path there: PyTorch pull request 191085 later lets the "
                          "memory-efficient kernel take it); "
                          "flex_attention is its generated kernel, which keeps no probabilities"))
    out.append(Assumption("accounting", "by storage, exact bytes",
                          "no allocator rounding, caching or fragmentation; no CUDA context, cuBLAS/cuDNN "
                          "workspaces or communication buffers"))
    return tuple(out)


def _optimizer_assumptions(spec: OptimizerSpec | None, opt: OptimizerState, sharding: Sharding,
                           params: Sequence[ParamInfo]) -> list[Assumption]:
    """The optimizer and its step's temporaries (training only)."""
    per = ""
    trainable = sum(p.numel for p in params if p.trainable and p.floating)
    if spec is not None and trainable:
        per = f"; {opt.device_bytes / trainable:.4g} bytes per trainable parameter"
    out = [Assumption("optimizer", spec.describe() if spec else "none",
                      (opt.formula + per) if spec else "no optimizer state")]
    if spec is not None:
        out.append(Assumption("optimizer step temporaries",  # per device, as in the peak
                              fmt_bytes(per_device(opt.step_temporaries, sharding.divisors()[2])),
                              "peak the step allocates beyond weights, gradients and state (foreach "
                              "implementation unless foreach=False was given)"))
    return out


def framework_assumptions(framework: str, policy: Precision) -> tuple[Assumption, ...]:
    """The mixed precision of DeepSpeed ZeRO (``"deepspeed"``) or FSDP (``"fsdp"``); none for ``""``."""
    if framework == "deepspeed":
        return (Assumption("mixed precision under sharding", "DeepSpeed ZeRO",
                           f"{policy.compute_dtype} weights and gradients (2 + 2 bytes per "
                           "parameter); "
                           "the float32 master weights in the optimizer state with its moments (12 "
                           "bytes per parameter for Adam), sharded as the strategy says; no autocast "
                           "weight copies"),)
    if framework == "fsdp":
        return (Assumption("mixed precision under sharding", "FSDP MixedPrecision",
                           f"param_dtype={policy.compute_dtype}: float32 sharded parameters, "
                           "gradients "
                           "and optimizer state; each unit gathered in "
                           f"{policy.compute_dtype} to compute it; no autocast weight copies"),)
    return ()


def cuda_assumptions(assumptions: tuple[Assumption, ...], ws: Workspaces, rounding: int, first: int | None,
                     reserved: int | None, rnn_lines: list[str], cast_from: str | None = None
                     ) -> tuple[Assumption, ...]:
    """``assumptions`` for the ``"cuda"`` target: the allocator's accounting, the device's workspaces,
    the first step, the reserved segments and cuDNN's RNN."""
    out = tuple(a for a in assumptions if a.name != "accounting") + (
        Assumption("accounting", "by storage, in the allocator's 512-byte blocks",
                   "no CUDA context (about 0.5 GiB, outside the allocator), communication buffers, "
                   "or fused-kernel internals"),
    ) + _device_assumptions(ws, rounding, first, reserved, cast_from)
    if rnn_lines:
        out += (Assumption("cuDNN RNN", "; ".join(rnn_lines),
                           "one _cudnn_rnn call per module, as on CUDA: its workspace and, in "
                           "training, its reserve space replace the per-step tensors of the "
                           "traced "
                           "decomposition (netcensus.devices.cuda.rnn_buffers)"),)
    return out


def _device_assumptions(ws: Workspaces, rounding: int, first: int | None, reserved: int | None,
                        cast_from: str | None = None) -> tuple[Assumption, ...]:
    out = [
        Assumption("target", "cuda", f"on {ws.arch.name}; rules checked on {cuda.MEASURED_WITH}; the "
                   "caching allocator's allocated bytes (torch.cuda.max_memory_allocated)"),
        Assumption("allocator rounding", fmt_bytes(rounding) + " on model states",
                   "every allocation rounded up to 512 bytes (activations included in the peak)"),
        Assumption("cuBLAS workspace", f"{ws.cublas_handles} x {fmt_bytes(ws.cublas_workspace)}",
                   "one per thread that runs a matmul (forward; autograd's backward thread), kept"
                   + (f"; CUBLAS_WORKSPACE_CONFIG={ws.blas_config} from the environment"
                      if ws.blas_configured else "")),
    ]
    if ws.conv:
        out.append(Assumption("cuDNN convolution workspace", f"up to {fmt_bytes(max(ws.conv.values()))}",
                              f"transient, {float(cuda.CONV_WORKSPACE_FRACTION):.3g} x the larger tensor of "
                              "each convolution (fitted to a measured ResNet-18-shaped net)"))
    if ws.reduce:
        out.append(Assumption("reduction staging", f"up to {fmt_bytes(max(ws.reduce.values()))}",
                              "transient: a CUDA sum/mean/amax over many rows splits each output over thread "
                              f"blocks and stages partial results (PyTorch's launch rule, {ws.arch.sms} SMs; "
                              "contiguous inputs)"))
    if first is not None:
        out.append(Assumption("first step", fmt_bytes(first),
                              "the first step's peak: no optimizer state until its optimizer.step() creates "
                              "it; workspaces from their first use"))
    if reserved is not None:
        out.append(Assumption("reserved", fmt_bytes(reserved),
                              "segments the caching allocator holds over a steady-state step (two steps "
                              "replayed through its best-fit/split/merge rules) after "
                              + (f"the weights were made in {cast_from} on the device and cast there "
                                 "(the freed copies stay cached); " if cast_from else
                                 "the weights were allocated in their own dtype (a model built in float32 "
                                 "on the GPU and cast there holds more: weights_cast_from='fp32'); ")
                              + cuda.COMPARE_WITH_NVIDIA_SMI))
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
    if all(r.name == "flex_attention" for r in trace.regions):
        return "fused (flex_attention)"
    return "math (probabilities materialised)"
