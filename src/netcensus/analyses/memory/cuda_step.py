"""What the ``"cuda"`` target adds to a step's memory
(:func:`~netcensus.analyses.memory.step.analyze_memory`).

The caching allocator's 512-byte blocks on the model states (:func:`rounding`), the first step's peak
(:func:`first_step_peak`) and the segments the allocator reserves (:func:`reserved_bytes`); the rules
themselves are :mod:`.device`'s and :mod:`netcensus.devices.cuda`'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...devices import cuda
from ...dtypes import itemsize
from ...events import Trace
from ...options import Sharding
from .device import Workspaces, replay_reserved
from .optimizer import OptimizerState
from .params import ParamInfo
from .sharding import ModelStates
from .timeline import Life


def rounding(params: Sequence[ParamInfo], opt: OptimizerState, w_div: int, o_div: int,
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


def reserved_bytes(lives: list[Life], n: int, params: Sequence[ParamInfo], states: ModelStates, buffers: int,
                   training: bool, opt: OptimizerState, step_temps: int, ws: Workspaces, sharding: Sharding,
                   trace: Trace, cast_from: str | None = None, framework: str = "") -> int:
    """Peak reserved bytes of the second step (:func:`.device.replay_reserved`) of ``lives`` as one
    device holds them (sharded gradients and gathered units included); ``cast_from``: the dtype the
    weights were first allocated in on the device before being cast there (None: allocated in their own
    dtype); ``framework``: ``"deepspeed"`` keeps 2-byte copies of floating weights
    (:func:`.precision.deepspeed_states`)."""
    w_div, _, o_div = sharding.divisors()
    if w_div > 1:
        persistent = [states.weights]  # one flat shard
    else:
        persistent = [p.numel * 2 if framework == "deepspeed" and p.floating else p.nbytes
                      for p in params if p.kind == "parameter"]
    persistent += [p.nbytes for p in params if p.kind == "buffer"]
    persistent += [x.size for x in lives if x.category == "inputs"]
    if training and states.ddp_buckets:
        persistent.append(states.ddp_buckets)  # DDP's flat gradient buckets, made with the wrapper
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
    once = [(pos, ws.cublas_workspace) for pos in (ws.forward_first, ws.backward_first) if pos is not None]
    originals: list[int] = []
    if cast_from is not None and w_div == 1:
        # 0: not cast (not floating, or already in that dtype: Module.to keeps the very tensor)
        originals = [p.numel * itemsize(cast_from) if p.floating and p.dtype != cast_from else 0
                     for p in params if p.kind == "parameter"]
    reserved, _ = replay_reserved(lives, n, persistent, step_start, temps, once, ws.transient, originals)
    return reserved


def first_step_peak(total: list[int], training: bool, optimizer: int, ws: Workspaces,
                    step_peak: int | None) -> int:
    """The first step's peak: no optimizer state (``optimizer`` bytes per device) before its step;
    cuBLAS workspaces from their first use. ``total``: the steady-state live bytes after each event."""
    first = list(total)
    for i in range(len(total)):
        if training:
            first[i] -= optimizer
        for start in (ws.forward_first, ws.backward_first):
            if start is not None and i < start:
                first[i] -= ws.cublas_workspace
    return max(max(first), step_peak or 0)
