"""Reductions and scans: a documented number of FLOPs per input element.

Convention: a reduction costs one FLOP per *input* element (``sum``, ``prod``, ``amax``, ``argmax``,
``any``... : one accumulate or comparison each; strictly ``in - out`` adds, we count ``in``), plus the
per-output-element finishing terms stated below. Every op PyTorch tags ``reduction`` without an entry
here costs the default, 1 FLOP per input element. Reductions have no MACs.
"""

from __future__ import annotations

from .call import Call
from .cost import OpCost, n
from .registry import aten_ops, register

DEFAULT_COST = 1
"""FLOPs per input element of a ``reduction``-tagged op without a formula of its own."""


def _reduce(call: Call, per_in: int, per_out: int, reason: str) -> OpCost:
    x = call.first_tensor().numel
    out = sum(o.numel for o in call.outputs[:1])
    flops = per_in * x + per_out * out
    text = f"{call.label}: {per_in} FLOP/input element x {n(x)}"
    if per_out:
        text += f" + {per_out} FLOP/output element x {n(out)}"
    return OpCost(0, flops, 0, f"{text} ({reason}) = {n(flops)}")


@register(*aten_ops("mean", "nanmean"))
def mean(call: Call) -> OpCost:
    """``mean``: 1 FLOP per input element (sum) + 1 per output element (divide)."""
    return _reduce(call, 1, 1, "sum, then divide")


@register(*aten_ops("var", "std", "var_mean", "std_mean"))
def var(call: Call) -> OpCost:
    """``var``/``std`` (and ``*_mean``): 4 FLOPs per input element (mean pass 1; subtract, square,
    accumulate 3) + 2 per output element (the two divides; ``std`` one more for the root)."""
    root = 1 if "std" in call.label else 0
    return _reduce(call, 4, 2 + root, "mean 1 + sub, square, add 3 per input; divides (and sqrt) per output")


@register(*aten_ops("linalg_vector_norm", "norm"))
def norm(call: Call) -> OpCost:
    """``norm``: 2 FLOPs per input element (power or abs, accumulate) + 1 per output element (root)."""
    return _reduce(call, 2, 1, "abs/power and add per input; root per output")


@register(*aten_ops("logsumexp"))
def logsumexp(call: Call) -> OpCost:
    """``logsumexp``: 4 FLOPs per input element (max, sub, exp, add) + 2 per output (log, add max)."""
    return _reduce(call, 4, 2, "max, sub, exp, add per input; log and add per output")


@register(*aten_ops("_is_all_true", "_is_any_true"), optional=True)
def is_all_true(call: Call) -> OpCost:
    """``_is_all_true``/``_is_any_true`` (``Tensor.all()``/``any()`` of a bool tensor for control flow):
    1 FLOP per input element (one comparison each)."""
    return _reduce(call, 1, 0, "one comparison per element")


@register(*aten_ops("cumsum", "cumprod", "cummax", "cummin"))
def cumulative(call: Call) -> OpCost:
    """``cumsum``/``cumprod``/``cummax``/``cummin``: 1 FLOP per element (one add, mul or comparison)."""
    return _reduce(call, 1, 0, "one op per element")


@register(*aten_ops("logcumsumexp"))
def logcumsumexp(call: Call) -> OpCost:
    """``logcumsumexp``: 3 FLOPs per element (exp, add, log)."""
    return _reduce(call, 3, 0, "exp, add, log per element")


def default_reduction(call: Call) -> OpCost:
    """The family formula for ``reduction``-tagged ops with no formula of their own: 1 FLOP per input
    element."""
    return _reduce(call, DEFAULT_COST, 0, "default reduction cost")
