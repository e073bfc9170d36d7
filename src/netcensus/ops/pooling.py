"""Pooling: max, average and adaptive pooling in 1, 2 and 3 dimensions, forward and backward.

Convention: one FLOP per window element per output element (a comparison for max, fractional max
included, an add for average), plus one divide per output element for average pooling. Adaptive
pooling's windows vary in size; their exact total is counted (window ``i`` of ``out`` along a dimension
of size ``in`` spans ``floor(i*in/out)`` to ``ceil((i+1)*in/out)``). Backward: max pooling routes each
output gradient to one input (1 FLOP per output-gradient element, the accumulate); average pooling
divides each output gradient and adds it to every window element (the forward's count). No MACs.
"""

from __future__ import annotations

from .call import Call
from .cost import FormulaError, OpCost, dims, n, prod
from .registry import aten_ops, register


def _rank(call: Call) -> int:
    for d in (1, 2, 3):
        if f"{d}d" in call.event.op:
            return d
    raise FormulaError(f"{call.label}: cannot tell the pooling dimension")


def _kernel(call: Call) -> tuple[int, ...]:
    k = call.arg("kernel_size")
    k = (k,) if isinstance(k, int) else tuple(k)
    d = _rank(call)
    return k * d if len(k) == 1 else k


def _window_total(size_in: int, size_out: int) -> int:
    total = 0
    for i in range(size_out):
        start = (i * size_in) // size_out
        end = -((-(i + 1) * size_in) // size_out)
        total += end - start
    return total


def _adaptive_windows(x: tuple[int, ...], y: tuple[int, ...], d: int) -> tuple[int, str]:
    """Sum over all output elements of their window sizes, and its formula."""
    lead = prod(y[:-d])
    per_dim = [_window_total(i, o) for i, o in zip(x[-d:], y[-d:], strict=True)]
    return lead * prod(per_dim), f"{dims(y[:-d])}*{dims(per_dim)}"


def _cost(call: Call, text: str, flops: int) -> OpCost:
    return OpCost(0, flops, 0, f"{call.label}: {text} = {n(flops)}")


@register(*aten_ops("max_pool1d", "max_pool2d_with_indices", "max_pool3d_with_indices", "max_pool2d",
                    "max_pool3d", "mkldnn_max_pool2d", "mkldnn_max_pool3d", "quantized_max_pool2d"),
          optional=True)
def max_pool(call: Call) -> OpCost:
    """Max pooling: numel(y) * prod(k) comparisons."""
    k = _kernel(call)
    out = call.out().numel
    return _cost(call, f"numel(y)*prod(k) = {n(out)}*{dims(k)}", out * prod(k))


@register(*aten_ops("fractional_max_pool2d", "fractional_max_pool3d"), optional=True)
def fractional_max_pool(call: Call) -> OpCost:
    """Fractional max pooling: numel(y) * prod(k) comparisons (its pseudo-random window starts are
    not counted)."""
    k = _kernel(call)
    out = call.out().numel
    return _cost(call, f"numel(y)*prod(k) = {n(out)}*{dims(k)}", out * prod(k))


@register(*aten_ops("avg_pool1d", "avg_pool2d", "avg_pool3d", "mkldnn_avg_pool2d"), optional=True)
def avg_pool(call: Call) -> OpCost:
    """Average pooling: numel(y) * prod(k) adds + numel(y) divides."""
    k = _kernel(call)
    out = call.out().numel
    return _cost(call, f"numel(y)*(prod(k) + 1) = {n(out)}*({dims(k)} + 1)", out * (prod(k) + 1))


@register(*aten_ops("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d",
                    "mkldnn_adaptive_avg_pool2d"), optional=True)
def adaptive_avg_pool(call: Call) -> OpCost:
    """Adaptive average pooling: the exact sum of window sizes (adds) + numel(y) divides."""
    x, y = call.first_tensor().shape, call.out().shape
    total, text = _adaptive_windows(x, y, _rank(call))
    return _cost(call, f"window elements {text} = {n(total)} + numel(y) {n(prod(y))}", total + prod(y))


@register(*aten_ops("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d"), optional=True)
def adaptive_max_pool(call: Call) -> OpCost:
    """Adaptive max pooling: the exact sum of window sizes (comparisons)."""
    x, y = call.first_tensor().shape, call.out().shape
    total, text = _adaptive_windows(x, y, _rank(call))
    return _cost(call, f"window elements {text}", total)


@register(*aten_ops("max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward",
                    "adaptive_max_pool2d_backward", "adaptive_max_pool3d_backward", "max_pool2d_backward",
                    "mkldnn_max_pool2d_backward", "mkldnn_max_pool3d_backward",
                    "fractional_max_pool2d_backward", "fractional_max_pool3d_backward"), optional=True)
def max_pool_backward(call: Call) -> OpCost:
    """Max pooling backward: numel(grad_y) accumulates."""
    g = call.tensor("grad_output").numel
    return _cost(call, f"numel(grad_y) = {n(g)}", g)


@register(*aten_ops("avg_pool2d_backward", "avg_pool3d_backward"), optional=True)
def avg_pool_backward(call: Call) -> OpCost:
    """Average pooling backward: numel(grad_y) * (prod(k) + 1) (divide, then add into each window
    element)."""
    k = _kernel(call)
    g = call.tensor("grad_output").numel
    return _cost(call, f"numel(grad_y)*(prod(k) + 1) = {n(g)}*({dims(k)} + 1)", g * (prod(k) + 1))


@register(*aten_ops("_adaptive_avg_pool2d_backward", "_adaptive_avg_pool3d_backward"), optional=True)
def adaptive_avg_pool_backward(call: Call) -> OpCost:
    """Adaptive average pooling backward: the forward's count."""
    g = call.tensor("grad_output").shape
    x = call.tensor("self").shape
    total, text = _adaptive_windows(x, g, _rank(call))
    return _cost(call, f"window elements {text} = {n(total)} + numel(grad_y) {n(prod(g))}", total + prod(g))
