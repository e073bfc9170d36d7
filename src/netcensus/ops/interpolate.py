"""Interpolation (``F.interpolate``/``nn.Upsample``): nearest, linear, bilinear, bicubic, trilinear.

Convention: linear-family modes compute every output element as a weighted sum of its neighbours:
2 (linear), 4 (bilinear), 8 (trilinear) or 16 (bicubic) MACs per output element, counted as MACs
but not core MACs; FLOPs = 2*MACs (the per-coordinate weight computation, shared by a whole row or
column, is not counted). Nearest-neighbour modes only gather: 0 FLOPs, written out as an explicit 0.
Backward: linear modes scatter each output gradient to the same neighbours with the same weights (the
forward's MACs, per output-gradient element); nearest modes add each output gradient into one input
element (1 FLOP per output-gradient element).
"""

from __future__ import annotations

from .call import Call
from .cost import FormulaError, OpCost, n, zero_cost
from .registry import aten_ops, register

TAPS = {"linear1d": 2, "bilinear2d": 4, "trilinear3d": 8, "bicubic2d": 16}


def _taps(call: Call) -> int:
    for name, taps in TAPS.items():
        if name in call.event.op:
            return taps
    raise FormulaError(f"{call.label}: unknown interpolation mode")


@register(*aten_ops("upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d",
                    "_upsample_nearest_exact1d", "_upsample_nearest_exact2d", "_upsample_nearest_exact3d"),
          optional=True)
def nearest(call: Call) -> OpCost:
    """Nearest-neighbour upsampling: 0 FLOPs (a gather)."""
    return zero_cost(call.label, f"nearest neighbour: a gather of {n(call.out().numel)} elements")


@register(*aten_ops("upsample_linear1d", "upsample_bilinear2d", "upsample_trilinear3d", "upsample_bicubic2d",
                    "_upsample_bilinear2d_aa", "_upsample_bicubic2d_aa"), optional=True)
def linear_family(call: Call) -> OpCost:
    """Linear-family upsampling: taps MACs per output element (2, 4, 8 or 16); anti-aliased variants
    (``*_aa``) are counted with the same taps, a lower bound when downsampling."""
    taps = _taps(call)
    out = call.out().numel
    macs = taps * out
    note = " (anti-aliased: lower bound)" if "_aa" in call.event.op else ""
    text = f"{call.label}: MACs = taps*numel(y) = {taps}*{n(out)} = {n(macs)}{note}; FLOPs = 2*MACs"
    return OpCost(macs, 2 * macs, 0, f"{text} = {n(2 * macs)}")


@register(*aten_ops("upsample_nearest1d_backward", "upsample_nearest2d_backward",
                    "upsample_nearest3d_backward",
                    "_upsample_nearest_exact1d_backward", "_upsample_nearest_exact2d_backward",
                    "_upsample_nearest_exact3d_backward"), optional=True)
def nearest_backward(call: Call) -> OpCost:
    """Nearest-neighbour upsampling backward: 1 FLOP per output-gradient element."""
    g = call.tensor("grad_output").numel
    return OpCost(0, g, 0, f"{call.label}: numel(grad_y) = {n(g)}")


@register(*aten_ops("upsample_linear1d_backward", "upsample_bilinear2d_backward",
                    "upsample_trilinear3d_backward", "upsample_bicubic2d_backward",
                    "_upsample_bilinear2d_aa_backward", "_upsample_bicubic2d_aa_backward"), optional=True)
def linear_family_backward(call: Call) -> OpCost:
    """Linear-family upsampling backward: taps MACs per output-gradient element."""
    taps = _taps(call)
    g = call.tensor("grad_output").numel
    macs = taps * g
    return OpCost(macs, 2 * macs, 0, f"{call.label}: MACs = taps*numel(grad_y) = {taps}*{n(g)} = {n(macs)}; "
                                     f"FLOPs = {n(2 * macs)}")
