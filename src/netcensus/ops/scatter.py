"""Scatter-style ops that may accumulate: scatter, scatter_add, scatter_reduce, index_add, index_reduce,
index_put, col2im.

Convention: one FLOP per source element that is combined into the destination (an add, a multiply
or a comparison, by ``reduce``); a plain scatter or ``index_put`` without ``accumulate`` only writes
(0 FLOPs, written out as an explicit 0). ``index_add`` with ``alpha != 1`` costs one more per source
element. ``col2im`` adds every column element into its image position: 1 FLOP per input element.
"""

from __future__ import annotations

from .call import Call
from .cost import OpCost, n, zero_cost
from .registry import aten_ops, register


def _source(call: Call) -> int:
    for name in ("src", "source", "values"):
        value = call.optional_tensor(name)
        if value is not None:
            return value.numel
    return call.tensor("index").numel


@register(*aten_ops("scatter"))
def scatter(call: Call) -> OpCost:
    """``scatter``: 0 FLOPs (a write), or 1 per source element with ``reduce``."""
    if call.arg("reduce", None) is None:
        return zero_cost(call.label, "a scatter without reduce only writes")
    count = _source(call)
    reduce = call.arg("reduce")
    text = f"{call.label} (reduce={reduce}): 1 FLOP x {n(count)} source elements"
    return OpCost(0, count, 0, f"{text} = {n(count)}")


@register(*aten_ops("scatter_add", "scatter_reduce", "index_reduce"))
def scatter_add(call: Call) -> OpCost:
    """``scatter_add``/``scatter_reduce``/``index_reduce``: 1 FLOP per source element."""
    count = _source(call)
    return OpCost(0, count, 0, f"{call.label}: 1 FLOP x {n(count)} source elements = {n(count)}")


@register(*aten_ops("index_add"))
def index_add(call: Call) -> OpCost:
    """``index_add``: 1 FLOP per source element, 2 with ``alpha != 1``."""
    count = _source(call)
    per = 2 if call.arg("alpha", 1) != 1 else 1
    flops = per * count
    return OpCost(0, flops, 0, f"{call.label}: {per} FLOP x {n(count)} source elements = {n(flops)}")


@register(*aten_ops("index_put", "_index_put_impl_", "_unsafe_index_put"), optional=True)
def index_put(call: Call) -> OpCost:
    """``index_put``: 1 FLOP per value element with ``accumulate=True``, else 0 (a write)."""
    if not call.arg("accumulate", False):
        return zero_cost(call.label, "accumulate=False: a write")
    count = call.tensor("values").numel
    return OpCost(0, count, 0, f"{call.label} (accumulate): 1 FLOP x {n(count)} values = {n(count)}")


@register(*aten_ops("col2im"))
def col2im(call: Call) -> OpCost:
    """``col2im``: 1 FLOP per input (column) element, the overlapping adds."""
    count = call.first_tensor().numel
    return OpCost(0, count, 0, f"{call.label}: 1 FLOP x {n(count)} column elements = {n(count)}")
