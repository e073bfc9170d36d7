"""The KV cache estimate (:func:`netcensus.analyses.memory.kv_cache.kv_cache`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KVLayer:
    module: str
    kv_heads: int
    head_dim_k: int
    head_dim_v: int
    dtype: str
    bytes: int


@dataclass(frozen=True)
class KVCache:
    bytes: int
    batch: int
    context: int
    layers: int
    per_layer: tuple[KVLayer, ...]
    formula: str
