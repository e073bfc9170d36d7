"""Softmax and log-softmax, forward and backward.

Convention, per element of the input: softmax 5 FLOPs (max, subtract, exp, sum, divide); log-softmax
5 (max, subtract, exp, sum, subtract) + 1 per row for the log; ``_safe_softmax`` (the one SDPA uses,
which returns 0 for fully masked rows) 5 + 2 (the masked-row check and select); ``_masked_softmax``
5 + 1 (applying the mask). Backward: softmax ``y*(g - sum(g*y))`` 4 (mul, add, sub, mul); log-softmax
``g - exp(y)*sum(g)`` 4 (add, exp, mul, sub). No MACs.
"""

from __future__ import annotations

from .call import Call
from .cost import OpCost, n
from .registry import aten_ops, register

SOFTMAX = 5
"""FLOPs per element of a softmax (shared with the attention formulas)."""
SOFTMAX_BACKWARD = 4
"""FLOPs per element of a softmax backward (shared with the attention formulas)."""


def _rows(call: Call, numel: int) -> int:
    shape = call.first_tensor().shape
    dim = call.arg("dim", -1)
    if dim is None or not shape:
        return 1
    size = shape[dim]
    return numel // size if size else 0


def _cost(call: Call, per: int, reason: str, per_row: int = 0) -> OpCost:
    x = call.first_tensor().numel
    flops = per * x
    text = f"{call.label}: {per} FLOP/element ({reason}) x {n(x)}"
    if per_row:
        rows = _rows(call, x)
        flops += per_row * rows
        text += f" + {per_row} FLOP/row (log) x {n(rows)}"
    return OpCost(0, flops, 0, f"{text} = {n(flops)}")


@register(*aten_ops("_softmax"))
def softmax(call: Call) -> OpCost:
    """``_softmax``: 5 FLOPs per element."""
    return _cost(call, SOFTMAX, "max, sub, exp, sum, div")


@register(*aten_ops("_safe_softmax"), optional=True)
def safe_softmax(call: Call) -> OpCost:
    """``_safe_softmax``: 7 FLOPs per element (softmax 5 + masked-row check and select 2)."""
    return _cost(call, SOFTMAX + 2, "softmax 5 + masked-row check, select")


@register(*aten_ops("_log_softmax"))
def log_softmax(call: Call) -> OpCost:
    """``_log_softmax``: 5 FLOPs per element + 1 per row."""
    return _cost(call, 5, "max, sub, exp, sum, sub", per_row=1)


@register(*aten_ops("_masked_softmax"), optional=True)
def masked_softmax(call: Call) -> OpCost:
    """``_masked_softmax``: 6 FLOPs per element (mask 1 + softmax 5)."""
    return _cost(call, SOFTMAX + 1, "mask, max, sub, exp, sum, div")


@register(*aten_ops("_softmax_backward_data"))
def softmax_backward(call: Call) -> OpCost:
    """``_softmax_backward_data``: 4 FLOPs per element."""
    return _cost(call, SOFTMAX_BACKWARD, "y*(g - sum(g*y)): mul, add, sub, mul")


@register(*aten_ops("_log_softmax_backward_data"))
def log_softmax_backward(call: Call) -> OpCost:
    """``_log_softmax_backward_data``: 4 FLOPs per element."""
    return _cost(call, 4, "g - exp(y)*sum(g): add, exp, mul, sub")


@register(*aten_ops("_masked_softmax_backward"), optional=True)
def masked_softmax_backward(call: Call) -> OpCost:
    """``_masked_softmax_backward``: 5 FLOPs per element (softmax backward 4 + mask 1)."""
    return _cost(call, SOFTMAX_BACKWARD + 1, "softmax backward 4 + mask")
