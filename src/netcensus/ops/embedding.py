"""Embeddings: a lookup costs nothing; its gradient is a scatter-add.

Convention: ``embedding`` gathers rows of the table: 0 FLOPs (written out as an explicit 0; thop,
fvcore and FlopCounterMode also count 0). ``embedding_dense_backward`` adds every output-gradient
element into its row: 1 FLOP per output-gradient element. ``_embedding_bag`` reduces the gathered
rows: 1 FLOP per gathered element (an add for sum/mean, a comparison for max) + 1 per output element
for mean; with per-sample weights each gathered element is a MAC instead (not a core MAC).
"""

from __future__ import annotations

from .call import Call
from .cost import OpCost, n, zero_cost
from .registry import aten_ops, register


@register(*aten_ops("embedding"))
def embedding(call: Call) -> OpCost:
    """``embedding(weight, indices)``: 0 FLOPs (a gather)."""
    return zero_cost(call.label, f"a lookup of {n(call.out().numel)} elements")


@register(*aten_ops("embedding_dense_backward", "embedding_backward", "_embedding_bag_dense_backward",
                    "_embedding_bag_backward", "_embedding_bag_per_sample_weights_backward",
                    "embedding_sparse_backward"), optional=True)
def embedding_backward(call: Call) -> OpCost:
    """Embedding (bag) backward: 1 FLOP per output-gradient element (accumulating into rows)."""
    g = call.tensor("grad" if call.arg("grad", None) is not None else "grad_output").numel
    return OpCost(0, g, 0, f"{call.label}: numel(grad) = {n(g)} accumulates")


@register(*aten_ops("_embedding_bag", "_embedding_bag_forward_only", "embedding_bag"), optional=True)
def embedding_bag(call: Call) -> OpCost:
    """``_embedding_bag``: 1 FLOP per gathered element (numel(indices)*dim), + numel(y) for mean; with
    per-sample weights, numel(indices)*dim MACs."""
    idx = call.tensor("indices").numel
    dim = call.shape("weight")[-1]
    gathered = idx * dim
    mode = int(call.arg("mode", 0))
    if call.optional_tensor("per_sample_weights") is not None:
        return OpCost(gathered, 2 * gathered, 0,
                      f"{call.label}: MACs = numel(indices)*dim = {n(idx)}*{dim} = {n(gathered)} "
                      "(weighted sum)")
    out = call.out().numel
    flops = gathered + (out if mode == 1 else 0)
    mode_name = {0: "sum", 1: "mean", 2: "max"}.get(mode, str(mode))
    return OpCost(0, flops, 0, f"{call.label} (mode {mode_name}): numel(indices)*dim = {n(idx)}*{dim}"
                               + (f" + numel(y) {n(out)}" if mode == 1 else "") + f" = {n(flops)}")
