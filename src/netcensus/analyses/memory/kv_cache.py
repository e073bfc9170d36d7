"""KV cache of a decoder model, from the attention calls seen in the trace.

Every ``scaled_dot_product_attention`` or ``flex_attention`` call of one forward (``trace.regions``) is
one attention layer whose keys and values are cached. From its arguments q (B, Hq, L, E), k (B, Hk, S, E) and
v (B, Hk, S, Ev) we read the key/value heads, head sizes and dtype. For a batch ``b`` and context of
``c`` tokens, a layer caches ``b * c * Hk * (E + Ev) * itemsize`` bytes; with equal head sizes D over
``layers`` identical layers this is the usual ``2 * layers * b * c * Hk * D * itemsize``.

Grouped-query attention: when the model repeats k/v heads before the call (``repeat_kv``), the k seen
by the call has Hq heads but the cache holds the unrepeated ones. We follow k's storage back to the
op that allocated it; if that op copied a smaller tensor (expand + clone, ``repeat_interleave``), the
ratio of the two sizes is the repeat factor and ``Hk / ratio`` the cached heads. ``kv_heads``
overrides this (e.g. from ``config.num_key_value_heads``). Cross-attention calls are counted like
self-attention; encoder-decoder models need their own reading.
"""

from __future__ import annotations

from ...dtypes import itemsize
from ...events import OpEvent, TensorMeta, Trace
from ...results.kv_cache import KVCache, KVLayer

_COPIES = ("aten.clone", "aten._unsafe_view", "aten.repeat_interleave", "aten.index_select", "aten.repeat",
           "aten.expand_copy", "aten.contiguous")


def _allocator(trace: Trace) -> dict[int, OpEvent]:
    first: dict[int, OpEvent] = {}
    for e in trace.events:
        for o in e.outputs:
            first.setdefault(o.storage, e)
    return first


def _cached_heads(k: TensorMeta, alloc: dict[int, OpEvent]) -> int:
    heads = k.shape[1]
    e = alloc.get(k.storage)
    if e is None or not e.op.startswith(_COPIES) or not e.inputs:
        return heads
    src = e.inputs[0]
    if src.storage == k.storage or not src.storage_nbytes or k.storage_nbytes % src.storage_nbytes:
        return heads
    ratio = k.storage_nbytes // src.storage_nbytes
    if ratio > 1 and heads % ratio == 0:
        return heads // ratio
    return heads


def kv_cache(trace: Trace, batch: int, context: int, *, dtype: str | None = None,
             kv_heads: int | None = None) -> KVCache | None:
    """KV cache bytes for ``batch`` sequences of ``context`` tokens; None without attention calls.

    ``dtype`` is the cache's dtype (default: that of k); ``kv_heads`` overrides the heads read from
    the trace.
    """
    alloc = _allocator(trace)
    layers = []
    for r in trace.regions:
        if r.name == "scaled_dot_product_attention" and len(r.args) >= 3:
            q, k, v = r.args[:3]
        elif r.name == "flex_attention":
            q, k, v = (r.kwargs.get(name) for name in ("query", "key", "value"))
        else:
            continue
        if not all(isinstance(t, TensorMeta) and len(t.shape) == 4 for t in (q, k, v)):
            continue
        heads = kv_heads if kv_heads is not None else _cached_heads(k, alloc)
        dt = dtype or k.dtype
        nbytes = batch * context * heads * (k.shape[3] + v.shape[3]) * itemsize(dt)
        layers.append(KVLayer(r.module, heads, k.shape[3], v.shape[3], dt, nbytes))
    if not layers:
        return None
    first = layers[0]
    uniform = all((x.kv_heads, x.head_dim_k, x.head_dim_v, x.dtype) ==
                  (first.kv_heads, first.head_dim_k, first.head_dim_v, first.dtype) for x in layers)
    if uniform and first.head_dim_k == first.head_dim_v:
        formula = ("2 * layers * batch * context * kv_heads * head_dim * bytes = "
                   f"2 * {len(layers)} * {batch} * {context} * {first.kv_heads} * {first.head_dim_k} * "
                   f"{itemsize(first.dtype)}")
    else:
        formula = "sum over layers of batch * context * kv_heads * (head_dim_k + head_dim_v) * bytes"
    return KVCache(sum(x.bytes for x in layers), batch, context, len(layers), tuple(layers), formula)
