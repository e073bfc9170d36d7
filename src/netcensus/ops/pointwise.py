"""Pointwise ops: a documented number of FLOPs per output element.

Convention: one FLOP per elementary operation in the op's defining formula, counting each
arithmetic operation, comparison, selection and each elementary function (``exp``, ``log``,
``tanh``, ``erf``, ``sqrt``, ``sin``...) as one. So ``add``/``mul``/``div``/``relu``/``exp`` cost 1,
``sigmoid = 1/(1+exp(-x))`` costs 4 and ``silu = x*sigmoid(x)`` costs 5. Every op PyTorch tags
``pointwise`` that is not in the table below (or in the zero set) costs the default, 1 FLOP per output
element. Costs are per element of the (broadcast) output and apply to every dtype (integer and
boolean element ops are counted too). Pointwise ops have no MACs.
"""

from __future__ import annotations

from .call import Call
from .cost import OpCost, elementwise, n
from .registry import aten_ops, register

DEFAULT_COST = 1
"""FLOPs per output element of a ``pointwise``-tagged op without an entry in :data:`COSTS`."""

#: packet name -> (FLOPs per output element, the derivation). Backward entries derive the gradient
#: formula the same way.
COSTS: dict[str, tuple[int, str]] = {
    "sigmoid": (4, "1/(1+exp(-x)): neg, exp, add, div"),
    "sigmoid_backward": (3, "g*y*(1-y): sub, mul, mul"),
    "tanh_backward": (3, "g*(1-y^2): mul, sub, mul"),
    "silu": (5, "x*sigmoid(x): sigmoid 4 + mul"),
    "silu_backward": (9, "g*s*(1+x*(1-s)), s=sigmoid(x): sigmoid 4, sub, mul, add, mul, mul"),
    "mish": (5, "x*tanh(softplus(x)): exp, add, log, tanh, mul"),
    "mish_backward": (12, "derivative of x*tanh(softplus(x)), by the same rule"),
    "softplus": (3, "log(1+exp(x)): exp, add, log (beta/threshold scaling not counted)"),
    "softplus_backward": (5, "g*sigmoid(x): sigmoid 4 + mul"),
    "elu": (4, "x>0 ? x : alpha*(exp(x)-1): exp, sub, mul, select"),
    "elu_backward": (3, "x>0 ? g : g*(y+alpha): add, mul, select"),
    "celu": (5, "max(0,x)+min(0,alpha*(exp(x/alpha)-1)): div, exp, sub, mul, select"),
    "selu": (5, "scale*elu(x): elu 4 + mul"),
    "leaky_relu": (2, "x>0 ? x : slope*x: mul, select"),
    "leaky_relu_backward": (2, "x>0 ? g : slope*g: mul, select"),
    "hardtanh": (2, "clamp(x, min, max): two comparisons"),
    "hardtanh_backward": (3, "min<x<max ? g : 0: two comparisons, select"),
    "hardsigmoid": (4, "clamp(x+3, 0, 6)/6: add, two comparisons, div"),
    "hardsigmoid_backward": (3, "-3<x<3 ? g/6 : 0: two comparisons, div"),
    "hardswish": (5, "x*clamp(x+3, 0, 6)/6: add, two comparisons, mul, div"),
    "hardswish_backward": (5, "piecewise g*(2x+3)/6: mul, add, div, mul, select"),
    "threshold": (2, "x>t ? x : v: comparison, select"),
    "threshold_backward": (1, "x>t ? g : 0: one select"),
    "_prelu_kernel": (2, "x>0 ? x : a*x: mul, select"),
    "_prelu_kernel_backward": (4, "gradients of input and slope: mul, select, mul, select"),
    "logit": (3, "log(x/(1-x)): sub, div, log"),
    "logit_backward": (4, "g/(x*(1-x)): sub, mul, div (+ clamp check)"),
    "lerp": (3, "a + w*(b-a): sub, mul, add"),
    "addcmul": (2, "c + v*a*b: mul, add (+1 when value != 1)"),
    "addcdiv": (2, "c + v*a/b: div, add (+1 when value != 1)"),
    "native_dropout_backward": (2, "g*mask*scale: two muls"),
    "nan_to_num": (3, "isnan, isinf checks and select"),
    "xlogy": (3, "x*log(y) with x==0 -> 0: log, mul, select"),
    "sinc": (3, "sin(pi*x)/(pi*x): mul, sin, div"),
}


def _gelu_cost(call: Call) -> tuple[int, str]:
    if call.arg("approximate", "none") == "tanh":
        return 9, "0.5*x*(1+tanh(sqrt(2/pi)*(x+0.044715*x^3))): 9 ops"
    return 5, "0.5*x*(1+erf(x/sqrt(2))): div, erf, add, mul, mul"


def _gelu_backward_cost(call: Call) -> tuple[int, str]:
    if call.arg("approximate", "none") == "tanh":
        return 17, "derivative of the tanh form: 17 ops"
    return 11, "g*(Phi(x) + x*phi(x)): Phi 4 (div, erf, add, mul), phi 4 (mul, mul, exp, mul), mul, add, mul"


def _per_element(call: Call, per: int, reason: str) -> OpCost:
    return elementwise(call.label, per, call.out().numel, reason=reason)


def _table_formula(name: str, per: int, reason: str):  # type: ignore[no-untyped-def]
    def formula(call: Call) -> OpCost:
        extra = 0
        if name in ("addcmul", "addcdiv") and call.arg("value", 1) != 1:
            extra = 1
        return _per_element(call, per + extra, reason)

    formula.__doc__ = f"``{name}``: {per} FLOPs per output element ({reason})."
    formula.__qualname__ = f"pointwise[{name}]"
    return formula


for _name, (_per, _reason) in COSTS.items():
    register(*aten_ops(_name), optional=True)(_table_formula(_name, _per, _reason))


@register(*aten_ops("gelu"))
def gelu(call: Call) -> OpCost:
    """``gelu``: 5 FLOPs per element (erf form), 9 with ``approximate="tanh"``."""
    per, reason = _gelu_cost(call)
    return _per_element(call, per, reason)


@register(*aten_ops("gelu_backward"))
def gelu_backward(call: Call) -> OpCost:
    """``gelu_backward``: 11 FLOPs per element (erf form), 17 with ``approximate="tanh"``."""
    per, reason = _gelu_backward_cost(call)
    return _per_element(call, per, reason)


@register(*aten_ops("add", "sub", "rsub"))
def add(call: Call) -> OpCost:
    """``add``/``sub``/``rsub``: 1 FLOP per output element, 2 when ``alpha != 1`` (the scale)."""
    alpha = call.arg("alpha", 1)
    if alpha != 1:
        return _per_element(call, 2, "a + alpha*b: mul, add")
    return _per_element(call, 1, "one add")


@register(*aten_ops("clamp"))
def clamp(call: Call) -> OpCost:
    """``clamp``: one comparison per given bound (1 or 2 FLOPs per element)."""
    bounds = (call.arg("min", None) is not None) + (call.arg("max", None) is not None)
    return _per_element(call, max(bounds, 1), "one comparison per bound")


@register(*aten_ops("native_dropout"))
def native_dropout(call: Call) -> OpCost:
    """``native_dropout(x, p, train)``: 2 FLOPs per element when training (x*mask*(1/(1-p))); the random
    mask itself is not model compute (see zero.py, category random); 0 when not training (a copy)."""
    train = call.arg("train", None)
    if train is False:
        return OpCost(0, 0, 0, f"{call.label}: 0 FLOPs (train=False: a copy)")
    return _per_element(call, 2, "x*mask*scale: two muls")


def default_pointwise(call: Call) -> OpCost:
    """The family formula for ``pointwise``-tagged ops with no formula of their own: 1 FLOP per output
    element."""
    out = call.out().numel if call.outputs else call.first_tensor().numel
    return OpCost(0, DEFAULT_COST * out,
                  0, f"{call.label}: {DEFAULT_COST} FLOP/element (default pointwise cost) x {n(out)} "
                     f"elements = {n(DEFAULT_COST * out)}")
