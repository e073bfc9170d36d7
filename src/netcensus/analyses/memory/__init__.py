"""Memory of a model step: :func:`analyze_memory` (in :mod:`.step`) and its building blocks.

* :mod:`.params`: :class:`ParamInfo`, :func:`param_infos` (what the analysis needs of the parameters);
* :mod:`.sharding`: DDP / ZeRO / FSDP per-device model states (the choice itself is
  :class:`netcensus.options.Sharding`);
* :mod:`.optimizer`: optimizer state measured by running torch.optim on meta tensors;
* :mod:`.timeline`: storage lifetimes and live bytes over the trace;
* :mod:`.checkpoint`: activation checkpointing from a trace made without it;
* :mod:`.kv_cache`: KV cache of decoder models; :mod:`.fit`: the largest size that fits a budget.

The result classes are torch-free, in :mod:`netcensus.results.memory` and :mod:`netcensus.results.kv_cache`;
the modes that shape a trace (autocast emulation, fused attention) are :mod:`netcensus.trace.contexts`.
"""

from .fit import FitResult, fit
from .kv_cache import kv_cache
from .optimizer import OptimizerState, optimizer_state
from .params import ParamInfo, distinct_bytes, param_infos
from .sharding import ModelStates, model_states, per_device
from .step import analyze_memory

__all__ = [
    "FitResult",
    "ModelStates",
    "OptimizerState",
    "ParamInfo",
    "analyze_memory",
    "distinct_bytes",
    "fit",
    "kv_cache",
    "model_states",
    "optimizer_state",
    "param_infos",
    "per_device",
]
