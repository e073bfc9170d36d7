"""Normalisation layers: batch, layer, group and RMS norm, forward and backward.

Convention, per element ``n = numel(x)`` and per normalised group (``rows``: one per channel for
batch norm, per (sample, group) for group norm, per normalised vector for layer/RMS norm):

====================  =========================================================================
statistics            4 FLOPs/element: mean 1 (add), variance 3 (sub, square, add)
normalise             2 FLOPs/element: (x - mean) * rstd
affine                1 FLOP/element for the weight, 1 for the bias, when present
per group             4 FLOPs/row: the two divides by the count, add eps, rsqrt
batch norm, eval      normalise 2 + affine per element; 2 per channel (add eps, rsqrt)
running statistics    6 FLOPs/channel when training updates them (two lerps of 3)
RMS norm              3 FLOPs/element (square, add, mul by rstd) + 1 for the weight; 3 per row
                      (divide, add eps, rsqrt)
weight norm           ``w = g * v / ||v||`` per slice along ``dim``: 3 FLOPs/element (square, add,
                      scale), 2 per slice (sqrt, g / norm)
====================  =========================================================================

Backward, per element, only for the gradients requested (``output_mask``): input gradient 9 (+1
with a weight: ``g = dy*w``) for batch-in-training/layer/group norm, from
``dx = rstd*(g - mean(g) - xhat*mean(g*xhat))`` (xhat 2, two reductions 3, combine 4); 1 for batch
norm in eval (``dy*w*rstd`` with ``w*rstd`` per channel); 6 (+1 with a weight) for RMS norm. Weight
gradient ``sum(dy*xhat)``: 2 (+2 to recompute xhat when the input gradient is not requested). Bias
gradient ``sum(dy)``: 1. Weight norm backward: ``grad_g = sum(dw * v) / norm`` 2 per element and 1 per
slice, ``grad_v = (g / norm) * (dw - v * grad_g / norm)`` 3 per element and 2 per slice. Norms have no
MACs.
"""

from __future__ import annotations

from .call import Call
from .cost import OpCost, n, prod
from .registry import aten_ops, register


def _cost(call: Call, terms: list[tuple[str, int, int]]) -> OpCost:
    """``terms``: (name, FLOPs per unit, units)."""
    flops = sum(per * count for _, per, count in terms if per)
    text = " + ".join(f"{name} {per}x{n(count)}" for name, per, count in terms if per) or "nothing requested"
    return OpCost(0, flops, 0, f"{call.label}: {text} = {n(flops)}")


def _has(call: Call, name: str) -> bool:
    return call.optional_tensor(name) is not None


def _normalized_rows(call: Call, x_numel: int) -> int:
    shape = call.arg("normalized_shape")
    size = prod(shape)
    return x_numel // size if size else 0


def _mask(call: Call, count: int) -> tuple[bool, ...]:
    mask = call.arg("output_mask", None)
    if mask is None:
        return (True,) * count
    return tuple(bool(m) for m in mask)


def _norm_forward(call: Call, x_numel: int, rows: int) -> OpCost:
    affine = _has(call, "weight") + _has(call, "bias")
    return _cost(call, [("statistics", 4, x_numel), ("normalise", 2, x_numel), ("affine", affine, x_numel),
                        ("per row", 4, rows)])


def _norm_backward(call: Call, x_numel: int, mask: tuple[bool, ...], input_per: int) -> OpCost:
    weight = _has(call, "weight")
    terms: list[tuple[str, int, int]] = []
    if mask[0]:
        terms.append(("grad input", input_per + weight, x_numel))
    if len(mask) > 1 and mask[1]:
        terms.append(("grad weight", 2 if mask[0] else 4, x_numel))
    if len(mask) > 2 and mask[2]:
        terms.append(("grad bias", 1, x_numel))
    return _cost(call, terms)


@register(*aten_ops("native_layer_norm"))
def layer_norm(call: Call) -> OpCost:
    """``native_layer_norm``: per element 4 (statistics) + 2 (normalise) + 1 per affine parameter;
    4 per normalised row."""
    x = call.tensor("input").numel
    return _norm_forward(call, x, _normalized_rows(call, x))


@register(*aten_ops("native_layer_norm_backward"))
def layer_norm_backward(call: Call) -> OpCost:
    """``native_layer_norm_backward``: per element 9 (+1 with weight) for the input gradient, 2 for the
    weight's, 1 for the bias's, each only when requested."""
    x = call.tensor("input").numel
    return _norm_backward(call, x, _mask(call, 3), 9)


@register(*aten_ops("native_group_norm"))
def group_norm(call: Call) -> OpCost:
    """``native_group_norm``: as layer norm, with one row per (sample, group)."""
    x = call.tensor("input").numel
    return _norm_forward(call, x, int(call.arg("N")) * int(call.arg("group")))


@register(*aten_ops("native_group_norm_backward"))
def group_norm_backward(call: Call) -> OpCost:
    """``native_group_norm_backward``: as layer norm backward."""
    x = call.tensor("input").numel
    return _norm_backward(call, x, _mask(call, 3), 9)


def _batch_norm(call: Call, training: bool) -> OpCost:
    x = call.tensor("input")
    channels = x.shape[1] if len(x.shape) > 1 else 1
    affine = _has(call, "weight") + _has(call, "bias")
    if not training:
        return _cost(call, [("normalise", 2, x.numel), ("affine", affine, x.numel),
                            ("per channel", 2, channels)])
    cost = _norm_forward(call, x.numel, channels)
    if _has(call, "running_mean"):
        extra = 6 * channels
        return OpCost(0, cost.flops + extra, 0, f"{cost.formula} + running statistics 6x{n(channels)} = "
                                               f"{n(cost.flops + extra)}")
    return cost


@register(*aten_ops("native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_functional",
                    "cudnn_batch_norm", "miopen_batch_norm"), optional=True)
def batch_norm(call: Call) -> OpCost:
    """Batch norm, training: as layer norm with one row per channel, + 6 per channel to update running
    statistics; eval: per element 2 (normalise) + affine, 2 per channel."""
    return _batch_norm(call, bool(call.arg("training")))


@register(*aten_ops("_native_batch_norm_legit_no_training"))
def batch_norm_eval(call: Call) -> OpCost:
    """``_native_batch_norm_legit_no_training``: batch norm in eval (running statistics)."""
    return _batch_norm(call, False)


def _batch_norm_backward(call: Call, training: bool, mask: tuple[bool, ...]) -> OpCost:
    x = call.tensor("input").numel
    return _norm_backward(call, x, mask, 9 if training else 1)


@register(*aten_ops("native_batch_norm_backward"))
def batch_norm_backward(call: Call) -> OpCost:
    """``native_batch_norm_backward``: per element 9 (+1 with weight) for the input gradient in training
    (1 in eval), 2 for the weight's, 1 for the bias's, each when requested."""
    return _batch_norm_backward(call, bool(call.arg("train")), _mask(call, 3))


@register(*aten_ops("batch_norm_backward"))
def batch_norm_backward_new(call: Call) -> OpCost:
    """``batch_norm_backward`` (``update`` = training): as ``native_batch_norm_backward``."""
    return _batch_norm_backward(call, bool(call.arg("update")), _mask(call, 3))


@register(*aten_ops("cudnn_batch_norm_backward", "miopen_batch_norm_backward"), optional=True)
def backend_batch_norm_backward(call: Call) -> OpCost:
    """cuDNN/MIOpen batch norm backward (training, all three gradients)."""
    return _batch_norm_backward(call, True, (True, True, True))


@register(*aten_ops("_fused_rms_norm", "rms_norm"), optional=True)
def rms_norm(call: Call) -> OpCost:
    """RMS norm: per element 3 (square, add, mul by rstd) + 1 for the weight; 3 per row."""
    x = call.tensor("input").numel
    rows = _normalized_rows(call, x)
    return _cost(call, [("square, add, scale", 3, x), ("weight", int(_has(call, "weight")), x),
                        ("per row", 3, rows)])


@register(*aten_ops("_fused_rms_norm_backward"), optional=True)
def rms_norm_backward(call: Call) -> OpCost:
    """RMS norm backward: per element 6 (+1 with weight) for the input gradient, 2 (+1 to recompute
    xhat without the input gradient) for the weight's."""
    x = call.tensor("input").numel
    mask = _mask(call, 2)
    weight = _has(call, "weight")
    terms: list[tuple[str, int, int]] = []
    if mask[0]:
        terms.append(("grad input", 6 + weight, x))
    if len(mask) > 1 and mask[1]:
        terms.append(("grad weight", 2 if mask[0] else 3, x))
    return _cost(call, terms)


@register(*aten_ops("_weight_norm_interface"), optional=True)
def weight_norm(call: Call) -> OpCost:
    """``_weight_norm_interface`` (the fused kernel CUDA runs for ``torch._weight_norm``): per element
    3 (square and add for the norm, the scale), per slice 2 (sqrt, ``g / norm``)."""
    v = call.tensor("v").numel
    slices = call.tensor("g").numel
    return _cost(call, [("norm and scale", 3, v), ("per slice", 2, slices)])


@register(*aten_ops("_weight_norm_interface_backward"), optional=True)
def weight_norm_backward(call: Call) -> OpCost:
    """``_weight_norm_interface_backward``: per element 2 for ``grad_g`` (``sum(dw * v)``) and 3 for
    ``grad_v``; per slice 3 (the divides by the norm and ``g / norm``)."""
    v = call.tensor("saved_v").numel
    slices = call.tensor("saved_norms").numel
    return _cost(call, [("grad g", 2, v), ("grad v", 3, v), ("per slice", 3, slices)])
