"""Precision of a step's memory: the traced dtypes checked against the policy, and the mixed precision a
sharding framework runs (DeepSpeed ZeRO's 2-byte weights and gradients with float32 master weights in the
optimizer state; FSDP's ``MixedPrecision``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import MemoryConfigError
from ...events import Trace
from ...options import Precision, Sharding
from .optimizer import OptimizerState
from .params import ParamInfo


def check_precision(trace: Trace, params: Sequence[ParamInfo], policy: Precision, notes: list[str]) -> None:
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


def framework_precision(sharding: Sharding, policy: Precision, params: Sequence[ParamInfo]) -> str:
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


def deepspeed_states(params: Sequence[ParamInfo], weights_total: int, opt: OptimizerState
                     ) -> tuple[int, int, OptimizerState]:
    """(weights, gradients, optimizer state) of DeepSpeed ZeRO with fp16/bf16: the module's weights and
    gradients are 2-byte; the float32 master copy lives in the (sharded) optimizer state: the ZeRO
    paper's 2 + 2 + 12 bytes."""
    low = 2
    floating = [p for p in params if p.kind == "parameter" and p.floating]
    weights_total = weights_total - sum(p.nbytes for p in floating) + sum(p.numel * low for p in floating)
    grads_total = sum(p.numel * low for p in params if p.trainable and p.floating) + sum(
        p.nbytes for p in params if p.trainable and not p.floating)
    master = sum(p.numel * 4 for p in params if p.trainable and p.floating)
    opt = OptimizerState(opt.device_bytes + master, opt.host_bytes,
                         {**opt.by_key, "master_weights": master}, master, opt.step_temporaries,
                         opt.formula + " + float32 master weights in the optimizer state (DeepSpeed)")
    return weights_total, grads_total, opt
