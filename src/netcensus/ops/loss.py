"""Loss functions that reach the dispatcher as their own ops (cross-entropy is log_softmax + nll_loss).

Convention (``reduction``: 0 none, 1 mean, 2 sum), per element of the input unless stated:
``nll_loss`` 1 FLOP per target (pick and add; +1 with class weights) + 1 for the mean's divide;
its backward 1 per target (+1 with weights); ``mse_loss`` 3 (sub, square, add; 2 without reduction)
+ 1 for the mean; its backward 3 (sub, two muls) + 1 for the mean; ``binary_cross_entropy`` 7
(two logs, two muls, sub, add, neg) + 1 to reduce (+1 with weights); its backward 5
(``g*(x-y)/(x*(1-x))``) (+1 with weights). Losses have no MACs.
"""

from __future__ import annotations

from .call import Call
from .cost import OpCost, n
from .registry import aten_ops, register


def _cost(call: Call, per: int, count: int, extra: int, reason: str) -> OpCost:
    flops = per * count + extra
    tail = f" + {extra}" if extra else ""
    return OpCost(0, flops, 0, f"{call.label}: {per} FLOP x {n(count)} ({reason}){tail} = {n(flops)}")


def _weighted(call: Call) -> int:
    return int(call.optional_tensor("weight") is not None)


@register(*aten_ops("nll_loss_forward", "nll_loss2d_forward"))
def nll_loss(call: Call) -> OpCost:
    """``nll_loss``: 1 FLOP per target (+1 with class weights) + 1 for the mean."""
    targets = call.tensor("target").numel
    mean = 1 if call.arg("reduction", 1) == 1 else 0
    return _cost(call, 1 + _weighted(call), targets, mean, "per target")


@register(*aten_ops("nll_loss_backward", "nll_loss2d_backward"))
def nll_loss_backward(call: Call) -> OpCost:
    """``nll_loss_backward``: 1 FLOP per target (+1 with class weights)."""
    targets = call.tensor("target").numel
    return _cost(call, 1 + _weighted(call), targets, 0, "per target")


@register(*aten_ops("mse_loss"))
def mse_loss(call: Call) -> OpCost:
    """``mse_loss``: 3 FLOPs per element (2 without reduction) + 1 for the mean."""
    x = call.tensor("self").numel
    reduction = call.arg("reduction", 1)
    return _cost(call, 3 if reduction else 2, x, 1 if reduction == 1 else 0, "sub, square, add")


@register(*aten_ops("mse_loss_backward"))
def mse_loss_backward(call: Call) -> OpCost:
    """``mse_loss_backward``: 3 FLOPs per element (+1 per element for the mean's scale)."""
    x = call.tensor("self").numel
    return _cost(call, 3 + (1 if call.arg("reduction", 1) == 1 else 0), x, 0, "sub, two muls")


@register(*aten_ops("binary_cross_entropy"))
def bce(call: Call) -> OpCost:
    """``binary_cross_entropy``: 7 FLOPs per element + 1 to reduce (+1 with weights)."""
    x = call.tensor("self").numel
    reduction = call.arg("reduction", 1)
    per = 7 + (1 if reduction else 0) + _weighted(call)
    return _cost(call, per, x, 1 if reduction == 1 else 0, "two logs, muls, sub, add, neg")


@register(*aten_ops("binary_cross_entropy_backward"))
def bce_backward(call: Call) -> OpCost:
    """``binary_cross_entropy_backward``: 5 FLOPs per element (+1 with weights)."""
    x = call.tensor("self").numel
    return _cost(call, 5 + _weighted(call), x, 0, "g*(x-y)/(x*(1-x))")
