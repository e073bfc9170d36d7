"""Memory of a model step: the building blocks of :func:`netcensus.analyses.memory.analyze_memory`.

* :mod:`.params`: :class:`ParamInfo`, :func:`param_infos` (what the analysis needs of the parameters);
* :mod:`.choices`: :class:`Precision`, :class:`OptimizerSpec`, :class:`Checkpointing`;
* :mod:`.sharding`: :class:`Sharding`, DDP / ZeRO / FSDP per-device model states;
* :mod:`.optimizer`: optimizer state measured by running torch.optim on meta tensors;
* :mod:`.autocast`, :mod:`.attention`, :mod:`.setup`: what to pass to ``trace_model(contexts=...)``;
* :mod:`.timeline`: storage lifetimes and live bytes over the trace;
* :mod:`.checkpoint`: activation checkpointing from a trace made without it;
* :mod:`.kv_cache`: KV cache of decoder models; :mod:`.fit`, :mod:`.budget`: what fits a budget;
* :mod:`netcensus.results.memory`, :mod:`netcensus.results.kv_cache`: the result classes (torch-free,
  re-exported here).
"""

from ..results.memory import Assumption, MemoryResult, ModuleMemory, PeakPoint
from .budget import parse_bytes
from .choices import Checkpointing, OptimizerSpec, Precision
from .errors import MemoryConfigError
from .fit import FitResult, fit
from .kv_cache import KVCache, KVLayer, kv_cache
from .optimizer import OptimizerState, optimizer_state
from .params import ParamInfo, param_infos
from .setup import low_precision_parameters, trace_contexts
from .sharding import ModelStates, Sharding, ShardStrategy, model_states

__all__ = [
    "Assumption",
    "Checkpointing",
    "FitResult",
    "KVCache",
    "KVLayer",
    "MemoryConfigError",
    "MemoryResult",
    "ModelStates",
    "ModuleMemory",
    "OptimizerSpec",
    "OptimizerState",
    "ParamInfo",
    "PeakPoint",
    "Precision",
    "ShardStrategy",
    "Sharding",
    "fit",
    "kv_cache",
    "low_precision_parameters",
    "model_states",
    "optimizer_state",
    "param_infos",
    "parse_bytes",
    "trace_contexts",
]
