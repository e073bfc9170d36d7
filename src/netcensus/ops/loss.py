"""Loss functions that reach the dispatcher as their own ops (cross-entropy is log_softmax + nll_loss).

Convention (``reduction``: 0 none, 1 mean, 2 sum), per element of the input unless stated:
``nll_loss`` 1 FLOP per target (pick and add; +1 with class weights) + 1 for the mean's divide;
its backward 1 per target (+1 with weights); ``mse_loss`` 3 (sub, square, add; 2 without reduction)
+ 1 for the mean; its backward 3 (sub, two muls) + 1 for the mean; ``binary_cross_entropy`` 7
(two logs, two muls, sub, add, neg) + 1 to reduce (+1 with weights); its backward 5
(``g*(x-y)/(x*(1-x))``) (+1 with weights); ``multi_margin_loss``'s backward 5 (+1 with weights).
``ctc_loss`` runs a dynamic programme over the padded
lattice of ``N`` samples x ``T`` input steps x ``S = 2 * max(target_lengths) + 1`` states (the shape of
its ``log_alpha``): 13 FLOPs per lattice element forward (a log-sum-exp of up to three predecessors:
2 max, 3 sub, 3 exp, 2 add, log, add back; then add the emission); its backward runs the same
recursion for ``log_beta`` (13) and accumulates ``alpha + beta`` per emitted class (7: add, then a
log-add-exp), then 6 per element of ``log_probs`` (``T x N x C``: two exps, subs, the scale by the
incoming gradient). Samples shorter than the padding are counted at the padded size. Losses have no
MACs.
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


def _lattice(call: Call, alpha: str) -> int:
    """N x T x S of the CTC lattice: the elements of ``log_alpha`` (an output forward, an argument
    backward)."""
    return call.outputs[1].numel if alpha == "output" else call.tensor("log_alpha").numel


@register(*aten_ops("multi_margin_loss_backward"), optional=True)
def multi_margin_loss_backward(call: Call) -> OpCost:
    """``multi_margin_loss`` backward: 5 FLOPs per input element (the margin term: sub, add; the
    comparison; the scale by the incoming gradient; the accumulate into the target's gradient), +1
    with class weights."""
    x = call.tensor("self").numel
    per = 5 + _weighted(call)
    return _cost(call, per, x, 0, "input elements")


@register(*aten_ops("_ctc_loss"), optional=True)
def ctc_loss(call: Call) -> OpCost:
    """``_ctc_loss``: 13 FLOPs per element of the padded lattice (``log_alpha``, N x T x S)."""
    return _cost(call, 13, _lattice(call, "output"), 0, "log-sum-exp of three and the emission, per state")


@register(*aten_ops("_ctc_loss_backward"), optional=True)
def ctc_loss_backward(call: Call) -> OpCost:
    """``_ctc_loss_backward``: 20 FLOPs per lattice element (the beta recursion 13, the accumulation 7)
    + 6 per element of ``log_probs``."""
    lattice = _lattice(call, "argument")
    probs = call.tensor("log_probs").numel
    flops = 20 * lattice + 6 * probs
    return OpCost(0, flops, 0, f"{call.label}: 20 FLOP x {n(lattice)} (beta recursion, accumulation per "
                               f"state) + 6 FLOP x {n(probs)} (per log-probability) = {n(flops)}")
