"""The optimizer step in the step-time model: not in the trace, counted from the parameter list.

A foreach optimizer reads and writes every state tensor once per ``torch._foreach_*`` op (Adam: 18
tensor passes, AdamW 20, fused Adam 7, SGD with momentum 8), in launches of at most 320 x 65,536
elements; a fused one is one kernel per launch; a per-parameter loop one launch per tensor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ...dtypes import itemsize
from ...options import OptimizerSpec, Precision
from .model import Accumulator, Model

OPTIMIZER_ROW = "(optimizer)"
"""The module column of the optimizer's kernel rows."""

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


def optimizer_kernels(
    m: Model,
    acc: Accumulator,
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
