"""Interpolation (``F.interpolate``/``nn.Upsample``): nearest, linear, bilinear, bicubic, trilinear.

Convention: linear-family modes compute every output element as a weighted sum of its neighbours:
2 (linear), 4 (bilinear), 8 (trilinear) or 16 (bicubic) MACs per output element, counted as MACs
but not core MACs; FLOPs = 2*MACs (the per-coordinate weight computation, shared by a whole row or
column, is not counted). Nearest-neighbour modes only gather: 0 FLOPs, written out as an explicit 0.
Backward: linear modes scatter each output gradient to the same neighbours with the same weights (the
forward's MACs, per output-gradient element); nearest modes add each output gradient into one input
element (1 FLOP per output-gradient element).

``grid_sample`` (``grid_sampler_2d``/``_3d``) samples each output element the same way at a position
the grid gives: bilinear 4, trilinear 8, bicubic 16 MACs per output element, nearest 0 (a gather).
Its backward, per output-gradient element: the input's gradient scatters with the same taps (nearest:
1 FLOP); the grid's gradient differentiates the weights along each of the 2 (3) coordinates, twice
the taps in 2-d (three times in 3-d) (nearest: 0); each only when requested (``output_mask``).
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


_GRID_TAPS = {0: ("bilinear", 4), 1: ("nearest", 0), 2: ("bicubic", 16)}
"""``interpolation_mode`` of grid_sampler -> (name, taps in 2-d); 3-d bilinear (trilinear) has 8."""


def _grid_mode(call: Call, dims: int) -> tuple[str, int]:
    mode = int(call.arg("interpolation_mode"))
    if mode not in _GRID_TAPS:
        raise FormulaError(f"{call.label}: unknown interpolation mode {mode}")
    name, taps = _GRID_TAPS[mode]
    return name, (8 if dims == 3 and taps == 4 else taps)


@register(*aten_ops("grid_sampler_2d", "grid_sampler_3d"), optional=True)
def grid_sampler(call: Call) -> OpCost:
    """``grid_sample``: taps MACs per output element (bilinear 4, trilinear 8, bicubic 16); nearest 0."""
    dims = 3 if "3d" in call.event.op else 2
    name, taps = _grid_mode(call, dims)
    out = call.out().numel
    if not taps:
        return zero_cost(call.label, f"{name}: a gather of {n(out)} elements")
    macs = taps * out
    return OpCost(macs, 2 * macs, 0, f"{call.label}: {name}, MACs = {taps}*numel(y) = {taps}*{n(out)} = "
                                     f"{n(macs)}; FLOPs = {n(2 * macs)}")


@register(*aten_ops("grid_sampler_2d_backward", "grid_sampler_3d_backward"), optional=True)
def grid_sampler_backward(call: Call) -> OpCost:
    """``grid_sample`` backward, per output-gradient element: input gradient taps MACs (nearest: 1
    FLOP), grid gradient dims x taps MACs (nearest: 0), each when requested."""
    dims = 3 if "3d" in call.event.op else 2
    name, taps = _grid_mode(call, dims)
    g = call.tensor("grad_output").numel
    mask = [bool(m) for m in call.arg("output_mask", [True, True])]
    if not taps:
        flops = g if mask[0] else 0
        return OpCost(0, flops, 0, f"{call.label}: {name}, input gradient 1*numel(grad_y) = {n(flops)}")
    macs = (taps if mask[0] else 0) + (dims * taps if mask[1] else 0)
    macs *= g
    return OpCost(macs, 2 * macs, 0, f"{call.label}: {name}, MACs = ({taps if mask[0] else 0} input + "
                                     f"{dims * taps if mask[1] else 0} grid)*numel(grad_y) = {n(macs)}; "
                                     f"FLOPs = {n(2 * macs)}")
