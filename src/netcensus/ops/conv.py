"""Convolutions of any dimension: plain, strided, dilated, grouped, depthwise, transposed; and their
backward.

Convention: every output element of a convolution is a dot product over ``C_in/groups * prod(k)``
inputs, so ``MACs = numel(y) * (C_in/groups) * prod(k)`` with the weight shaped
``[C_out, C_in/groups, *k]``. A transposed convolution scatters every *input* element over
``C_out/groups * prod(k)`` outputs, so ``MACs = numel(x) * (C_out/groups) * prod(k)`` with the weight
shaped ``[C_in, C_out/groups, *k]``. Both are ``numel(·) * prod(weight.shape[1:])``; padded positions
are counted like any other (as every tool does). All of them are core MACs. FLOPs = 2*MACs plus one
per output element for the bias.

Backward: the input gradient is a (transposed) convolution of the output gradient with the weight,
and the weight gradient a correlation of input and output gradient; each costs exactly the forward's
MACs. Only the gradients requested in ``output_mask`` are counted; the bias gradient is a sum of the
output gradient over batch and space, one FLOP per output-gradient element.
"""

from __future__ import annotations

from .call import Call
from .cost import FormulaError, OpCost, dims, n, prod
from .registry import aten_op, aten_ops, register


def conv_macs(x: tuple[int, ...], w: tuple[int, ...], y: tuple[int, ...],
              transposed: bool) -> tuple[int, str]:
    """MACs of one convolution and the formula with the numbers bound."""
    if len(w) < 3 or len(x) != len(w) and len(x) != len(w) - 1:
        raise FormulaError(f"convolution: weight {w} does not fit input {x}")
    per = prod(w[1:])
    if transposed:
        count = prod(x)
        sym = "numel(x)*(C_out/groups)*prod(k)"
    else:
        count = prod(y)
        sym = "numel(y)*(C_in/groups)*prod(k)"
    macs = count * per
    return macs, f"{sym} = {n(count)}*{dims(w[1:])} = {n(macs)}"


def _forward(call: Call, transposed: bool, has_bias: bool) -> OpCost:
    x = call.first_tensor().shape
    w = call.shape("weight")
    y = call.out().shape
    macs, text = conv_macs(x, w, y, transposed)
    bias = prod(y) if has_bias else 0
    kind = f"conv{len(w) - 2}d" + (" transposed" if transposed else "")
    groups = call.arg("groups", 1)
    if groups != 1:
        kind += f", groups={groups}"
    flops = 2 * macs + bias
    formula = f"{call.label} ({kind}): MACs = {text}; FLOPs = 2*MACs"
    formula += f" + numel(y) (bias) = {n(flops)}" if bias else f" = {n(flops)}"
    return OpCost(macs, flops, macs, formula)


@register(aten_op("convolution"), *aten_ops("_convolution", "convolution_overrideable"))
def convolution(call: Call) -> OpCost:
    """``convolution(x, w, b?, stride, padding, dilation, transposed, output_padding, groups)``:
    MACs = numel(y)*prod(w.shape[1:]) (transposed: numel(x)*prod(w.shape[1:])); FLOPs = 2*MACs +
    numel(y) with a bias."""
    return _forward(call, bool(call.arg("transposed")), call.optional_tensor("bias") is not None)


@register(*aten_ops("cudnn_convolution", "mkldnn_convolution", "_slow_conv2d_forward", "_conv_depthwise2d",
                    "slow_conv3d_forward", "slow_conv_dilated2d", "slow_conv_dilated3d",
                    "_nnpack_spatial_convolution", "miopen_convolution", "miopen_depthwise_convolution"),
          optional=True)
def backend_convolution(call: Call) -> OpCost:
    """Backend convolutions (not transposed): as ``convolution``."""
    return _forward(call, False, call.optional_tensor("bias") is not None)


@register(*aten_ops("cudnn_convolution_transpose", "slow_conv_transpose2d", "slow_conv_transpose3d",
                    "miopen_convolution_transpose"), optional=True)
def backend_convolution_transpose(call: Call) -> OpCost:
    """Backend transposed convolutions: as ``convolution`` with ``transposed=True``."""
    return _forward(call, True, call.optional_tensor("bias") is not None)


@register(aten_op("convolution_backward"), *aten_ops("convolution_backward_overrideable"))
def convolution_backward(call: Call) -> OpCost:
    """``convolution_backward(gy, x, w, ..., output_mask=[input, weight, bias])``: the forward's MACs
    for each of the input and weight gradients requested; numel(gy) FLOPs for the bias gradient."""
    gy = call.shape("grad_output")
    x = call.shape("input")
    w = call.shape("weight")
    transposed = bool(call.arg("transposed"))
    mask = tuple(bool(m) for m in call.arg("output_mask"))
    macs_one, text = conv_macs(x, w, gy, transposed)
    grads = [name for name, wanted in zip(("input", "weight"), mask[:2], strict=False) if wanted]
    macs = macs_one * len(grads)
    bias = prod(gy) if len(mask) > 2 and mask[2] else 0
    flops = 2 * macs + bias
    formula = (f"{call.label}: MACs = (forward MACs {text}) x {len(grads)} gradient(s) "
               f"[{', '.join(grads) or 'none'}] = {n(macs)}; FLOPs = 2*MACs")
    formula += f" + numel(grad_y) (bias gradient) = {n(flops)}" if bias else f" = {n(flops)}"
    return OpCost(macs, flops, macs, formula)
